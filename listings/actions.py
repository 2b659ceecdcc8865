"""The cards of listings (market/actions.py): for an institute's members, the listings
moderation returned; for the administrators, the queue of listings and changes to moderate."""

from __future__ import annotations

from listings.models import Listing, ListingRevision, ListingState, RevisionState
from market.accounts.roles import Permission, may
from market.actions import Ask, Card, each_row
from market.actor import Actor
from market.web import N_


async def cards(actor: Actor) -> list[Card | Ask]:
    found: list[Card | Ask] = []
    if actor.is_admin:
        waiting = await Listing.filter(state=ListingState.SUBMITTED).count()
        waiting += await ListingRevision.filter(state=RevisionState.PENDING).count()
        if waiting:
            found.append(
                Card(
                    "admin.listings",
                    N_("Listings and changes waiting for moderation: %(count)s"),
                    "/admin/listings",
                    count=waiting,
                    values={"count": waiting},
                )
            )
        return found
    if actor.organization is None or not may(actor, Permission.LIST):
        return found
    # Read with the other rooms' lists (market/actions.py): the dashboard asks on every view.
    returned = each_row(
        "listing.returned",
        N_("Moderation returned your listing “%(title)s”: see why and send it again"),
        "/listings/{id}/edit",
        id="l.id",
        label="l.title",
        source="FROM listing l WHERE l.institute_id = $1 AND l.state = $2",
        order="l.updated_at DESC, l.id",
        values=(actor.organization.id, ListingState.REJECTED.value),
    )
    return [*found, returned]
