"""The hall's card after a meeting (market/actions.py): a participant's meetings that took
place lately and for which their side has recorded nothing and made no offer."""

from __future__ import annotations

from datetime import timedelta

from tortoise.expressions import Q, Subquery

from contracts.offers.models import Offer
from hall.models import Meeting, MeetingOutcome, MeetingState
from market.actions import MOST, Card
from market.actor import Actor
from market.clock import utcnow
from market.web import N_

# A meeting older than this no longer asks for its outcome on the dashboard.
RECENT = timedelta(days=30)


async def cards(actor: Actor) -> list[Card]:
    if actor.user is None:
        return []
    uid = actor.user.id
    now = utcnow()
    mine = Q(request__requester__user_id=uid) | Q(request__guest__user_id=uid)
    recorded = MeetingOutcome.filter(participant__user_id=uid).values("meeting_id")
    offered = Offer.filter(meeting_id__isnull=False).values("meeting_id")
    waiting = (
        await Meeting.filter(
            mine,
            state=MeetingState.SCHEDULED,
            starts_at__lte=now,
            starts_at__gte=now - RECENT,
        )
        .exclude(id__in=Subquery(recorded))
        .exclude(id__in=Subquery(offered))
        .select_related("request__requester__user", "request__guest__user")
        .order_by("-starts_at")
        .limit(MOST)
    )
    found = []
    for meeting in waiting:
        request = meeting.request
        other = request.guest if str(request.requester.user_id) == str(uid) else request.requester  # type: ignore[attr-defined]
        found.append(
            Card(
                "meeting.outcome",
                N_("Say what came of your meeting with %(name)s"),
                f"/meetings/{meeting.id}/outcome",
                subject_id=str(meeting.id),
                values={"name": other.user.name},
            )
        )
    return found
