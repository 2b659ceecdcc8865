"""The cards of technology needs (market/actions.py): for an enterprise's members, the needs
moderation returned; for the administrators, the queue of needs to moderate."""

from __future__ import annotations

from docking.models import Need, NeedState
from market.accounts.roles import Permission, may
from market.actions import Ask, Card, each_row
from market.actor import Actor
from market.web import N_


async def cards(actor: Actor) -> list[Card | Ask]:
    if actor.is_admin:
        waiting = await Need.filter(state=NeedState.SUBMITTED).count()
        if not waiting:
            return []
        return [
            Card(
                "admin.needs",
                N_("Needs waiting for moderation: %(count)s"),
                "/admin/needs",
                count=waiting,
                values={"count": waiting},
            )
        ]
    if actor.organization is None or not may(actor, Permission.LIST):
        return []
    # Read with the other rooms' lists (market/actions.py): the dashboard asks on every view.
    return [
        each_row(
            "need.returned",
            N_("Moderation returned your need “%(title)s”: see why and send it again"),
            "/needs/{id}/edit",
            id="n.id",
            label="n.title",
            source="FROM need n WHERE n.seeker_id = $1 AND n.state = $2",
            order="n.updated_at DESC, n.id",
            values=(actor.organization.id, NeedState.REJECTED.value),
        )
    ]
