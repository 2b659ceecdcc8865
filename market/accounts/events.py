"""What happens after organisation events commit: who is told, and what."""

from __future__ import annotations

from market.accounts.models import MemberRole, Membership, Organization, OrganizationKind, User
from market.notify import notify
from market.outbox import OutboxEvent


async def _owners(org_id: str) -> list[User]:
    memberships = await Membership.filter(
        organization_id=org_id, role=MemberRole.OWNER
    ).select_related("user")
    return [m.user for m in memberships if m.user.is_active]


async def tell_admins_of_new_organization(event: OutboxEvent) -> None:
    org = await Organization.get_or_none(id=event.payload["organization_id"])
    if org is None:
        return
    admins = await Membership.filter(organization__kind=OrganizationKind.PLATFORM).select_related(
        "user"
    )
    for membership in admins:
        await notify(
            membership.user,
            f"New organisation to verify: {org.name}",
            f"{org.name} ({org.kind}, {org.country}) registered and awaits verification.",
            dedup_key=f"{event.id}:{membership.user.id}",
        )


async def tell_owners_verified(event: OutboxEvent) -> None:
    for user in await _owners(event.payload["organization_id"]):
        await notify(
            user,
            "Your organisation is verified",
            "You can now publish listings and make offers on techmarket.",
            dedup_key=f"{event.id}:{user.id}",
        )


async def tell_owners_rejected(event: OutboxEvent) -> None:
    for user in await _owners(event.payload["organization_id"]):
        await notify(
            user,
            "Your organisation's verification was rejected",
            f"The administrator's reason: {event.payload.get('reason', '')}\n"
            "Correct the organisation's profile and ask for verification again.",
            dedup_key=f"{event.id}:{user.id}",
        )
