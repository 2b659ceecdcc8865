"""The cards of offers (market/actions.py): the offers and counter-offers whose answer is
the actor's organisation's to give (`states.TURN`), for those who may negotiate."""

from __future__ import annotations

from contracts.offers.models import OfferState
from market import rows
from market.accounts.roles import Permission, may
from market.actions import MOST, Card
from market.actor import Actor
from market.web import N_


async def cards(actor: Actor) -> list[Card]:
    if actor.organization is None or actor.is_admin or not may(actor, Permission.NEGOTIATE):
        return []
    org_id = actor.organization.id
    waiting = await _WAITING.fetch(
        [OfferState.OPEN.value, org_id, OfferState.COUNTERED.value, org_id, MOST]
    )
    found = []
    for offer in waiting:
        first = offer["state"] == OfferState.OPEN and offer["terms_number"] == 1
        found.append(
            Card(
                "offer.answer",
                N_("Answer the offer on “%(title)s”")
                if first
                else N_("Answer the counter-offer on “%(title)s”"),
                f"/offers/{offer['id']}",
                subject_id=str(offer["id"]),
                values={"title": offer["title"]},
            )
        )
    return found


# Written out (market/rows.py): the dashboard asks it on every view.
_WAITING = rows.Statement(
    """
SELECT o.id, o.state, o.terms_number, l.title FROM offer o JOIN listing l ON l.id = o.listing_id
WHERE (o.state = $1 AND o.seller_id = $2) OR (o.state = $3 AND o.buyer_id = $4)
ORDER BY o.expires_at LIMIT $5
"""
)
