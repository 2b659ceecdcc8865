"""The cards of the hall (market/actions.py): for the members of an organisation that runs
events (the administrators for the platform's own), the events whose booth applications wait
for a decision."""

from __future__ import annotations

from hall.models import BoothState, Event
from market.accounts.roles import Permission, may
from market.actions import MOST, Card
from market.actor import Actor
from market.web import N_


async def cards(actor: Actor) -> list[Card]:
    org = actor.organization
    if org is None or not (
        actor.is_admin or (org.organises_events and may(actor, Permission.LIST))
    ):
        return []
    waiting = (
        await Event.filter(organiser_id=org.id, booths__state=BoothState.PENDING)
        .distinct()
        .order_by("starts_on", "id")
        .limit(MOST)
    )
    return [
        Card(
            "event.booths",
            N_("Booth applications wait for your decision at “%(name)s”"),
            f"/events/{event.id}",
            subject_id=str(event.id),
            values={"name": event.name},
        )
        for event in waiting
    ]
