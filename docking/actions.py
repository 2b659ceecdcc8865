"""The cards of technology needs (market/actions.py): for an enterprise's members, the needs
moderation returned; for the administrators, the queue of needs to moderate."""

from __future__ import annotations

from docking.models import Need, NeedState
from market import rows
from market.accounts.roles import Permission, may
from market.actions import MOST, Card, one_per_row
from market.actor import Actor
from market.web import N_


async def cards(actor: Actor) -> list[Card]:
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
    returned = await _RETURNED.fetch([actor.organization.id, NeedState.REJECTED.value, MOST])
    return one_per_row(
        "need.returned",
        N_("Moderation returned your need “%(title)s”: see why and send it again"),
        "/needs/{id}/edit",
        returned,
    )


# Written out (market/rows.py): the dashboard asks it on every view.
_RETURNED = rows.Statement(
    "SELECT n.id, n.title FROM need n WHERE n.seeker_id = $1 AND n.state = $2"
    " ORDER BY n.updated_at DESC LIMIT $3"
)
