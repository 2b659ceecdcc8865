"""What happens after need events commit: who is told, and what.

Closing a need early, withdrawing it, extending its deadline and its closing at the deadline
concern everyone who answered it, and the seeker's own members. Today nobody can answer a
need yet: `responders` is the hook proposals (issue 18, point 2) fill, and until then the
seeker's members are told. Each recipient reads the need through `public_view` as they may
see it, so a responder's mail about an anonymous need never names its seeker. The member who
acted is not told of their own act; the dedup key is (event, user), so a second run of the
handler sends nothing.
"""

from __future__ import annotations

from typing import Any

from docking import states
from docking.models import Need
from docking.service import public_view
from market.accounts.models import Membership, Organization, User
from market.actor import Actor
from market.config import get_settings
from market.notify import about, tell
from market.outbox import OutboxEvent

# Event type -> e-mail template under templates/emails (without .txt).
TEMPLATES = {
    states.CLOSED: "need_closed",
    states.EXPIRED: "need_expired",
    states.EXTENDED: "need_deadline_extended",
    states.WITHDRAWN: "need_withdrawn",
}


def need_link(need_id: Any) -> str:
    return f"{get_settings().base_url.rstrip('/')}/needs/{need_id}"


async def seeker_members(need: Need) -> list[tuple[User, Actor]]:
    """The seeker's active members, each with the actor they are to the need."""
    org = need.seeker
    assert isinstance(org, Organization)
    memberships = (
        await Membership.filter(organization_id=org.id, user__is_active=True)
        .order_by("created_at")
        .select_related("user")
    )
    return [(m.user, Actor(user=m.user, organization=org, role=m.role)) for m in memberships]


async def responders(need: Need) -> list[tuple[User, Actor]]:
    """Those who answered the need, each with the actor they are to it. None yet: proposals
    (issue 18, point 2) will list their authors here."""
    return []


async def tell_about_need(event: OutboxEvent) -> None:
    payload = event.payload
    need = await Need.get_or_none(id=payload["need_id"]).select_related("seeker")
    if need is None:
        return
    actor_id = payload.get("actor_id")
    template = TEMPLATES[event.event_type]
    for user, viewer in [*await seeker_members(need), *await responders(need)]:
        if str(user.id) == actor_id:
            continue  # they know what they did
        await tell(
            user,
            template,
            dedup_key=f"{event.id}:{user.id}",
            about=about("need", need.id),
            link=need_link(need.id),
            need=public_view(need, viewer),
            deadline=payload.get("deadline") or need.deadline.isoformat(),
            previous_deadline=payload.get("previous_deadline", ""),
            reason=payload.get("reason", ""),
        )
