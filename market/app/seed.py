"""Demo data for `market seed --demo` and the first start of `market dev`."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from tortoise.expressions import Q, Subquery
from tortoise.transactions import in_transaction

from alerts import service as alerts
from alerts.models import SavedSearch
from alerts.schemas import SavedSearchIn
from contracts.agreements import service as agreements
from contracts.agreements.models import Contract
from contracts.offers import service as offers
from contracts.offers.models import Offer
from contracts.offers.schemas import MessageIn, OfferIn, OfferTermsIn
from contracts.payments import service as payments
from docking import matching, proposals, questions
from docking import search as need_search
from docking import service as needs
from docking.models import Match, Need, NeedState, Proposal, Visibility
from docking.schemas import (
    AnswerIn,
    NeedIn,
    ProposalIn,
    ProposalMessageIn,
    QuestionIn,
    StageIn,
)
from hall import meetings
from hall import service as hall
from hall.meeting_schemas import JoinIn, RequestIn
from hall.models import Event, Participant
from hall.schemas import BlockIn, BoothIn, EventIn, PavilionIn
from listings import enquiries, importer
from listings import search as listing_search
from listings.models import Listing, ListingState
from listings.schemas import EnquiryIn
from market.accounts import service
from market.accounts.models import Membership, Organization, User
from market.accounts.schemas import OrganizationIn, RegisterIn
from market.actor import Actor
from market.clock import utcnow
from market.config import ROOT
from market.db import unit_of_work
from market.errors import DomainError

DEMO_PASSWORD = "demo-password-2026"
# Who each demo login is and what it finds waiting (seed_demo below makes it so).
DEMO_LOGINS = {
    "admin@techmarket.example": "administrator: an institute to verify, money owed in the ledger",
    "institute@techmarket.example": "Institute of Advanced Membranes: a contract to sign, "
    "a proposal shortlisted, needs matching its listings, a meeting request to answer at the fair",
    "enterprise@techmarket.example": "Aquaflow Water Systems: a negotiation waiting for your "
    "answer, a contract to sign, three technology needs with proposals and matches, a meeting "
    "booked at the fair",
    "computing@techmarket.example": "Pacific Institute of Computing: a second institute",
    "aerospace@techmarket.example": "Centre for Aerospace and Sports Technology: a third one",
    "newcomer@techmarket.example": "Kansai Robotics Lab: an institute waiting for verification",
}

log = logging.getLogger(__name__)

ADMIN_EMAIL = "admin@techmarket.example"
INSTITUTE_EMAIL = "institute@techmarket.example"
ENTERPRISE_EMAIL = "enterprise@techmarket.example"
# Real records (see listings/data/SOURCES.md), published by the demo institutes below.
SAMPLE = ROOT / "listings" / "data" / "sample_records.jsonl"

DEMO_ORGS = [
    (
        "institute@techmarket.example",
        "Li Wei",
        OrganizationIn(
            name="Institute of Advanced Membranes",
            kind="institute",
            country="CN",
            region="Shenzhen",
            website="https://membranes.example.org",
        ),
        True,
    ),
    (
        "enterprise@techmarket.example",
        "Maria Rossi",
        OrganizationIn(
            name="Aquaflow Water Systems",
            kind="enterprise",
            country="IT",
            region="Milan",
            website="https://aquaflow.example.com",
        ),
        True,
    ),
    (
        "newcomer@techmarket.example",
        "Kenji Sato",
        OrganizationIn(name="Kansai Robotics Lab", kind="institute", country="JP", region="Osaka"),
        False,
    ),
    (
        "computing@techmarket.example",
        "Daniel Park",
        OrganizationIn(
            name="Pacific Institute of Computing",
            kind="institute",
            country="US",
            region="California",
            website="https://computing.example.org",
        ),
        True,
    ),
    (
        "aerospace@techmarket.example",
        "Amelia Grant",
        OrganizationIn(
            name="Centre for Aerospace and Sports Technology",
            kind="institute",
            country="US",
            region="Ohio",
            website="https://aerospace.example.org",
        ),
        True,
    ),
]

# Which institute lists which source's records, with the terms it offers them on.
DEMO_PORTFOLIOS = [
    (
        "institute@techmarket.example",
        {
            "google_patents_public_data_membranes",
            "kppatent_zh_test_TAC",
            "kppatent_zh_train_A",
            "liaoleyuan_cpc_samples",
        },
        importer.ImportOptions(
            trl=5, license_types=["exclusive", "non_exclusive"], price_model="negotiable"
        ),
    ),
    (
        "computing@techmarket.example",
        {"patentsview_nvidia", "patentsview_query_neural_network"},
        importer.ImportOptions(trl=6, license_types=["non_exclusive"], price_model="royalty"),
    ),
    (
        "aerospace@techmarket.example",
        {"nasa_t2_patent_portfolio", "nasa_t2_software_catalog", "patentsview_query_baseball"},
        importer.ImportOptions(
            trl=4, license_types=["non_exclusive", "exclusive", "option"], price_model="offers"
        ),
    ),
]


class SeedRefused(RuntimeError):
    """The database is not one for demo data; the message is one line for the operator."""


async def seed_demo(password: str, *, force: bool = False, match: bool = True) -> bool:
    """Create what is missing of the demo logins, institutes, listings and deals (a
    negotiation, a contract to sign, a paid one), the enterprise's technology needs (one with
    a shortlisted proposal) and a saved search; returns False when everything was already
    there. With `match`, the needs not matched yet are matched to the listings (Meilisearch
    answering). A database holding organisations of its own is refused unless `force`: the
    demo brings an administrator whose password is printed in the README."""
    # One transaction: a failure half-way leaves nothing behind, so a rerun starts clean.
    async with unit_of_work():
        if not force and (foreign := await foreign_organizations()):
            raise SeedRefused(
                f"the database holds {foreign} organisation(s) besides the demo's; demo logins "
                "with a known password do not belong there (--force to load them anyway)"
            )
        created = await _create(password)
        listings = await _publish_sample()
        deals = await _make_deals()
        demand = await _post_needs()
        demand += await _make_proposal()
        demand += await _save_search()
        demand += await _open_hall()
        demand += await _book_meetings()
    if match:
        # After the commit: the indexes matching reads are filled from committed rows.
        await _match_needs()
    return created or listings > 0 or deals > 0 or demand > 0


async def foreign_organizations() -> int:
    """Organisations that are not the demo's: with a member who is not a demo login, or with
    no member at all. None while the demo administrator exists: the demo was loaded before,
    the known password is there already, and what visitors registered since is its data."""
    if await User.filter(email=ADMIN_EMAIL).exists():
        return 0
    demo_emails = list(DEMO_LOGINS)
    with_others = Membership.exclude(user__email__in=demo_emails).values_list(
        "organization_id", flat=True
    )
    with_demo = Membership.filter(user__email__in=demo_emails).values_list(
        "organization_id", flat=True
    )
    return await Organization.filter(
        Q(id__in=Subquery(with_others)) | ~Q(id__in=Subquery(with_demo))
    ).count()


async def _create(password: str) -> bool:
    created = False
    admin = await User.get_or_none(email=ADMIN_EMAIL)
    if admin is None:
        admin = await service.create_admin(ADMIN_EMAIL, password, "Demo Administrator")
        created = True
    admin_actor = await service.actor_for(admin, ip="seed")
    for email, name, org, verified in DEMO_ORGS:
        if await User.filter(email=email).exists():
            continue
        _, organization = await service.register(
            RegisterIn(email=email, password=password, name=name, organization=org),
            ip="seed",
            confirmed=True,
        )
        if verified:
            await service.verify_organization(admin_actor, str(organization.id))
        created = True
    return created


async def _publish_sample() -> int:
    """The sample's complete records become published listings (incomplete ones drafts,
    untitled ones nothing); records already there are skipped by their source_ref."""
    rows = importer.parse_file(SAMPLE.read_bytes())
    admin = await service.actor_for(await User.get(email=ADMIN_EMAIL), ip="seed")
    created = 0
    for email, sources, options in DEMO_PORTFOLIOS:
        actor = await service.actor_for(await User.get(email=email), ip="seed")
        portfolio = [r for r in rows if r.fields and r.fields.get("source") in sources]
        tally = await importer.import_rows(actor, portfolio, options, publisher=admin)
        created += tally.created
    return created


# --- deals: what the enterprise and the institute have under way -------------------------------
#
# Each deal is the enterprise's offer on one of the institute's sample listings (named by its
# source_ref), walked through the real use cases to the stage the visitor should find it in. A
# deal is there when the enterprise has any offer on its listing: then it is left alone, so a
# rerun (or a run on a database seeded before deals existed) makes only what is missing.

# Far enough ahead that the negotiation stays open while someone tries the demo.
OFFER_DAYS = 90


def _terms(
    license_type: str,
    territories: list[str],
    *,
    fields_of_use: list[str] | None = None,
    months: int,
    upfront_eur: int,
    royalty: str,
    milestones: tuple[tuple[str, int], ...] = (),
    conditions: str = "",
) -> dict[str, Any]:
    """Terms as the API takes them; amounts in whole euros."""
    return {
        "license_type": license_type,
        "territories": territories,
        "fields_of_use": fields_of_use or ["all"],
        "term_months": months,
        "upfront_fee": {"amount": upfront_eur * 100, "currency": "EUR"},
        "royalty_percent": royalty,
        "milestones": [
            {"description": text, "amount": {"amount": eur * 100, "currency": "EUR"}}
            for text, eur in milestones
        ],
        "conditions": conditions,
        "expires_at": (datetime.now(UTC) + timedelta(days=OFFER_DAYS)).isoformat(),
    }


@dataclass
class Parties:
    admin: Actor
    seller: Actor  # the owner of the Institute of Advanced Membranes
    buyer: Actor  # the owner of Aquaflow Water Systems


async def _accepted_offer(parties: Parties, listing: Listing, terms: dict[str, Any]) -> Offer:
    offer = await offers.make_offer(parties.buyer, str(listing.id), OfferIn.model_validate(terms))
    return await offers.accept_offer(parties.seller, str(offer.id))


async def _contract_to_sign(parties: Parties, offer: Offer) -> Contract:
    """The accepted offer's contract, drawn up, approved and open for signing: what the worker
    and an administrator would do after the acceptance."""
    contract = await agreements.generate_contract(str(offer.id))
    assert contract is not None, "an accepted offer always has its contract drawn up"
    await agreements.approve_contract(parties.admin, str(contract.id))
    opened = await agreements.open_signing(str(contract.id))
    assert opened is not None
    return opened


async def _negotiation(parties: Parties, listing: Listing) -> None:
    """A question the institute answered, then the offer made from it, countered once: the
    enterprise's turn to answer."""
    enquiry = await enquiries.ask(
        parties.buyer,
        str(listing.id),
        EnquiryIn(
            body="Has the membrane been tested on brackish water with more than 5 g/l of "
            "dissolved salts, and for how long?"
        ),
    )
    await enquiries.post_message(
        parties.seller,
        str(enquiry.id),
        EnquiryIn(
            body="Yes: 2,000 hours at 8 g/l in our pilot rig, with a flux loss under 10 %. "
            "We can share the test report once terms are on the table."
        ),
    )
    offer = await offers.make_offer(
        parties.buyer,
        str(listing.id),
        OfferIn.model_validate(
            _terms(
                "exclusive",
                ["IT", "FR", "ES"],
                fields_of_use=["Desalination of brackish water"],
                months=84,
                upfront_eur=40_000,
                royalty="3",
                milestones=(("First desalination plant in operation", 15_000),),
                conditions="Six months of technical support for a pilot line in Milan.",
            )
            | {
                "message": "We would like to pilot this membrane in our brackish-water plants "
                "in southern Europe. Exclusivity matters to us: the pilot line costs us more "
                "than the licence."
            }
        ),
        enquiry_id=str(enquiry.id),
    )
    await offers.counter_offer(
        parties.seller,
        str(offer.id),
        OfferTermsIn.model_validate(
            _terms(
                "exclusive",
                ["IT"],
                fields_of_use=["Desalination of brackish water"],
                months=84,
                upfront_eur=65_000,
                royalty="4.5",
                milestones=(("First desalination plant in operation", 15_000),),
                conditions="Six months of technical support for a pilot line in Milan.",
            )
        ),
    )
    await offers.post_message(
        parties.seller,
        str(offer.id),
        MessageIn(
            body="We can grant exclusivity for Italy; France and Spain we keep open for now. "
            "The higher fee covers the support for your pilot line."
        ),
    )
    await offers.post_message(
        parties.buyer,
        str(offer.id),
        MessageIn(
            body="Thank you. Italy alone could work if the royalty comes down a little; "
            "we will answer after our board meets this week."
        ),
    )


