"""The reads written out for speed (market/rows.py) return what the ORM returns, on PostgreSQL
and on SQLite (`market dev`): the same rows, the same values, in the same order."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

from tortoise.models import Model

from contracts.agreements import service as agreements
from contracts.agreements.models import Contract, ContractDocument, Signature
from contracts.offers import service as offers
from contracts.offers.models import Offer, OfferState, OfferTerms
from listings import media
from listings import service as listings
from listings.models import Enquiry, Listing, ListingMedia
from market.accounts.models import User
from market.actor import Actor
from tests.builders import (
    a_contract,
    a_published_listing,
    a_verified_enterprise,
    a_verified_institute,
    actor_of,
    an_admin,
    an_enquiry,
    an_offer,
    copies,
    signatories,
)
from tests.files import png_bytes


def values_of(row: Model) -> dict[str, Any]:
    return {name: getattr(row, name) for name in row._meta.db_fields}


async def test_the_listing_page_read_is_the_orm_rows(database_kind) -> None:
    owner, _ = await a_verified_institute()
    listing = await a_published_listing(owner)
    for name, confidential in (("b.png", False), ("a.png", True), ("c.png", False)):
        await media.add_media(
            await actor_of(owner),
            str(listing.id),
            filename=name,
            content_type_hint="",
            data=png_bytes(),
            confidential=confidential,
        )
    viewer, enterprise = await a_verified_enterprise()
    asked = await an_enquiry(listing, viewer)
    (newer,) = await copies(asked, 1, lambda i: {"created_at": asked.created_at + timedelta(1)})
    await an_enquiry(listing)  # another enterprise's: not the viewer's to see
    orm = await Listing.get(id=listing.id).prefetch_related("institute")
    files = await ListingMedia.filter(listing_id=listing.id).order_by("created_at", "id")
    assert len(files) == 3

    read = await listings.view_listing(await actor_of(viewer), str(listing.id))
    expected = values_of(orm)
    expected["view_count"] += 1  # the page counts this visit
    assert values_of(read.listing) == expected
    assert values_of(read.listing.institute) == values_of(orm.institute)
    assert [values_of(f) for f in read.media] == [values_of(f) for f in files if not f.confidential]
    assert read.asked is not None
    assert values_of(read.asked) == values_of(await Enquiry.get(id=newer.id))
    assert read.asked.buyer_id == enterprise.id  # type: ignore[attr-defined]

    # The institute sees its confidential file too, and has asked nothing.
    own = await listings.view_listing(await actor_of(owner), str(listing.id))
    assert [values_of(f) for f in own.media] == [values_of(f) for f in files]
    assert own.asked is None
    anonymous = await listings.view_listing(Actor.anonymous(), str(listing.id))
    assert len(anonymous.media) == 2 and anonymous.asked is None


async def test_the_public_list_is_the_orm_page_with_its_total(database_kind) -> None:
    user, _ = await a_verified_institute()
    made = [await a_published_listing(user, title=f"Listing {n}") for n in range(5)]
    admin = await actor_of(await an_admin())
    await listings.withdraw_listing(await actor_of(user), str(made[0].id))
    anyone = await actor_of(user)
    cases = [(1, None), (2, None), (1, "published"), (3, None)]
    for (page, state), table in itertools.product(cases, (False, True)):
        items, total = await listings.list_listings(
            anyone, page=page, per_page=2, state=state, table=table
        )
        query = Listing.filter(state__in=[state] if state else ["published", "licensed"])
        expected = await query.order_by("-updated_at", "id").offset((page - 1) * 2).limit(2)
        assert [i.id for i in items] == [e.id for e in expected]
        assert total == await query.count() == 4
        for item, orm in zip(items, expected, strict=True):
            institute = await orm.institute
            if table:
                # Only what the table shows, with the values the ORM reads.
                shown = listings.TABLE_FIELDS
                assert {n: getattr(item, n) for n in shown} == {n: getattr(orm, n) for n in shown}
                assert not hasattr(item, "description")
                for name in listings.INSTITUTE_FIELDS:
                    assert getattr(item.institute, name) == getattr(institute, name)
            else:
                assert values_of(item) == values_of(orm)
                assert values_of(item.institute) == values_of(institute)
    assert await listings.list_listings(admin, state="draft") == ([], 0)


async def test_the_inbox_is_the_orm_page_for_every_scope(database_kind) -> None:
    seller, institute = await a_verified_institute()
    listing = await a_published_listing(seller)
    buyers = [await a_verified_enterprise() for _ in range(3)]
    made = [await an_offer(listing, user) for user, _ in buyers]
    # The institute buys too: an offer on another institute's listing.
    bought = await an_offer(await a_published_listing(), seller)
    await offers.reject_offer(await actor_of(seller), str(made[1].id), reason="No.")

    # (who, side, state, every offer of that side): the counts are over the side, the page
    # over the side in that state.
    admin = await an_admin()
    cases: list[tuple[User, str, str, Any]] = [
        (seller, "seller", "", Offer.filter(seller_id=institute.id)),
        (seller, "buyer", "", Offer.filter(buyer_id=institute.id)),
        (seller, "", "", Offer.filter(id__in=[o.id for o in [*made, bought]])),
        (seller, "seller", "open", Offer.filter(seller_id=institute.id)),
        (buyers[0][0], "", "", Offer.filter(buyer_id=buyers[0][1].id)),
        (admin, "", "rejected", Offer.all()),
        (admin, "", "", Offer.all()),
    ]
    for (user, side, state, scope), table in itertools.product(cases, (False, True)):
        actor = await actor_of(user)
        items, total = await offers.list_offers(
            actor, side=side, state=state, per_page=2, table=table
        )
        shown = scope.filter(state=state) if state else scope
        expected = await shown.order_by("-updated_at", "id").limit(2)
        assert [o.id for o in items] == [e.id for e in expected], (side, state)
        assert total == await shown.count(), (side, state)
        counts = await offers.offer_counts(actor, side=side)
        for each in OfferState:
            assert counts[each.value] == await scope.filter(state=each.value).count(), each
        for offer, orm in zip(items, expected, strict=True):
            assert values_of(offer) == values_of(orm)
            # Of the listing and the organisations, what an inbox names.
            assert (offer.listing.id, offer.listing.title) == (
                orm.listing_id,
                (await orm.listing).title,
            )
            assert (offer.buyer.id, offer.buyer.name) == (orm.buyer_id, (await orm.buyer).name)
            assert (offer.seller.id, offer.seller.name) == (orm.seller_id, (await orm.seller).name)
            terms = await OfferTerms.get(offer_id=orm.id, number=orm.terms_number)
            if table:  # what the inbox shows of them
                shown_terms = offers.TABLE_TERMS
                read = {f: getattr(offer.current_terms, f) for f in shown_terms}
                assert read == {f: getattr(terms, f) for f in shown_terms}
            else:
                assert values_of(offer.current_terms) == values_of(terms)


async def test_the_need_page_reads_are_the_orm_rows_for_every_reader(database_kind) -> None:
    from docking import matching, proposals, questions
    from docking import service as needs
    from docking.models import Match, Need, NeedQuestion, Proposal
    from docking.schemas import AnswerIn, QuestionIn
    from tests.builders import a_proposal, a_published_need

    open_need = await a_published_need()
    seeker_user = await User.get(id=open_need.created_by_id)
    secret = await a_published_need(seeker_user, visibility="after_confidentiality")
    proposal = await a_proposal(open_need)
    proposer = await actor_of(await User.get(id=proposal.created_by_id))
    seeker = await actor_of(seeker_user)
    reader_user, _ = await a_verified_enterprise()
    reader = await actor_of(reader_user)
    await needs.accept_clause(reader, str(secret.id))
    answered = await questions.ask(proposer, str(open_need.id), QuestionIn(body="How long?"))
    await questions.answer(seeker, str(open_need.id), str(answered.id), AnswerIn(answer="Long"))
    await questions.ask(proposer, str(open_need.id), QuestionIn(body="Which pH?"))
    await questions.ask(reader, str(open_need.id), QuestionIn(body="Which flux?"))
    institute_user, _ = await a_verified_institute()
    listings_made = [await a_published_listing(institute_user, title=f"Fit {n}") for n in range(3)]
    for n, listing in enumerate(listings_made):
        await Match.create(
            need_id=open_need.id,
            listing_id=listing.id,
            score=50 + 10 * n,
            reasons=[{"kind": "words", "terms": ["membrane"]}],
            dismissed_by_seeker=n == 0,
        )
    await listings.withdraw_listing(await actor_of(institute_user), str(listings_made[1].id))

    anyone = Actor.anonymous()
    for actor in (seeker, proposer, reader, anyone, await actor_of(await an_admin())):
        for need in (open_need, secret):
            read = await proposals.need_page(actor, str(need.id))
            orm = await Need.get(id=need.id).select_related("seeker")
            assert values_of(read.need) == values_of(orm)
            assert values_of(read.need.seeker) == values_of(orm.seeker)
            got = await needs.get_need(actor, str(need.id))
            assert values_of(got) == values_of(orm)
            for each in (read.need, got):
                assert needs.public_view(each, actor) == needs.public_view(
                    await _orm_need(actor, need.id), actor
                )
            own = await proposals.proposal_of(actor, orm)
            assert (values_of(read.own) if read.own else None) == (values_of(own) if own else None)
            if "member" in needs.roles_on(actor, orm):
                assert read.proposal_count == await Proposal.filter(need_id=need.id).count()
            shown = await questions.questions_of(actor, orm)
            every = await NeedQuestion.filter(need_id=need.id).order_by("created_at", "id")
            expected = [
                questions.question_view(q, actor)
                for q in every
                if needs.insider(actor, orm)
                or q.answered_at is not None
                or str(q.asked_by_id) == actor.user_id
            ]
            assert shown == expected
        for dismissed in (False, True):
            found = await matching.matches_of(open_need, dismissed=dismissed)
            query = Match.filter(need_id=open_need.id, listing__state="published")
            if not dismissed:
                query = query.filter(dismissed_by_seeker=False)
            orm_matches = await query.order_by("-score", "created_at").select_related(
                "listing__institute"
            )
            assert [values_of(m) for m in found] == [values_of(m) for m in orm_matches]
            # Of each listing, what the page and the API name.
            named = [(m.listing.id, m.listing.title, m.listing.institute.name) for m in found]
            assert named == [
                (m.listing.id, m.listing.title, m.listing.institute.name) for m in orm_matches
            ]
    assert needs.confidentiality_accepted(
        reader, (await proposals.need_page(reader, str(secret.id))).need
    )
    assert not needs.confidentiality_accepted(
        proposer, (await proposals.need_page(proposer, str(secret.id))).need
    )


async def _orm_need(actor: Any, need_id: Any) -> Any:
    """The need as the ORM read it before its read was written out: with its seeker, and the
    reader's clause acceptance noted as `get_need` noted it."""
    from docking import service as needs
    from docking.models import ClauseAcceptance, Need, Visibility

    need = await Need.get(id=need_id).select_related("seeker")
    org = actor.organization_id
    if (
        need.visibility == Visibility.AFTER_CONFIDENTIALITY
        and org is not None
        and not needs.insider(actor, need)
        and await ClauseAcceptance.filter(need_id=need.id, organization_id=org).exists()
    ):
        need._clause_accepted_by = org
    return need


