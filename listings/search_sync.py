"""Keeping the search index in step with the database.

- Outbox handlers: every listing event (published, changed — which covers revisions, edits
  and licensing — and withdrawn) makes the index match the listing's current state: its
  document is upserted or deleted. The handler runs in the worker after the change committed
  (the relay enqueues the event only after commit), so a rolled-back change never reaches the
  index, and it holds no database lock meanwhile (each handler is its own delivery, outside
  the event's claim).
- A renamed institute (`organization.identity_approved`) has each of its published listings
  synced the same way (`sync_institute`): the name is in every document of its listings.
- Handlers do not write to Meilisearch one by one (one task per listing could not keep up with
  a burst of approvals: 1,200 approvals in a minute left the index minutes behind). Each hands
  its listing id to the worker's `Batcher` and waits. The batcher has one batch (up to
  `BATCH_MAX` listings) out at a time: it reads those listings when it sends, so the last
  committed state wins (a listing published and withdrawn before its batch leaves is deleted),
  enqueues one task adding the published ones and one deleting the others (`search.write`),
  and waits until Meilisearch has indexed them. The next batch leaves at least `BATCH_EVERY`
  after the previous one started and, after a batch that took t seconds, `REST` x t after it
  ended: what arrived meanwhile goes as one batch. Meilisearch's cost per batch is mostly
  fixed (about 0.5 s at 10,000 listings on a shared core, whether it carries 10 documents or
  20), so resting halves the tasks and Meilisearch's CPU during a burst at no cost in
  freshness (bench/index_burst.py, 20 approvals a second: 56 tasks and publish -> searchable
  p95 2.06 s with the rest, 112 tasks and 2.00 s without).
  A listing's changes never overtake each other, also between workers (their batchers send
  one at a time).
- A handler returns only when the tasks of its batch succeeded, so its outbox delivery is
  marked done only then: if Meilisearch is down, refuses the key or fails the task, every
  handler of the batch raises, its delivery stays undone and arq retries it with back-off; a
  worker killed meanwhile leaves the deliveries undone too. The periodic drift check
  (`check_search_drift`, comparing ids and versions) repairs whatever the retries did not.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import time
from typing import Any

from tortoise import connections

from listings import search
from listings.models import Listing, ListingState
from market.config import Settings, get_settings
from market.db import unit_of_work
from market.outbox import OutboxEvent

log = logging.getLogger(__name__)

LISTING_EVENTS = ("listing.published", "listing.changed", "listing.withdrawn")

# Seconds between the starts of two batches: a burst of approvals becomes a few tasks a
# second, and a lone change still waits at most this long (the first after a quiet spell
# leaves at once).
BATCH_EVERY = 0.2
# After a batch, wait this many times as long as it took (see the module's docstring).
REST = 1.0
BATCH_MAX = 500
# How long a batch's tasks may take before its handlers fail (and are retried).
TASK_LIMIT_S = 120.0
# The advisory lock every worker's batcher takes to send (any constant no one else uses).
SEND_LOCK_KEY = 0x5EA4C8
# A batcher with nothing to do for this long closes its client and goes away.
IDLE_CLOSE_S = 60.0


class Batcher:
    """Collects listing ids from the handlers of one worker (one event loop, one index) and
    sends them in batches; `sync(listing_id)` returns once the listing's batch is indexed."""

    def __init__(self, settings: Settings) -> None:
        # A copy: tests point the shared settings elsewhere while a batcher may still run.
        self.settings = settings.model_copy()
        self.loop = asyncio.get_running_loop()
        self.closed = False
        self._waiting: dict[str, list[asyncio.Future[None]]] = {}
        self._wake = asyncio.Event()
        self._next_send = float("-inf")
        # A context of its own: the first handler's (a transaction it might run in, say) must
        # not become every batch's.
        self._task = self.loop.create_task(self._run(), context=contextvars.Context())

    async def sync(self, listing_id: str) -> None:
        future: asyncio.Future[None] = self.loop.create_future()
        self._waiting.setdefault(listing_id, []).append(future)
        self._wake.set()
        await future

    async def _run(self) -> None:
        try:
            async with search.Meili(self.settings) as meili:
                while True:
                    if not self._waiting:
                        self._wake.clear()
                        try:
                            await asyncio.wait_for(self._wake.wait(), IDLE_CLOSE_S)
                        except TimeoutError:
                            if not self._waiting:
                                self._close()
                                return
                        continue
                    pause = self._next_send - time.monotonic()
                    if pause > 0:
                        await asyncio.sleep(pause)
                    await self._send(meili)
        finally:
            self._close()
            stopped = RuntimeError("the search batcher stopped before sending this listing")
            _settle([f for futures in self._waiting.values() for f in futures], stopped)

    async def _send(self, meili: search.Meili) -> None:
        ids = list(self._waiting)[:BATCH_MAX]
        futures = [future for i in ids for future in self._waiting.pop(i)]
        started = time.monotonic()
        try:
            async with unit_of_work():
                await _one_sender_at_a_time(self.settings)
                tasks = await search.write(meili, ids)
            for task in tasks:
                await meili.wait(task, limit_s=TASK_LIMIT_S, every_max=0.05)
        except asyncio.CancelledError:
            _settle(
                futures, RuntimeError("the search batcher stopped before its batch was indexed")
            )
            raise
        except Exception as exc:
            _settle(futures, exc)
        else:
            _settle(futures, None)
        finally:
            ended = time.monotonic()
            self._next_send = max(started + BATCH_EVERY, ended + REST * (ended - started))

    def _close(self) -> None:
        self.closed = True
        key = _key(self.settings, self.loop)
        if _batchers.get(key) is self:
            del _batchers[key]

    async def aclose(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


async def _one_sender_at_a_time(settings: Settings) -> None:
    """Batchers of several workers read and enqueue one after the other: what one read before
    another's read must reach Meilisearch first. A PostgreSQL advisory lock held for the read
    and the enqueue (milliseconds; never while Meilisearch indexes), which only other batchers
    ever wait for. One worker alone needs none (SQLite in development)."""
    if settings.is_postgres:
        await connections.get("default").execute_query(
            "SELECT pg_advisory_xact_lock($1)", [SEND_LOCK_KEY]
        )


def _settle(futures: list[asyncio.Future[None]], exc: Exception | None) -> None:
    for future in futures:
        if future.done():  # its handler was cancelled meanwhile
            continue
        if exc is None:
            future.set_result(None)
        else:
            future.set_exception(exc)


_batchers: dict[tuple[Any, ...], Batcher] = {}


def _key(settings: Settings, loop: asyncio.AbstractEventLoop) -> tuple[Any, ...]:
    return (id(loop), settings.meili_url, settings.meili_key, settings.meili_index)


def batcher(settings: Settings | None = None) -> Batcher:
    """The batcher of the running loop for these settings, started on first use."""
    settings = settings or get_settings()
    loop = asyncio.get_running_loop()
    found = _batchers.get(_key(settings, loop))
    if found is None or found.closed or found.loop is not loop:
        found = _batchers[_key(settings, loop)] = Batcher(settings)
    return found


async def close_batchers() -> None:
    """Stop the batchers of the running loop (the worker's shutdown); handlers still waiting
    are cancelled, so their deliveries stay undone for the next run."""
    loop = asyncio.get_running_loop()
    for found in [b for b in _batchers.values() if b.loop is loop]:
        await found.aclose()


async def sync_listing(event: OutboxEvent) -> None:
    """Idempotent: the event only says which listing; the database says what it is now."""
    listing_id = (event.payload or {}).get("listing_id")
    if listing_id:
        await batcher().sync(str(listing_id))


async def sync_institute(event: OutboxEvent) -> None:
    """A renamed institute: the documents of its published listings carry the new name (their
    `institute_slug` stays, as the slug does). Idempotent, like `sync_listing`; the drift check
    compares versions, which a rename does not change, so it is this or the next reindex."""
    org_id = (event.payload or {}).get("organization_id")
    if not org_id:
        return
    published = await Listing.filter(institute_id=org_id, state=ListingState.PUBLISHED).values_list(
        "id", flat=True
    )
    if published:
        shared = batcher()
        await asyncio.gather(*(shared.sync(str(listing_id)) for listing_id in published))


async def check_search_drift(ctx: dict[str, Any] | None = None) -> dict[str, Any]:
    report = await search.check_drift(repair=True)
    if report["repaired"]:
        log.warning(
            "search drift repaired: %d missing, %d stale, %d extra",
            len(report["missing"]),
            len(report["stale"]),
            len(report["extra"]),
        )
    return {k: (len(v) if isinstance(v, list) else v) for k, v in report.items()}
