"""What the benchmarks share: a throw-away PostgreSQL database and a verified institute."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from market.app.processes import install_stop_signals

PG_ADMIN_URL = os.environ.get("TEST_PG_URL", "postgres://postgres@127.0.0.1:5432/postgres")
PASSWORD = "correct horse battery staple"


async def pg_admin(admin_url: str, sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(admin_url, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def create_database(admin_url: str) -> tuple[str, str]:
    """A fresh database beside the admin one; returns (name, url). OSError if unreachable."""
    name = f"techmarket_bench_{secrets.token_hex(5)}"
    await pg_admin(admin_url, f'CREATE DATABASE "{name}"')
    return name, f"{admin_url.rsplit('/', 1)[0]}/{name}"


async def drop_database(admin_url: str, name: str) -> None:
    with contextlib.suppress(Exception):  # clean-up must not hide the benchmark's own outcome
        await pg_admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def verified_institute() -> tuple[Any, Any, Any]:
    """An administrator and a verified institute's owner: (admin, owner, organization)."""
    from market.accounts import service
    from market.accounts.schemas import RegisterIn

    admin = await service.create_admin("bench-admin@example.org", PASSWORD, "Bench Admin")
    owner, org = await service.register(
        RegisterIn.model_validate(
            {
                "email": "bench@example.org",
                "password": PASSWORD,
                "name": "Bench",
                "organization": {
                    "name": "Bench Institute",
                    "kind": "institute",
                    "country": "CN",
                    "region": "Guangdong",
                },
            }
        ),
        confirmed=True,
    )
    org = await service.verify_organization(await service.actor_for(admin), str(org.id))
    return admin, owner, org


def run_on_a_database(
    name: str, pg: str, run: Callable[[Path, str], int], *, unreachable: int = 1
) -> int:
    """`run(work, database_url)` on a PostgreSQL database and a work directory of its own.
    SIGTERM takes the same path as Ctrl-C, so the servers are stopped and the database dropped
    either way; the work directory (the servers' logs) is kept when the run failed."""
    install_stop_signals()
    try:
        database, database_url = asyncio.run(create_database(pg))
    except OSError as exc:
        print(f"{name}: PostgreSQL at {pg} is not reachable: {exc}", file=sys.stderr)
        return unreachable
    work = Path(tempfile.mkdtemp(prefix=f"bench-{name}-"))
    code = 130
    try:
        code = run(work, database_url)
    except KeyboardInterrupt:
        print(f"{name}: interrupted", file=sys.stderr)
    finally:
        asyncio.run(drop_database(pg, database))
        if code in (0, 130):
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"{name}: logs kept in {work}", file=sys.stderr)
    return code
