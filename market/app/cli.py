"""The `market` command: dev, serve, worker, migrate, makemigrations, create-admin, seed, check."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import click

from docking import search as need_search
from listings import importer, search
from market import db, health
from market.accounts import service as accounts
from market.app.dev import run_dev
from market.app.seed import DEMO_PASSWORD, SeedRefused, seed_demo
from market.config import ConfigError, Settings, get_settings
from market.db import close_db, init_db
from market.errors import DomainError
from workers.settings import make_worker


def fail(reason: str) -> None:
    click.echo(f"market: {reason}", err=True)
    sys.exit(1)


def run_async(factory: Callable[[], Awaitable[Any]]) -> Any:
    try:
        return asyncio.run(factory())
    except (ConfigError, DomainError) as exc:
        fail(str(exc) if not getattr(exc, "fields", None) else f"{exc}: {exc.fields}")
    except OSError as exc:
        fail(f"cannot reach a service: {exc}")


def settings() -> Settings:
    from pydantic import ValidationError

    try:
        return get_settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])).upper()}: {e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors()
        )
        fail(f"bad settings: {problems}")
        raise


@click.group()
def main() -> None:
    """techmarket: a marketplace for scientific and technological achievements."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=int)
@click.option(
    "--trust-proxy",
    default="",
    metavar="IPS",
    help="Take the client's address from X-Forwarded-For when the request comes from these "
    "proxy addresses (comma-separated), e.g. 127.0.0.1 behind a local reverse proxy",
)
def serve(host: str, port: int, workers: int, trust_proxy: str) -> None:
    """Serve the web application with uvicorn."""
    import uvicorn

    try:
        s = settings()
        s.require_secret_key()
        s.require_webhook_secret()
    except ConfigError as exc:
        fail(str(exc))
    uvicorn.run(
        "market.app.asgi:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        # Off unless asked: a forged X-Forwarded-For must not choose the address that the
        # audit trail and the login throttle record.
        proxy_headers=bool(trust_proxy),
        forwarded_allow_ips=trust_proxy or None,
        log_level="info",
    )


@main.command()
def worker() -> None:
    """Run the arq worker: outbox events and cron jobs."""
    s = settings()
    # What the worker does, and (without SMTP_HOST) each mail it would send, links included:
    # under `market dev` that is how a newcomer reads the link that confirms their address.
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    async def run() -> None:
        worker = make_worker(s)
        await worker.async_run()

    run_async(run)


@main.command()
def migrate() -> None:
    """Apply the committed migrations."""
    run_async(lambda: db.migrate(settings()))
    click.echo("migrations applied")


@main.command()
@click.option("--name", default=None, help="A name for the migration file")
def makemigrations(name: str | None) -> None:
    """Write a migration for model changes (developers only; never edit landed ones)."""
    from tortoise.cli.cli import run_cli_async

    os.environ.setdefault("TORTOISE_ORM", "market.db.TORTOISE_ORM")
    argv = ["makemigrations"] + (["--name", name] if name else [])
    code = asyncio.run(run_cli_async(argv))
    sys.exit(code)


@main.command("create-admin")
@click.option("--email", required=True)
@click.option("--password", default=None, help="Prompted for when left out")
@click.option("--name", default="Administrator")
def create_admin(email: str, password: str | None, name: str) -> None:
    """Create a platform administrator."""
    if password is None:
        # click reads a terminal without echo, or standard input when there is no terminal.
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)

    async def run() -> None:
        await init_db(settings())
        try:
            await accounts.create_admin(email, password, name)
        finally:
            await close_db()

    run_async(run)
    click.echo(f"administrator {email.lower()} created")


@main.command()
@click.option("--demo", is_flag=True, help="Demo organisations and logins")
@click.option(
    "--force",
    is_flag=True,
    help="Load the demo even into a database holding organisations of its own",
)
def seed(demo: bool, force: bool) -> None:
    """Load data; `--demo` loads the demo organisations and logins (idempotent)."""
    if not demo:
        fail("say what to seed: --demo")

    async def run() -> bool | str:
        await init_db(settings())
        try:
            return await seed_demo(DEMO_PASSWORD, force=force)
        except SeedRefused as exc:
            return str(exc)
        finally:
            await close_db()

    created = run_async(run)
    if isinstance(created, str):
        fail(created)
    click.echo("demo data loaded" if created else "demo data already present")


@main.command()
def check() -> None:
    """Report whether each service is reachable, with the reason when not."""
    s = settings()

    async def run() -> list[health.Check]:
        checks = []
        try:
            await init_db(s)
            checks.append(await health.check_database(s))
        except Exception as exc:
            checks.append(health.Check("database", False, str(exc)[:200]))
        checks += [
            await health.check_redis(s),
            await health.check_meilisearch(s),
            await health.check_stripe(s),
        ]
        await close_db()
        return checks

    checks = run_async(run)
    for c in checks:
        click.echo(f"{c.name:12} {'ok' if c.ok else 'UNREACHABLE'}  {c.detail}")
    try:
        s.require_secret_key()
        click.echo(f"{'secret_key':12} ok")
    except ConfigError as exc:
        click.echo(f"{'secret_key':12} MISSING  {exc}")
        sys.exit(1)
    if not all(c.ok for c in checks):
        sys.exit(1)


