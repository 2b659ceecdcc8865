"""The roles table, row by row: each role (with and without the signing right) tried on the
real use case behind each permission, allowed exactly where market/accounts/roles.py says."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from contracts.agreements import service as agreements
from contracts.offers import service as offers
from contracts.offers.schemas import OfferIn
from contracts.payments import service as payments
from listings import service as listings
from listings.schemas import ListingIn
from market.accounts import service as accounts
from market.accounts.models import MemberRole, Organization
from market.accounts.roles import TABLE, Permission, may
from market.accounts.schemas import OrganizationUpdate
from market.errors import Forbidden
from tests.builders import (
    a_colleague,
    a_contract,
    a_published_listing,
    a_verified_enterprise,
    a_verified_institute,
    actor_of,
    listing_data,
    offer_terms,
)

ROLES = [(role, sign) for role in MemberRole for sign in (False, True)]


async def outcome(call: Awaitable[Any]) -> str:
    try:
        await call
    except Forbidden as refusal:
        return f"refused: {refusal}"
    return "allowed"


def expected(role: MemberRole, sign: bool, permission: Permission) -> bool:
    return sign if permission == Permission.SIGN else permission in TABLE[role]


async def member_of(org: Organization, role: MemberRole, sign: bool) -> Any:
    return await actor_of(await a_colleague(org, role=role.value, can_sign=sign))


async def listing_as(role: MemberRole, sign: bool) -> str:
    _, institute = await a_verified_institute()
    actor = await member_of(institute, role, sign)
    return await outcome(listings.create_listing(actor, ListingIn.model_validate(listing_data())))


async def offer_as(role: MemberRole, sign: bool) -> str:
    listing = await a_published_listing()
    _, enterprise = await a_verified_enterprise()
    actor = await member_of(enterprise, role, sign)
    terms = OfferIn.model_validate(offer_terms())
    return await outcome(offers.make_offer(actor, str(listing.id), terms))


async def organization_as(role: MemberRole, sign: bool) -> str:
    _, org = await a_verified_institute()
    actor = await member_of(org, role, sign)
    update = OrganizationUpdate(name=org.name, country=org.country, region="Bavaria", website="")
    return await outcome(accounts.update_organization(actor, update))


async def pay_as(role: MemberRole, sign: bool) -> str:
    contract = await a_contract("awaiting_payment")
    buyer = await Organization.get(id=contract.buyer_id)
    actor = await member_of(buyer, role, sign)
    return await outcome(payments.start_payment(actor, str(contract.id), "bank_transfer"))


async def sign_as(role: MemberRole, sign: bool) -> str:
    contract = await a_contract("awaiting_signatures")
    seller = await Organization.get(id=contract.seller_id)
    actor = await member_of(seller, role, sign)
    return await outcome(
        agreements.sign_contract(actor, str(contract.id), "A Name", contract.document_sha256)
    )


TRIED: dict[Permission, Callable[[MemberRole, bool], Awaitable[str]]] = {
    Permission.LIST: listing_as,
    Permission.NEGOTIATE: offer_as,
    Permission.EDIT_ORGANIZATION: organization_as,
    Permission.PAY: pay_as,
    Permission.SIGN: sign_as,
}


@pytest.mark.parametrize("permission", list(TRIED), ids=str)
@pytest.mark.parametrize(("role", "sign"), ROLES, ids=lambda v: str(v))
async def test_each_role_may_do_exactly_what_the_table_says(
    role: MemberRole, sign: bool, permission: Permission
) -> None:
    result = await TRIED[permission](role, sign)
    if expected(role, sign, permission):
        assert result == "allowed", result
    else:
        assert result.startswith("refused: Only "), result


def test_the_table_reads_as_the_issue_asks() -> None:
    """Members list and negotiate; admins also pay, edit the organisation and manage members;
    owners also make owners and signatories; signing is nobody's by role."""
    assert TABLE[MemberRole.MEMBER] == {Permission.LIST, Permission.NEGOTIATE}
    assert TABLE[MemberRole.ADMIN] == TABLE[MemberRole.MEMBER] | {
        Permission.PAY,
        Permission.EDIT_ORGANIZATION,
        Permission.MANAGE_MEMBERS,
    }
    assert TABLE[MemberRole.OWNER] == TABLE[MemberRole.ADMIN] | {Permission.MANAGE_OWNERS}
    assert all(Permission.SIGN not in granted for granted in TABLE.values())


async def test_a_registering_founder_owns_and_signs() -> None:
    user, _ = await a_verified_institute()
    founder = await actor_of(user)
    assert founder.role == MemberRole.OWNER and may(founder, Permission.SIGN)
