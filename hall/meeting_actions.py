"""The meetings' cards (market/actions.py): the meeting requests waiting for the actor's
answer, one card per event."""

from __future__ import annotations

from hall.models import RequestState
from market import rows
from market.actions import MOST, Card
from market.actor import Actor
from market.web import N_

# More pending requests than a card counts exactly is rare; the read stays one bounded query.


async def cards(actor: Actor) -> list[Card]:
    if actor.user is None:
        return []
    pending = await _PENDING.fetch([actor.user.id, RequestState.PENDING.value, MOST])
    return [
        Card(
            "meeting.answer",
            N_("Meeting requests waiting for your answer at %(event)s: %(count)s"),
            f"/events/{row['event_id']}/requests",
            count=row["n"],
            subject_id=str(row["event_id"]),
            values={"event": row["name"], "count": row["n"]},
        )
        for row in pending
    ]


# Written out (market/rows.py): the dashboard asks it on every view. Per event, oldest first.
_PENDING = rows.Statement(
    """
SELECT r.event_id, e.name, count(*) AS n FROM hall_meeting_request r
JOIN hall_participant p ON p.id = r.guest_id JOIN hall_event e ON e.id = r.event_id
WHERE p.user_id = $1 AND r.state = $2
GROUP BY r.event_id, e.name ORDER BY min(r.created_at) LIMIT $3
"""
)