async def _awaiting_signatures(parties: Parties, listing: Listing) -> None:
    """An accepted non-exclusive licence whose approved contract waits for both signatures."""
    offer = await _accepted_offer(
        parties,
        listing,
        _terms(
            "non_exclusive",
            ["WORLD"],
            months=60,
            upfront_eur=25_000,
            royalty="2.5",
            milestones=(("First membrane plant commissioned", 10_000),),
            conditions="Access to the institute's test data for the module.",
        ),
    )
    await _contract_to_sign(parties, offer)


async def _paid(parties: Parties, listing: Listing) -> None:
    """A non-exclusive licence signed by both and paid by a bank transfer an administrator
    confirmed: the ledger owes the institute its share."""
    offer = await _accepted_offer(
        parties,
        listing,
        _terms("non_exclusive", ["IT"], months=36, upfront_eur=12_000, royalty="2"),
    )
    contract = await _contract_to_sign(parties, offer)
    cid = str(contract.id)
    for signer in (parties.seller, parties.buyer):
        assert signer.user is not None
        await agreements.sign_contract(
            signer, cid, signer.user.name, contract.document_sha256, user_agent="market seed"
        )
    await agreements.finalize_signed(cid)
    started = await payments.start_payment(parties.buyer, cid, "bank_transfer")
    await payments.confirm_transfer(parties.admin, str(started.payment.id), "DEMO-BANK-0001")


