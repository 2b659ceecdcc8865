"""The unit of work on SQLite, as `market dev` runs it: the web process and the worker each
have their own connection to one file, and a unit of work must not fail half-way because the
other committed while it was reading."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

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
