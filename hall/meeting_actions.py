"""The meetings' cards (market/actions.py): the meeting requests waiting for the actor's
answer, one card per event."""

from __future__ import annotations

from hall.models import MeetingRequest, RequestState
from market.actions import MOST, Card
from market.actor import Actor
from market.web import N_

# More pending requests than a card counts exactly is rare; the read stays one bounded query.
READ_AT_MOST = 500


async def cards(actor: Actor) -> list[Card]:
    if actor.user is None:
        return []
    pending = (
        await MeetingRequest.filter(guest__user_id=actor.user.id, state=RequestState.PENDING)
        .order_by("created_at")
        .limit(READ_AT_MOST)
        .select_related("event")
    )
    by_event: dict[str, list[MeetingRequest]] = {}
    for request in pending:
        by_event.setdefault(str(request.event.id), []).append(request)
    return [
        Card(
            "meeting.answer",
            N_("Meeting requests waiting for your answer at %(event)s: %(count)s"),
            f"/events/{event_id}/requests",
            count=len(requests),
            subject_id=event_id,
            values={"event": requests[0].event.name, "count": len(requests)},
        )
        for event_id, requests in list(by_event.items())[:MOST]
    ]
