"""Row locks in the documented order (market/locks.py), against PostgreSQL."""

from __future__ import annotations

import pytest

from listings.models import Listing
from market.accounts.models import Organization
from market.audit import AuditEntry
from market.db import unit_of_work
from market.locks import ORDER, LockOrderError, lock, lock_existing
from tests.builders import a_published_listing, a_verified_institute


async def test_rows_are_locked_in_the_documented_order() -> None:
    listing = await a_published_listing()
    async with unit_of_work():
        org = await lock_existing(Organization, listing.institute_id)  # type: ignore[attr-defined]
        assert org.id == listing.institute_id  # type: ignore[attr-defined]
        assert (await lock_existing(Listing, listing.id)).id == listing.id
        # Held already: locking it again is no new lock, whatever came since.
        assert (await lock(Organization, org.id)) is not None
        assert await lock(Listing, "00000000-0000-0000-0000-000000000000") is None


async def test_a_lock_out_of_order_is_refused_before_it_is_taken() -> None:
    listing = await a_published_listing()
    _, other = await a_verified_institute(email="other@example.org")
    with pytest.raises(LockOrderError, match="Organization locked after Listing"):
        async with unit_of_work():
            await lock_existing(Listing, listing.id)
            await lock_existing(Organization, other.id)


async def test_a_model_without_a_place_in_the_order_cannot_be_locked() -> None:
    assert "AuditEntry" not in ORDER
    with pytest.raises(LockOrderError, match="no place"):
        async with unit_of_work():
            await lock(AuditEntry, 1)


async def test_use_cases_run_in_one_transaction_each_keep_their_own_order() -> None:
    # The demo seed runs many use cases in one transaction: each starts its order afresh, and
    # the outer one goes on where it was.
    listing = await a_published_listing()
    _, other = await a_verified_institute(email="late@example.org")
    async with unit_of_work():
        await lock_existing(Listing, listing.id)
        async with unit_of_work():
            await lock_existing(Organization, listing.institute_id)  # type: ignore[attr-defined]
        with pytest.raises(LockOrderError, match="Organization locked after Listing"):
            await lock_existing(Organization, other.id)
