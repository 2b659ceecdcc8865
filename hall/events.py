"""What happens after booth events commit: who is told, and what.

An application (new or again) is told to the organising organisation's members; a decision on
it (approved, rejected) to the exhibiting organisation's. The member who acted is not told of
their own act; the dedup key is (event, user), so a second run of a handler sends nothing.
Event moves (published, booking open, running, closed) tell nobody: the hall's pages show them.
"""

from __future__ import annotations

from typing import Any

from hall.models import Booth, BoothState
from market.accounts.models import Membership, User
from market.config import get_settings
from market.notify import about, tell
from market.outbox import OutboxEvent


def booth_link(booth_id: Any) -> str:
    return f"{get_settings().base_url.rstrip('/')}/booths/{booth_id}"


async def _members(org_id: Any) -> list[User]:
    memberships = (
        await Membership.filter(organization_id=org_id, user__is_active=True)
        .order_by("created_at")
        .select_related("user")
    )
    return [m.user for m in memberships]


async def tell_about_booth(event: OutboxEvent) -> None:
    payload = event.payload
    booth = await Booth.get_or_none(id=payload["booth_id"]).select_related("organization", "event")
    if booth is None:
        return
    state = payload.get("state")
    if state == BoothState.PENDING:
        template, org_id = "booth_applied", booth.event.organiser_id  # type: ignore[attr-defined]
    elif state in (BoothState.APPROVED, BoothState.REJECTED):
        template, org_id = "booth_decided", booth.organization_id  # type: ignore[attr-defined]
    else:
        return
    for user in await _members(org_id):
        if str(user.id) == payload.get("actor_id"):
            continue  # they know what they did
        await tell(
            user,
            template,
            dedup_key=f"{event.id}:{user.id}",
            about=about("booth", booth.id),
            link=booth_link(booth.id),
            org=booth.organization,
            event_name=booth.event.name,
            approved=state == BoothState.APPROVED,
            reason=booth.rejection_reason,
        )
