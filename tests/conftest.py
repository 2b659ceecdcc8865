"""The test harness: real PostgreSQL, Redis, Meilisearch and a Stripe-compatible server.

Each run gets its own PostgreSQL database built from the committed migrations (and dropped
afterwards), its own Redis database number and queue name, and its own Meilisearch and
localstripe processes on free loopback ports. A service that cannot be reached fails the run;
nothing is skipped.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import os
import secrets
import shutil
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from email.message import EmailMessage
from pathlib import Path

import asyncpg
import httpx
import pytest
import redis
from aiosmtpd.controller import Controller
from tortoise import Tortoise

from market import outbox
from market.app import processes
from market.config import Settings, get_settings
from workers import handlers

PG_ADMIN_URL = os.environ.get("TEST_PG_URL", "postgres://postgres@127.0.0.1:5432/postgres")
REDIS_BASE = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379")
REDIS_DB = 15
RUN_ID = uuid.uuid4().hex[:10]


def _require(ok: bool, what: str) -> None:
    if not ok:
        pytest.fail(f"{what} is not reachable; the suite needs it (never skipped)", pytrace=False)


@pytest.fixture(scope="session")
def tmp_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("techmarket")


@pytest.fixture(scope="session")
def meili(tmp_root: Path) -> Iterator[processes.Running]:
    key = secrets.token_urlsafe(16)
    with processes.start_meilisearch(tmp_root / "meili", key) as running:
        yield running


@pytest.fixture(scope="session")
def localstripe(tmp_root: Path) -> Iterator[processes.Running]:
    with processes.start_localstripe(log_path=tmp_root / "localstripe.log") as running:
        yield running


async def _pg_admin(sql: str) -> None:
    try:
        admin = await asyncpg.connect(PG_ADMIN_URL, timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        _require(False, f"PostgreSQL at {PG_ADMIN_URL} ({exc})")
        raise
    try:
        await admin.execute(sql)
    finally:
        await admin.close()


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    # Its own short event loop: this runs before the session's loop exists.
    name = f"techmarket_test_{RUN_ID}"
    asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    finally:
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def settings(
    pg_url: str, meili: processes.Running, localstripe: processes.Running, tmp_root: Path
) -> Iterator[Settings]:
    redis_url = f"{REDIS_BASE}/{REDIS_DB}"
    _require(processes.redis_answers(redis_url), f"Redis at {redis_url}")
    env = {
        "DATABASE_URL": pg_url,
        "REDIS_URL": redis_url,
        "QUEUE_NAME": f"techmarket:test:{RUN_ID}",
        "MEILI_URL": meili.url,
        "MEILI_KEY": meili.key or "",
        **processes.localstripe_env(localstripe),
        "STRIPE_WEBHOOK_SECRET": "whsec_" + secrets.token_hex(16),
        "SECRET_KEY": secrets.token_urlsafe(48),
        "BASE_URL": "http://testserver",
        "MARKET_VAR_DIR": str(tmp_root / "var"),
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    get_settings.cache_clear()
    yield get_settings()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    get_settings.cache_clear()


@pytest.fixture(scope="session", autouse=True)
async def database(settings: Settings) -> AsyncIterator[None]:
    from market.db import close_db, init_db, migrate

    await migrate(settings)
    await init_db(settings)
    outbox.configure(settings.redis_url, settings.queue_name)
    # The worker's own handler table, as `market worker` installs it at start-up.
    handlers.install()
    yield
    await outbox.shutdown()
    await close_db()


_migrated_sqlite: Path | None = None


@pytest.fixture(params=["postgresql", "sqlite"])
async def database_kind(request, settings: Settings, tmp_path: Path) -> AsyncIterator[str]:
    """The suite's PostgreSQL, or (as `market dev` has it) a SQLite file of its own: a test
    that asks for it runs on both."""
    from market.db import close_db, init_db, migrate

    if request.param == "postgresql":
        yield request.param
        return
    on_file = settings.model_copy(update={"database_url": f"sqlite://{tmp_path}/market.sqlite3"})
    await close_db()
    # Migrated once per run (seconds each time), then copied: each test gets a fresh file.
    global _migrated_sqlite
    if _migrated_sqlite is None:
        template = tmp_path.parent / f"migrated-{RUN_ID}.sqlite3"
        await migrate(settings.model_copy(update={"database_url": f"sqlite://{template}"}))
        _migrated_sqlite = template
    shutil.copyfile(_migrated_sqlite, tmp_path / "market.sqlite3")
    await init_db(on_file)
    try:
        yield request.param
    finally:
        await close_db()
        await init_db(settings)


@pytest.fixture(autouse=True)
async def clean_tables() -> AsyncIterator[None]:
    yield
    tables = [
        model._meta.db_table
        for app in Tortoise.apps.values()
        for model in app.values()
        if model._meta.db_table
    ]
    conn = Tortoise.get_connection("default")
    quoted = ", ".join(f'"{t}"' for t in tables)
    await conn.execute_script(f"TRUNCATE {quoted} RESTART IDENTITY CASCADE")


@pytest.fixture
def redis_client(settings: Settings) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(settings.redis_url)
    yield client
    for key in client.scan_iter(f"{settings.queue_name}*"):
        client.delete(key)
    client.close()


@pytest.fixture
def app(settings: Settings):
    from market.app.asgi import create_app

    return create_app(settings, manage_db=False)


@pytest.fixture
async def client(app) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


class Mailbox:
    """What a real SMTP server (aiosmtpd, in this process) received, parsed."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self._lock = threading.Lock()  # the server runs in its own thread and loop

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        raw = envelope.original_content or envelope.content  # type: ignore[attr-defined]
        message = email.message_from_bytes(raw, policy=email.policy.default)
        with self._lock:
            self.messages.append(message)  # type: ignore[arg-type]
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[EmailMessage]:
        with self._lock:
            return [m for m in self.messages if m["To"] == address]

    @property
    def recipients(self) -> list[str]:
        with self._lock:
            return [str(m["To"]) for m in self.messages]


@pytest.fixture
def mailbox(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Mailbox]:
    """A real SMTP server on a free loopback port; the settings send mail to it while the
    test runs (other tests keep mail in the log, as in development)."""
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=processes.free_port())
    controller.start()
    # send_mail reads get_settings(); a test that cleared its cache made it a new object.
    for target in {id(s): s for s in (settings, get_settings())}.values():
        monkeypatch.setattr(target, "smtp_host", "127.0.0.1")
        monkeypatch.setattr(target, "smtp_port", controller.port)
    try:
        yield box
    finally:
        controller.stop()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The generated API requests per role (tests/market/test_api_fuzz.py records them), for
    whoever reports on a run."""
    counts: dict[str, int] = {}
    for reports in terminalreporter.stats.values():
        for report in reports:
            for name, value in getattr(report, "user_properties", ()):
                if name.startswith("generated_requests[") and report.when == "call":
                    counts[name.removeprefix("generated_requests[").rstrip("]")] = value
    if counts:
        each = ", ".join(f"{role} {n}" for role, n in counts.items())
        terminalreporter.write_line(
            f"API fuzz: generated requests per role: {each}; total {sum(counts.values())}"
        )
