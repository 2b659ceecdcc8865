"""Every list of offers, contracts and payments sends as many statements to the database with 1
item as with 50: the offer inboxes of each side, the contracts list and the approval queue, the
administrators' payments, and the API's lists of the same."""

from __future__ import annotations

import pytest

from contracts.payments import service as payments
from market.accounts.models import User
from tests.builders import (
    a_contract,
    an_admin,
    an_offer,
    contracts_like,
    offers_like,
    payments_like,
    signatories,
)
from tests.queries import Build, Listed, assert_constant_queries


def _ids(rows: list) -> list[str]:
    return [str(row.id) for row in rows]


async def open_offers() -> Listed:
    offer = await an_offer()
    seller = await User.get(id=(await offer.listing).created_by_id)
    buyer = await User.get(id=offer.created_by_id)
    await an_admin()

    async def more(n: int) -> list[str]:
        return _ids(await offers_like(offer, n))

    people = {"seller": seller.email, "buyer": buyer.email, "admin": "admin@example.org"}
    return Listed(people, [str(offer.id)], more)


async def _contracts(state: str) -> Listed:
    contract = await a_contract(state)
    seller, buyer = await signatories(contract)
    await an_admin()

    async def more(n: int) -> list[str]:
        return _ids(await contracts_like(contract, n))

    people = {"seller": seller.user.email, "buyer": buyer.user.email, "admin": "admin@example.org"}
    return Listed(people, [str(contract.id)], more)


async def pending_contracts() -> Listed:
    return await _contracts("pending_approval")


async def bank_transfers() -> Listed:
    """Payments awaiting a bank transfer (no call to Stripe to start one)."""
    contract = await a_contract("awaiting_payment")
    _, buyer = await signatories(contract)
    started = await payments.start_payment(buyer, str(contract.id), "bank_transfer")
    await an_admin()

    async def more(n: int) -> list[str]:
        return _ids(await payments_like(started.payment, n))

    return Listed({"admin": "admin@example.org"}, [str(started.payment.id)], more)


# (path, who asks, what is listed, how many of 50 it shows: its page size, or all)
CASES: list[tuple[str, str, Build, int | None]] = [
    ("/offers?side=seller", "seller", open_offers, 20),
    ("/offers?side=buyer", "buyer", open_offers, 20),
    ("/offers", "admin", open_offers, 20),
    ("/contracts", "seller", pending_contracts, 20),
    ("/admin/contracts", "admin", pending_contracts, 10),
    ("/admin/payments", "admin", bank_transfers, 50),
    ("/api/v1/offers?side=buyer&per_page=50", "buyer", open_offers, None),
    ("/api/v1/offers?per_page=50", "seller", open_offers, None),
    ("/api/v1/contracts?per_page=50", "buyer", pending_contracts, None),
    ("/api/v1/admin/payments?per_page=50", "admin", bank_transfers, None),
]


@pytest.mark.parametrize(
    ("path", "role", "build", "shows"), CASES, ids=[f"{p} as {r}" for p, r, _, _ in CASES]
)
async def test_queries_do_not_grow_with_the_list(
    client, path: str, role: str, build: Build, shows: int | None
) -> None:
    await assert_constant_queries(client, path, role, build, shows)
