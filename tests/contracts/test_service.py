"""Offer use cases against PostgreSQL: the state table, turns, rights and their races."""

from __future__ import annotations

import asyncio

import pytest

from contracts import service as offers
from contracts.models import Grant, Offer, OfferTerms
from contracts.schemas import MessageIn, OfferTermsIn
from market.audit import AuditEntry
from market.errors import Conflict, Forbidden, NotFound
from tests.builders import (
    a_published_listing,
    a_verified_enterprise,
    a_verified_institute,
    actor_of,
    an_offer,
    offer_terms,
)


def terms(**overrides) -> OfferTermsIn:
    return OfferTermsIn.model_validate(offer_terms(**overrides))


async def seller_of(offer: Offer):
    from listings.models import Listing
    from market.accounts.models import User

    listing = await Listing.get(id=offer.listing_id)
    return await actor_of(await User.get(id=listing.created_by_id))


async def buyer_of(offer: Offer):
    from market.accounts.models import User

    return await actor_of(await User.get(id=offer.created_by_id))


async def test_an_offer_opens_with_its_first_terms_and_waits_for_the_seller() -> None:
    offer = await an_offer()
    assert offer.state == "open"
    view = await offers.get_offer(await seller_of(offer), str(offer.id))
    assert [v.number for v in view.versions] == [1]
    assert view.turn == "seller"
    assert set(view.actions) == {"accept", "counter", "reject", "message"}
    buyer_view = await offers.get_offer(await buyer_of(offer), str(offer.id))
    assert set(buyer_view.actions) == {"reject", "withdraw", "message"}


async def test_counter_adds_a_version_and_passes_the_turn() -> None:
    offer = await an_offer()
    seller, buyer = await seller_of(offer), await buyer_of(offer)
    countered = await offers.counter_offer(seller, str(offer.id), terms(royalty_percent="5"))
    assert countered.state == "countered" and countered.terms_number == 2
    with pytest.raises(Forbidden, match="turn"):
        await offers.accept_offer(seller, str(offer.id))
    back = await offers.counter_offer(buyer, str(offer.id), terms(royalty_percent="4"))
    assert back.state == "open" and back.terms_number == 3
    versions = await OfferTerms.filter(offer_id=offer.id).order_by("number")
    assert [(v.side, str(v.royalty_percent)) for v in versions] == [
        ("buyer", "3.500"),
        ("seller", "5.000"),
        ("buyer", "4.000"),
    ]
    accepted = await offers.accept_offer(seller, str(offer.id))
    assert accepted.state == "accepted"
    assert await Grant.filter(offer_id=offer.id).count() == 1


async def test_a_stranger_cannot_tell_an_offer_exists() -> None:
    offer = await an_offer()
    stranger, _ = await a_verified_enterprise()
    actor = await actor_of(stranger)
    for call in (
        offers.get_offer(actor, str(offer.id)),
        offers.accept_offer(actor, str(offer.id)),
        offers.post_message(actor, str(offer.id), MessageIn(body="hello")),
    ):
        with pytest.raises(NotFound, match="No such offer"):
            await call


async def test_accepting_an_exclusive_offer_declines_the_conflicting_ones() -> None:
    listing = await a_published_listing()
    first = await an_offer(listing, license_type="exclusive", territories=["CN"])
    second = await an_offer(listing, license_type="exclusive", territories=["WORLD"])
    elsewhere = await an_offer(listing, license_type="exclusive", territories=["DE"])
    await offers.accept_offer(await seller_of(first), str(first.id))
    assert (await Offer.get(id=second.id)).state == "declined"
    assert (await Offer.get(id=elsewhere.id)).state == "open"
    with pytest.raises(Conflict, match="conflicts"):
        await offers.accept_offer(
            await seller_of(first),
            str((await an_offer(listing, license_type="non_exclusive", territories=["CN"])).id),
        )


async def test_concurrent_accepts_of_conflicting_exclusive_offers_grant_once() -> None:
    listing = await a_published_listing()
    a = await an_offer(listing, license_type="exclusive")
    b = await an_offer(listing, license_type="exclusive")
    seller = await seller_of(a)

    results = await asyncio.gather(
        *(offers.accept_offer(seller, str((a, b)[i % 2].id)) for i in range(24)),
        return_exceptions=True,
    )
    won = [r for r in results if isinstance(r, Offer)]
    lost = [r for r in results if isinstance(r, Exception)]
    assert len(won) == 1, results
    assert all(isinstance(e, Conflict) for e in lost), lost
    states = sorted([(await Offer.get(id=a.id)).state, (await Offer.get(id=b.id)).state])
    assert states == ["accepted", "declined"]
    assert await Grant.filter(listing_id=listing.id).count() == 1
    trail = await AuditEntry.filter(object_id__in=[str(a.id), str(b.id)]).values_list(
        "action", flat=True
    )
    assert sorted(trail) == ["offer.accept", "offer.decline", "offer.made", "offer.made"]


async def test_offers_on_ones_own_listing_are_refused() -> None:
    owner, _ = await a_verified_institute()
    listing = await a_published_listing(owner)
    with pytest.raises(Forbidden, match="own"):
        await an_offer(listing, buyer=owner)
