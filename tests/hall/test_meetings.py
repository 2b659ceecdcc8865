"""The meeting rules one by one, through the use cases against PostgreSQL: joining with blocks
and a zone; each refusal of a request (with its field or state, and nothing written);
accepting into a slot; declining, cancelling (which frees the slot) and moving; the viewer's
time with the other side's beside it; and who hears of what."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from hall import meetings
from hall.meeting_schemas import JoinIn, RequestIn
from hall.models import Meeting, MeetingBlock, MeetingRequest, Participant, SlotHold
from market.audit import AuditEntry
from market.clock import utcnow
from market.errors import Conflict, Forbidden, NotFound, ValidationFailed
from market.notify import Notification
from tests.builders import (
    a_colleague,
    a_published_listing,
    a_verified_enterprise,
    a_verified_institute,
    actor_of,
    run_worker,
)
from tests.hall.builders import a_meeting, a_participant, an_event, an_organiser, at


async def _actor(participant: Participant):
    return await actor_of(await participant.user)


async def _ask(requester: Participant, guest: Participant, **data):
    event = await requester.event
    return await meetings.request_meeting(
        await _actor(requester),
        str(event.id),
        RequestIn(guest_participant_id=guest.id, **data),
    )


async def _refused(exc_type, call, *, field: str | None = None, state: str | None = None):
    before = (await MeetingRequest.all().count(), await Meeting.all().count())
    with pytest.raises(exc_type) as caught:
        await call
    if field:
        assert field in caught.value.fields, caught.value.as_json()
    if state:
        assert caught.value.state == state
    assert (await MeetingRequest.all().count(), await Meeting.all().count()) == before
    return caught.value


# --- joining ---------------------------------------------------------------------------------


async def test_joining_names_blocks_and_zone_and_joining_again_changes_them():
    event = await an_event()
    onsite, online = await MeetingBlock.filter(event_id=event.id).order_by("starts_at")
    user, _ = await a_verified_enterprise()
    actor = await actor_of(user)

    joined = await meetings.join(
        actor, str(event.id), JoinIn(block_ids=[onsite.id], timezone="America/New_York")
    )
    assert joined.timezone == "America/New_York"
    assert (await meetings.blocks_of([joined.id]))[str(joined.id)] == [str(onsite.id)]

    again = await meetings.join(
        actor, str(event.id), JoinIn(block_ids=[online.id], timezone="Europe/Paris")
    )
    assert again.id == joined.id and again.timezone == "Europe/Paris"
    assert (await meetings.blocks_of([joined.id]))[str(joined.id)] == [str(online.id)]
    assert await AuditEntry.filter(action="participant.changed").count() == 1


async def test_joining_refuses_a_block_of_another_event_and_an_unknown_zone():
    event, other = await an_event(), await an_event()
    foreign = await MeetingBlock.filter(event_id=other.id).first()
    actor = await actor_of((await a_verified_enterprise())[0])
    with pytest.raises(ValidationFailed) as caught:
        await meetings.join(actor, str(event.id), JoinIn(block_ids=[foreign.id], timezone="UTC"))
    assert "block_ids" in caught.value.fields
    with pytest.raises(ValidationError):
        JoinIn(block_ids=[foreign.id], timezone="Mars/Olympus")
    assert await Participant.all().count() == 0


async def test_a_block_with_ones_meetings_cannot_be_left():
    event = await an_event()
    a, b = await a_participant(event), await a_participant(event, kind="institute")
    await a_meeting(a, b, starts_at=at(9, 30))
    online = await MeetingBlock.get(event_id=event.id, mode="online")
    with pytest.raises(ValidationFailed) as caught:
        await meetings.join(
            await _actor(a), str(event.id), JoinIn(block_ids=[online.id], timezone="UTC")
        )
    assert "block_ids" in caught.value.fields
    assert len((await meetings.blocks_of([a.id]))[str(a.id)]) == 2


# --- requests refused, one rule at a time ----------------------------------------------------


async def test_a_request_to_oneself_is_refused():
    event = await an_event()
    a = await a_participant(event)
    await _refused(ValidationFailed, _ask(a, a), field="guest_participant_id")


async def test_a_request_to_ones_own_organisation_is_refused():
    event = await an_event()
    a = await a_participant(event)
    org = await a.organization
    colleague = await a_participant(event, await a_colleague(org))
    error = await _refused(ValidationFailed, _ask(a, colleague), field="guest_participant_id")
    assert "own organisation" in error.message


async def test_a_request_without_a_shared_block_is_refused():
    event = await an_event()
    onsite, online = await MeetingBlock.filter(event_id=event.id).order_by("starts_at")
    a = await a_participant(event, blocks=[onsite])
    b = await a_participant(event, kind="institute", blocks=[online])
    error = await _refused(ValidationFailed, _ask(a, b), field="guest_participant_id")
    assert "no meeting block" in error.message


async def test_a_request_outside_the_booking_window_is_refused():
    event = await an_event(booking_opens_at=utcnow() + timedelta(days=1))
    a, b = await a_participant(event), await a_participant(event, kind="institute")
    error = await _refused(Conflict, _ask(a, b), state="booking_open")
    assert "Booking opens" in error.message

    closed_window = await an_event(booking_closes_at=utcnow() - timedelta(minutes=1))
    c, d = await a_participant(closed_window), await a_participant(closed_window, kind="institute")
    error = await _refused(Conflict, _ask(c, d))
    assert "Booking closed" in error.message


async def test_a_request_after_the_event_closed_is_refused():
    event = await an_event()
    a, b = await a_participant(event), await a_participant(event, kind="institute")
    await event.__class__.filter(id=event.id).update(state="closed")
    await _refused(Conflict, _ask(a, b), state="closed")


async def test_a_request_beyond_the_quota_is_refused_until_one_is_freed():
    event = await an_event(max_requests_per_participant=2)
    a = await a_participant(event)
    guests = [await a_participant(event, kind="institute") for _ in range(3)]
    first = await _ask(a, guests[0])
    await _ask(a, guests[1])
    error = await _refused(Conflict, _ask(a, guests[2]))
    assert "as many as this event allows" in error.message

    await meetings.cancel(await _actor(a), str(first.id))
    assert str((await _ask(a, guests[2])).state) == "pending"


async def test_a_second_open_request_between_the_same_two_is_refused():
    event = await an_event()
    a, b = await a_participant(event), await a_participant(event, kind="institute")
    await _ask(a, b)
    await _refused(Conflict, _ask(b, a))


async def test_one_must_join_before_asking():
    event = await an_event()
    b = await a_participant(event, kind="institute")
    outsider = await actor_of((await a_verified_enterprise())[0])
    with pytest.raises(Forbidden):
        await meetings.request_meeting(
            outsider, str(event.id), RequestIn(guest_participant_id=b.id)
        )


async def test_a_request_is_about_listings_of_either_side_only():
    event = await an_event()
    institute_user, _ = await a_verified_institute()
    b = await a_participant(event, institute_user)
    a = await a_participant(event)
    theirs = await a_published_listing(institute_user)
    strangers = await a_published_listing()
    await _refused(
        ValidationFailed, _ask(a, b, listing_ids=[str(strangers.id)]), field="listing_ids"
    )
    request = await _ask(a, b, listing_ids=[str(theirs.id)], message="About your membrane")
    assert request.listing_ids == [str(theirs.id)]


# --- accepting -------------------------------------------------------------------------------


async def test_the_guest_accepts_into_a_shared_slot_on_site_with_a_table():
    event = await an_event()
    a, b = await a_participant(event), await a_participant(event, kind="institute")
    request = await _ask(a, b)
    meeting = await meetings.accept(await _actor(b), str(request.id), at(10))
    assert (meeting.starts_at, meeting.ends_at) == (at(10), at(10, 30))
    assert meeting.table_no == 1 and meeting.video_url == ""
    holders = set(await SlotHold.filter(meeting_id=meeting.id).values_list("holder", flat=True))
    assert holders == {f"p:{a.id}", f"p:{b.id}", f"t:{meeting.block_id}:1"}
    assert str((await MeetingRequest.get(id=request.id)).state) == "accepted"


async def test_an_online_meeting_gets_a_video_room():
    event = await an_event()
    a, b = await a_participant(event), await a_participant(event, kind="institute")
    meeting = await meetings.accept(await _actor(b), str((await _ask(a, b)).id), at(13, 30))
    assert meeting.table_no is None
    assert meeting.video_url.startswith(meetings.VIDEO_ROOMS)


@pytest.mark.parametrize(
    ("slot", "why"),
    [
        (at(11), "inside one of the event's meeting blocks"),  # the on-site block's end
        (at(12), "inside one of the event's meeting blocks"),
        (at(9, 10), "every 30 minutes"),
    ],
)
async def test_a_slot_off_the_grid_is_refused_by_name(slot, why):
    event = await an_event()
    a, b = await a_participant(event), await a_participant(event, kind="institute")
    request = await _ask(a, b)
    error = await _refused(
        ValidationFailed,
        meetings.accept(await _actor(b), str(request.id), slot),
        field="slot_start",
    )
    assert why in error.message
    assert str((await MeetingRequest.get(id=request.id)).state) == "pending"


async def test_a_slot_in_a_block_one_side_left_out_is_refused():
    event = await an_event()
    onsite, online = await MeetingBlock.filter(event_id=event.id).order_by("starts_at")
    a = await a_participant(event, blocks=[onsite, online])
    b = await a_participant(event, kind="institute", blocks=[onsite])
    request = await _ask(a, b)
    await _refused(
        ValidationFailed,
        meetings.accept(await _actor(b), str(request.id), at(13)),
        field="slot_start",
    )


async def test_only_the_guest_accepts_and_a_stranger_does_not_see_the_request():
    event = await an_event()
    a, b = await a_participant(event), await a_participant(event, kind="institute")
    request = await _ask(a, b)
    await _refused(Forbidden, meetings.accept(await _actor(a), str(request.id), at(9)))
    stranger = await actor_of((await a_verified_enterprise())[0])
    await _refused(NotFound, meetings.accept(stranger, str(request.id), at(9)))
    await meetings.accept(await _actor(b), str(request.id), at(9))
    await _refused(
        Conflict, meetings.accept(await _actor(b), str(request.id), at(9, 30)), state="accepted"
    )


async def test_an_event_without_acceptance_books_the_first_shared_free_slot():
    event = await an_event(requests_need_acceptance=False)
    a, b, c = [await a_participant(event) for _ in range(3)]
    guest = await a_participant(event, kind="institute")
    first = await _ask(a, guest)
    second = await _ask(b, guest)
    assert str(first.state) == "accepted" and first.expires_at is None
    starts = [(await Meeting.get(request_id=r.id)).starts_at for r in (first, second)]
    # Two tables at 09:00: the guest can only sit at one of them.
    assert starts == [at(9), at(9, 30)]
    assert (await _ask(c, guest)).state == "accepted"


# --- declining, cancelling, moving -----------------------------------------------------------


async def test_declining_says_why_and_frees_the_quota():
    event = await an_event(max_requests_per_participant=1)
    a, b = await a_participant(event), await a_participant(event, kind="institute")
    c = await a_participant(event, kind="institute")
    request = await _ask(a, b)
    declined = await meetings.decline(await _actor(b), str(request.id), "Not our field")
    assert str(declined.state) == "declined" and declined.decline_reason == "Not our field"
    assert str((await _ask(a, c)).state) == "pending"


async def test_cancelling_a_meeting_frees_its_slot_and_table():
    event = await an_event()
    a, b = await a_participant(event), await a_participant(event, kind="institute")
    meeting = await a_meeting(a, b, starts_at=at(10))
    await meetings.cancel(await _actor(b), str(meeting.request_id), "Flight cancelled")
    again = await Meeting.get(id=meeting.id)
    assert str(again.state) == "cancelled" and again.sequence == 1
    assert await SlotHold.filter(meeting_id=meeting.id).count() == 0
    # The slot is free for both again.
    c = await a_participant(event, kind="institute")
    assert (await a_meeting(a, c, starts_at=at(10))).starts_at == at(10)


async def test_only_the_requester_withdraws_a_pending_request():
    event = await an_event()
    a, b = await a_participant(event), await a_participant(event, kind="institute")
    request = await _ask(a, b)
    with pytest.raises(Forbidden):
        await meetings.cancel(await _actor(b), str(request.id))
    assert str((await meetings.cancel(await _actor(a), str(request.id))).state) == "cancelled"


async def test_moving_a_meeting_swaps_its_holds_and_a_busy_slot_changes_nothing():
    event = await an_event()
    a, b = await a_participant(event), await a_participant(event, kind="institute")
    c = await a_participant(event, kind="institute")
    meeting = await a_meeting(a, b, starts_at=at(9))
    await a_meeting(a, c, starts_at=at(13))

    moved = await meetings.reschedule(await _actor(b), str(meeting.id), at(13, 30))
    assert moved.starts_at == at(13, 30) and moved.sequence == 1
    assert moved.table_no is None and moved.video_url.startswith(meetings.VIDEO_ROOMS)
    assert await SlotHold.filter(meeting_id=meeting.id, starts_at=at(9)).count() == 0

    error = await _refused(Conflict, meetings.reschedule(await _actor(a), str(meeting.id), at(13)))
    assert (await a.user).name in error.message
    kept = await Meeting.get(id=meeting.id)
    assert kept.starts_at == at(13, 30) and kept.sequence == 1
    assert await SlotHold.filter(meeting_id=meeting.id).count() == 2


# --- time zones ------------------------------------------------------------------------------


async def test_each_side_sees_its_own_time_with_the_others_beside_it():
    event = await an_event()
    a = await a_participant(event, timezone="Europe/Berlin")
    b = await a_participant(event, kind="institute", timezone="Asia/Shanghai")
    meeting = await meetings.load_meeting((await a_meeting(a, b, starts_at=at(9))).id)
    seen_by_a = meetings.meeting_json(meeting, await Participant.get(id=a.id))
    assert seen_by_a["starts_at"] == "2031-05-20T09:00:00+00:00"
    assert seen_by_a["local_start"] == "2031-05-20T11:00:00+02:00"
    assert seen_by_a["their_local_start"] == "2031-05-20T17:00:00+08:00"
    seen_by_b = meetings.meeting_json(meeting, await Participant.get(id=b.id))
    assert seen_by_b["local_start"] == "2031-05-20T17:00:00+08:00"


# --- who is told -----------------------------------------------------------------------------


async def test_the_guest_hears_of_a_request_and_the_requester_of_the_answer(settings):
    event = await an_event()
    a = await a_participant(event, timezone="Europe/Berlin")
    b = await a_participant(event, kind="institute", timezone="Asia/Shanghai")
    request = await _ask(a, b, message="<b>Hi</b>")
    await meetings.accept(await _actor(b), str(request.id), at(9))
    await run_worker(settings)
    a_user, b_user = await a.user, await b.user
    to_b = await Notification.filter(user_id=b_user.id).values_list("subject", flat=True)
    assert any(a_user.name in s for s in to_b)
    # Of the meeting's notices the requester gets the booking only (the request is theirs).
    about = f"meeting_request:{request.id}"
    to_a = await Notification.filter(user_id=a_user.id, about=about)
    assert [n.subject for n in to_a] == [f"Your meeting with {b_user.name} is booked"]
    # The requester's own time, the guest's beside it.
    assert "2031-05-20 11:00 (Europe/Berlin)" in to_a[0].body
    assert "2031-05-20 17:00 (Asia/Shanghai)" in to_a[0].body
    assert "table 1" in to_a[0].body


async def test_a_raw_hold_is_what_the_orm_reads_and_a_cancelled_one_frees_the_slot():
    """The hold is inserted with written-out SQL: the ORM must read it back as a hold. (Meant to
    run on SQLite too, `market dev`'s database, with the `database_kind` fixture: it passes
    there once migration 0025 migrates on SQLite, see the hall-meetings report.)"""
    event = await an_event()
    a, b = await a_participant(event), await a_participant(event, kind="institute")
    c = await a_participant(event, kind="institute")
    meeting = await a_meeting(a, b, starts_at=at(9))
    assert await SlotHold.filter(starts_at=at(9), holder=f"p:{a.id}").count() == 1
    request = await _ask(a, c)
    with pytest.raises(Conflict):
        await meetings.accept(await _actor(c), str(request.id), at(9))
    free = [start for _, start in await meetings.free_slots(event, a, c)]
    assert at(9) not in free and at(9, 30) in free
    await meetings.cancel(await _actor(a), str(meeting.request_id))
    assert (await meetings.accept(await _actor(c), str(request.id), at(9))).starts_at == at(9)


async def test_the_organisers_scheduler_books_pending_requests_into_free_slots():
    organiser_user, organiser = await an_organiser()
    event = await an_event(organiser)
    onsite, online = await MeetingBlock.filter(event_id=event.id).order_by("starts_at")
    guest = await a_participant(event, kind="institute")
    first, second = await a_participant(event), await a_participant(event)
    apart = await a_participant(event, blocks=[online])
    requests = [await _ask(first, guest), await _ask(second, guest)]
    stranded = await _ask(apart, await a_participant(event, kind="institute", blocks=[online]))
    await a_meeting(apart, guest, starts_at=at(13))

    with pytest.raises(Forbidden):
        await meetings.schedule_pending(await _actor(first), str(event.id))
    booked, left = await meetings.schedule_pending(await actor_of(organiser_user), str(event.id))

    assert (booked, left) == (3, 0)
    starts = [(await Meeting.get(request_id=r.id)).starts_at for r in requests]
    assert starts == [at(9), at(9, 30)]  # the guest once per slot
    assert (await Meeting.get(request_id=stranded.id)).starts_at == at(13, 30)
    entry = await AuditEntry.filter(action="meeting_request.accept").order_by("-id").first()
    assert entry.actor_id == organiser_user.id
    assert await meetings.schedule_pending(await actor_of(organiser_user), str(event.id)) == (0, 0)
