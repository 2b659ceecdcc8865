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


async def tell_admins_of_identity_change(event: OutboxEvent) -> None:
    org = await Organization.get_or_none(id=event.payload["organization_id"])
    if org is None:
        return
    admins = await Membership.filter(organization__kind=OrganizationKind.PLATFORM).select_related(
        "user"
    )
    wanted = ", ".join(
        f"{what} {value}"
        for what, value in (("name", org.proposed_name), ("country", org.proposed_country))
        if value
    )
    for membership in admins:
        await notify(
            membership.user,
            f"{org.name} asks to change its verified details",
            f"{org.name} asks for a new {wanted}. Until you approve it, the verified details "
            "stay in force and public.",
            dedup_key=f"{event.id}:{membership.user.id}",
        )


async def tell_owners_of_identity_decision(event: OutboxEvent) -> None:
    approved = event.event_type == "organization.identity_approved"
    reason = event.payload.get("reason", "")
    for user in await _owners(event.payload["organization_id"]):
        await notify(
            user,
            "Your organisation's new details are approved"
            if approved
            else "Your organisation's new details were not approved",
            "They are now shown on techmarket."
            if approved
            else f"The administrator's reason: {reason}\nThe verified details stay as they were.",
            dedup_key=f"{event.id}:{user.id}",
        )
