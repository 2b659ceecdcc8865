"""After a meeting: each side records what came of it, an offer made from it names it as its
origin (prefilled with the listing and its scope), and the meeting card shows the live rights
of the listings it was about."""

from __future__ import annotations

import pytest

from contracts.offers.models import Offer
from hall import outcomes
from hall.deal_schemas import FromMeetingIn, OutcomeIn
from hall.models import Meeting, MeetingOutcome, MeetingState
from market.audit import AuditEntry
from market.errors import Conflict, Forbidden, NotFound, ValidationFailed
from tests.builders import (
    a_colleague,
    a_published_listing,
    a_verified_enterprise,
    actor_of,
    an_accepted_offer,
    an_admin,
)
from tests.hall.builders import a_meeting, a_participant, an_event, an_organiser
from tests.hall.deal_builders import a_held_meeting


async def test_each_side_records_its_own_outcome_and_may_change_it(database):
    met = await a_held_meeting()
    mid = str(met.meeting.id)
    buyer, seller = await actor_of(met.buyer), await actor_of(met.seller)
    await outcomes.record_outcome(buyer, mid, OutcomeIn(outcome="follow_up", note="Send samples"))
    await outcomes.record_outcome(seller, mid, OutcomeIn(outcome="confidentiality"))
    changed = await outcomes.record_outcome(buyer, mid, OutcomeIn(outcome="no_fit"))
    assert changed.outcome == "no_fit" and changed.note == ""
    rows = {str(o.participant_id): o.outcome for o in await MeetingOutcome.filter(meeting_id=mid)}
    assert rows == {str(met.requester.id): "no_fit", str(met.guest.id): "confidentiality"}
    trail = await AuditEntry.filter(action="meeting.outcome", object_id=mid).order_by("id")
    assert [e.state_after["outcome"] for e in trail] == ["follow_up", "confidentiality", "no_fit"]
    assert trail[-1].state_before == {"outcome": "follow_up"}


async def test_a_colleague_who_may_negotiate_records_for_the_side(database):
    met = await a_held_meeting()
    membership = await met.buyer.memberships.all().first().prefetch_related("organization")
    mate = await a_colleague(membership.organization)
    await outcomes.record_outcome(
        await actor_of(mate), str(met.meeting.id), OutcomeIn(outcome="follow_up")
    )
    assert await MeetingOutcome.get(participant_id=met.requester.id)


async def test_organisers_see_the_card_but_record_nothing_and_strangers_get_404(database):
    met = await a_held_meeting()
    mid = str(met.meeting.id)
    organiser = await met.event.organiser
    membership = await organiser.memberships.all().first().prefetch_related("user")
    owner = membership.user
    as_organiser = await actor_of(owner)
    card = await outcomes.meeting_card(as_organiser, mid)
    assert card.me is None and card.offers == []
    with pytest.raises(Forbidden):
        await outcomes.record_outcome(as_organiser, mid, OutcomeIn(outcome="no_fit"))
    stranger, _ = await a_verified_enterprise()
    for call in (
        outcomes.meeting_card(await actor_of(stranger), mid),
        outcomes.record_outcome(await actor_of(stranger), mid, OutcomeIn(outcome="no_fit")),
    ):
        with pytest.raises(NotFound):
            await call
    assert await MeetingOutcome.all().count() == 0
    # An administrator sees it as the organiser does.
    assert (await outcomes.meeting_card(await actor_of(await an_admin()), mid)).me is None


async def test_nothing_is_recorded_before_the_meeting_or_after_it_was_cancelled(database):
    _, org = await an_organiser()
    event = await an_event(org)  # its blocks are years ahead
    a, b = await a_participant(event), await a_participant(event, kind="institute")
    future = await a_meeting(a, b)
    with pytest.raises(Conflict, match="not taken place"):
        await outcomes.record_outcome(
            await actor_of(await a.user), str(future.id), OutcomeIn(outcome="follow_up")
        )
    met = await a_held_meeting()
    await Meeting.filter(id=met.meeting.id).update(state=MeetingState.CANCELLED)
    with pytest.raises(Conflict, match="cancelled") as refused:
        await outcomes.record_outcome(
            await actor_of(met.buyer), str(met.meeting.id), OutcomeIn(outcome="follow_up")
        )
    assert refused.value.state == "cancelled"
    assert await MeetingOutcome.all().count() == 0


