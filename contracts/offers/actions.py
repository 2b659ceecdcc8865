"""The cards of offers (market/actions.py): the offers and counter-offers whose answer is
the actor's organisation's to give (`states.TURN`), for those who may negotiate."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from contracts.offers.models import OfferState
from market.accounts.roles import Permission, may
from market.actions import Ask, Card
from market.actor import Actor
from market.web import N_


async def cards(actor: Actor) -> list[Card | Ask]:
    if actor.organization is None or actor.is_admin or not may(actor, Permission.NEGOTIATE):
        return []
    org_id = actor.organization.id
    # Read with the other rooms' lists (market/actions.py): the dashboard asks on every view.
    return [
        Ask(
            id="o.id",
            label="l.title",
            state="o.state",
            number="o.terms_number",
            source="FROM offer o JOIN listing l ON l.id = o.listing_id"
            " WHERE (o.state = $1 AND o.seller_id = $2) OR (o.state = $3 AND o.buyer_id = $4)",
            order="o.expires_at, o.id",
            values=(OfferState.OPEN.value, org_id, OfferState.COUNTERED.value, org_id),
            cards=_answer,
        )
    ]


def _answer(waiting: Sequence[Mapping[str, Any]]) -> list[Card]:
    found = []
    for offer in waiting:
        first = offer["state"] == OfferState.OPEN and offer["number"] == 1
        found.append(
            Card(
                "offer.answer",
                N_("Answer the offer on “%(title)s”")
                if first
                else N_("Answer the counter-offer on “%(title)s”"),
                f"/offers/{offer['id']}",
                subject_id=offer["id"],
                values={"title": offer["label"]},
            )
        )
    return found
