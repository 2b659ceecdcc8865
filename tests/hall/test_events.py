"""Events: who may create and run them, the lifecycle table walked, bad input refused by name
with nothing written, blocks that overlap or end before they start, and blocks that cannot
shrink while meetings sit in the slots they would lose."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from hall import service, states
from hall.models import Event, EventState, MeetingBlock
from hall.schemas import BlockIn, EventIn, EventPatch
from market.actor import Actor
from market.audit import AuditEntry
from market.errors import Conflict, Forbidden, NotFound, ValidationFailed
from market.validation import parse
from tests.builders import a_colleague, a_verified_enterprise, actor_of, an_admin, log_in, run_crons
from tests.hall.builders import DAY, a_meeting, a_participant, an_event, an_organiser, at


def event_data(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "Shenzhen Hi-Tech Fair brokerage",
        "name_zh": "高交会技术对接",
        "description": "One-to-one meetings between institutes and enterprises.",
        "timezone": "Asia/Shanghai",
        "starts_on": DAY.isoformat(),
        "ends_on": (DAY + timedelta(days=1)).isoformat(),
        "booking_opens_at": "2031-04-01T00:00:00+00:00",
        "booking_closes_at": "2031-05-19T12:00:00+00:00",
        "meeting_minutes": 20,
        "requests_need_acceptance": True,
        "request_expiry_hours": 48,
        "max_requests_per_participant": 10,
    }
    data.update(overrides)
    return data


async def test_an_organiser_creates_an_event_and_others_may_not(database) -> None:
    user, org = await an_organiser()
    event = await service.create_event(await actor_of(user), EventIn(**event_data()))
    assert event.state == EventState.DRAFT and event.organiser_id == org.id
    assert event.meeting_minutes == 20 and event.name_zh == "高交会技术对接"
    assert await AuditEntry.filter(action="event.created", object_id=str(event.id)).exists()

    # An organisation not granted the role, and a plain visitor, may not.
    outsider, _ = await a_verified_enterprise()
    with pytest.raises(Forbidden):
        await service.create_event(await actor_of(outsider), EventIn(**event_data()))
    # A draft is seen by its organisers only.
    with pytest.raises(NotFound):
        await service.get_event(await actor_of(outsider), str(event.id))
    with pytest.raises(NotFound):
        await service.get_event(Actor.anonymous(), str(event.id))
    # An administrator runs one for the platform, or for a granted organisation.
    admin = await actor_of(await an_admin())
    ours = await service.create_event(admin, EventIn(**event_data()))
    assert ours.organiser_id == admin.organization.id
    theirs = await service.create_event(admin, EventIn(**event_data(organiser_id=str(org.id))))
    assert theirs.organiser_id == org.id
    assert await Event.all().count() == 3


async def test_the_administrator_grants_the_organiser_role(database) -> None:
    user, org = await a_verified_enterprise()
    admin = await actor_of(await an_admin())
    with pytest.raises(Forbidden):
        await service.grant_organiser(await actor_of(user), str(org.id))
    granted = await service.grant_organiser(admin, str(org.id))
    assert granted.organises_events
    event = await service.create_event(await actor_of(user), EventIn(**event_data()))
    assert event.organiser_id == org.id
    revoked = await service.grant_organiser(admin, str(org.id), False)
    assert not revoked.organises_events
    with pytest.raises(Forbidden):
        await service.create_event(await actor_of(user), EventIn(**event_data()))
    assert await AuditEntry.filter(action="organization.organiser_granted").count() == 1


# Every (state, action) pair: where the table allows it, the organiser moves the event there.
ACTIONS = sorted({action for (_, action) in states.EVENT})


@pytest.mark.parametrize("state", [s.value for s in EventState])
@pytest.mark.parametrize("action", ACTIONS)
async def test_the_event_table_walked(database, state: str, action: str) -> None:
    user, org = await an_organiser()
    event = await an_event(org, state=state)
    movers = {
        "publish": service.publish_event,
        "open_booking": service.open_booking,
        "start": service.start_event,
        "close": service.close_event,
    }
    allowed = states.EVENT.get((state, action))
    if allowed is None:
        with pytest.raises(Conflict) as refused:
            await movers[action](await actor_of(user), str(event.id))
        assert refused.value.state == state
        assert (await Event.get(id=event.id)).state == state
        return
    moved = await movers[action](await actor_of(user), str(event.id))
    assert moved.state == allowed.to
    entry = await AuditEntry.get(action=f"event.{action}", object_id=str(event.id))
    assert entry.state_before["state"] == state and entry.state_after["state"] == allowed.to


async def test_only_organisers_move_an_event(database) -> None:
    _, org = await an_organiser()
    event = await an_event(org, state="published")
    stranger, _ = await a_verified_enterprise()
    with pytest.raises(Forbidden):
        await service.close_event(await actor_of(stranger), str(event.id))
    assert (await Event.get(id=event.id)).state == "published"
    # Every member of the organiser may publish for it, so may run its events.
    colleague = await a_colleague(org, role="member")
    closed = await service.close_event(await actor_of(colleague), str(event.id))
    assert closed.state == "closed"


async def test_bad_event_input_names_each_field_and_writes_nothing(client) -> None:
    user, _ = await an_organiser()
    token = await log_in(client, user.email)
    bad = event_data(
        timezone="Mars/Olympus",
        starts_on="2031-05-20",
        ends_on="2031-05-19",
        booking_opens_at="2031-05-01T00:00:00+00:00",
        booking_closes_at="2031-04-01T00:00:00+00:00",
        meeting_minutes=25,
        request_expiry_hours=0,
        max_requests_per_participant=1000,
        name="<script>alert(1)</script>" * 20,
    )
    response = await client.post("/api/v1/events", json=bad, headers={"X-CSRF-Token": token})
    assert response.status_code == 422
    fields = response.json()["error"]["fields"]
    expected = {
        "timezone",
        "ends_on",
        "booking_closes_at",
        "meeting_minutes",
        "request_expiry_hours",
        "max_requests_per_participant",
        "name",
    }
    assert expected <= set(fields), fields
    naive = await client.post(
        "/api/v1/events",
        json=event_data(booking_opens_at="2031-04-01T00:00:00"),
        headers={"X-CSRF-Token": token},
    )
    assert naive.status_code == 422 and "booking_opens_at" in naive.json()["error"]["fields"]
    assert await Event.all().count() == 0


async def test_the_api_runs_an_event_from_draft_to_closed(client) -> None:
    user, _ = await an_organiser()
    headers = {"X-CSRF-Token": await log_in(client, user.email)}
    created = await client.post("/api/v1/events", json=event_data(), headers=headers)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["state"] == "draft" and body["actions"] == ["publish"]
    eid = body["event"]["id"]
    assert body["event"]["timezone"] == "Asia/Shanghai"
    # Shanghai is UTC+8: the event's days run from 16:00 UTC the day before.
    block = {"starts_at": "2031-05-20T01:00:00Z", "ends_at": "2031-05-20T03:00:00Z"}
    added = await client.post(
        f"/api/v1/events/{eid}/blocks",
        json={**block, "mode": "onsite", "tables": 4},
        headers=headers,
    )
    assert added.status_code == 201, added.text
    assert added.json()["block"]["tables"] == 4
    pavilion = await client.post(
        f"/api/v1/events/{eid}/pavilions",
        json={"name": "New Materials", "name_zh": "新材料"},
        headers=headers,
    )
    assert pavilion.status_code == 201
    for action, state in (
        ("publish", "published"),
        ("open-booking", "booking_open"),
        ("close", "closed"),
    ):
        moved = await client.post(f"/api/v1/events/{eid}/{action}", headers=headers)
        assert moved.status_code == 200, moved.text
        assert moved.json()["state"] == state
    again = await client.post(f"/api/v1/events/{eid}/publish", headers=headers)
    assert again.status_code == 409 and again.json()["error"]["state"] == "closed"
    patched = await client.patch(f"/api/v1/events/{eid}", json={"name": "X" * 5}, headers=headers)
    assert patched.status_code == 409

    client.cookies.clear()
    public = (await client.get(f"/api/v1/events/{eid}")).json()
    assert public["state"] == "closed" and "actions" not in public
    assert [b["mode"] for b in public["blocks"]] == ["onsite"]
    assert public["pavilions"][0]["name_zh"] == "新材料"
    listed = (await client.get("/api/v1/events?q=brokerage")).json()
    assert [e["id"] for e in listed["items"]] == [eid]
    assert (await client.get("/api/v1/events?q=nothing-like-it")).json()["total"] == 0
    assert (await client.get("/api/v1/events?state=bogus")).status_code == 422


async def test_booking_opens_only_with_a_block(database) -> None:
    user, org = await an_organiser()
    event = await an_event(org, state="published", blocks=[])
    with pytest.raises(Conflict):
        await service.open_booking(await actor_of(user), str(event.id))
    assert (await Event.get(id=event.id)).state == "published"


async def test_an_edit_is_checked_whole_and_names_the_field(database) -> None:
    user, org = await an_organiser()
    event = await an_event(org, state="published")
    actor = await actor_of(user)
    with pytest.raises(ValidationFailed) as refused:
        await service.update_event(
            actor, str(event.id), EventPatch(ends_on=DAY - timedelta(days=3))
        )
    assert "ends_on" in refused.value.fields
    # The days must still hold the blocks (one is on DAY).
    with pytest.raises(ValidationFailed) as outside:
        await service.update_event(
            actor,
            str(event.id),
            EventPatch(starts_on=DAY + timedelta(days=1), ends_on=DAY + timedelta(days=1)),
        )
    assert "starts_on" in outside.value.fields
    changed = await service.update_event(
        actor, str(event.id), EventPatch(name="Renamed fair", meeting_minutes=15, agenda="final")
    )
    assert (changed.name, changed.meeting_minutes, changed.agenda) == ("Renamed fair", 15, "final")
    # A block must still hold a meeting of the new length.
    short = await service.add_block(actor, str(event.id), _block(at(15), at(15, 20), "online"))
    with pytest.raises(ValidationFailed) as too_short:
        await service.update_event(actor, str(event.id), EventPatch(meeting_minutes=30))
    assert "meeting_minutes" in too_short.value.fields
    await service.remove_block(actor, str(short.id))
    # Once a meeting is booked, the meeting length stays.
    a, b = await a_participant(event), await a_participant(event)
    await a_meeting(a, b)
    with pytest.raises(Conflict) as booked:
        await service.update_event(actor, str(event.id), EventPatch(meeting_minutes=20))
    assert "meeting_minutes" in booked.value.fields
    assert (await Event.get(id=event.id)).meeting_minutes == 15


def _block(start: datetime, end: datetime, mode: str = "onsite", tables: int | None = 2) -> BlockIn:
    return BlockIn(
        starts_at=start, ends_at=end, mode=mode, tables=tables if mode == "onsite" else None
    )


async def test_blocks_that_overlap_or_end_before_they_start_are_refused(database) -> None:
    user, org = await an_organiser()
    event = await an_event(org)  # 09:00-11:00 on site, 13:00-14:00 online (UTC)
    actor = await actor_of(user)
    with pytest.raises(ValidationFailed) as backwards:
        parse(
            BlockIn,
            {"starts_at": at(16).isoformat(), "ends_at": at(15).isoformat(), "mode": "online"},
        )
    assert "ends_at" in backwards.value.fields
    for start, end, field in (
        (at(10), at(12), "starts_at"),  # overlaps the on-site block
        (at(7), at(7, 10), "ends_at"),  # shorter than a meeting
        (at(3, day=DAY + timedelta(days=5)), at(4, day=DAY + timedelta(days=5)), "starts_at"),
    ):
        with pytest.raises(ValidationFailed) as refused:
            await service.add_block(actor, str(event.id), _block(start, end))
        assert field in refused.value.fields, (start, refused.value.fields)
    # Touching is not overlapping.
    added = await service.add_block(actor, str(event.id), _block(at(11), at(12), "online"))
    assert added.mode == "online"
    with pytest.raises(ValidationFailed) as no_tables:
        parse(
            BlockIn,
            {"starts_at": at(15).isoformat(), "ends_at": at(16).isoformat(), "mode": "onsite"},
        )
    assert "tables" in no_tables.value.fields
    assert await MeetingBlock.filter(event_id=event.id).count() == 3


async def test_a_block_cannot_lose_a_booked_slot(database) -> None:
    user, org = await an_organiser()
    event = await an_event(org)
    actor = await actor_of(user)
    block = await MeetingBlock.get(event_id=event.id, mode="onsite")
    a, b = await a_participant(event), await a_participant(event)
    await a_meeting(a, b, block=block, starts_at=at(10), table_no=2)
    for change, field in (
        (_block(at(10, 30), at(11)), "starts_at"),  # cuts the meeting's start off
        (_block(at(9), at(10, 15)), "ends_at"),  # cuts its end
        (_block(at(9, 15), at(11)), "starts_at"),  # moves the grid under it
        (_block(at(9), at(11), tables=1), "tables"),  # takes its table away
        (_block(at(9), at(11), "online"), "mode"),
    ):
        with pytest.raises(Conflict) as refused:
            await service.update_block(actor, str(block.id), change)
        assert field in refused.value.fields, (change, refused.value.fields)
    with pytest.raises(Conflict):
        await service.remove_block(actor, str(block.id))
    kept = await MeetingBlock.get(id=block.id)
    assert (kept.starts_at, kept.ends_at, kept.tables) == (at(9), at(11), 2)
    # What keeps the meeting's slot and table is fine.
    grown = await service.update_block(actor, str(block.id), _block(at(8), at(10, 30), tables=3))
    assert (grown.starts_at, grown.ends_at, grown.tables) == (at(8), at(10, 30), 3)
    online = await MeetingBlock.get(event_id=event.id, mode="online")
    await service.remove_block(actor, str(online.id))
    assert not await MeetingBlock.filter(id=online.id).exists()


async def test_the_clock_opens_starts_and_closes_events(database) -> None:
    _, org = await an_organiser()
    now = datetime(2031, 5, 1, tzinfo=UTC)
    published = await an_event(
        org,
        state="published",
        booking_opens_at=now - timedelta(hours=1),
        booking_closes_at=now + timedelta(days=10),
    )
    running = await an_event(org, state="booking_open")
    over = await an_event(
        org,
        state="running",
        starts_on=DAY - timedelta(days=25),
        ends_on=DAY - timedelta(days=24),
        blocks=[],
    )
    assert await service.advance_due(now) == 2
    assert (await Event.get(id=published.id)).state == "booking_open"
    assert (await Event.get(id=over.id)).state == "closed"
    assert (await Event.get(id=running.id)).state == "booking_open"
    # On its first day (Shanghai time: 16:00 UTC the day before) it runs.
    first = datetime(DAY.year, DAY.month, DAY.day, tzinfo=UTC) - timedelta(hours=8)
    assert await service.advance_due(first) == 2
    assert (await Event.get(id=running.id)).state == "running"
    entry = await AuditEntry.filter(action="event.start").first()
    assert entry is not None and entry.actor_id is None


async def test_the_workers_cron_runs_the_clock(settings) -> None:
    _, org = await an_organiser()
    due = await an_event(org, state="published")  # its booking window is open
    await run_crons(settings, "advance_events")
    assert (await Event.get(id=due.id)).state == "booking_open"