async def test_an_offer_from_the_meeting_is_prefilled_and_names_it(database):
    met = await a_held_meeting(
        license_types=["exclusive", "non_exclusive"],
        territories=["CN", "DE"],
        fields_of_use=["water treatment"],
        asking_price={"amount": 8_000_000, "currency": "EUR"},
    )
    buyer = await actor_of(met.buyer)
    mid = str(met.meeting.id)
    prefill = await outcomes.offer_prefill(buyer, mid)
    assert prefill["listing_id"] == str(met.listing.id)
    assert prefill["license_type"] == "exclusive"
    assert prefill["territories"] == ["CN", "DE"]
    assert prefill["fields_of_use"] == ["water treatment"]
    assert prefill["upfront_fee"] == {"amount": 8_000_000, "currency": "EUR"}
    offer = await outcomes.offer_from_meeting(
        buyer, mid, FromMeetingIn(listing_id=str(met.listing.id), term_months=36)
    )
    stored = await Offer.get(id=offer.id)
    assert stored.meeting_id == met.meeting.id and stored.license_type == "exclusive"
    assert str(stored.buyer_id) == buyer.organization_id
    terms = await stored.versions.all().first()
    assert (terms.term_months, terms.territories, terms.upfront_amount) == (
        36,
        ["CN", "DE"],
        8_000_000,
    )
    mine = await MeetingOutcome.get(meeting_id=mid, participant_id=met.requester.id)
    assert mine.outcome == "offer"
    assert await AuditEntry.filter(action="meeting.offer_made", object_id=mid).count() == 1
    card = await outcomes.meeting_card(buyer, mid)
    assert [o.id for o in card.offers] == [offer.id]


async def test_an_offer_from_the_meeting_refuses_what_it_cannot_be_and_writes_nothing(database):
    met = await a_held_meeting()
    mid = str(met.meeting.id)
    buyer, seller = await actor_of(met.buyer), await actor_of(met.seller)
    elsewhere = await a_published_listing(met.seller)
    with pytest.raises(ValidationFailed) as other_listing:
        await outcomes.offer_from_meeting(buyer, mid, FromMeetingIn(listing_id=str(elsewhere.id)))
    assert "listing_id" in other_listing.value.fields
    # The institute cannot make an offer on its own listing, from the meeting or otherwise.
    with pytest.raises(ValidationFailed) as own:
        await outcomes.offer_from_meeting(
            seller, mid, FromMeetingIn(listing_id=str(met.listing.id))
        )
    assert "listing_id" in own.value.fields
    # A bad term is named.
    with pytest.raises(ValidationFailed) as bad:
        await outcomes.offer_from_meeting(
            buyer, mid, FromMeetingIn(listing_id=str(met.listing.id), license_type="sole")
        )
    assert "license_type" in bad.value.fields
    assert await Offer.all().count() == 0
    assert await MeetingOutcome.all().count() == 0


async def test_the_card_shows_live_rights_and_an_exclusive_already_granted_is_refused(database):
    met = await a_held_meeting(license_types=["exclusive", "non_exclusive"])
    mid = str(met.meeting.id)
    buyer = await actor_of(met.buyer)
    card = await outcomes.meeting_card(buyer, mid)
    (rights,) = card.listings
    assert {a.license_type: a.status for a in rights.availability} == {
        "exclusive": "available",
        "non_exclusive": "available",
    }
    assert await outcomes.exclusive_warnings([str(met.listing.id)]) == []
    rival, _ = await a_verified_enterprise()
    await an_accepted_offer(met.listing, rival, license_type="exclusive")
    card = await outcomes.meeting_card(buyer, mid)
    (rights,) = card.listings
    assert {a.license_type: a.status for a in rights.availability}["exclusive"] == "taken"
    (warned,) = await outcomes.exclusive_warnings([str(met.listing.id)])
    assert [a.license_type for a in warned.exclusive_taken] == ["exclusive"]
    # Asking for the exclusive again is refused before anything is written.
    with pytest.raises(Conflict, match="already granted"):
        await outcomes.offer_from_meeting(
            buyer, mid, FromMeetingIn(listing_id=str(met.listing.id), license_type="exclusive")
        )
    assert await Offer.filter(meeting_id=mid).count() == 0
    assert await MeetingOutcome.all().count() == 0
