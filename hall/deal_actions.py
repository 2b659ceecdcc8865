"""The hall's card after a meeting (market/actions.py): a participant's meetings that took
place lately and for which their side has recorded nothing and made no offer."""

from __future__ import annotations

from datetime import timedelta

from hall.models import Meeting, MeetingState
from market.actions import Ask, Card, each_row
from market.actor import Actor
from market.clock import utcnow
from market.web import N_

# A meeting older than this no longer asks for its outcome on the dashboard.
RECENT = timedelta(days=30)


async def cards(actor: Actor) -> list[Card | Ask]:
    if actor.user is None:
        return []
    uid = actor.user.id
    now = utcnow()
    starts = Meeting._meta.fields_map["starts_at"]
    # Read with the other rooms' lists (market/actions.py): the dashboard asks on every view.
    # The other side's name; nothing recorded by the actor's side and no offer made from the
    # meeting.
    return [
        each_row(
            "meeting.outcome",
            N_("Say what came of your meeting with %(name)s"),
            "/meetings/{id}/outcome",
            name="name",
            id="m.id",
            label="u.name",
            source=_WAITING,
            order="m.starts_at DESC, m.id",
            values=(
                uid,
                uid,
                uid,
                MeetingState.SCHEDULED.value,
                starts.to_db_value(now, Meeting),
                starts.to_db_value(now - RECENT, Meeting),
                uid,
            ),
        )
    ]


_WAITING = """
FROM hall_meeting m
JOIN hall_meeting_request r ON r.id = m.request_id
JOIN hall_participant rp ON rp.id = r.requester_id
JOIN hall_participant gp ON gp.id = r.guest_id
JOIN "user" u ON u.id = CASE WHEN rp.user_id = $1 THEN gp.user_id ELSE rp.user_id END
WHERE (rp.user_id = $2 OR gp.user_id = $3) AND m.state = $4
  AND m.starts_at <= $5 AND m.starts_at >= $6
  AND NOT EXISTS (
    SELECT 1 FROM hall_meeting_outcome o JOIN hall_participant op ON op.id = o.participant_id
    WHERE o.meeting_id = m.id AND op.user_id = $7
  )
  AND NOT EXISTS (SELECT 1 FROM offer f WHERE f.meeting_id = m.id)"""
