"""Builders: small functions that make a valid object; overrides for what a test cares about."""

from __future__ import annotations

import itertools
from typing import Any

import httpx

from market.accounts import service
from market.accounts.models import Organization, User
from market.accounts.schemas import OrganizationIn, RegisterIn
from market.actor import Actor

PASSWORD = "correct horse battery staple"
_seq = itertools.count(1)


def registration(**overrides: Any) -> dict[str, Any]:
    n = next(_seq)
    org = {
        "name": f"Institute of Applied Optics {n}",
        "kind": "institute",
        "country": "CN",
        "region": "Guangdong",
        "website": "https://optics.example.org",
    }
    org.update(overrides.pop("organization", {}))
    data = {
        "email": f"person{n}@example.org",
        "password": PASSWORD,
        "name": f"Person {n}",
        "organization": org,
    }
    data.update(overrides)
    return data


async def a_user(**overrides: Any) -> tuple[User, Organization]:
    return await service.register(RegisterIn.model_validate(registration(**overrides)))


async def an_admin(email: str = "admin@example.org") -> User:
    return await service.create_admin(email, PASSWORD, "Admin")


async def actor_of(user: User, ip: str = "198.51.100.1") -> Actor:
    return await service.actor_for(user, ip=ip)


async def a_verified_institute(**overrides: Any) -> tuple[User, Organization]:
    user, org = await a_user(**overrides)
    admin = await User.filter(email="admin@example.org").first() or await an_admin()
    org = await service.verify_organization(await actor_of(admin), str(org.id))
    return user, org


async def log_in(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> str:
    """Log the client in through the API; returns the CSRF token for later writes."""
    response = await client.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    me = await client.get("/api/v1/me")
    return me.json()["csrf_token"]


def organization_in(**overrides: Any) -> OrganizationIn:
    return OrganizationIn.model_validate(registration(organization=overrides)["organization"])
