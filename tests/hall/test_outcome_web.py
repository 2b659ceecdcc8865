"""The outcome and the offer after a meeting through the ASGI app: JSON (4xx naming the field,
404 to strangers, 403 to the organiser) and pages (the card in the viewer's zone with the
other side's beside it, the form again with the input on a refusal, hostile text escaped)."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from contracts.offers.models import Offer
from hall.models import MeetingOutcome
from tests.builders import (
    a_draft_listing,
    a_published_listing,
    a_verified_enterprise,
    a_verified_institute,
    an_accepted_offer,
    log_in,
)
from tests.hall.deal_builders import a_held_meeting
from tests.listings.test_pages import ESCAPED, HOSTILE, csrf_of, page_login
from tests.queries import counting


async def _as(client, email: str) -> dict[str, str]:
    client.cookies.clear()
    return {"X-CSRF-Token": await log_in(client, email)}


async def _organiser_email(met: Any) -> str:
    org = await met.event.organiser
    membership = await org.memberships.all().first().prefetch_related("user")
    return membership.user.email


async def test_outcome_and_offer_through_the_api(client) -> None:
    met = await a_held_meeting(license_types=["non_exclusive"], territories=["CN"])
    mid = str(met.meeting.id)
    buyer = await _as(client, met.buyer.email)
    bad = await client.post(
        f"/api/v1/meetings/{mid}/outcome", json={"outcome": "maybe"}, headers=buyer
    )
    assert bad.status_code == 422 and "outcome" in bad.json()["error"]["fields"]
    extra = await client.post(
        f"/api/v1/meetings/{mid}/outcome", json={"outcome": "no_fit", "x": 1}, headers=buyer
    )
    assert extra.status_code == 422
    done = await client.post(
        f"/api/v1/meetings/{mid}/outcome",
        json={"outcome": "follow_up", "note": HOSTILE},
        headers=buyer,
    )
    assert done.status_code == 200, done.text
    answer = done.json()
    assert answer["outcome"]["outcome"] == "follow_up" and answer["outcome"]["note"] == HOSTILE
    assert answer["side"] == "requester" and answer["took_place"] is True
    (listing,) = answer["listings"]
    assert listing["availability"] == [{"license_type": "non_exclusive", "status": "available"}]
    assert answer["offerable_listing_ids"] == [str(met.listing.id)]

    wrong = await client.post(
        f"/api/v1/meetings/{mid}/offer", json={"listing_id": "nope"}, headers=buyer
    )
    assert wrong.status_code == 422 and "listing_id" in wrong.json()["error"]["fields"]
    made = await client.post(
        f"/api/v1/meetings/{mid}/offer",
        json={"listing_id": str(met.listing.id), "term_months": 24},
        headers=buyer,
    )
    assert made.status_code == 201, made.text
    offer = made.json()["offer"]
    assert offer["meeting_id"] == mid and offer["terms"]["territories"] == ["CN"]
    assert offer["terms"]["term_months"] == 24
    shown = await client.get(f"/api/v1/offers/{offer['id']}")
    assert shown.json()["offer"]["meeting_id"] == mid

    # The other side sees what the buyer chose, not the buyer's note.
    seller = await _as(client, met.seller.email)
    card = (await client.get(f"/api/v1/meetings/{mid}/outcome", headers=seller)).json()
    assert card["side"] == "guest" and card["offerable_listing_ids"] == []
    assert [(o["outcome"], o["note"]) for o in card["outcomes"]] == [("offer", None)]
    assert [o["id"] for o in card["offers"]] == [offer["id"]]

    organiser = await _as(client, await _organiser_email(met))
    refused = await client.post(
        f"/api/v1/meetings/{mid}/outcome", json={"outcome": "no_fit"}, headers=organiser
    )
    assert refused.status_code == 403
    seen = (await client.get(f"/api/v1/meetings/{mid}/outcome")).json()
    assert seen["side"] is None and seen["offers"] == []
    assert all(o["note"] is None for o in seen["outcomes"])

    await a_verified_enterprise(email="stranger@example.org")
    stranger = await _as(client, "stranger@example.org")
    for method, path in (
        ("GET", f"/api/v1/meetings/{mid}/outcome"),
        ("POST", f"/api/v1/meetings/{mid}/outcome"),
        ("POST", f"/api/v1/meetings/{mid}/offer"),
    ):
        body = (
            {"outcome": "no_fit"}
            if path.endswith("outcome")
            else {"listing_id": str(met.listing.id)}
        )
        answer = await client.request(
            method, path, json=body if method == "POST" else None, headers=stranger
        )
        assert answer.status_code == 404, (method, path, answer.text)
    assert await Offer.filter(meeting_id=mid).count() == 1


async def test_the_meeting_page_records_and_leads_to_an_offer(client) -> None:
    met = await a_held_meeting(license_types=["exclusive"])
    mid = str(met.meeting.id)
    await page_login(client, met.buyer.email)
    page = await client.get(f"/meetings/{mid}/outcome")
    assert page.status_code == 200
    html = page.text
    start = met.meeting.starts_at
    assert f"{start.astimezone(ZoneInfo('Europe/Berlin')):%Y-%m-%d %H:%M}" in html
    assert f"{start.astimezone(ZoneInfo('Asia/Shanghai')):%Y-%m-%d %H:%M}" in html
    assert met.listing.title in html and f"/meetings/{mid}/offer?listing_id=" in html
    token = csrf_of(html)
    refused = await client.post(
        f"/meetings/{mid}/outcome", data={"csrf_token": token, "outcome": "", "note": HOSTILE}
    )
    assert refused.status_code == 422
    assert 'id="outcome-error"' in refused.text
    assert HOSTILE not in refused.text and ESCAPED in refused.text
    assert await MeetingOutcome.all().count() == 0
    sent = await client.post(
        f"/meetings/{mid}/outcome",
        data={"csrf_token": token, "outcome": "follow_up", "note": HOSTILE},
    )
    assert sent.status_code == 303
    again = (await client.get(f"/meetings/{mid}/outcome")).text
    assert ESCAPED in again and HOSTILE not in again

    form = await client.get(f"/meetings/{mid}/offer")
    assert form.status_code == 200 and f'action="/meetings/{mid}/offer"' in form.text
    assert 'value="exclusive" selected' in form.text
    bad = await client.post(
        f"/meetings/{mid}/offer",
        data={"csrf_token": token, "listing_id": str(met.listing.id), "license_type": "exclusive"},
    )
    assert bad.status_code == 422 and "term_months" in bad.text
    assert await Offer.all().count() == 0


async def test_strangers_get_404_pages(client) -> None:
    met = await a_held_meeting()
    await a_verified_institute(email="nosy@example.org")
    await page_login(client, "nosy@example.org")
    for path in (f"/meetings/{met.meeting.id}/outcome", f"/meetings/{met.meeting.id}/offer"):
        assert (await client.get(path)).status_code == 404, path


async def test_a_request_is_warned_of_an_exclusive_scope_already_granted(client) -> None:
    met = await a_held_meeting(license_types=["exclusive", "non_exclusive"])
    free = await a_published_listing(met.seller)
    draft = await a_draft_listing(met.seller)
    rival, _ = await a_verified_enterprise()
    await an_accepted_offer(met.listing, rival, license_type="exclusive")
    client.cookies.clear()
    await log_in(client, met.buyer.email)
    ids = [met.listing.id, free.id, draft.id]
    answer = await client.get(
        "/api/v1/rights/warnings", params=[("listing_id", str(i)) for i in ids]
    )
    assert answer.status_code == 200, answer.text
    (warned,) = answer.json()["items"]
    assert warned["id"] == str(met.listing.id) and warned["exclusive_taken"] == ["exclusive"]
    bad = await client.get("/api/v1/rights/warnings", params={"listing_id": "x"})
    assert bad.status_code == 422 and "listing_id" in bad.json()["error"]["fields"]


async def test_the_dashboard_asks_each_side_for_the_outcome_until_it_is_recorded(client) -> None:
    met = await a_held_meeting()
    headers = await _as(client, met.buyer.email)

    async def waiting() -> list[dict[str, Any]]:
        items = (await client.get("/api/v1/me/actions")).json()["items"]
        return [i for i in items if i["kind"] == "meeting.outcome"]

    async with counting() as one:
        (card,) = await waiting()
    assert card["link"] == f"/meetings/{met.meeting.id}/outcome"
    assert met.seller.name in card["text"]
    for _ in range(3):
        await a_held_meeting(buyer=met.buyer)
    async with counting() as many:
        assert len(await waiting()) == 4
    assert len(one) == len(many), many.summary()
    await client.post(
        f"/api/v1/meetings/{met.meeting.id}/outcome", json={"outcome": "no_fit"}, headers=headers
    )
    assert str(met.meeting.id) not in {c["subject_id"] for c in await waiting()}


async def test_the_organiser_reads_the_card_in_the_event_zone_without_a_form(client) -> None:
    met = await a_held_meeting()
    await page_login(client, await _organiser_email(met))
    page = await client.get(f"/meetings/{met.meeting.id}/outcome")
    assert page.status_code == 200
    html = page.text
    assert met.buyer.name in html and met.seller.name in html
    shanghai = met.meeting.starts_at.astimezone(ZoneInfo(met.event.timezone))
    assert f"{shanghai:%Y-%m-%d %H:%M} ({met.event.timezone})" in html
    assert f'action="/meetings/{met.meeting.id}/outcome"' not in html
    assert "/offer?listing_id=" not in html
