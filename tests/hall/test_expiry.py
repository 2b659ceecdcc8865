"""Pending meeting requests lapse on the worker's clock (the `expire_meeting_requests` cron, run
in a real arq worker): the requester's place in the quota is freed and they are told; a
request not yet due, or already answered, is left alone."""

from __future__ import annotations

from datetime import timedelta

from hall import meetings
from hall.meeting_schemas import RequestIn
from hall.models import MeetingRequest
from market.audit import AuditEntry
from market.clock import utcnow
from market.notify import Notification
from tests.builders import actor_of, run_crons, run_worker
from tests.hall.builders import a_participant, an_event, at


async def _ask(requester, guest):
    event = await requester.event
    return await meetings.request_meeting(
        await actor_of(await requester.user),
        str(event.id),
        RequestIn(guest_participant_id=guest.id),
    )


async def test_the_cron_lets_overdue_requests_lapse_and_frees_the_quota(settings, redis_client):
    event = await an_event(max_requests_per_participant=2, request_expiry_hours=24)
    a = await a_participant(event)
    b, c, d, e = [await a_participant(event, kind="institute") for _ in range(4)]
    overdue = await _ask(a, b)
    fresh = await _ask(a, c)
    await MeetingRequest.filter(id=overdue.id).update(expires_at=utcnow() - timedelta(minutes=1))
    answered = await _ask(d, a)
    await meetings.accept(await actor_of(await a.user), str(answered.id), at(9))
    await MeetingRequest.filter(id=answered.id).update(expires_at=utcnow() - timedelta(hours=1))

    await run_crons(settings, "expire_meeting_requests")
    await run_worker(settings)

    assert str((await MeetingRequest.get(id=overdue.id)).state) == "expired"
    assert str((await MeetingRequest.get(id=fresh.id)).state) == "pending"
    assert str((await MeetingRequest.get(id=answered.id)).state) == "accepted"
    entry = await AuditEntry.get(action="meeting_request.expire")
    assert entry.object_id == str(overdue.id)
    told = await Notification.filter(user_id=(await a.user).id).values_list("subject", flat=True)
    assert f"Your meeting request to {(await b.user).name} has lapsed" in told
    # The lapsed request's place in the quota is free again.
    assert str((await _ask(a, e)).state) == "pending"


async def test_expiring_twice_lapses_once():
    event = await an_event()
    a, b = await a_participant(event), await a_participant(event, kind="institute")
    request = await _ask(a, b)
    later = utcnow() + timedelta(hours=event.request_expiry_hours + 1)
    assert await meetings.expire_due(later) == 1
    assert await meetings.expire_due(later) == 0
    assert await AuditEntry.filter(action="meeting_request.expire").count() == 1
    assert str((await MeetingRequest.get(id=request.id)).state) == "expired"