# In the order they are made: the settled deal first, the live negotiation last.
DEMO_DEALS: list[tuple[str, Callable[[Parties, Listing], Awaitable[None]]]] = [
    ("JP-2020065976-A", _paid),  # Air diffuser and water treatment system
    ("JP-2022098454-A", _awaiting_signatures),  # Fluid separation membrane module
    ("EP-3347121-A1", _negotiation),  # Graphene oxide / PVA membrane for desalination
]


async def _make_deals() -> int:
    async def actor(email: str) -> Actor:
        return await service.actor_for(await User.get(email=email), ip="seed")

    parties = Parties(
        admin=await actor(ADMIN_EMAIL),
        seller=await actor(INSTITUTE_EMAIL),
        buyer=await actor(ENTERPRISE_EMAIL),
    )
    assert parties.seller.organization is not None and parties.buyer.organization is not None
    made = 0
    for source_ref, make in DEMO_DEALS:
        listing = await Listing.get_or_none(
            institute_id=parties.seller.organization.id, source_ref=source_ref
        )
        if listing is None:
            continue  # not in the sample (any more)
        if await Offer.filter(
            listing_id=listing.id, buyer_id=parties.buyer.organization.id
        ).exists():
            continue  # made by an earlier run, or by someone trying the demo
        if listing.state != ListingState.PUBLISHED:
            continue
        try:
            # A savepoint: a deal the use cases refuse (on a database people have used: the
            # enterprise suspended, a conflicting grant) leaves nothing and stops nothing else.
            async with in_transaction():
                await make(parties, listing)
        except DomainError as exc:
            log.warning("demo deal on listing %s skipped: %s", source_ref, exc)
            continue
        made += 1
    return made


