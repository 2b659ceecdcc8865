"""The proposal pages end to end: the form on the need page gives bad input back escaped with
each field's error and sends good input; the seeker's inbox by stage, the proposal page with its
thread and stage buttons, the proposer's own list; the offer form prefilled from the need; the
public questions; and an anonymous seeker named nowhere outside it."""

from __future__ import annotations

from typing import Any

from contracts.offers.models import Offer
from docking.models import Need, Proposal
from tests.builders import (
    a_published_listing,
    a_published_need,
    a_verified_enterprise,
    a_verified_institute,
)
from tests.listings.test_pages import ESCAPED, HOSTILE, csrf_of, page_login

SECRET = "Secretive Steel AG"


async def _world() -> tuple[Need, Any]:
    seeker, _ = await a_verified_enterprise(
        email="seeker@example.org", organization={"name": SECRET}
    )
    institute, _ = await a_verified_institute(email="lab@example.org")
    need = await a_published_need(seeker, visibility="anonymous")
    listing = await a_published_listing(institute, title="Graphene oxide membrane, pilot scale")
    await a_verified_institute(email="stranger@example.org")
    return need, listing


def _form(need: Need, listing: Any, token: str, **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "csrf_token": token,
        "summary": "Our membrane holds 98.5% rejection at 45 LMH in a 200-hour pilot.",
        "trl": "5",
        "listing_ids": [str(listing.id)],
        **{f"how.{i}": f"Measured: {r}" for i, r in enumerate(need.must_have)},
    }
    data.update(overrides)
    return data