@main.command()
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--no-demo", is_flag=True, help="Do not load demo data on first start")
def dev(port: int, no_demo: bool) -> None:
    """Run the whole marketplace on this machine (web, worker, Meilisearch, Redis, Stripe)."""
    try:
        run_dev(port=port, demo=not no_demo)
    except ConfigError as exc:
        fail(str(exc))


@main.group("import")
def import_() -> None:
    """Import data from files."""


@import_.command("listings")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--institute", "institute_id", required=True, help="ID of a verified institute")
@click.option("--submit", is_flag=True, help="Submit each complete listing for review")
@click.option("--trl", type=click.IntRange(1, 9), default=None, help="TRL for rows without one")
@click.option(
    "--license-type",
    "license_types",
    multiple=True,
    metavar="TYPE",
    help="Licence type for rows without any: exclusive, sole, non_exclusive, assignment, "
    "option (repeat for several)",
)
@click.option(
    "--price-model",
    default=None,
    metavar="MODEL",
    help="Price model for rows without one: fixed, negotiable, royalty, offers",
)
@click.option(
    "--territory", "territories", multiple=True, help="WORLD or a country code (repeatable)"
)
def import_listings(
    file: Path,
    institute_id: str,
    submit: bool,
    trl: int | None,
    license_types: tuple[str, ...],
    price_model: str | None,
    territories: tuple[str, ...],
) -> None:
    """Import listings from a CSV or JSONL FILE for an institute, acting as its first owner."""
    s = settings()
    stack = ExitStack()
    bar: list[Any] = []

    def progress(imp: Any) -> None:
        if not bar:
            bar.append(
                stack.enter_context(
                    click.progressbar(length=imp.total, label="Importing", file=sys.stderr)
                )
            )
            bar[0].update(imp.processed)
        else:
            bar[0].update(imp.processed - bar[0].pos)

    async def run() -> Any:
        await init_db(s)
        try:
            options = importer.parse_options(
                {
                    "submit": submit,
                    "trl": trl,
                    "license_types": list(license_types),
                    "price_model": price_model,
                    "territories": list(territories),
                }
            )
            return await importer.import_file(
                file, institute_id, options, var_dir=s.var_dir, on_progress=progress
            )
        except DomainError as exc:
            reasons = "; ".join(f"{k}: {v}" for k, v in exc.fields.items() if v != exc.message)
            return f"{exc.message} ({reasons})" if reasons else exc.message
        finally:
            stack.close()
            await close_db()

    imp = run_async(run)
    if isinstance(imp, str):
        fail(imp)
    if imp.state != "done":
        fail(imp.error or f"the import stopped ({imp.state})")
    click.echo(
        f"{imp.total} rows: {imp.created} created, {imp.skipped} skipped, {imp.refused} refused"
    )
    report = imp.report or []
    if submit:
        drafts = sum(1 for e in report if e.get("outcome") == "draft")
        click.echo(f"{imp.created - drafts} submitted for review, {drafts} left as drafts")
    refused = [e for e in report if e.get("outcome") == "refused"]
    for entry in refused[:20]:
        reasons = "; ".join(f"{k}: {v}" for k, v in entry.get("errors", {}).items())
        ref = f" ({entry['ref']})" if entry.get("ref") else ""
        click.echo(f"  row {entry['row']}{ref}: {reasons}")
    if imp.refused > 20:
        click.echo(f"  … and {imp.refused - 20} more")


@main.command()
@click.option("--needs", is_flag=True, help="Rebuild the index of technology needs instead")
def reindex(needs: bool) -> None:
    """Rebuild the search index from the database and swap it in atomically."""
    s = settings()
    stack = ExitStack()
    bar: list[Any] = []

    def progress(done: int, total: int) -> None:
        if not bar:
            bar.append(
                stack.enter_context(
                    click.progressbar(length=max(total, 1), label="Indexing", file=sys.stderr)
                )
            )
        bar[0].update(done - bar[0].pos)

    async def run() -> dict[str, Any]:
        await init_db(s)
        try:
            if needs:
                return await need_search.reindex(progress, s)
            return await search.reindex(progress, s)
        finally:
            stack.close()
            await close_db()

    report = run_async(run)
    click.echo(
        f"{report['indexed']} {'needs' if needs else 'listings'} indexed, "
        f"{report['resynced']} re-synced after the swap "
        f"({report['took_s']} s)"
    )


@main.group("search")
def search_group() -> None:
    """The search index."""


@search_group.command("check")
@click.option("--no-repair", is_flag=True, help="Only report the drift")
@click.option("--needs", is_flag=True, help="Check the index of technology needs instead")
def search_check(no_repair: bool, needs: bool) -> None:
    """Compare ids and versions between the database and the index; repair drift."""
    s = settings()

    async def run() -> dict[str, Any]:
        await init_db(s)
        try:
            checked = need_search if needs else search
            return await checked.check_drift(repair=not no_repair, settings=s)
        finally:
            await close_db()

    report = run_async(run)
    click.echo(f"database: {report['database']} published, index: {report['index']} documents")
    for kind in ("missing", "stale", "extra"):
        ids = report[kind]
        shown = ", ".join(ids[:10]) + (" …" if len(ids) > 10 else "")
        click.echo(f"{kind}: {len(ids)}" + (f" ({shown})" if ids else ""))
    click.echo("repaired" if report["repaired"] else "nothing repaired")
