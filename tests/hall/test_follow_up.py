"""The follow-up reminder: the worker's cron reaches both sides of a meeting that ended its
event's follow-up days ago with nothing recorded and no offer made, once, each in their own
time zone; recording an outcome settles it."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from hall import outcomes
from hall.deal_schemas import FromMeetingIn, OutcomeIn
from hall.models import Meeting, MeetingState
from market.clock import utcnow
from market.notify import Notification
from tests.builders import actor_of, run_crons
from tests.hall.deal_builders import a_held_meeting, a_past_event


async def test_the_cron_reminds_both_sides_once_in_their_own_time(database, settings, mailbox):
    event = await a_past_event(hours_ago=30, follow_up_days=1)
    met = await a_held_meeting(event)
    await run_crons(settings, "remind_meeting_follow_ups")
    meeting = await Meeting.get(id=met.meeting.id)
    assert meeting.follow_up_sent_at is not None
    about = f"meeting:{meeting.id}"
    buyer_note = await Notification.get(user_id=met.buyer.id, about=about)
    seller_note = await Notification.get(user_id=met.seller.id, about=about)
    for note, other in ((buyer_note, met.seller), (seller_note, met.buyer)):
        assert other.name in note.subject
        assert note.link.endswith(f"/meetings/{meeting.id}/outcome")
    berlin = meeting.starts_at.astimezone(ZoneInfo("Europe/Berlin"))
    shanghai = meeting.starts_at.astimezone(ZoneInfo("Asia/Shanghai"))
    assert f"{berlin:%Y-%m-%d %H:%M} (Europe/Berlin)" in buyer_note.body
    assert f"{shanghai:%Y-%m-%d %H:%M} (Asia/Shanghai)" in seller_note.body
    # Again: nothing more.
    assert await outcomes.remind_follow_ups() == 0
    assert await Notification.filter(about=f"meeting:{meeting.id}").count() == 2
    # The buyer says what came of it: the reminder is settled on the buyer's side only.
    await outcomes.record_outcome(
        await actor_of(met.buyer), str(meeting.id), OutcomeIn(outcome="follow_up")
    )
    assert (await Notification.get(id=buyer_note.id)).read_at is not None
    assert (await Notification.get(id=seller_note.id)).read_at is None


async def test_no_reminder_when_something_happened_or_it_is_too_early(database):
    event = await a_past_event(hours_ago=30, follow_up_days=1)
    recorded = await a_held_meeting(event)
    await outcomes.record_outcome(
        await actor_of(recorded.seller), str(recorded.meeting.id), OutcomeIn(outcome="no_fit")
    )
    offered = await a_held_meeting(event)
    await outcomes.offer_from_meeting(
        await actor_of(offered.buyer),
        str(offered.meeting.id),
        FromMeetingIn(listing_id=str(offered.listing.id)),
    )
    cancelled = await a_held_meeting(event)
    await Meeting.filter(id=cancelled.meeting.id).update(state=MeetingState.CANCELLED)
    later = await a_held_meeting(await a_past_event(hours_ago=30, follow_up_days=7))
    assert await outcomes.remind_follow_ups() == 0
    assert await Notification.filter(about__startswith="meeting:").count() == 0
    # A week on, the later event's meeting is due.
    assert await outcomes.remind_follow_ups(utcnow() + timedelta(days=7)) == 1
    assert await Notification.filter(about=f"meeting:{later.meeting.id}").count() == 2
