"""Waiting for what happens in the background (a worker, Stripe, a child process, Meilisearch):
poll with a deadline, and when it never happens fail saying what was awaited and what was last
seen. The only way tests wait; no fixed sleep stands in for a condition."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest

T = TypeVar("T")

# Generous on purpose: a deadline only matters when something is broken, and a busy CI machine
# must not turn a slow success into a failure.
WITHIN_S = 30.0


def _fail(what: str, within: float, last: Any, explain: Callable[[], str] | None) -> None:
    detail = f"; last seen: {last!r}" if last is not None else ""
    extra = f"\n{explain()}" if explain is not None else ""
    pytest.fail(f"waited {within:g} s for {what}, in vain{detail}{extra}", pytrace=False)


async def eventually(
    check: Callable[[], Awaitable[T]],
    *,
    what: str,
    within: float = WITHIN_S,
    every: float = 0.1,
    explain: Callable[[], str] | None = None,
) -> T:
    """Await `check()` until it returns something truthy, and return that."""
    deadline = time.monotonic() + within
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            _fail(what, within, value, explain)
        await asyncio.sleep(every)


def eventually_sync(
    check: Callable[[], T],
    *,
    what: str,
    within: float = WITHIN_S,
    every: float = 0.1,
    explain: Callable[[], str] | None = None,
) -> T:
    """`eventually` for synchronous tests: call `check()` until it returns something truthy."""
    deadline = time.monotonic() + within
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            _fail(what, within, value, explain)
        time.sleep(every)
