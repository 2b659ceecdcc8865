"""The administrators' cards of accounts (market/actions.py): organisations waiting to be
verified, and verified ones whose new name or country waits for a decision."""

from __future__ import annotations

from tortoise.expressions import Q

from market.accounts.models import Organization, OrganizationKind, Verification
from market.actions import Card
from market.actor import Actor
from market.web import N_


async def cards(actor: Actor) -> list[Card]:
    if not actor.is_admin:
        return []
    applicants = Organization.exclude(kind=OrganizationKind.PLATFORM)
    found = []
    pending = await applicants.filter(verification=Verification.PENDING).count()
    if pending:
        found.append(
            Card(
                "admin.organizations",
                N_("Organisations waiting for verification: %(count)s"),
                "/admin/organizations",
                count=pending,
                values={"count": pending},
            )
        )
    changes = await applicants.filter(
        Q(proposed_name__not="") | Q(proposed_country__not="")
    ).count()
    if changes:
        found.append(
            Card(
                "admin.identity_changes",
                N_("New names or countries waiting for your decision: %(count)s"),
                "/admin/organizations?state=changes",
                count=changes,
                values={"count": changes},
            )
        )
    return found
