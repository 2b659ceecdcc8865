"""What happens after a meeting request or a meeting changes: who is told, and what.

A new request reaches its guest; a decision its requester (an acceptance the event made at
once, both sides); a withdrawn request its guest; a lapsed one its requester; a cancelled or
moved meeting both sides. The side who acted is not told of their own act. Each mail gives
the time in its reader's own zone with the other side's local time beside it, and the
event's name in the reader's language. The dedup key is (event, user): a second run of a
handler tells nobody twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from hall.meetings import load_request, times
from hall.models import Event, Meeting, MeetingRequest, Participant
from market.config import get_settings
from market.mail import locale_of
from market.notify import about, tell
from market.outbox import OutboxEvent

# A decided request's state -> (its mail, who hears of it).
DECIDED = {
    "accepted": ("meeting_accepted", ("requester", "guest")),
    "declined": ("meeting_declined", ("requester",)),
    "cancelled": ("meeting_request_cancelled", ("guest",)),
    "expired": ("meeting_request_expired", ("requester",)),
}
CHANGED = {"cancelled": "meeting_cancelled", "rescheduled": "meeting_rescheduled"}


def link(path: str) -> str:
    return f"{get_settings().base_url.rstrip('/')}{path}"


def event_name(event: Event, locale: str) -> str:
    return event.name_zh if locale == "zh" and event.name_zh else event.name


def when(moment: datetime, me: Participant, other: Participant) -> tuple[str, str]:
    """A moment in `me`'s zone and in the other side's, as a mail writes them."""
    seen = times(moment, me.timezone, other.timezone)
    return (
        f"{seen.mine:%Y-%m-%d %H:%M} ({seen.my_zone})",
        f"{seen.theirs:%Y-%m-%d %H:%M} ({seen.their_zone})",
    )


async def _tell(
    event: OutboxEvent,
    request: MeetingRequest,
    sides: tuple[str, ...],
    template: str,
    path: str,
    **context: Any,
) -> None:
    meeting = await Meeting.get_or_none(request_id=request.id)
    for side in sides:
        me: Participant = getattr(request, side)
        other: Participant = request.guest if side == "requester" else request.requester
        user = me.user
        if str(user.id) == event.payload.get("actor_id"):
            continue  # they know what they did
        mine, theirs = ("", "")
        if meeting is not None:
            mine, theirs = when(meeting.starts_at, me, other)
        await tell(
            user,
            template,
            dedup_key=f"{event.id}:{user.id}",
            about=about("meeting_request", request.id),
            link=link(path),
            meeting_event=event_name(request.event, locale_of(user)),
            person=other.user.name,
            person_org=other.organization.name,
            when=mine,
            their_when=theirs,
            table=meeting.table_no if meeting is not None else None,
            video_url=meeting.video_url if meeting is not None else "",
            message=request.message,
            **context,
        )


async def tell_guest_of_request(event: OutboxEvent) -> None:
    request = await load_request(event.payload["request_id"])
    await _tell(
        event,
        request,
        ("guest",),
        "meeting_requested",
        f"/events/{request.event.id}/requests",
        reason="",
    )


async def tell_of_decision(event: OutboxEvent) -> None:
    request = await load_request(event.payload["request_id"])
    state = event.payload["state"]
    template, sides = DECIDED[state]
    await _tell(
        event,
        request,
        sides,
        template,
        f"/events/{request.event.id}/meetings"
        if state == "accepted"
        else f"/events/{request.event.id}/requests",
        reason=event.payload.get("reason", ""),
    )


async def tell_of_change(event: OutboxEvent) -> None:
    request = await load_request(event.payload["request_id"])
    change = event.payload.get("change", "cancelled")
    context: dict[str, Any] = {"reason": event.payload.get("reason", "")}
    await _tell(
        event,
        request,
        ("requester", "guest"),
        CHANGED[change],
        f"/events/{request.event.id}/meetings",
        **context,
    )
