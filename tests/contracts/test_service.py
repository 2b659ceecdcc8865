"""Offer use cases against PostgreSQL: the state table, turns, rights and their races."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from contracts.offers import service as offers
from contracts.offers import states
from contracts.offers.models import Grant, Offer, OfferState, OfferTerms
from contracts.offers.schemas import MessageIn, OfferTermsIn
from market.audit import AuditEntry
from market.db import unit_of_work
from market.errors import Conflict, Forbidden, NotFound
from market.outbox import OutboxEvent
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


async def test_accepting_an_exclusive_offer_holds_the_conflicting_ones() -> None:
    listing = await a_published_listing()
    first = await an_offer(listing, license_type="exclusive", territories=["CN"])
    second = await an_offer(listing, license_type="exclusive", territories=["WORLD"])
    countered = await an_offer(listing, license_type="exclusive", territories=["CN", "DE"])
    elsewhere = await an_offer(listing, license_type="exclusive", territories=["DE"])
    seller = await seller_of(first)
    await offers.counter_offer(
        seller, str(countered.id), terms(license_type="exclusive", territories=["CN", "DE"])
    )
    await offers.accept_offer(seller, str(first.id))
    held = {o.id: o for o in await Offer.filter(state="on_hold")}
    assert set(held) == {second.id, countered.id}  # on hold, not declined
    assert (held[second.id].held_from, held[countered.id].held_from) == ("open", "countered")
    assert {o.held_by_id for o in held.values()} == {first.id}
    assert (await Offer.get(id=elsewhere.id)).state == "open"
    [hold] = await AuditEntry.filter(object_id=str(second.id), action="offer.hold")
    assert hold.state_before == {"state": "open"}
    assert hold.state_after == {"state": "on_hold", "held_from": "open", "held_by": str(first.id)}
    assert hold.organization_id == second.buyer_id  # the buyer's news, in the buyer's trail
    told = await OutboxEvent.filter(event_type="offer.held")
    assert sorted(e.payload["offer_id"] for e in told) == sorted(
        [str(second.id), str(countered.id)]
    )
    assert {e.payload["held_by"] for e in told} == {str(first.id)}
    assert not await OutboxEvent.filter(event_type="offer.declined").exists()


async def test_a_held_offer_cannot_be_accepted_or_countered_by_either_side() -> None:
    listing = await a_published_listing()
    first = await an_offer(listing, license_type="exclusive")
    held = await an_offer(listing, license_type="exclusive")
    seller, buyer = await seller_of(held), await buyer_of(held)
    await offers.accept_offer(seller, str(first.id))
    for call in (
        offers.accept_offer(seller, str(held.id)),
        offers.counter_offer(seller, str(held.id), terms(license_type="exclusive")),
        offers.accept_offer(buyer, str(held.id)),
        offers.counter_offer(buyer, str(held.id), terms(license_type="exclusive")),
    ):
        with pytest.raises(Conflict, match="on hold") as refused:
            await call
        assert refused.value.state == "on_hold"
    assert set((await offers.get_offer(seller, str(held.id))).actions) == {"reject", "message"}
    assert set((await offers.get_offer(buyer, str(held.id))).actions) == {
        "reject",
        "withdraw",
        "message",
    }
    assert (await Offer.get(id=held.id)).state == "on_hold"
    assert await OfferTerms.filter(offer_id=held.id).count() == 1
    # The right is gone: an offer for it is refused when made, naming the grant it collides with.
    with pytest.raises(Conflict, match="conflicts with a right already granted: exclusive"):
        await an_offer(listing, license_type="non_exclusive", territories=["CN"])


async def test_accepting_an_accepted_offer_says_it_is_accepted() -> None:
    offer = await an_offer(license_type="exclusive")
    seller = await seller_of(offer)
    await offers.accept_offer(seller, str(offer.id))
    with pytest.raises(Conflict, match="it is accepted") as refused:
        await offers.accept_offer(seller, str(offer.id))
    assert refused.value.state == "accepted"


async def test_a_counter_into_granted_rights_is_refused() -> None:
    listing = await a_published_listing()
    exclusive = await an_offer(listing, license_type="exclusive", territories=["CN"])
    other = await an_offer(listing, license_type="non_exclusive", territories=["DE"])
    seller = await seller_of(exclusive)
    await offers.accept_offer(seller, str(exclusive.id))
    assert (await Offer.get(id=other.id)).state == "open"  # DE does not collide with CN
    with pytest.raises(Conflict, match="already granted: exclusive licence in CN") as refused:
        await offers.counter_offer(seller, str(other.id), terms(territories=["CN"]))
    assert refused.value.state == "open"
    assert await OfferTerms.filter(offer_id=other.id).count() == 1


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
    assert states == ["accepted", "on_hold"]
    assert await Grant.filter(listing_id=listing.id).count() == 1
    trail = await AuditEntry.filter(object_id__in=[str(a.id), str(b.id)]).values_list(
        "action", flat=True
    )
    assert sorted(trail) == ["offer.accept", "offer.hold", "offer.made", "offer.made"]


async def test_offers_on_ones_own_listing_are_refused() -> None:
    owner, _ = await a_verified_institute()
    listing = await a_published_listing(owner)
    with pytest.raises(Forbidden, match="own"):
        await an_offer(listing, buyer=owner)


async def test_an_offer_past_its_expiry_cannot_be_answered_before_the_sweep() -> None:
    from datetime import UTC, datetime, timedelta

    offer = await an_offer()
    await Offer.filter(id=offer.id).update(expires_at=datetime.now(UTC) - timedelta(hours=2))
    seller = await seller_of(offer)
    for call in (
        offers.accept_offer(seller, str(offer.id)),
        offers.counter_offer(seller, str(offer.id), terms()),
    ):
        with pytest.raises(Conflict, match="expired"):
            await call
    view = await offers.get_offer(seller, str(offer.id))
    assert "accept" not in view.actions and "counter" not in view.actions
    assert (await Offer.get(id=offer.id)).state == "open"  # expiring is the cron's job
    assert await Grant.filter(offer_id=offer.id).count() == 0


# --- the state table, walked --------------------------------------------------------------


async def _offer_in(state: str) -> tuple[Offer, Any, Any]:
    """A fresh offer brought to `state` through the service, with its seller and buyer."""
    from datetime import UTC, datetime, timedelta

    listing = await a_published_listing()
    offer = await an_offer(listing, license_type="exclusive")
    seller, buyer = await seller_of(offer), await buyer_of(offer)
    if state == "countered":
        await offers.counter_offer(seller, str(offer.id), terms(license_type="exclusive"))
    elif state == "accepted":
        await offers.accept_offer(seller, str(offer.id))
    elif state == "rejected":
        await offers.reject_offer(seller, str(offer.id), "Too low")
    elif state == "withdrawn":
        await offers.withdraw_offer(buyer, str(offer.id))
    elif state == "expired":
        await offers.expire_due(datetime.now(UTC) + timedelta(days=30))
    elif state in {"on_hold", "declined"}:
        rival = await an_offer(listing, license_type="exclusive")
        await offers.accept_offer(seller, str(rival.id))
        if state == "declined":
            # What the rival's contract going active does (tests/contracts/test_holds.py
            # drives it through a paid contract and the outbox).
            async with unit_of_work():
                held = await offers.lock_holds(rival.id)
                await offers.decline_holds(rival.id, held)
    offer = await Offer.get(id=offer.id)
    assert offer.state == state
    return offer, seller, buyer


USER_ACTIONS = ("accept", "counter", "reject", "withdraw")


async def _act(action: str, actor: Any, offer: Offer) -> Offer:
    if action == "accept":
        return await offers.accept_offer(actor, str(offer.id))
    if action == "counter":
        return await offers.counter_offer(actor, str(offer.id), terms(license_type="exclusive"))
    if action == "reject":
        return await offers.reject_offer(actor, str(offer.id), "No")
    return await offers.withdraw_offer(actor, str(offer.id))


@pytest.mark.parametrize("state", [s.value for s in OfferState])
async def test_every_pair_of_the_table_is_applied_or_refused(state: str) -> None:
    for action in USER_ACTIONS:
        for side in ("seller", "buyer"):
            offer, seller, buyer = await _offer_in(state)
            actor = seller if side == "seller" else buyer
            rule = states.OFFER.get((state, action))
            audit_before = await AuditEntry.filter(object_id=str(offer.id)).count()
            if rule is not None and side in rule.who:
                after = await _act(action, actor, offer)
                assert after.state == rule.to, (state, action, side)
                assert await AuditEntry.filter(object_id=str(offer.id)).count() == audit_before + 1
            else:
                with pytest.raises((Forbidden, Conflict)):
                    await _act(action, actor, offer)
                now = await Offer.get(id=offer.id)
                assert (now.state, now.terms_number) == (offer.state, offer.terms_number), (
                    state,
                    action,
                    side,
                )
                assert await AuditEntry.filter(object_id=str(offer.id)).count() == audit_before


async def test_the_expiry_sweep_expires_only_live_offers_past_their_time() -> None:
    from datetime import UTC, datetime, timedelta

    later = datetime.now(UTC) + timedelta(days=15)
    live = [await _offer_in("open"), await _offer_in("countered")]
    closed = [await _offer_in("accepted"), await _offer_in("rejected")]
    fresh = await an_offer(expires_at=(datetime.now(UTC) + timedelta(days=60)).isoformat())
    assert await offers.expire_due(later) == 2
    for offer, _, _ in live:
        assert (await Offer.get(id=offer.id)).state == "expired"
    assert [(await Offer.get(id=o.id)).state for o, _, _ in closed] == ["accepted", "rejected"]
    assert (await Offer.get(id=fresh.id)).state == "open"
    assert await offers.expire_due(later) == 0  # nothing twice


# --- races -------------------------------------------------------------------------------


async def test_counter_racing_accept_leaves_one_consistent_outcome() -> None:
    for _ in range(6):
        offer = await an_offer(license_type="exclusive")
        seller = await seller_of(offer)
        accept, counter = await asyncio.gather(
            offers.accept_offer(seller, str(offer.id)),
            offers.counter_offer(seller, str(offer.id), terms(license_type="exclusive")),
            return_exceptions=True,
        )
        assert isinstance(accept, Exception) != isinstance(counter, Exception), (accept, counter)
        final = await Offer.get(id=offer.id)
        grants = await Grant.filter(offer_id=offer.id).count()
        versions = await OfferTerms.filter(offer_id=offer.id).count()
        if isinstance(accept, Offer):
            assert isinstance(counter, Conflict)
            assert (final.state, final.terms_number, versions, grants) == ("accepted", 1, 1, 1)
        else:
            assert isinstance(accept, Conflict)
            assert (final.state, final.terms_number, versions, grants) == ("countered", 2, 2, 0)
        actions = await AuditEntry.filter(object_id=str(offer.id)).values_list("action", flat=True)
        assert len(actions) == 2  # made, then exactly one of accept / counter


async def test_withdraw_racing_accept_leaves_one_consistent_outcome() -> None:
    for _ in range(4):
        offer = await an_offer(license_type="exclusive")
        seller, buyer = await seller_of(offer), await buyer_of(offer)
        accept, withdraw = await asyncio.gather(
            offers.accept_offer(seller, str(offer.id)),
            offers.withdraw_offer(buyer, str(offer.id)),
            return_exceptions=True,
        )
        assert isinstance(accept, Exception) != isinstance(withdraw, Exception)
        final = await Offer.get(id=offer.id)
        grants = await Grant.filter(offer_id=offer.id).count()
        assert (final.state, grants) in {("accepted", 1), ("withdrawn", 0)}
