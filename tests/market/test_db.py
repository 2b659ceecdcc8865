"""The unit of work on SQLite, as `market dev` runs it: the web process and the worker each
have their own connection to one file, and a unit of work must not fail half-way because the
other committed while it was reading."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest

from market.config import ROOT
from market.db import unit_of_work
from market.throttle import ThrottleCount


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
