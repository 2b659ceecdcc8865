"""The unit of work on SQLite, as `market dev` runs it: the web process and the worker each
have their own connection to one file, and a unit of work must not fail half-way because the
other committed while it was reading."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from starlette.responses import JSONResponse
from starlette.routing import Route
from tortoise import Tortoise

from market.config import ROOT, Settings
from market.db import close_db, init_db, unit_of_work
from market.throttle import ThrottleCount
from tests.builders import (
    PASSWORD,
    a_published_listing,
    a_verified_enterprise,
    a_verified_institute,
    log_in,
)


def other_process_writes(path: Path, key: str) -> None:
    """What the worker does: a write of its own on its own connection. With no busy timeout,
    it shows at once whether someone holds the write lock."""
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        other.execute("INSERT INTO throttle (key, hits, resets_at) VALUES (?, 1, 0)", (key,))
    finally:
        other.close()


@pytest.mark.parametrize("database_kind", ["sqlite"], indirect=True)
async def test_a_unit_of_work_that_read_first_still_writes_after_another_commit(
    database_kind, tmp_path: Path
) -> None:
    path = tmp_path / "market.sqlite3"
    async with unit_of_work():
        assert await ThrottleCount.all().count() == 0
        # A deferred transaction would let this commit land, and then its own write below
        # would be refused with "database is locked", at once, whatever the busy timeout.
        with pytest.raises(sqlite3.OperationalError, match="database is locked"):
            other_process_writes(path, "worker")
        await ThrottleCount.create(key="web", hits=1, resets_at=0)
    # Once the unit of work has committed, the other writer gets its turn.
    other_process_writes(path, "worker")
    assert sorted(await ThrottleCount.all().values_list("key", flat=True)) == ["web", "worker"]


# What would outlive a statement on a pooled PostgreSQL connection, and so would need asyncpg's
# reset after every use (market/db.py skips it).
SESSION_STATE = re.compile(
    # SET starting a statement (not UPDATE ... SET), LISTEN, session-level locks, held cursors.
    r"pg_advisory_lock\(|pg_try_advisory_lock\(|\bLISTEN \w|(^|[\"';]\s*)SET \w"
    r"|set_config\(|WITH HOLD|\bPREPARE \w|CREATE TEMP"
)


def test_pooled_connections_skip_the_reset_and_no_code_needs_it() -> None:
    from tortoise import Tortoise

    from market.db import _nothing_to_reset

    pool = Tortoise.get_connection("default")._pool
    assert pool._reset is _nothing_to_reset
    offenders = []
    for room in ("market", "listings", "contracts", "workers"):
        for path in (ROOT / room).rglob("*.py"):
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if SESSION_STATE.search(line) and "SESSION_STATE" not in line:
                    offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == [], "session state on a pooled connection:\n" + "\n".join(offenders)


async def test_a_transaction_level_lock_ends_with_its_transaction() -> None:
    """What `search_sync` takes: gone at commit, so the next user of the connection, which
    no reset cleans, finds it free."""
    from tortoise import Tortoise

    conn = Tortoise.get_connection("default")
    async with unit_of_work():
        await Tortoise.get_connection("default").execute_query(
            "SELECT pg_advisory_xact_lock(424242)"
        )
    for _ in range(5):  # every pooled connection in turn
        rows = await conn.execute_query_dict("SELECT pg_try_advisory_xact_lock(424242) AS free")
        assert rows[0]["free"] is True


# --- one connection per request (market/db.py OneConnection) ----------------------------------


@contextmanager
def pool_and_connections() -> Iterator[tuple[list[int], list[int]]]:
    """What asyncpg does meanwhile: each connection taken from a pool (by the pool's identity),
    and the connection (by identity) of every statement sent. A spy on its pool's `acquire` and
    its two ways of sending a statement (with arguments, and a script without), each still
    run; an idle pool hands the same connection back, so the statements' connections alone
    would not tell one taken per statement from one per request."""
    taken: list[int] = []
    used: list[int] = []
    acquire = asyncpg.pool.Pool.acquire
    originals = {
        name: getattr(asyncpg.connection.Connection, name) for name in ("_do_execute", "execute")
    }

    def spied_acquire(self: Any, *args: Any, **kwargs: Any) -> Any:
        taken.append(id(self))
        return acquire(self, *args, **kwargs)

    def spy(original: Any) -> Any:
        async def spied(self: Any, *args: Any, **kwargs: Any) -> Any:
            used.append(id(self))
            return await original(self, *args, **kwargs)

        return spied

    asyncpg.pool.Pool.acquire = spied_acquire  # type: ignore[method-assign]
    for name, original in originals.items():
        setattr(asyncpg.connection.Connection, name, spy(original))
    try:
        yield taken, used
    finally:
        asyncpg.pool.Pool.acquire = acquire  # type: ignore[method-assign]
        for name, original in originals.items():
            setattr(asyncpg.connection.Connection, name, original)


async def test_a_request_sends_all_its_statements_on_one_connection(client) -> None:
    owner, _ = await a_verified_institute()
    listing = await a_published_listing(owner)
    viewer, _ = await a_verified_enterprise()
    await log_in(client, viewer.email)
    await client.get(f"/listings/{listing.id}")
    with pool_and_connections() as (taken, used):
        page = await client.get(f"/listings/{listing.id}")
    assert page.status_code == 200
    # The session, the listing with its files and enquiry, the visit, the grants: the ORM's
    # statements and the written-out ones alike, on the one connection taken once.
    assert len(used) >= 4
    assert len(taken) == 1, taken
    assert len(set(used)) == 1, used


async def test_requests_that_read_and_write_never_wait_on_each_other_for_a_connection(
    settings: Settings, app
) -> None:
    """A pool of two connections, twelve requests at once that read and then write in a
    unit of work (a login) or read and count a visit (a listing page). A request that held its
    reading connection while waiting for its transaction's would leave two of them waiting on
    each other for ever; each gives it back first, so all finish."""
    owner, _ = await a_verified_institute()
    listing = await a_published_listing(owner)
    viewer, _ = await a_verified_enterprise()
    await close_db()
    small = settings.model_copy(
        update={"database_url": settings.effective_database_url + "?minsize=1&maxsize=2"}
    )
    await init_db(small)
    try:
        transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 40000))

        async def one(n: int) -> int:
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
                if n % 3 == 0:
                    answer = await c.post(
                        "/api/v1/auth/login", json={"email": viewer.email, "password": PASSWORD}
                    )
                else:
                    answer = await c.get(f"/listings/{listing.id}")
                return answer.status_code

        try:
            statuses = await asyncio.wait_for(asyncio.gather(*(one(n) for n in range(12))), 60)
        except TimeoutError:
            pytest.fail("12 requests on a pool of 2 connections did not all finish in 60 s")
        assert statuses == [200] * 12
        pool = Tortoise.get_connection("default")._pool
        assert pool.get_size() <= 2
        # Every connection went back to the pool when its request ended.
        assert pool.get_idle_size() == pool.get_size()
    finally:
        await close_db()
        await init_db(settings)


async def test_statements_a_request_sends_at_once_take_turns_on_its_connection(app) -> None:
    """Tortoise gathers a query's prefetches; our own code could gather too. On the request's
    one connection they wait for each other instead of colliding ("another operation is in
    progress")."""
    from listings.models import Listing
    from market import rows

    await a_published_listing()
    count = rows.Statement("SELECT count(*) AS n FROM listing")

    async def at_once(request: Any) -> Any:
        orm = [Listing.all().count() for _ in range(4)]
        written = [count.fetch([]) for _ in range(4)]
        found = await asyncio.gather(*orm, *written)
        return JSONResponse([found[0], *(r[0]["n"] for r in found[4:])])

    app.router.routes.insert(0, Route("/at-once", at_once))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        with pool_and_connections() as (taken, used):
            answer = await asyncio.wait_for(client.get("/at-once"), 30)
    assert answer.status_code == 200 and answer.json() == [1] * 5
    assert len(taken) == 1 and len(used) == 8 and len(set(used)) == 1
