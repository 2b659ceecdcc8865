"""Demo data for `market seed --demo` and the first start of `market dev`."""

from __future__ import annotations

from pathlib import Path

from listings import importer
from market.accounts import service
from market.accounts.models import User
from market.accounts.schemas import OrganizationIn, RegisterIn
from market.db import unit_of_work

ADMIN_EMAIL = "admin@techmarket.example"
# Real records (see listings/data/SOURCES.md), published by the demo institutes below.
SAMPLE = Path(__file__).resolve().parent.parent / "listings" / "data" / "sample_records.jsonl"

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


async def seed_demo(password: str) -> bool:
    """Create what is missing of the demo logins, institutes and listings; returns False
    when everything was already there."""
    # One transaction: a failure half-way leaves nothing behind, so a rerun starts clean.
    async with unit_of_work():
        created = await _create(password)
        listings = await _publish_sample()
    return created or listings > 0


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
            RegisterIn(email=email, password=password, name=name, organization=org), ip="seed"
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