# --- demand: the enterprise's technology needs ----------------------------------------------
#
# Aquaflow treats water: its needs ask for what the membrane institute's sample records offer
# (chlorine-tolerant composite RO membranes, hollow-fibre modules and air diffusers for
# bioreactors, salt recovery from brine), so matching has something real to find. A need is
# there when the enterprise has one of its title, in any state: a rerun, or a visitor who
# withdrew it, leaves it alone. Dates count from the seed's day (market/clock.py), so the
# needs are open whenever the demo is loaded.

RO_NEED = "Chlorine-tolerant composite membrane for brackish-water reverse osmosis"


def _need(days: int, **fields: Any) -> dict[str, Any]:
    today = utcnow().date()
    return fields | {
        "deadline": today + timedelta(days=days),
        "feedback_by": today + timedelta(days=days + 21),
    }


def _eur(euros: int) -> dict[str, Any]:
    return {"amount": euros * 100, "currency": "EUR"}


DEMO_NEEDS: list[Callable[[], dict[str, Any]]] = [
    lambda: _need(
        75,
        title=RO_NEED,
        problem="Our brackish-water reverse osmosis plants in Apulia and Sicily dose chlorine "
        "upstream against biofouling, and the polyamide composite membranes lose their salt "
        "rejection within two years. We seek a composite semipermeable membrane that "
        "tolerates free chlorine and keeps its rejection, to retrofit our spiral-wound "
        "elements without changing the pressure vessels.",
        background="Twelve plants, 4,000 to 20,000 m³/day each, feed water of 2 to 8 g/l "
        "dissolved salts from coastal aquifers. Membranes are replaced every 24 months today; "
        "we aim for 48.",
        must_have=[
            "Salt rejection of at least 99.0 % on 2,000 mg/l NaCl at 15.5 bar",
            "Tolerates 1,000 ppm·h of free chlorine with under 1 point of rejection lost",
            "Fits a standard 8-inch spiral-wound element",
        ],
        nice_to_have=[
            "Pilot data on real brackish groundwater",
            "A graphene oxide or other two-dimensional coating",
        ],
        out_of_scope="Seawater desalination above 35 g/l; ceramic membranes.",
        trl_min=5,
        trl_max=7,
        ipc_codes=["B01D69/12", "B01D71/56", "C02F1/44"],
        keywords=[
            "reverse osmosis",
            "composite semipermeable membrane",
            "chlorine resistance",
            "graphene oxide",
            "desalination",
        ],
        budget_min=_eur(60_000),
        budget_max=_eur(180_000),
        cooperation=["license", "joint_development"],
        territories=["IT", "FR", "ES", "GR"],
        visibility="public",
        language="en",
    ),
    # Anonymous: the operator does not want its competitors to read which plant fouls.
    lambda: _need(
        60,
        title="Anti-fouling hollow-fibre membrane modules for municipal membrane bioreactors",
        problem="A municipal wastewater operator runs membrane bioreactors whose submerged "
        "hollow fiber modules foul within weeks: coarse-bubble aeration scouring costs a "
        "third of the plant's energy. We seek hollow fibre modules, or an air diffuser for "
        "them, that keep the flux with less air and fewer chemical cleanings.",
        must_have=[
            "Sustained flux of 20 l/m²·h on municipal mixed liquor",
            "At least 30 % less scouring air than today's modules",
            "Drop-in for existing submerged MBR tanks",
        ],
        nice_to_have=["Online detection of where a module clogs"],
        trl_min=6,
        trl_max=8,
        ipc_codes=["B01D63/02", "B01D65/02", "C02F3/20"],
        keywords=["hollow fiber", "membrane bioreactor", "fouling", "air diffuser", "wastewater"],
        budget_max=_eur(250_000),
        cooperation=["license", "commissioned_development"],
        territories=["WORLD"],
        visibility="anonymous",
        language="en",
    ),
    lambda: _need(
        90,
        title="高盐工业废水的膜分离浓缩与分盐回收技术",
        problem="我们在意大利和中国江苏运营工业园区废水处理厂。反渗透浓水含盐量高达 60 g/L，"
        "目前依靠蒸发结晶处理，能耗和成本都很高。现寻求以纳滤、反渗透膜分离为核心的浓缩与分盐"
        "技术，把浓水中的氯化钠和硫酸钠分别回收为可销售的产品，实现废水近零排放。",
        background="江苏工厂处理量为每天 3,000 立方米，浓水中氯化钠约占 70%，硫酸钠约占 25%。",
        must_have=[
            "在含盐量 60 g/L 的浓水中稳定运行",
            "氯化钠与硫酸钠的分盐纯度不低于 98%",
            "吨水能耗低于现有蒸发结晶工艺的 60%",
        ],
        nice_to_have=["可回收浓水中的锂等有价金属"],
        trl_min=4,
        trl_max=6,
        ipc_codes=["B01D61/58", "B01D61/02", "C02F1/44"],
        keywords=["反渗透", "分离", "膜", "废水", "脱盐"],
        budget_min={"amount": 80_000_000, "currency": "CNY"},
        budget_max={"amount": 200_000_000, "currency": "CNY"},
        cooperation=["joint_development", "sponsored_research"],
        territories=["CN", "IT"],
        visibility="public",
        language="zh",
    ),
]


