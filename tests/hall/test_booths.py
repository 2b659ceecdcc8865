"""Booths: an organisation applies with a selection of its own published listings and open
needs, the organiser approves or rejects; what is not its own, not public or anonymous is
refused by field with nothing written; the booth table walked; visits counted once per
visitor and day, even when the same visitor's views race."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from hall import service, states
from hall.models import Booth, BoothState, BoothVisit
from hall.schemas import BoothIn
from market.actor import Actor
from market.audit import AuditEntry
from market.errors import Conflict, Forbidden, NotFound, ValidationFailed
from market.notify import Notification
from tests.builders import (
    a_colleague,
    a_published_listing,
    a_published_need,
    a_verified_enterprise,
    a_verified_institute,
    actor_of,
    an_admin,
    log_in,
    run_worker,
)
from tests.hall.builders import a_booth, a_pavilion, an_event, an_organiser


async def test_an_institute_applies_with_its_own_selection_and_the_organiser_approves(
    settings,
) -> None:
    organiser, org = await an_organiser()
    event = await an_event(org)
    pavilion = await a_pavilion(event)
    seller, institute = await a_verified_institute()
    listing = await a_published_listing(seller)
    colleague = await a_colleague(institute)
    actor = await actor_of(seller)
    booth = await service.apply_for_booth(
        actor,
        str(event.id),
        BoothIn(
            pavilion_id=str(pavilion.id),
            listing_ids=[str(listing.id)],
            attendee_ids=[str(seller.id), str(colleague.id)],
            headline="Graphene membranes",
            headline_zh="石墨烯膜",
            video_url="https://video.example.org/booth",
        ),
    )
    assert booth.state == BoothState.PENDING and booth.listing_ids == [str(listing.id)]
    # A second application of the same organisation is refused: it changes its booth instead.
    with pytest.raises(Conflict):
        await service.apply_for_booth(actor, str(event.id), BoothIn(pavilion_id=str(pavilion.id)))
    # Pending: not in the hall, not seen by visitors; the exhibitor cannot approve itself.
    assert (await service.list_booths(Actor.anonymous(), event))[1] == 0
    with pytest.raises(NotFound):
        await service.get_booth(Actor.anonymous(), str(booth.id))
    with pytest.raises(Forbidden):
        await service.approve_booth(actor, str(booth.id))
    pending, _ = await service.list_booths(await actor_of(organiser), event, state="pending")
    assert [b.id for b in pending] == [booth.id]
    with pytest.raises(Forbidden):
        await service.list_booths(actor, event, state="pending")

    approved = await service.approve_booth(await actor_of(organiser), str(booth.id))
    assert approved.state == BoothState.APPROVED and approved.decided_at is not None
    found, total = await service.list_booths(Actor.anonymous(), event, q="graphene")
    assert total == 1 and found[0].id == booth.id
    by_name, _ = await service.list_booths(
        Actor.anonymous(), event, q=institute.name.split()[0], pavilion_id=str(pavilion.id)
    )
    assert [b.id for b in by_name] == [booth.id]
    shown = await service.showcase(approved)
    assert [x.id for x in shown.listings] == [listing.id]
    assert {u.id for u in shown.attendees} == {seller.id, colleague.id}

    # The organiser heard of the application, the institute of the decision.
    await run_worker(settings)
    told = await Notification.filter(user_id=organiser.id).values_list("subject", flat=True)
    assert any("applied for a booth" in s for s in told), told
    decided = await Notification.filter(user_id=colleague.id).values_list("subject", flat=True)
    assert any("is approved" in s for s in decided), decided


async def test_a_selection_of_what_is_not_ones_own_is_refused_by_field(database) -> None:
    _, org = await an_organiser()
    event = await an_event(org)
    pavilion = await a_pavilion(event)
    elsewhere = await a_pavilion(await an_event(org))
    seller, _ = await a_verified_institute()
    other_listing = await a_published_listing()
    buyer, enterprise = await a_verified_enterprise()
    anonymous = await a_published_need(buyer, visibility="anonymous")
    public = await a_published_need(buyer)
    stranger, _ = await a_verified_enterprise()
    cases = [
        (seller, {"pavilion_id": str(elsewhere.id)}, "pavilion_id"),
        (seller, {"pavilion_id": "not-an-id"}, "pavilion_id"),
        (seller, {"listing_ids": [str(other_listing.id)]}, "listing_ids.0"),
        (buyer, {"need_ids": [str(public.id), str(anonymous.id)]}, "need_ids.1"),
        (buyer, {"attendee_ids": [str(stranger.id)]}, "attendee_ids.0"),
    ]
    for user, sent, field in cases:
        with pytest.raises(ValidationFailed) as refused:
            await service.apply_for_booth(
                await actor_of(user),
                str(event.id),
                BoothIn(**{"pavilion_id": str(pavilion.id), **sent}),
            )
        assert field in refused.value.fields, (sent, refused.value.fields)
    assert await Booth.all().count() == 0
    # Its own open, public need is fine.
    booth = await service.apply_for_booth(
        await actor_of(buyer),
        str(event.id),
        BoothIn(pavilion_id=str(pavilion.id), need_ids=[str(public.id)]),
    )
    assert booth.need_ids == [str(public.id)] and booth.organization_id == enterprise.id


async def test_no_booth_at_a_draft_or_closed_event(database) -> None:
    _, org = await an_organiser()
    seller, _ = await a_verified_institute()
    for state in ("draft", "closed"):
        event = await an_event(org, state=state)
        pavilion = await a_pavilion(await an_event(org))
        with pytest.raises((Conflict, NotFound)):
            await service.apply_for_booth(
                await actor_of(seller), str(event.id), BoothIn(pavilion_id=str(pavilion.id))
            )
    assert await Booth.all().count() == 0


# Every (state, action) pair of the booth table, by the role the table names first.
PAIRS = [
    (state.value, action)
    for state in BoothState
    for action in ("approve", "reject", "withdraw", "reapply")
]


@pytest.mark.parametrize(("state", "action"), PAIRS)
async def test_the_booth_table_walked(database, state: str, action: str) -> None:
    organiser, org = await an_organiser()
    event = await an_event(org)
    exhibitor, institute = await a_verified_institute()
    booth = await a_booth(event, institute, state=state)
    allowed = states.BOOTH.get((state, action))
    acting = exhibitor if action in ("withdraw", "reapply") else organiser
    actor = await actor_of(acting)

    async def move() -> Booth:
        if action == "approve":
            return await service.approve_booth(actor, str(booth.id))
        if action == "reject":
            return await service.reject_booth(actor, str(booth.id), "No room left")
        if action == "withdraw":
            return await service.withdraw_booth(actor, str(booth.id))
        return await service.apply_for_booth(
            actor, str(event.id), BoothIn(pavilion_id=str(booth.pavilion_id))
        )

    if allowed is None:
        with pytest.raises(Conflict):
            await move()
        assert (await Booth.get(id=booth.id)).state == state
        return
    moved = await move()
    assert moved.state == allowed.to
    assert await AuditEntry.filter(action=f"booth.{action}", object_id=str(booth.id)).exists()


async def test_a_rejection_needs_a_reason(database) -> None:
    organiser, org = await an_organiser()
    event = await an_event(org)
    booth = await a_booth(event, state="pending")
    with pytest.raises(ValidationFailed) as refused:
        await service.reject_booth(await actor_of(organiser), str(booth.id), " ")
    assert "reason" in refused.value.fields
    assert (await Booth.get(id=booth.id)).state == "pending"


async def test_visits_count_each_visitor_once_a_day(database) -> None:
    _, org = await an_organiser()
    event = await an_event(org)  # Asia/Shanghai
    booth = await a_booth(event)
    visitor, _ = await a_verified_enterprise()
    key = service.visitor_key(await actor_of(visitor), "", "secret")
    anonymous = service.visitor_key(Actor.anonymous(), "browser-token", "secret")
    assert anonymous.startswith("a:") and "browser-token" not in anonymous
    morning = datetime(2031, 5, 20, 1, tzinfo=UTC)
    # The same visitor's views race: one row.
    await asyncio.gather(
        *[service.record_visit(booth, event, key, morning) for _ in range(8)],
        service.record_visit(booth, event, anonymous, morning),
    )
    # 17:00 UTC is the next day in Shanghai.
    await service.record_visit(booth, event, key, morning + timedelta(hours=16))
    counts = await service.visits_by_day(booth)
    assert {day.isoformat(): n for day, n in counts.items()} == {"2031-05-20": 2, "2031-05-21": 1}
    assert await BoothVisit.all().count() == 3


async def test_the_booth_api(client) -> None:
    organiser, org = await an_organiser()
    event = await an_event(org)
    pavilion = await a_pavilion(event)
    seller, _ = await a_verified_institute()
    listing = await a_published_listing(seller)
    headers = {"X-CSRF-Token": await log_in(client, seller.email)}
    bad = await client.post(
        f"/api/v1/events/{event.id}/booths",
        json={"pavilion_id": str(pavilion.id), "listing_ids": ["x"], "video_url": "ftp://x"},
        headers=headers,
    )
    assert bad.status_code == 422
    assert {"listing_ids.0", "video_url"} & set(bad.json()["error"]["fields"])
    applied = await client.post(
        f"/api/v1/events/{event.id}/booths",
        json={"pavilion_id": str(pavilion.id), "listing_ids": [str(listing.id)], "need_ids": []},
        headers=headers,
    )
    assert applied.status_code == 201, applied.text
    assert applied.json()["state"] == "pending"
    bid = applied.json()["booth"]["id"]
    assert (await client.post(f"/api/v1/booths/{bid}/approve", headers=headers)).status_code == 403

    client.cookies.clear()
    headers = {"X-CSRF-Token": await log_in(client, organiser.email)}
    approved = await client.post(f"/api/v1/booths/{bid}/approve", headers=headers)
    assert approved.status_code == 200 and approved.json()["state"] == "approved"
    again = await client.post(f"/api/v1/booths/{bid}/approve", headers=headers)
    assert again.status_code == 409 and again.json()["error"]["state"] == "approved"

    client.cookies.clear()
    listed = (
        await client.get(f"/api/v1/events/{event.id}/booths?pavilion_id={pavilion.id}")
    ).json()
    assert [b["id"] for b in listed["items"]] == [bid]
    assert (await client.get(f"/api/v1/booths/{bid}")).json()["booth"]["listing_ids"] == [
        str(listing.id)
    ]
    pending = await client.get(f"/api/v1/events/{event.id}/booths?state=pending")
    assert pending.status_code == 401 or pending.status_code == 403


async def test_the_organiser_role_through_the_api(client) -> None:
    user, org = await a_verified_enterprise()
    await an_admin("admin@example.org")
    headers = {"X-CSRF-Token": await log_in(client, "admin@example.org")}
    granted = await client.post(
        f"/api/v1/admin/organizations/{org.id}/organiser",
        json={"organises_events": True},
        headers=headers,
    )
    assert granted.status_code == 200 and granted.json()["organises_events"] is True
    client.cookies.clear()
    headers = {"X-CSRF-Token": await log_in(client, user.email)}
    refused = await client.post(
        f"/api/v1/admin/organizations/{org.id}/organiser", json={}, headers=headers
    )
    assert refused.status_code == 403


async def test_the_organisers_dashboard_shows_waiting_applications(client) -> None:
    organiser, org = await an_organiser()
    event = await an_event(org, name="Harbour fair")
    booth = await a_booth(event, state="pending")
    await log_in(client, organiser.email)
    cards = (await client.get("/api/v1/me/actions")).json()["items"]
    assert [c["link"] for c in cards if c["kind"] == "event.booths"] == [f"/events/{event.id}"]
    await service.approve_booth(await actor_of(organiser), str(booth.id))
    cards = (await client.get("/api/v1/me/actions")).json()["items"]
    assert not [c for c in cards if c["kind"] == "event.booths"]
