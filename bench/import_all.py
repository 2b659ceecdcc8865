"""Import every record of ../shared/data/*.jsonl for one institute and time each file.

    .venv/bin/python bench/import_all.py [--submit] [--pg postgres://postgres@127.0.0.1:5432/postgres]

Creates a fresh PostgreSQL database (dropped afterwards, like the test suite's), applies the
migrations, makes one verified institute and runs `market import listings`' own code path
(`listings.importer.import_file`: read, detect, map, validate, write in batches) on each file in
turn, then once more on every file to time a re-import in which every row is skipped.
Exits 0 without doing anything when ../shared/data is not there.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.support import PG_ADMIN_URL, create_database, drop_database, verified_institute  # noqa: E402

DATA = ROOT.parent / "shared" / "data"


def _row(name: str, rows: int, created: int, skipped: int, refused: int, seconds: float) -> str:
    rate = rows / seconds if seconds else 0.0
    return (
        f"{name:48} {rows:>7} {created:>8} {skipped:>8} {refused:>8} {seconds:>8.2f} {rate:>8.0f}"
    )


async def bench(files: list[Path], admin_url: str, submit: bool) -> None:
    from listings import importer
    from market.config import get_settings
    from market.db import close_db, init_db, migrate

    settings = get_settings()
    await migrate(settings)
    await init_db(settings)
    try:
        _, _, org = await verified_institute()
        options = importer.ImportOptions(
            submit=submit, trl=4, license_types=["non_exclusive"], price_model="negotiable"
        )
        header = f"{'file':48} {'rows':>7} {'created':>8} {'skipped':>8} {'refused':>8}"
        print(f"{header} {'seconds':>8} {'rows/s':>8}")
        for label in ("first import", "re-import (every row exists)"):
            print(f"-- {label}{' with --submit' if submit else ''}")
            totals = [0, 0, 0, 0, 0.0]
            for path in files:
                started = time.perf_counter()
                imp = await importer.import_file(path, str(org.id), options)
                seconds = time.perf_counter() - started
                if imp.state != "done":
                    raise SystemExit(f"import_all: {path.name} failed: {imp.error}")
                figures = [imp.total, imp.created, imp.skipped, imp.refused, seconds]
                print(_row(path.name, *figures), flush=True)  # type: ignore[arg-type]
                totals = [a + b for a, b in zip(totals, figures, strict=True)]
            print(_row("TOTAL", *totals))  # type: ignore[arg-type]
    finally:
        await close_db()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--submit", action="store_true", help="submit complete rows too")
    parser.add_argument("--pg", default=PG_ADMIN_URL, help="PostgreSQL admin URL")
    args = parser.parse_args()
    files = sorted(DATA.glob("*.jsonl")) if DATA.is_dir() else []
    if not files:
        print(f"import_all: no {DATA}/*.jsonl here; nothing to import")
        return 0
    try:
        name, database_url = asyncio.run(create_database(args.pg))
    except OSError as exc:
        print(f"import_all: PostgreSQL at {args.pg} is not reachable: {exc}", file=sys.stderr)
        return 1
    try:
        with tempfile.TemporaryDirectory(prefix="techmarket-bench-") as var:
            os.environ.update(
                DATABASE_URL=database_url,
                MARKET_VAR_DIR=var,
                SECRET_KEY=secrets.token_urlsafe(48),
            )
            from market.config import get_settings

            get_settings.cache_clear()
            asyncio.run(bench(files, args.pg, args.submit))
    finally:
        asyncio.run(drop_database(args.pg, name))
    return 0


if __name__ == "__main__":
    sys.exit(main())