async def _demo_actor(email: str) -> Actor:
    return await service.actor_for(await User.get(email=email), ip="seed")


async def _post_needs() -> int:
    """Each demo need the enterprise lacks, written, submitted and approved as a visitor and
    an administrator would (the approval's need.published event has the worker index it)."""
    admin = await _demo_actor(ADMIN_EMAIL)
    seeker = await _demo_actor(ENTERPRISE_EMAIL)
    made = 0
    for fields in DEMO_NEEDS:
        data = NeedIn.model_validate(fields())
        if await Need.filter(seeker_id=seeker.organization_id, title=data.title).exists():
            continue
        try:
            async with in_transaction():
                draft = await needs.create_need(seeker, data)
                await needs.submit_need(seeker, str(draft.id))
                await needs.approve_need(admin, str(draft.id))
        except DomainError as exc:
            log.warning("demo need %r skipped: %s", data.title, exc)
            continue
        made += 1
    return made


async def _make_proposal() -> int:
    """The membrane institute's proposal to the RO need, shortlisted by the enterprise, with a
    question in its thread answered, and a public question on the need answered."""
    seeker = await _demo_actor(ENTERPRISE_EMAIL)
    institute = await _demo_actor(INSTITUTE_EMAIL)
    need = await Need.get_or_none(seeker_id=seeker.organization_id, title=RO_NEED)
    if need is None or need.state != NeedState.PUBLISHED:
        return 0
    if await Proposal.filter(need_id=need.id, proposer_id=institute.organization_id).exists():
        return 0
    attached = await Listing.filter(
        institute_id=institute.organization_id,
        source_ref__in=["WO-2020257348-A1", "TW-202423528-A"],  # chlorine-resistant GO; RO
        state=ListingState.PUBLISHED,
    ).values_list("id", flat=True)
    if not attached:
        return 0
    how = [
        "Our polyamide layer reaches 99.3 % rejection on 2,000 mg/l NaCl at 15.5 bar in "
        "flat-sheet tests, 99.1 % in a 4-inch element.",
        "The sericin cross-linked graphene oxide coat kept rejection within 0.6 points after "
        "2,000 ppm·h of free chlorine.",
        "The membrane rolls on standard spiral-wound lines: our partner winds 8-inch elements.",
    ]
    try:
        async with in_transaction():
            proposal = await proposals.make_proposal(
                institute,
                str(need.id),
                ProposalIn.model_validate(
                    {
                        "summary": "A chlorine-resistant composite membrane: a polyamide "
                        "layer protected by a sericin cross-linked graphene oxide coat, proven "
                        "for 2,000 hours on brackish water in our pilot rig.",
                        "requirements": [
                            {"requirement": r, "how": h}
                            for r, h in zip(need.must_have, how, strict=False)
                        ],
                        "trl": 5,
                        "listing_ids": [str(i) for i in attached],
                    }
                ),
            )
            pid = str(proposal.id)
            await proposals.move(seeker, pid, StageIn(stage="shortlisted"))
            await proposals.post_message(
                seeker,
                pid,
                ProposalMessageIn(
                    body="You are on our shortlist. Could the pilot run on one of our "
                    "Sicilian plants for three months, with your people on site for the start?"
                ),
            )
            await proposals.post_message(
                institute,
                pid,
                ProposalMessageIn(
                    body="Yes: two of our engineers can spend the first two weeks on site. "
                    "We would need the feed-water analyses of the last year beforehand."
                ),
            )
            asked = await questions.ask(
                institute,
                str(need.id),
                QuestionIn(
                    body="Is the feed water pre-treated by ultrafiltration before the "
                    "reverse osmosis stage, and at what silt density index?"
                ),
            )
            await questions.answer(
                seeker,
                str(need.id),
                str(asked.id),
                AnswerIn(
                    answer="Cartridge filters of 5 µm at every plant, ultrafiltration at "
                    "four of them; the silt density index stays below 3."
                ),
            )
    except DomainError as exc:
        log.warning("demo proposal skipped: %s", exc)
        return 0
    return 1


