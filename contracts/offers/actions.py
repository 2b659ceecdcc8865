"""The cards of offers (market/actions.py): the offers and counter-offers whose answer is
the actor's organisation's to give (`states.TURN`), for those who may negotiate."""

from __future__ import annotations

from tortoise.expressions import Q

from contracts.offers.models import Offer, OfferState
from market.accounts.roles import Permission, may
from market.actions import MOST, Card
from market.actor import Actor
from market.web import N_


async def cards(actor: Actor) -> list[Card]:
    if actor.organization is None or actor.is_admin or not may(actor, Permission.NEGOTIATE):
        return []
    org_id = actor.organization.id
    waiting = (
        await Offer.filter(
            Q(state=OfferState.OPEN, seller_id=org_id)
            | Q(state=OfferState.COUNTERED, buyer_id=org_id)
        )
        .select_related("listing")
        .order_by("expires_at")
        .limit(MOST)
    )
    found = []
    for offer in waiting:
        first = offer.state == OfferState.OPEN and offer.terms_number == 1
        found.append(
            Card(
                "offer.answer",
                N_("Answer the offer on “%(title)s”")
                if first
                else N_("Answer the counter-offer on “%(title)s”"),
                f"/offers/{offer.id}",
                subject_id=str(offer.id),
                values={"title": offer.listing.title},
            )
        )
    return found
