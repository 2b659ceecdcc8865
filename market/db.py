"""Tortoise configuration and the unit of work every use case runs in."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from tortoise import Tortoise
from tortoise.backends.asyncpg.client import AsyncpgDBClient
from tortoise.backends.base.config_generator import expand_db_url
from tortoise.backends.base.executor import EXECUTOR_CACHE
from tortoise.backends.sqlite.client import SqliteTransactionWrapper
from tortoise.transactions import in_transaction

from market.config import Settings, get_settings

# Every module holding models; the migrations cover exactly these.
MODEL_MODULES = [
    "market.accounts.models",
    "market.audit",
    "market.outbox",
    "market.notify",
    "market.throttle",
    "listings.models",
    "docking.models",
    "alerts.models",
    "hall.models",
    "contracts.offers.models",
    "contracts.agreements.models",
    "contracts.payments.models",
]


async def _nothing_to_reset(connection: Any) -> None:
    """What a pooled PostgreSQL connection needs, past asyncpg's own rollback of an open
    transaction, before its next use: nothing. asyncpg's default sends `SELECT
    pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL` after every statement Tortoise
    runs outside a transaction, one more round trip each; none of our code leaves such state on
    a connection (no SET, LISTEN, held cursor or session-level advisory lock: `search_sync`
    takes a transaction-level one), and tests/market/test_db.py keeps it so."""


def _connection(url: str) -> str | dict[str, Any]:
    if not url.startswith(("postgres://", "postgresql://")):
        return url
    config = expand_db_url(url)
    config["credentials"]["reset"] = _nothing_to_reset
    # Tortoise's asyncpg client, but for a request's one connection (see `OneConnection`).
    config["engine"] = __name__
    return config


# --- one connection per request ---------------------------------------------------------------


class _Pin:
    """The pooled connection a request's statements share: taken at its first statement and
    given back when its response starts (or before a unit of work takes its own). Its
    statements take turns: Tortoise gathers a query's prefetches, and one connection runs one
    statement at a time."""

    __slots__ = ("connection", "lock", "open", "owner", "pool")

    def __init__(self) -> None:
        self.connection: asyncpg.Connection | None = None
        self.pool: asyncpg.Pool | None = None
        self.open = True
        self.lock = asyncio.Lock()
        self.owner: asyncio.Task[Any] | None = None


_pin: contextvars.ContextVar[_Pin | None] = contextvars.ContextVar("pin", default=None)


class using:  # noqa: N801  (used as a function: `async with using(pool) as connection`)
    """The request's connection from `pool` for one statement (taken from the pool at the
    request's first); None outside a request, or once its response has started: then the
    caller takes one of its own."""

    __slots__ = ("locked", "pin", "pool")

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self.pin = _pin.get()
        self.locked = False

    async def __aenter__(self) -> asyncpg.Connection | None:
        pin = self.pin
        if pin is None or not pin.open:
            return None
        task = asyncio.current_task()
        if pin.owner is not task:  # a statement inside another of the same task's: its turn
            await pin.lock.acquire()
            pin.owner, self.locked = task, True
            if not pin.open:  # the response began while this one waited
                return None
        if pin.connection is None:
            pin.connection = await self.pool.acquire()
            pin.pool = self.pool
        return pin.connection

    async def __aexit__(self, *exc: object) -> None:
        if self.locked and self.pin is not None:
            self.pin.owner = None
            self.pin.lock.release()


async def _unpin(pin: _Pin | None) -> None:
    """Give the request's connection back, once no statement of the request is on it."""
    if pin is None or pin.connection is None or pin.owner is asyncio.current_task():
        return
    async with pin.lock:
        connection, pin.connection = pin.connection, None
        if connection is not None and pin.pool is not None:
            await pin.pool.release(connection)


class OneConnection:
    """ASGI middleware: the statements of one request, the ORM's and `market.rows`', share one
    pooled connection instead of taking one from the pool and giving it back for each (that
    round of the pool cost a page about as much CPU as the statement: issue 16).

    A request holds at most one connection, so requests cannot starve each other of them: a
    unit of work gives the request's back before taking its transaction's (`unit_of_work`), and
    the response's start gives it back, so a long download holds none. Statements sent at once
    (Tortoise gathers a query's prefetches) take turns on it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        pin = _Pin()
        token = _pin.set(pin)

        async def send_and_let_go(message: Message) -> None:
            if message["type"] == "http.response.start":
                pin.open = False
                await _unpin(pin)
            await send(message)

        try:
            await self.app(scope, receive, send_and_let_go)
        finally:
            pin.open = False
            _pin.reset(token)
            await _unpin(pin)


class OneConnectionClient(AsyncpgDBClient):
    """Tortoise's asyncpg client, whose statements outside a transaction use the request's
    connection when there is one (`OneConnection`); transactions take their own."""

    def acquire_connection(self) -> Any:
        pin = _pin.get()
        if pin is not None and pin.open and self._pool is not None:
            return _PinnedAcquire(self)
        return super().acquire_connection()


class _PinnedAcquire:
    """What `acquire_connection` gives Tortoise inside a request: the request's connection,
    kept when the statement is done."""

    __slots__ = ("client", "taken", "use")

    def __init__(self, client: OneConnectionClient) -> None:
        self.client = client
        self.taken: asyncpg.Connection | None = None
        self.use: using | None = None

    async def __aenter__(self) -> asyncpg.Connection:
        pool = self.client._pool
        assert pool is not None  # acquire_connection checked
        self.use = using(pool)
        connection = await self.use.__aenter__()
        if connection is None:  # the response began meanwhile: one of the statement's own
            self.taken = connection = await pool.acquire()
        return connection

    async def __aexit__(self, *exc: object) -> None:
        if self.use is not None:
            await self.use.__aexit__(*exc)
        if self.taken is not None and self.client._pool is not None:
            await self.client._pool.release(self.taken)


# Tortoise takes a backend's client class from its module (the `engine` above).
client_class = OneConnectionClient


def tortoise_config(settings: Settings) -> dict[str, Any]:
    return {
        "connections": {"default": _connection(settings.effective_database_url)},
        "apps": {
            "models": {
                "models": MODEL_MODULES,
                "default_connection": "default",
                "migrations": "migrations",
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


async def init_db(settings: Settings) -> None:
    if settings.effective_database_url.startswith("sqlite://"):
        settings.var_dir.mkdir(parents=True, exist_ok=True)
    _forget_statements()
    # The global fallback lets request tasks (not children of the lifespan task) see the ORM.
    await Tortoise.init(config=tortoise_config(settings), _enable_global_fallback=True)


def _forget_statements() -> None:
    """Drop Tortoise's cached INSERT and DELETE of every table. It keys them by connection
    name and table, not by model or database: a data migration's model (the table as it was
    at that step) would leave ours without the columns added later, and a process that moves
    to another database (the tests, between PostgreSQL and SQLite) would send it statements
    written for the other's dialect."""
    EXECUTOR_CACHE.clear()


async def close_db() -> None:
    await Tortoise.close_connections()


async def migrate(settings: Settings) -> None:
    from tortoise.migrations.api.migrate import migrate as run_migrations

    if settings.effective_database_url.startswith("sqlite://"):
        settings.var_dir.mkdir(parents=True, exist_ok=True)
    try:
        await run_migrations(config=tortoise_config(settings))
    finally:
        # An open aiosqlite thread would keep a failed command from ever exiting.
        await Tortoise.close_connections()
        _forget_statements()


class UnitOfWork:
    """One transaction; callbacks registered on it run only after it commits."""

    def __init__(self) -> None:
        self.after_commit: list[Callable[[], Awaitable[None]]] = []
        # (model name, primary key) of every row locked so far, and the highest place in
        # market.locks.ORDER locked by the use case running now (see market.locks).
        self.locked: set[tuple[str, str]] = set()
        self.lock_rank = -1


_current: contextvars.ContextVar[UnitOfWork | None] = contextvars.ContextVar(
    "unit_of_work", default=None
)


def current_unit_of_work() -> UnitOfWork:
    uow = _current.get()
    if uow is None:
        raise RuntimeError("this write must run inside `async with unit_of_work():`")
    return uow


@asynccontextmanager
async def unit_of_work() -> AsyncIterator[UnitOfWork]:
    """Own the transaction of one use case; nested calls join the outer one."""
    outer = _current.get()
    if outer is not None:
        # A use case run inside another's transaction (the demo seed runs many in one) keeps
        # the lock order of its own; the rows the outer one holds stay held.
        saved, outer.lock_rank = outer.lock_rank, -1
        try:
            yield outer
        finally:
            outer.lock_rank = saved
        return
    uow = UnitOfWork()
    token = _current.set(uow)
    # The transaction takes a connection of its own: the request's goes back first, so that a
    # request never holds two (a full pool would then wait on itself).
    await _unpin(_pin.get())
    try:
        async with in_transaction() as connection:
            await _take_write_lock_first(connection)
            yield uow
    finally:
        _current.reset(token)
    for callback in uow.after_commit:
        await callback()


async def _take_write_lock_first(connection: Any) -> None:
    """On SQLite, hold the database's write lock from the start of the transaction.

    Tortoise opens SQLite transactions with a plain (deferred) BEGIN. In WAL mode a deferred
    transaction that has read cannot become a writer once another connection (the worker, say)
    has committed since: SQLite answers "database is locked" at once, without waiting out the
    busy timeout. BEGIN IMMEDIATE queues for the write lock up front, under the busy timeout,
    so a unit of work never fails half-way for that reason. PostgreSQL needs nothing of this.
    """
    if not isinstance(connection, SqliteTransactionWrapper):
        return
    # Nothing has run in the deferred transaction yet, so ending it loses nothing.
    await connection._connection.execute("COMMIT")
    await connection._connection.execute("BEGIN IMMEDIATE")


def __getattr__(name: str) -> Any:
    # `tortoise makemigrations` reads a config by dotted path; build it from the settings.
    if name == "TORTOISE_ORM":
        return tortoise_config(get_settings())
    raise AttributeError(name)