SAVED_SEARCH = SavedSearchIn(
    name="Membranes for desalination", frequency="weekly", query="q=desalination membrane"
)


async def _save_search() -> int:
    seeker = await _demo_actor(ENTERPRISE_EMAIL)
    if await SavedSearch.filter(user_id=seeker.user_id, name=SAVED_SEARCH.name).exists():
        return 0
    try:
        async with in_transaction():
            await alerts.save_search(seeker, SAVED_SEARCH)
    except DomainError as exc:  # the visitor filled their quota of saved searches
        log.warning("demo saved search skipped: %s", exc)
        return 0
    return 1


# --- the exhibition hall: an event open for booking, its pavilions and booths -------------------

HALL_EVENT = "Shenzhen Hi-Tech Fair: brokerage days"
# Ahead enough that booking stays open while someone tries the demo.
HALL_DAYS = 30


async def _open_hall() -> int:
    """The platform's own event, open for booking, with a pavilion per field and the booths of
    the institutes (their published listings) and the enterprise (its open needs), approved:
    all through the hall's use cases. Left alone when it exists."""
    if await Event.filter(name=HALL_EVENT).exists():
        return 0
    admin = await _demo_actor(ADMIN_EMAIL)
    first = utcnow().date() + timedelta(days=HALL_DAYS)
    try:
        async with in_transaction():
            event = await hall.create_event(
                admin,
                EventIn(
                    name=HALL_EVENT,
                    name_zh="高交会技术对接日",
                    description="Visit the booths of institutes and enterprises and book "
                    "20-minute one-to-one meetings, on site in Shenzhen or online.",
                    description_zh="参观研究机构和企业的展位，预约 20 分钟的一对一洽谈，"
                    "可在深圳现场或线上进行。",
                    timezone="Asia/Shanghai",
                    starts_on=first,
                    ends_on=first + timedelta(days=1),
                    booking_opens_at=utcnow() - timedelta(days=1),
                    booking_closes_at=datetime(first.year, first.month, first.day, tzinfo=UTC)
                    - timedelta(hours=12),
                    meeting_minutes=20,
                    # A request waits a fortnight: the demo's pending one is still there to answer.
                    request_expiry_hours=14 * 24,
                    agenda="preliminary",
                ),
            )
            # 09:00-12:00 on site and 14:00-17:00 online, Shanghai time (UTC+8), both days.
            for day in (first, first + timedelta(days=1)):
                morning = datetime(day.year, day.month, day.day, 1, tzinfo=UTC)
                await hall.add_block(
                    admin,
                    str(event.id),
                    BlockIn(
                        starts_at=morning,
                        ends_at=morning + timedelta(hours=3),
                        mode="onsite",
                        tables=12,
                    ),
                )
                await hall.add_block(
                    admin,
                    str(event.id),
                    BlockIn(
                        starts_at=morning + timedelta(hours=5),
                        ends_at=morning + timedelta(hours=8),
                        mode="online",
                    ),
                )
            pavilions = {}
            for name, name_zh in (
                ("Water and materials", "水处理与新材料"),
                ("Computing and aerospace", "计算与航空航天"),
                ("Buyers' corner", "需求方专区"),
            ):
                pavilions[name] = await hall.add_pavilion(
                    admin, str(event.id), PavilionIn(name=name, name_zh=name_zh)
                )
            # Booths are applied for once the event is announced.
            await hall.publish_event(admin, str(event.id))
            exhibitors = (
                (INSTITUTE_EMAIL, "Water and materials", "Membranes that hold at high flux"),
                ("computing@techmarket.example", "Computing and aerospace", ""),
                ("aerospace@techmarket.example", "Computing and aerospace", ""),
                (ENTERPRISE_EMAIL, "Buyers' corner", "What our plants need solved"),
            )
            for email, pavilion, headline in exhibitors:
                actor = await _demo_actor(email)
                listing_ids = (
                    await Listing.filter(
                        institute_id=actor.organization_id, state=ListingState.PUBLISHED
                    )
                    .order_by("title")
                    .limit(6)
                    .values_list("id", flat=True)
                )
                # Never an anonymous need: the booth names its organisation.
                need_ids = (
                    await Need.filter(seeker_id=actor.organization_id, state=NeedState.PUBLISHED)
                    .exclude(visibility=Visibility.ANONYMOUS)
                    .order_by("title")
                    .limit(6)
                    .values_list("id", flat=True)
                )
                booth = await hall.apply_for_booth(
                    actor,
                    str(event.id),
                    BoothIn(
                        pavilion_id=str(pavilions[pavilion].id),
                        listing_ids=[str(x) for x in listing_ids],
                        need_ids=[str(x) for x in need_ids],
                        headline=headline,
                        attendee_ids=[str(actor.user_id)],
                    ),
                )
                await hall.approve_booth(admin, str(booth.id))
            await hall.open_booking(admin, str(event.id))
    except DomainError as exc:
        log.warning("demo event skipped: %s", exc)
        return 0
    return 1


