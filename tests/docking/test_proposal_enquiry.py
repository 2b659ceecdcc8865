"""An enquiry becomes a need's proposal: the institute that was asked answers one of the asking
enterprise's needs with the listing the enquiry was about, and the proposal names the enquiry."""

from __future__ import annotations

import re

from docking.models import Proposal
from tests.builders import (
    PASSWORD,
    a_published_listing,
    a_published_need,
    a_verified_enterprise,
    a_verified_institute,
    an_enquiry,
    log_in,
    proposal_data,
)


async def a_followed_enquiry():
    """An institute's listing, the enterprise's enquiry on it and the enterprise's need."""
    institute, _ = await a_verified_institute()
    listing = await a_published_listing(institute)
    seeker, _ = await a_verified_enterprise()
    enquiry = await an_enquiry(listing, seeker)
    need = await a_published_need(seeker)
    return institute, listing, seeker, enquiry, need


async def test_a_proposal_follows_up_the_enquiry_it_names(client) -> None:
    institute, listing, _, enquiry, need = await a_followed_enquiry()
    csrf = await log_in(client, institute.email)
    made = await client.post(
        f"/api/v1/needs/{need.id}/proposals",
        json=proposal_data(need, [str(listing.id)], enquiry_id=str(enquiry.id)),
        headers={"X-CSRF-Token": csrf},
    )
    assert made.status_code == 201, made.text
    assert made.json()["proposal"]["enquiry_id"] == str(enquiry.id)
    assert str((await Proposal.get(need_id=need.id)).enquiry_id) == str(enquiry.id)


async def test_an_enquiry_that_does_not_fit_is_refused_naming_the_field(client) -> None:
    institute, listing, seeker, enquiry, need = await a_followed_enquiry()
    other_listing = await a_published_listing(institute)
    # Asked by another enterprise than the one seeking.
    stranger_buyer, _ = await a_verified_enterprise()
    elsewhere = await an_enquiry(listing, stranger_buyer)
    anonymous = await a_published_need(seeker, visibility="anonymous")
    outsider, _ = await a_verified_institute()
    csrf = await log_in(client, institute.email)

    async def propose(need_id, listing_ids, enquiry_id):
        return await client.post(
            f"/api/v1/needs/{need_id}/proposals",
            json=proposal_data(need, listing_ids, enquiry_id=enquiry_id),
            headers={"X-CSRF-Token": csrf},
        )

    wrong_asker = await propose(need.id, [str(listing.id)], str(elsewhere.id))
    assert wrong_asker.status_code == 422
    assert "another organisation" in wrong_asker.json()["error"]["fields"]["enquiry_id"]
    not_attached = await propose(need.id, [str(other_listing.id)], str(enquiry.id))
    assert not_attached.status_code == 422
    assert "Attach the listing" in not_attached.json()["error"]["fields"]["enquiry_id"]
    # Whether it fits would tell who an anonymous seeker is: it is refused either way.
    hidden = await propose(anonymous.id, [str(listing.id)], str(enquiry.id))
    assert hidden.status_code == 422 and "anonymous" in hidden.text
    assert await Proposal.all().count() == 0

    # Another institute cannot name this thread: it is a stranger to it.
    await client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf})
    theirs = await a_published_listing(outsider)
    csrf = await log_in(client, outsider.email)
    stranger = await client.post(
        f"/api/v1/needs/{need.id}/proposals",
        json=proposal_data(need, [str(theirs.id)], enquiry_id=str(enquiry.id)),
        headers={"X-CSRF-Token": csrf},
    )
    assert stranger.status_code == 404
    assert await Proposal.all().count() == 0


async def test_from_the_enquiry_page_to_a_proposal_that_names_it(client) -> None:
    institute, listing, seeker, enquiry, need = await a_followed_enquiry()
    anonymous = await a_published_need(seeker, visibility="anonymous", title="Hidden need")
    await client.post(
        "/login",
        data={
            "email": institute.email,
            "password": PASSWORD,
            "csrf_token": _csrf((await client.get("/login")).text),
        },
    )
    thread = await client.get(f"/enquiries/{enquiry.id}")
    assert f"/enquiries/{enquiry.id}/propose" in thread.text
    choices = await client.get(f"/enquiries/{enquiry.id}/propose")
    assert choices.status_code == 200
    assert f"/needs/{need.id}?enquiry={enquiry.id}" in choices.text
    assert str(anonymous.id) not in choices.text and "Hidden need" not in choices.text

    page = await client.get(f"/needs/{need.id}?enquiry={enquiry.id}")
    assert f'name="enquiry_id" value="{enquiry.id}"' in page.text
    form = {
        "csrf_token": _csrf(page.text),
        "enquiry_id": str(enquiry.id),
        "summary": "Our membrane holds 98.5% rejection at 45 LMH in a 200-hour pilot.",
        "trl": "5",
        "listing_ids": str(listing.id),
        **{f"how.{i}": "Pilot data shows it." for i in range(len(need.must_have))},
    }
    sent = await client.post(f"/needs/{need.id}/proposals", data=form)
    assert sent.status_code == 303, sent.text
    assert str((await Proposal.get(need_id=need.id)).enquiry_id) == str(enquiry.id)


async def test_only_the_institute_that_was_asked_sees_the_follow_up_page(client) -> None:
    _, _, seeker, enquiry, _ = await a_followed_enquiry()
    await client.post(
        "/login",
        data={
            "email": seeker.email,
            "password": PASSWORD,
            "csrf_token": _csrf((await client.get("/login")).text),
        },
    )
    assert (await client.get(f"/enquiries/{enquiry.id}/propose")).status_code == 403
    outsider, _ = await a_verified_institute()
    await client.post("/logout", data={"csrf_token": _csrf((await client.get("/")).text)})
    await client.post(
        "/login",
        data={
            "email": outsider.email,
            "password": PASSWORD,
            "csrf_token": _csrf((await client.get("/login")).text),
        },
    )
    assert (await client.get(f"/enquiries/{enquiry.id}/propose")).status_code == 404


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page carries no CSRF token"
    return found.group(1)
