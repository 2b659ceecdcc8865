"""What happens after organisation events commit: who is told, and what (in each one's
language, from templates/emails/organization_*.txt and identity_*.txt)."""

from __future__ import annotations

from market.accounts.models import MemberRole, Membership, Organization, OrganizationKind, User
from market.config import get_settings
from market.notify import about, tell
from market.outbox import OutboxEvent


def _link(path: str) -> str:
    return get_settings().base_url.rstrip("/") + path


def _about(event: OutboxEvent) -> str:
    """Every notice of an organisation's verification or identity is about the organisation:
    an administrator's decision settles the other administrators' notices (notify.settle)."""
    return about("organization", event.payload["organization_id"])


async def _owners(org_id: str) -> list[User]:
    memberships = await Membership.filter(
        organization_id=org_id, role=MemberRole.OWNER
    ).select_related("user")
    return [m.user for m in memberships if m.user.is_active]


async def _admins() -> list[User]:
    memberships = await Membership.filter(
        organization__kind=OrganizationKind.PLATFORM
    ).select_related("user")
    return [m.user for m in memberships]


async def tell_admins_of_new_organization(event: OutboxEvent) -> None:
    org = await Organization.get_or_none(id=event.payload["organization_id"])
    if org is None:
        return
    for user in await _admins():
        await tell(
            user,
            "organization_registered",
            dedup_key=f"{event.id}:{user.id}",
            link=_link("/admin/organizations"),
            about=_about(event),
            org=org,
        )


async def tell_owners_verified(event: OutboxEvent) -> None:
    for user in await _owners(event.payload["organization_id"]):
        await tell(
            user,
            "organization_verified",
            dedup_key=f"{event.id}:{user.id}",
            link=_link("/dashboard"),
            about=_about(event),
        )


async def tell_owners_rejected(event: OutboxEvent) -> None:
    for user in await _owners(event.payload["organization_id"]):
        await tell(
            user,
            "organization_rejected",
            dedup_key=f"{event.id}:{user.id}",
            link=_link("/organization"),
            about=_about(event),
            reason=event.payload.get("reason", ""),
        )


async def tell_admins_of_identity_change(event: OutboxEvent) -> None:
    org = await Organization.get_or_none(id=event.payload["organization_id"])
    if org is None:
        return
    for user in await _admins():
        await tell(
            user,
            "identity_change",
            dedup_key=f"{event.id}:{user.id}",
            link=_link("/admin/organizations"),
            about=_about(event),
            org=org,
        )


async def tell_owners_of_identity_decision(event: OutboxEvent) -> None:
    for user in await _owners(event.payload["organization_id"]):
        await tell(
            user,
            "identity_decided",
            dedup_key=f"{event.id}:{user.id}",
            link=_link("/organization"),
            about=_about(event),
            approved=event.event_type == "organization.identity_approved",
            reason=event.payload.get("reason", ""),
        )