# Who takes part in the demo event's meetings, from which zone (the newcomer's institute is
# not verified: it may not).
HALL_PARTICIPANTS = (
    (INSTITUTE_EMAIL, "Asia/Shanghai", "Membranes for desalination and water reuse."),
    (ENTERPRISE_EMAIL, "Europe/Rome", "We look for membranes for our desalination plants."),
    ("computing@techmarket.example", "America/Los_Angeles", "Neural network accelerators."),
    ("aerospace@techmarket.example", "America/New_York", "Aerospace and sports materials."),
)


async def _book_meetings() -> int:
    """The demo logins take part in the demo event's meetings, in every block; the enterprise
    has a meeting booked with the membrane institute about one of its listings, and the
    institute of computing a request waiting for the membrane institute's answer: all through
    the meetings' use cases. (No past meeting with its outcome: the use cases book only slots
    still to come, in an event open for booking.) Left alone once anyone takes part."""
    event = await Event.get_or_none(name=HALL_EVENT)
    if event is None or await Participant.filter(event_id=event.id).exists():
        return 0
    blocks = [str(b) for b in await event.blocks.all().values_list("id", flat=True)]  # type: ignore[attr-defined]
    try:
        async with in_transaction():
            joined = {}
            for email, zone, about in HALL_PARTICIPANTS:
                actor = await _demo_actor(email)
                joined[email] = await meetings.join(
                    actor, str(event.id), JoinIn(block_ids=blocks, timezone=zone, about=about)
                )
            institute = joined[INSTITUTE_EMAIL]
            topics = (
                await Listing.filter(
                    institute_id=institute.organization_id,  # type: ignore[attr-defined]
                    state=ListingState.PUBLISHED,
                )
                .order_by("title")
                .limit(2)
                .values_list("id", flat=True)
            )
            buyer = await _demo_actor(ENTERPRISE_EMAIL)
            asked = await meetings.request_meeting(
                buyer,
                str(event.id),
                RequestIn(
                    guest_participant_id=institute.id,
                    message="We would like to hear how your membranes hold up in our plants, "
                    "and on what terms you license them.",
                    listing_ids=[str(x) for x in topics[:1]],
                ),
            )
            host = await _demo_actor(INSTITUTE_EMAIL)
            free = await meetings.free_slots(event, institute, joined[ENTERPRISE_EMAIL])
            # Online, in the Shanghai afternoon: a morning in Rome, not the night.
            slot = next(start for block, start in free if str(block.mode) == "online")
            await meetings.accept(host, str(asked.id), slot)
            await meetings.request_meeting(
                await _demo_actor("computing@techmarket.example"),
                str(event.id),
                RequestIn(
                    guest_participant_id=institute.id,
                    message="Could our models predict your membranes' fouling? Half an hour "
                    "to see whether a joint project makes sense.",
                    listing_ids=[str(x) for x in topics[1:]],
                ),
            )
    except DomainError as exc:
        log.warning("demo meetings skipped: %s", exc)
        return 0
    return 1


async def _match_needs() -> int:
    """Match the demo needs that have no match yet, here rather than only in the worker:
    under `market dev` the seed runs before the worker, whose first sweep would match each
    need while the listings' index is still being built. The indexes are brought up to date
    first (their drift repair writes only what they lack). Without Meilisearch the seed still
    succeeds: the worker matches the needs once it runs."""
    seeker = await _demo_actor(ENTERPRISE_EMAIL)
    titles = [fields()["title"] for fields in DEMO_NEEDS]
    waiting = await Need.filter(
        seeker_id=seeker.organization_id, title__in=titles, state=NeedState.PUBLISHED
    ).exclude(id__in=Subquery(Match.all().values_list("need_id", flat=True)))
    if not waiting:
        return 0
    found = 0
    try:
        await listing_search.check_drift(repair=True)
        await need_search.check_drift(repair=True)
        for need in waiting:
            found += len(await matching.match_need(need.id))
    except (httpx.HTTPError, listing_search.MeiliError, TimeoutError) as exc:
        log.warning("demo needs not matched yet (%s); the worker matches them", exc)
    return found
