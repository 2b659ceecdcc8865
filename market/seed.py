"""Demo data for `market seed --demo` and the first start of `market dev`."""

from __future__ import annotations

from market.accounts import service
from market.accounts.models import User
from market.accounts.schemas import OrganizationIn, RegisterIn
from market.db import unit_of_work

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
]


async def seed_demo(password: str) -> bool:
    """Create the demo logins once; returns False when they already exist."""
    if await User.filter(email="admin@techmarket.example").exists():
        return False
    # One transaction: a failure half-way leaves nothing behind, so a rerun starts clean.
    async with unit_of_work():
        await _create(password)
    return True


async def _create(password: str) -> None:
    admin = await service.create_admin("admin@techmarket.example", password, "Demo Administrator")
    admin_actor = await service.actor_for(admin, ip="seed")
    for email, name, org, verified in DEMO_ORGS:
        _, organization = await service.register(
            RegisterIn(email=email, password=password, name=name, organization=org), ip="seed"
        )
        if verified:
            await service.verify_organization(admin_actor, str(organization.id))