async def test_propose_from_the_need_page_then_review_talk_and_offer(client) -> None:
    need, listing = await _world()
    await page_login(client, "lab@example.org")
    page = (await client.get(f"/needs/{need.id}")).text
    assert 'action="/needs/' in page and listing.title in page and SECRET not in page
    token = csrf_of(page)

    bad = _form(need, listing, token, summary=HOSTILE, trl="", **{"how.1": ""})
    refused = await client.post(f"/needs/{need.id}/proposals", data=bad)
    assert refused.status_code == 422
    html = refused.text
    assert HOSTILE not in html and ESCAPED in html
    for control in ("trl", "how-1"):
        assert f'id="{control}-error"' in html, control
    assert "Measured: " in html  # what was typed comes back
    foreign = await a_published_listing()
    refused = await client.post(
        f"/needs/{need.id}/proposals",
        data=_form(need, foreign, token, listing_ids=[str(foreign.id)]),
    )
    assert refused.status_code == 422 and 'id="listing_ids-error"' in refused.text
    assert await Proposal.all().count() == 0

    sent = await client.post(f"/needs/{need.id}/proposals", data=_form(need, listing, token))
    assert sent.status_code == 303, sent.text
    proposal = await Proposal.get()
    assert sent.headers["location"] == f"/proposals/{proposal.id}"
    own = (await client.get(f"/proposals/{proposal.id}")).text
    assert "98.5%" in own and SECRET not in own and "Withdraw the proposal" in own
    mine = (await client.get("/proposals")).text
    assert need.title in mine and SECRET not in mine
    assert "open its proposal" in (await client.get(f"/needs/{need.id}")).text

    await page_login(client, "stranger@example.org")
    assert (await client.get(f"/proposals/{proposal.id}")).status_code == 404
    assert (await client.get(f"/needs/{need.id}/proposals")).status_code == 403

    await page_login(client, "seeker@example.org")
    need_page = (await client.get(f"/needs/{need.id}")).text
    assert "1 proposal received" in need_page
    inbox = (await client.get(f"/needs/{need.id}/proposals?stage=new")).text
    assert f"/proposals/{proposal.id}" in inbox and "New (1)" in inbox
    empty = (await client.get(f"/needs/{need.id}/proposals?stage=finalist")).text
    assert f"/proposals/{proposal.id}" not in empty
    token = csrf_of(inbox)
    no_reason = await client.post(
        f"/proposals/{proposal.id}/stage", data={"csrf_token": token, "stage": "declined"}
    )
    assert no_reason.status_code == 422 and 'id="reason-error"' in no_reason.text
    for stage in ("shortlisted", "finalist"):
        moved = await client.post(
            f"/proposals/{proposal.id}/stage", data={"csrf_token": token, "stage": stage}
        )
        assert moved.status_code == 303, moved.text
    said = await client.post(
        f"/proposals/{proposal.id}/messages", data={"csrf_token": token, "body": HOSTILE}
    )
    assert said.status_code == 303
    page = (await client.get(f"/proposals/{proposal.id}")).text
    assert HOSTILE not in page and ESCAPED in page and "Make an offer on this listing" in page

    form = (await client.get(f"/proposals/{proposal.id}/offer?listing_id={listing.id}")).text
    # Prefilled: a non-exclusive licence, CN and DE, the budget's 200,000.00 USD.
    assert 'value="non_exclusive" selected' in form
    assert 'value="CN, DE"' in form and 'value="200000.00"' in form
    assert f'name="listing_id" value="{listing.id}"' in form
    data = {
        "csrf_token": token,
        "listing_id": str(listing.id),
        "license_type": "non_exclusive",
        "territories": "CN, DE",
        "fields_of_use": "all",
        "term_months": "60",
        "upfront_fee.amount": "250,000.00",
        "upfront_fee.currency": "USD",
        "expires_at": form.split('name="expires_at"')[1].split('value="')[1].split('"')[0],
    }
    over = await client.post(f"/proposals/{proposal.id}/offer", data=data)
    assert over.status_code == 422 and 'id="upfront_fee-amount-error"' in over.text
    assert await Offer.all().count() == 0
    made = await client.post(
        f"/proposals/{proposal.id}/offer", data={**data, "upfront_fee.amount": "150000"}
    )
    assert made.status_code == 303, made.text
    offer = await Offer.get()
    assert offer.proposal_id == proposal.id  # type: ignore[attr-defined]
    assert (await Proposal.get(id=proposal.id)).stage == "converted"
    assert f'href="/proposals/{proposal.id}"' in (await client.get(f"/offers/{offer.id}")).text

    await page_login(client, "lab@example.org")
    page = (await client.get(f"/proposals/{proposal.id}")).text
    assert f"/offers/{offer.id}" in page and "The seeker" in page


async def test_public_questions_on_the_need_page(client) -> None:
    need, _ = await _world()
    await page_login(client, "lab@example.org")
    token = csrf_of((await client.get(f"/needs/{need.id}")).text)
    short = await client.post(
        f"/needs/{need.id}/questions", data={"csrf_token": token, "question": "?"}
    )
    assert short.status_code == 422 and 'id="question-error"' in short.text
    asked = await client.post(
        f"/needs/{need.id}/questions", data={"csrf_token": token, "question": HOSTILE}
    )
    assert asked.status_code == 303
    assert "Waiting for the seeker" in (await client.get(f"/needs/{need.id}")).text
    client.cookies.clear()
    assert ESCAPED not in (await client.get(f"/needs/{need.id}")).text

    await page_login(client, "seeker@example.org")
    page = (await client.get(f"/needs/{need.id}")).text
    assert ESCAPED in page and "/answer" in page
    qid = page.split("/questions/")[1].split("/answer")[0]
    answered = await client.post(
        f"/needs/{need.id}/questions/{qid}/answer",
        data={"csrf_token": csrf_of(page), "answer": "Five <b>years</b>"},
    )
    assert answered.status_code == 303
    client.cookies.clear()
    public = (await client.get(f"/needs/{need.id}")).text
    assert HOSTILE not in public and ESCAPED in public
    assert "Five &lt;b&gt;years&lt;/b&gt;" in public and SECRET not in public
