"""A finalist proposal becomes an offer in one step: prefilled from the need, capped by its
budget, through make_offer's own checks, recording the proposal as its origin, and the
proposal converted in the same unit of work (or nothing written at all)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from contracts.offers import service as offers
from contracts.offers.models import Offer, OfferTerms
from contracts.offers.schemas import FromProposalIn
from docking import proposals
from docking.models import Proposal
from docking.schemas import StageIn
from market.actor import Actor
from market.errors import Conflict, Forbidden, NotFound, ValidationFailed
from market.validation import parse
from tests.builders import (
    a_colleague,
    a_proposal,
    a_published_listing,
    a_published_need,
    a_verified_enterprise,
    a_verified_institute,
    actor_of,
)


async def _finalist(**need: Any) -> tuple[Actor, Actor, Proposal, Any]:
    """The seeker, the institute, its finalist proposal and the listing it attached (licences
    exclusive and non-exclusive, WORLD)."""
    seeker_user, _ = await a_verified_enterprise()
    institute_user, _ = await a_verified_institute()
    published = await a_published_need(seeker_user, **need)
    listing = await a_published_listing(institute_user)
    proposal = await a_proposal(published, institute_user, listing)
    seeker = await actor_of(seeker_user)
    await proposals.move(seeker, str(proposal.id), StageIn(stage="shortlisted"))
    await proposals.move(seeker, str(proposal.id), StageIn(stage="finalist"))
    return seeker, await actor_of(institute_user), proposal, listing


def _in(listing: Any, **terms: Any) -> FromProposalIn:
    return parse(FromProposalIn, {"listing_id": str(listing.id), **terms})


async def test_a_finalist_becomes_an_offer_prefilled_from_the_need() -> None:
    seeker, institute, proposal, listing = await _finalist()
    prefill = await offers.offer_prefill(seeker, str(proposal.id))
    assert prefill["listing_id"] == str(listing.id)
    # cooperation [license, joint_development] -> a non-exclusive licence; CN and DE; the
    # budget's maximum (200,000.00 USD) as the fee.
    assert prefill["license_type"] == "non_exclusive"
    assert prefill["territories"] == ["CN", "DE"]
    assert prefill["upfront_fee"] == {"amount": 20_000_000, "currency": "USD"}

    offer = await offers.offer_from_proposal(seeker, str(proposal.id), _in(listing))
    terms = await OfferTerms.get(offer_id=offer.id)
    assert (offer.buyer_id, offer.seller_id) == (
        seeker.organization.id,  # type: ignore[union-attr]
        institute.organization.id,  # type: ignore[union-attr]
    )
    assert offer.proposal_id == proposal.id  # type: ignore[attr-defined]
    assert (terms.license_type, terms.territories, terms.upfront_amount, terms.currency) == (
        "non_exclusive",
        ["CN", "DE"],
        20_000_000,
        "USD",
    )
    converted = await Proposal.get(id=proposal.id)
    assert (converted.stage, converted.offer_id) == ("converted", offer.id)
    # The institute sees the offer as any other; the proposal is done.
    assert (await offers.get_offer(institute, str(offer.id))).offer.id == offer.id
    with pytest.raises(Conflict):
        await offers.offer_from_proposal(seeker, str(proposal.id), _in(listing))
    assert await Offer.all().count() == 1


async def test_terms_sent_replace_the_prefill_and_the_budget_caps_them() -> None:
    seeker, _, proposal, listing = await _finalist(cooperation=["assignment"])
    # assignment is not offered by the listing: its first licence instead
    assert (await offers.offer_prefill(seeker, str(proposal.id)))["license_type"] == "exclusive"
    for terms, field in (
        ({"upfront_fee": {"amount": 20_000_001, "currency": "USD"}}, "upfront_fee"),
        ({"upfront_fee": {"amount": 1_000, "currency": "EUR"}}, "upfront_fee"),
        (
            {
                "upfront_fee": {"amount": 19_000_000, "currency": "USD"},
                "milestones": [
                    {"description": "Pilot", "amount": {"amount": 2_000_000, "currency": "USD"}}
                ],
            },
            "upfront_fee",
        ),
        ({"license_type": "sole"}, "license_type"),  # the listing does not offer it
    ):
        with pytest.raises(ValidationFailed) as refused:
            await offers.offer_from_proposal(seeker, str(proposal.id), _in(listing, **terms))
        assert field in refused.value.fields, (terms, refused.value.fields)
    offer = await offers.offer_from_proposal(
        seeker,
        str(proposal.id),
        _in(listing, license_type="exclusive", territories=["CN"], term_months=24),
    )
    terms = await OfferTerms.get(offer_id=offer.id)
    assert (terms.license_type, terms.territories, terms.term_months) == ("exclusive", ["CN"], 24)


async def test_only_the_seeker_converts_only_a_finalist_on_an_attached_listing() -> None:
    seeker, institute, proposal, listing = await _finalist()
    other_listing = await a_published_listing()
    with pytest.raises(ValidationFailed) as refused:
        await offers.offer_from_proposal(seeker, str(proposal.id), _in(other_listing))
    assert set(refused.value.fields) == {"listing_id"}
    with pytest.raises(Forbidden):
        await offers.offer_from_proposal(institute, str(proposal.id), _in(listing))
    stranger = await actor_of((await a_verified_enterprise())[0])
    with pytest.raises(NotFound):
        await offers.offer_from_proposal(stranger, str(proposal.id), _in(listing))
    with pytest.raises(NotFound):
        await offers.offer_prefill(stranger, str(proposal.id))
    await Proposal.filter(id=proposal.id).update(stage="shortlisted")
    with pytest.raises(Conflict) as refused:
        await offers.offer_from_proposal(seeker, str(proposal.id), _in(listing))
    assert refused.value.state == "shortlisted"
    assert await Offer.all().count() == 0


async def test_a_listing_that_left_the_market_writes_nothing() -> None:
    seeker, _, proposal, listing = await _finalist()
    await type(listing).filter(id=listing.id).update(state="withdrawn")
    with pytest.raises((Conflict, NotFound)):
        await offers.offer_from_proposal(seeker, str(proposal.id), _in(listing))
    assert (await Proposal.get(id=proposal.id)).stage == "finalist"
    assert await Offer.all().count() == 0


async def test_racing_conversions_make_one_offer() -> None:
    seeker, _, proposal, listing = await _finalist()
    colleague = await actor_of(await a_colleague(seeker.organization))
    results = await asyncio.gather(
        *(
            offers.offer_from_proposal(actor, str(proposal.id), _in(listing))
            for actor in (seeker, colleague, seeker)
        ),
        return_exceptions=True,
    )
    assert sum(isinstance(r, Offer) for r in results) == 1, results
    assert all(isinstance(r, Conflict) for r in results if not isinstance(r, Offer)), results
    assert await Offer.all().count() == 1
    assert (await Proposal.get(id=proposal.id)).stage == "converted"
