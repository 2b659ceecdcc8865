"""The meetings' cards (market/actions.py): the meeting requests waiting for the actor's
answer, one card per event."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from hall.models import RequestState
from market.actions import Ask, Card
from market.actor import Actor
from market.web import N_

# More pending requests than a card counts exactly is rare; the read stays one bounded query.


async def cards(actor: Actor) -> list[Card | Ask]:
    if actor.user is None:
        return []
    # Read with the other rooms' lists (market/actions.py): the dashboard asks on every view.
    # Per event, oldest first.
    return [
        Ask(
            id="r.event_id",
            label="e.name",
            number="count(*)",
            source="FROM hall_meeting_request r"
            " JOIN hall_participant p ON p.id = r.guest_id JOIN hall_event e ON e.id = r.event_id"
            " WHERE p.user_id = $1 AND r.state = $2 GROUP BY r.event_id, e.name",
            order="min(r.created_at), r.event_id",
            values=(actor.user.id, RequestState.PENDING.value),
            cards=_answer,
        )
    ]


def _answer(pending: Sequence[Mapping[str, Any]]) -> list[Card]:
    return [
        Card(
            "meeting.answer",
            N_("Meeting requests waiting for your answer at %(event)s: %(count)s"),
            f"/events/{row['id']}/requests",
            count=row["number"],
            subject_id=row["id"],
            values={"event": row["label"], "count": row["number"]},
        )
        for row in pending
    ]
