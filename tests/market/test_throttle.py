"""The throttle's counter itself, on PostgreSQL and on SQLite (as `market dev` runs): parallel
claims, several buckets at once, windows, giving back, rollback and the sweep."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest

from market import throttle
from market.clock import utcnow
from market.db import unit_of_work
from market.errors import TooManyRequests
from market.throttle import Bucket, ThrottleCount

TEN = Bucket("test.ten", 10, 60, "Slow down; try again in {wait}.")
ONE = Bucket("test.one", 1, 600, "Once only; try again in {wait}.")


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[datetime]:
    """The throttle's clock, moved by the test: time is the one peer no test can wait for."""
    now = [utcnow()]
    monkeypatch.setattr(throttle, "utcnow", lambda: now[0])
    return now


async def outcomes(*claims) -> list[bool]:  # type: ignore[no-untyped-def]
    results = await asyncio.gather(*claims, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException) and not isinstance(result, TooManyRequests):
            raise result
    return [not isinstance(r, TooManyRequests) for r in results]


async def test_a_burst_of_claims_passes_exactly_the_limit(database_kind) -> None:
    passed = await outcomes(*(throttle.claim((TEN, "someone")) for _ in range(40)))
    assert passed.count(True) == 10
    # Refused claims counted nothing.
    assert (await ThrottleCount.get(key=TEN.key("someone"))).hits == 10
    assert await outcomes(throttle.claim((TEN, "someone else"))) == [True]


async def test_a_refusal_says_how_long_to_wait(database_kind, clock) -> None:
    await throttle.claim((ONE, "x"))
    clock[0] += timedelta(seconds=200)
    with pytest.raises(TooManyRequests) as refused:
        await throttle.claim((ONE, "x"))
    assert refused.value.retry_after == 400
    assert refused.value.message == "Once only; try again in 7 minutes."
    clock[0] += timedelta(seconds=400)  # the window is over: a new one starts
    await throttle.claim((ONE, "x"))
    assert (await ThrottleCount.get(key=ONE.key("x"))).hits == 1


async def test_several_buckets_are_claimed_all_or_nothing(database_kind) -> None:
    await throttle.claim((ONE, "account"), (TEN, "address"))
    with pytest.raises(TooManyRequests):
        await throttle.claim((TEN, "address"), (ONE, "account"))
    # The refusal by the one bucket took nothing from the other.
    assert (await ThrottleCount.get(key=TEN.key("address"))).hits == 1


async def test_bursts_sharing_buckets_in_any_order_do_not_deadlock(database_kind) -> None:
    claims = [
        throttle.claim((TEN, "a"), (TEN, "b")) if n % 2 else throttle.claim((TEN, "b"), (TEN, "a"))
        for n in range(30)
    ]
    assert (await outcomes(*claims)).count(True) == 10


async def test_a_release_gives_back_in_its_own_window_only(database_kind, clock) -> None:
    ticket = await throttle.claim((ONE, "y"))
    await throttle.release(ticket)
    second = await throttle.claim((ONE, "y"))
    clock[0] += timedelta(seconds=601)
    await throttle.claim((ONE, "y"))  # a new window
    await throttle.release(second)  # from the old window: changes nothing now
    with pytest.raises(TooManyRequests):
        await throttle.claim((ONE, "y"))


async def test_a_claim_rolls_back_with_its_transaction(database_kind) -> None:
    with pytest.raises(RuntimeError):
        async with unit_of_work():
            await throttle.claim((ONE, "z"))
            raise RuntimeError("the use case failed after claiming")
    await throttle.claim((ONE, "z"))


async def test_a_new_window_sweeps_buckets_that_ended_long_ago(database_kind, clock) -> None:
    await throttle.claim((ONE, "old"))
    clock[0] += timedelta(milliseconds=throttle.SWEEP_AFTER_MS, seconds=ONE.window + 1)
    await throttle.claim((TEN, "recent"))
    await throttle.claim((TEN, "recent"))
    assert await ThrottleCount.all().values_list("key", flat=True) == [TEN.key("recent")]
