"""Bookings racing for one slot, against PostgreSQL: many tasks at once, each in its own unit of
work on its own connection. The slot holds' unique key decides: exactly one booking of a
participant per slot wins, exactly as many as there are tables on site, and every other gets
a 409 saying why, with nothing of it written."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta

from hall import meetings
from hall.meeting_schemas import RequestIn
from hall.models import Meeting, MeetingBlock, MeetingRequest, SlotHold
from market.errors import Conflict, DomainError
from tests.builders import actor_of
from tests.hall.builders import a_participant, an_event, at

RACERS = 12


async def _pending_requests_to(guest, n: int, event) -> list[MeetingRequest]:
    made = []
    for _ in range(n):
        requester = await a_participant(event)
        user = await requester.user
        made.append(
            await meetings.request_meeting(
                await actor_of(user),
                str(event.id),
                RequestIn(guest_participant_id=guest.id, message="Twelve of us want 13:00"),
            )
        )
    return made


def _outcomes(results: list) -> tuple[list, list]:
    won = [r for r in results if not isinstance(r, BaseException)]
    lost = [r for r in results if isinstance(r, BaseException)]
    unexpected = [r for r in lost if not isinstance(r, DomainError)]
    assert not unexpected, unexpected
    return won, lost


async def test_of_many_acceptances_into_one_slot_exactly_one_wins():
    event = await an_event()
    guest = await a_participant(event, kind="institute", timezone="Asia/Shanghai")
    requests = await _pending_requests_to(guest, RACERS, event)
    guest_actor = await actor_of(await guest.user)
    slot = at(13)  # the online block: only the guest's own hold is contended

    results = await asyncio.gather(
        *(meetings.accept(guest_actor, str(r.id), slot) for r in requests),
        return_exceptions=True,
    )

    won, lost = _outcomes(results)
    assert len(won) == 1
    assert len(lost) == RACERS - 1
    for refusal in lost:
        assert isinstance(refusal, Conflict) and refusal.status == 409
        assert "has a meeting at that time already" in refusal.message
        assert (await guest.user).name in refusal.message
    # The winner's meeting, its three holds at most, and nothing of the losers'.
    assert await Meeting.all().count() == 1
    assert await SlotHold.filter(holder=f"p:{guest.id}", starts_at=slot).count() == 1
    assert await SlotHold.all().count() == 2  # online: the two participants, no table
    states = Counter(str(s) for s in await MeetingRequest.all().values_list("state", flat=True))
    assert states == {"accepted": 1, "pending": RACERS - 1}
    # The losers may still be accepted into another slot.
    loser = next(r for r in requests if r.id != won[0].request.id)
    later = await meetings.accept(guest_actor, str(loser.id), slot + timedelta(minutes=30))
    assert later.starts_at == slot + timedelta(minutes=30)


async def test_on_site_as_many_meetings_as_tables_win_a_slot():
    event = await an_event()  # the on-site block seats 2 meetings at once
    pairs = []
    for _ in range(RACERS // 2 + 2):
        requester = await a_participant(event)
        guest = await a_participant(event, kind="institute")
        request = await meetings.request_meeting(
            await actor_of(await requester.user),
            str(event.id),
            RequestIn(guest_participant_id=guest.id),
        )
        pairs.append((await actor_of(await guest.user), request))
    slot = at(9, 30)

    results = await asyncio.gather(
        *(meetings.accept(actor, str(request.id), slot) for actor, request in pairs),
        return_exceptions=True,
    )

    won, lost = _outcomes(results)
    assert sorted(m.table_no for m in won) == [1, 2]
    assert lost and all(isinstance(e, Conflict) for e in lost)
    assert all("No table is free" in e.message for e in lost)
    block = await MeetingBlock.get(event_id=event.id, mode="onsite")
    tables = await SlotHold.filter(starts_at=slot, holder__startswith=f"t:{block.id}:").count()
    assert tables == 2
    assert await Meeting.all().count() == 2


async def test_requests_booked_at_once_never_share_a_slot_of_the_guest():
    """An event whose requests need no acceptance books each in the first slot both have
    free: racing requesters each get a slot of their own until the guest's are gone."""
    event = await an_event(requests_need_acceptance=False)
    guest = await a_participant(event, kind="institute")
    requesters = [await a_participant(event) for _ in range(RACERS)]
    actors = [await actor_of(await r.user) for r in requesters]

    results = await asyncio.gather(
        *(
            meetings.request_meeting(actor, str(event.id), RequestIn(guest_participant_id=guest.id))
            for actor in actors
        ),
        return_exceptions=True,
    )

    won, lost = _outcomes(results)
    # The guest has 4 on-site slots (09:00-11:00) and 2 online ones (13:00-14:00).
    assert len(won) == 6 and len(lost) == RACERS - 6
    assert all(isinstance(e, Conflict) for e in lost)
    starts = await Meeting.all().values_list("starts_at", flat=True)
    assert len(set(starts)) == 6
    held = await SlotHold.filter(holder=f"p:{guest.id}").count()
    assert held == 6
    # A refused request left nothing behind.
    assert await MeetingRequest.all().count() == 6


async def test_a_block_shrinking_while_its_last_slot_is_booked_never_leaves_a_meeting_outside():
    """The online block 13:00-14:00 is cut to 13:00-13:30 while a guest accepts requests into
    its 13:30 slot, all at once: the block's change and the bookings lock the block, so either
    the change goes first (the bookings find no slot there) or a booking does (the change is
    refused, naming the block's end). Never a meeting in a slot the block no longer has."""
    from hall import service
    from hall.schemas import BlockIn
    from tests.builders import an_admin

    for _ in range(3):
        event = await an_event()
        guest = await a_participant(event, kind="institute")
        requests = await _pending_requests_to(guest, 4, event)
        guest_actor = await actor_of(await guest.user)
        admin = await actor_of(await an_admin())
        block = await MeetingBlock.get(event_id=event.id, mode="online")
        cut = BlockIn(starts_at=at(13), ends_at=at(13, 30), mode="online")

        results = await asyncio.gather(
            service.update_block(admin, str(block.id), cut),
            *(meetings.accept(guest_actor, str(r.id), at(13, 30)) for r in requests),
            return_exceptions=True,
        )

        unexpected = [r for r in results if isinstance(r, BaseException)]
        unexpected = [r for r in unexpected if not isinstance(r, DomainError)]
        assert not unexpected, unexpected
        kept = await MeetingBlock.get(id=block.id)
        booked = await Meeting.filter(block_id=block.id, state="scheduled")
        assert len(booked) <= 1
        for meeting in booked:
            assert meeting.ends_at <= kept.ends_at, (meeting.starts_at, kept.ends_at)
        shrunk = not isinstance(results[0], BaseException)
        assert shrunk == (kept.ends_at == at(13, 30))
        assert shrunk != bool(booked), (results, booked)