async def test_the_contract_page_read_is_the_orm_rows(database_kind) -> None:
    contract = await a_contract("signed")
    first = await ContractDocument.get(contract_id=contract.id, number=1)
    await copies(first, 2, lambda i: {"number": 1 + i})
    _, buyer = await signatories(contract)

    view = await agreements.get_contract(buyer, str(contract.id))
    orm = await Contract.get(id=contract.id).prefetch_related("listing", "seller", "buyer")
    assert values_of(view.contract) == values_of(orm)
    named = (
        ("listing", agreements.NAMED_LISTING),
        ("seller", agreements.NAMED_PARTY),
        ("buyer", agreements.NAMED_PARTY),
    )
    for related, fields in named:
        read, expected = getattr(view.contract, related), getattr(orm, related)
        assert {f: getattr(read, f) for f in fields} == {f: getattr(expected, f) for f in fields}
    documents = ContractDocument.filter(contract_id=contract.id).order_by("number")
    assert view.documents == await documents.values(*agreements.DOCUMENT_COLUMNS)
    assert [d["number"] for d in view.documents] == [1, 2, 3]
    signatures = await Signature.filter(contract_id=contract.id).order_by("signed_at", "id")
    assert len(signatures) == 2
    assert [values_of(g) for g in view.signatures] == [values_of(g) for g in signatures]
