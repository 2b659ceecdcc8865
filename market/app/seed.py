"""Demo data for `market seed --demo` and the first start of `market dev`."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise.expressions import Q, Subquery
from tortoise.transactions import in_transaction

from contracts.agreements import service as agreements
from contracts.agreements.models import Contract
from contracts.offers import service as offers
from contracts.offers.models import Offer
from contracts.offers.schemas import MessageIn, OfferIn, OfferTermsIn
from contracts.payments import service as payments
from listings import enquiries, importer
from listings.models import Listing, ListingState
from listings.schemas import EnquiryIn
from market.accounts import service
from market.accounts.models import Membership, Organization, User
from market.accounts.schemas import OrganizationIn, RegisterIn
from market.actor import Actor
from market.config import ROOT
from market.db import unit_of_work
from market.errors import DomainError

DEMO_PASSWORD = "demo-password-2026"
# Who each demo login is and what it finds waiting (seed_demo below makes it so).
DEMO_LOGINS = {
    "admin@techmarket.example": "administrator: an institute to verify, money owed in the ledger",
    "institute@techmarket.example": "Institute of Advanced Membranes: a contract to sign",
    "enterprise@techmarket.example": "Aquaflow Water Systems: a negotiation waiting for your "
    "answer, a contract to sign",
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


async def seed_demo(password: str, *, force: bool = False) -> bool:
    """Create what is missing of the demo logins, institutes, listings and deals (a
    negotiation, a contract to sign, a paid one); returns False when everything was already
    there. A database holding organisations of its own is refused unless `force`: the demo
    brings an administrator whose password is printed in the README."""
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
    return created or listings > 0 or deals > 0


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
