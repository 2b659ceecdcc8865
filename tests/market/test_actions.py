"""The dashboard's cards (market/actions.py): every provider's lists are read in one statement,
a UNION ALL of their asks, each list in its own order, on PostgreSQL and on SQLite."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import market.app.asgi  # noqa: F401  (installs the rooms' providers, as the app does)
from contracts.agreements import service as agreements
from contracts.offers.models import Offer
from listings import service as listings
from market import actions
from tests.builders import (
    a_contract,
    a_draft_listing,
    a_published_listing,
    actor_of,
    an_admin,
    an_offer,
    offers_like,
    signatories,
)
from tests.queries import Statements, counting


@asynccontextmanager
async def statements_on(kind: str) -> AsyncIterator[Statements | None]:
    """The statements sent, on PostgreSQL; None on SQLite (the spy knows asyncpg only)."""
    if kind != "postgresql":
        yield None
        return
    async with counting() as sent:
        yield sent


async def test_every_rooms_lists_are_read_in_one_statement_each_in_its_order(
    database_kind,
) -> None:
    contract = await a_contract("awaiting_signatures")
    seller, buyer = await signatories(contract)
    assert seller.user is not None and buyer.user is not None
    # The institute also has a listing moderation returned and three offers to answer.
    returned = await a_draft_listing(seller.user, title="Returned <alloy>")
    await listings.submit_listing(seller, str(returned.id))
    await listings.reject_listing(await actor_of(await an_admin()), str(returned.id), "Why?")
    first = await an_offer(await a_published_listing(seller.user), buyer.user)
    await offers_like(first, 2)
    seller = await actor_of(seller.user)

    async with statements_on(database_kind) as sent:
        cards = await actions.cards_for(seller)
    assert sent is None or len(sent) == 1, sent.summary()
    assert [card.kind for card in cards] == [
        "listing.returned",
        "offer.answer",
        "offer.answer",
        "offer.answer",
        "contract.sign",
    ]
    assert cards[0].link == f"/listings/{returned.id}/edit"
    assert cards[0].shown("en")["text"] == (
        "Moderation returned your listing “Returned <alloy>”: see why and send it again"
    )
    waiting = await Offer.filter(seller_id=seller.organization_id, state="open").order_by(
        "expires_at", "id"
    )
    assert [card.subject_id for card in cards[1:4]] == [str(offer.id) for offer in waiting]
    assert cards[4].subject_id == str(contract.id)


async def test_an_actor_with_nothing_waiting_has_no_cards_and_one_statement(
    database_kind,
) -> None:
    contract = await a_contract("awaiting_signatures")
    seller, _ = await signatories(contract)
    assert seller.user is not None
    await agreements.sign_contract(
        seller, str(contract.id), seller.user.name, contract.document_sha256, user_agent="t"
    )
    signed = await actor_of(seller.user)
    async with statements_on(database_kind) as sent:
        assert await actions.cards_for(signed) == []
    assert sent is None or len(sent) == 1, sent.summary()
