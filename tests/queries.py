"""Counting the SQL statements a piece of code sends to PostgreSQL.

A spy at our own boundary with the database: every statement Tortoise sends goes through one of
its asyncpg client's `execute_*` methods (queries, inserts, updates, the raw SQL of
`market/throttle.py`), so wrapping those methods on the client classes counts each statement
once, whatever built it, on a pooled connection or inside a transaction. Nothing is replaced:
the wrapped method runs and its answer is returned unchanged. BEGIN and COMMIT are not counted
(asyncpg's own transaction calls); what a page costs is its statements.

    async with counting() as sent:
        await client.get("/listings")
    assert len(sent) == ...
"""

from __future__ import annotations

import contextvars
import functools
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from tortoise import Tortoise
from tortoise.backends.asyncpg.client import AsyncpgDBClient, TransactionWrapper

from market import rows
from tests.builders import log_in

# Every method of the asyncpg client that sends SQL (tortoise/backends/asyncpg/client.py).
SENDING = (
    "execute_query",
    "execute_query_dict",
    "execute_insert",
    "execute_many",
    "execute_script",
)


class Statements(list[str]):
    """The SQL sent while counting, in order."""

    def summary(self) -> str:
        """Each distinct statement with how often it was sent, most frequent first: what a
        failing comparison prints, so the statement that repeats per row stands out."""
        counted = Counter(" ".join(sql.split())[:200] for sql in self)
        return "\n".join(f"{n:4} x {sql}" for sql, n in counted.most_common())


# Whose statements count: the block's own task and the tasks it starts (the ASGI app under test
# runs in the test's task). A task started before the block keeps its own context, so the
# statements of a server running in the same loop (the webhook receiver localstripe posts to,
# at any moment) are not the page's.
_COUNTED: contextvars.ContextVar[Statements] = contextvars.ContextVar("counted")


def _spy(method: Callable[..., Any], sent: Statements) -> Callable[..., Any]:
    @functools.wraps(method)
    async def spied(self: Any, query: str, *args: Any, **kwargs: Any) -> Any:
        if _COUNTED.get(None) is sent:
            sent.append(query)
        return await method(self, query, *args, **kwargs)

    return spied


def _spy_call(function: Callable[..., Any], sent: Statements) -> Callable[..., Any]:
    @functools.wraps(function)
    async def spied(pool: Any, query: str, *args: Any) -> Any:
        if _COUNTED.get(None) is sent:
            sent.append(query)
        return await function(pool, query, *args)

    return spied


@asynccontextmanager
async def counting() -> AsyncIterator[Statements]:
    """The statements the block's own task (and the tasks it starts) sends to the database
    while it runs: the ASGI app under test runs in the test's own task."""
    client = Tortoise.get_connection("default")
    if not isinstance(client, AsyncpgDBClient):
        raise RuntimeError(f"counting knows the asyncpg client only, not {type(client)}")
    sent = Statements()
    saved: list[tuple[Any, str, Any]] = []
    # Each class that defines a sending method gets its own spy; a subclass that inherits one
    # goes through its parent's, so a statement is counted once.
    for cls in (AsyncpgDBClient, TransactionWrapper):
        for name in SENDING:
            if name in cls.__dict__:
                saved.append((cls, name, cls.__dict__[name]))
                setattr(cls, name, _spy(cls.__dict__[name], sent))
    # market/rows.py sends its written-out reads straight to asyncpg's pool outside a
    # transaction: its one sending function is spied the same way.
    for owner, name in ((rows, "from_pool"),):
        saved.append((owner, name, getattr(owner, name)))
        setattr(owner, name, _spy_call(getattr(owner, name), sent))
    token = _COUNTED.set(sent)
    try:
        yield sent
    finally:
        _COUNTED.reset(token)
        for owner, name, method in saved:
            setattr(owner, name, method)


# --- one list, with 1 item and with 50 ----------------------------------------------------------


@dataclass
class Listed:
    """A list as a test builds it: who may ask for it (role -> e-mail), what marks each item in
    the answer (its id, mostly), and how to make `n` more items like the first."""

    people: dict[str, str]
    markers: list[str]
    more: Callable[[int], Awaitable[list[str]]]
    # What fills the path's {placeholders} (a list under one row: a need's proposals).
    params: dict[str, str] = field(default_factory=dict)


Build = Callable[[], Awaitable[Listed]]
MANY = 50


def _shown(body: str, markers: list[str]) -> int:
    return sum(marker in body for marker in markers)


async def _get(client: httpx.AsyncClient, path: str) -> httpx.Response:
    response = await client.get(path)
    assert response.status_code == 200, f"{path}: {response.status_code} {response.text[:500]}"
    return response


async def assert_constant_queries(
    client: httpx.AsyncClient, path: str, role: str, build: Build, shows: int | None = None
) -> None:
    """`path` asked by `role` sends as many statements with 1 item as with 50 (of which it
    shows `shows`, its page size, or all). Each count is of the second request at that size:
    the first may fill what a process caches once."""
    listed = await build()
    path = path.format(**listed.params) if listed.params else path
    if role != "anonymous":
        await log_in(client, listed.people[role])
    await _get(client, path)
    async with counting() as one:
        body = (await _get(client, path)).text
    assert _shown(body, listed.markers) == 1, f"{path} does not show the item built"
    listed.markers += await listed.more(MANY - 1)
    await _get(client, path)
    async with counting() as many:
        body = (await _get(client, path)).text
    expected = min(MANY, shows) if shows is not None else MANY
    assert _shown(body, listed.markers) == expected, f"{path} does not show the {MANY} built"
    assert len(many) == len(one), (
        f"{path} as {role}: {len(one)} statements with 1 item, {len(many)} with {MANY}\n"
        f"with 1:\n{one.summary()}\nwith {MANY}:\n{many.summary()}"
    )
