"""Transactional outbox, with one record of done per (event, handler).

An event row is written in the same transaction as the change it announces (`emit`). After
that transaction commits, the relay enqueues the event to arq with the event id as the job id; a
cron sweep enqueues whatever the relay could not (Redis down, process killed).

The job (`process`) claims the event in a short transaction of its own (one delivery row per
handler the registry names for its type), then runs each delivery not yet done, one after the
other, outside any lock held for the event:

- each handler owns its transactions (services open their own unit of work), so slow work (a
  PDF render, Meilisearch, SMTP, Stripe) never runs while the outbox holds a database lock; a
  short lease on the delivery row keeps two workers from running the same one at once;
- a handler that fails is recorded on its own delivery (attempts, last error, and failed for
  good after MAX_ATTEMPTS) and does not hold back the other handlers of the event; the job then
  raises so arq retries it, and the retry runs only the deliveries not done;
- the event is processed once every delivery is done; it fails (visible to administrators, no
  longer swept) once one of its deliveries has failed for good.

Handlers are idempotent: a worker killed after a handler's work but before its delivery is
marked done runs that one handler again, and only that one.

Which handlers react to which event is one visible table, `workers/handlers.py`, installed with
`install()` by the worker (and the tests) at start-up. Every event type a module emits is
declared with `declare()`; `emit` refuses an undeclared type, and `install` refuses a table that
leaves a declared type without an entry (an explicit empty tuple says "nothing reacts"), so an
event no one handles is an error at start-up, never a silent success.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import timedelta
from typing import Any
from uuid import UUID

from arq.connections import ArqRedis, RedisSettings, create_pool
from tortoise import fields
from tortoise.expressions import F, Q
from tortoise.models import Model

from market.clock import utcnow
from market.db import current_unit_of_work, unit_of_work
from market.locks import lock

log = logging.getLogger(__name__)

JOB_NAME = "handle_outbox_event"
# An enqueued event still unprocessed after this long is enqueued again: Redis keeps nothing
# on disk here, so a restart loses its queue.
REQUEUE_AFTER = timedelta(minutes=10)
MAX_ATTEMPTS = 8
# How long one run of a handler may keep others off its delivery. A run that dies (killed
# worker) frees it when this runs out; a cancelled one frees it at once.
LEASE = timedelta(minutes=5)


class OutboxEvent(Model):
    id = fields.UUIDField(primary_key=True)
    event_type = fields.CharField(max_length=64, db_index=True)
    payload = fields.JSONField()
    created_at = fields.DatetimeField(auto_now_add=True, db_index=True)
    enqueued_at = fields.DatetimeField(null=True)
    processed_at = fields.DatetimeField(null=True, db_index=True)
    attempts = fields.IntField(default=0)
    last_error = fields.TextField(default="")
    failed_at = fields.DatetimeField(null=True)

    class Meta:
        table = "outbox_event"


class OutboxDelivery(Model):
    """One handler's reaction to one event, and whether it is done."""

    id = fields.BigIntField(primary_key=True)
    event: fields.ForeignKeyRelation[OutboxEvent] = fields.ForeignKeyField(
        "models.OutboxEvent", related_name="deliveries", on_delete=fields.CASCADE
    )
    handler = fields.CharField(max_length=200)
    done_at = fields.DatetimeField(null=True)
    leased_until = fields.DatetimeField(null=True)
    attempts = fields.IntField(default=0)
    last_error = fields.TextField(default="")
    failed_at = fields.DatetimeField(null=True)

    class Meta:
        table = "outbox_delivery"
        unique_together = (("event", "handler"),)


Handler = Callable[[OutboxEvent], Awaitable[None]]
Handlers = Mapping[str, Sequence[Handler]]


class HandlerTableError(RuntimeError):
    """The handler table and the declared event types disagree (raised at start-up)."""


_declared: set[str] = set()
_handlers: dict[str, tuple[Handler, ...]] = {}
_installed = False


def declare(*event_types: str) -> frozenset[str]:
    """Say which event types a module emits; returns them, for the module's own reference."""
    _declared.update(event_types)
    return frozenset(event_types)


def declared() -> frozenset[str]:
    return frozenset(_declared)


def handler_name(handler: Handler) -> str:
    return f"{handler.__module__}.{handler.__qualname__}"


def install(handlers: Handlers) -> None:
    """Use this table of handlers; every declared event type must have an entry, and every
    entry must be a declared type."""
    global _installed
    missing = sorted(_declared - set(handlers))
    unknown = sorted(set(handlers) - _declared)
    if missing or unknown:
        raise HandlerTableError(
            "the outbox handler table does not match the declared event types: "
            + "; ".join(
                part
                for part in (
                    f"no entry for {', '.join(missing)}" if missing else "",
                    f"entries for undeclared {', '.join(unknown)}" if unknown else "",
                )
                if part
            )
        )
    for event_type, reactions in handlers.items():
        names = [handler_name(h) for h in reactions]
        if len(set(names)) != len(names):
            raise HandlerTableError(f"{event_type}: a handler is listed twice")
    _handlers.clear()
    _handlers.update({event_type: tuple(hs) for event_type, hs in handlers.items()})
    _installed = True


def handlers_of(event_type: str) -> tuple[Handler, ...]:
    if not _installed:
        raise HandlerTableError("no outbox handler table installed (outbox.install)")
    if event_type not in _handlers:
        raise HandlerTableError(f"no handler entry for event type {event_type!r}")
    return _handlers[event_type]


def job_id(event_id: UUID | str) -> str:
    return f"outbox:{event_id}"


class Relay:
    """Enqueues committed events to arq; never raises, because the sweep will retry."""

    def __init__(self, redis_url: str, queue_name: str) -> None:
        self.redis_url = redis_url
        self.queue_name = queue_name
        self._pool: ArqRedis | None = None

    async def _get_pool(self) -> ArqRedis:
        if self._pool is None:
            settings = RedisSettings.from_dsn(self.redis_url)
            settings.conn_timeout = 1
            settings.conn_retries = 0
            self._pool = await create_pool(settings, default_queue_name=self.queue_name)
        return self._pool

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()
            self._pool = None

    async def enqueue(self, event_ids: list[UUID]) -> int:
        enqueued: list[UUID] = []
        try:
            pool = await self._get_pool()
            for event_id in event_ids:
                # arq refuses a second job with the same id, so a re-sweep cannot double up.
                await pool.enqueue_job(JOB_NAME, str(event_id), _job_id=job_id(event_id))
                enqueued.append(event_id)
        except Exception as exc:  # Redis down or flapping: the sweep picks these up later.
            log.warning("outbox relay could not reach Redis: %s", exc)
            await self._drop_pool()
        if enqueued:
            await OutboxEvent.filter(id__in=enqueued).update(enqueued_at=utcnow())
        return len(enqueued)

    async def enqueue_job(self, function: str, *args: Any, job_id: str) -> bool:
        """Enqueue one arq job after its rows committed; False (logged) when Redis is away, for
        a sweep or cron to catch up on."""
        try:
            pool = await self._get_pool()
            await pool.enqueue_job(function, *args, _job_id=job_id)
            return True
        except Exception as exc:
            log.warning("could not enqueue %s: %s", function, exc)
            await self._drop_pool()
            return False

    async def _drop_pool(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            try:
                await pool.aclose()
            except Exception:  # the connection is already broken; nothing to release
                log.debug("closing a broken Redis pool failed", exc_info=True)


_relay: Relay | None = None


def configure(redis_url: str, queue_name: str) -> Relay:
    global _relay
    _relay = Relay(redis_url, queue_name)
    return _relay


def get_relay() -> Relay | None:
    return _relay


async def shutdown() -> None:
    if _relay is not None:
        await _relay.close()


async def emit(event_type: str, payload: dict[str, Any]) -> OutboxEvent:
    """Write an event inside the current use case's transaction."""
    if event_type not in _declared:
        raise ValueError(f"undeclared outbox event type {event_type!r} (outbox.declare it)")
    uow = current_unit_of_work()
    event = await OutboxEvent.create(event_type=event_type, payload=payload)

    async def relay_after_commit() -> None:
        if _relay is not None:
            await _relay.enqueue([event.id])

    uow.after_commit.append(relay_after_commit)
    return event


async def sweep(limit: int = 500) -> int:
    """Enqueue events the relay missed; the worker runs this as a cron job."""
    if _relay is None:
        return 0
    cutoff = utcnow() - REQUEUE_AFTER
    pending = (
        await OutboxEvent.filter(processed_at=None, failed_at=None)
        .filter(enqueued_at=None)
        .order_by("created_at")
        .limit(limit)
        .values_list("id", flat=True)
    )
    stale = (
        await OutboxEvent.filter(processed_at=None, failed_at=None, enqueued_at__lt=cutoff)
        .order_by("created_at")
        .limit(limit)
        .values_list("id", flat=True)
    )
    return await _relay.enqueue([*pending, *stale])


class DeliveryFailed(RuntimeError):
    """Some handlers of an event failed this time; the others are done."""


async def process(event_id: str) -> str:
    """Run every handler of one event not yet done; returns what happened, for the job log."""
    try:
        event = await _claim(event_id)
    except Exception as exc:
        await _record_event_failure(event_id, exc, final=isinstance(exc, HandlerTableError))
        raise
    if event is None:
        return "missing"
    if event.processed_at is not None:
        return "already processed"
    by_name = {handler_name(h): h for h in handlers_of(event.event_type)}
    failures: list[str] = []
    first_error: Exception | None = None
    busy = 0
    pending = await OutboxDelivery.filter(event_id=event.id, done_at=None, failed_at=None).order_by(
        "id"
    )
    for delivery in pending:
        handler = by_name.get(delivery.handler)
        if handler is None:  # dropped from the table since the event was claimed
            await OutboxDelivery.filter(id=delivery.id).update(done_at=utcnow())
            continue
        try:
            if not await _lease(delivery.id):
                busy += 1
                continue
            await handler(event)
        except Exception as exc:
            log.warning("outbox %s %s: %s", event.event_type, delivery.handler, exc)
            failures.append(f"{delivery.handler}: {type(exc).__name__}: {exc}")
            first_error = first_error or exc
            await _record_delivery_failure(delivery.id, exc)
            continue
        except BaseException:  # cancelled (or the process stopping): free it for the rerun
            await _release(delivery.id)
            raise
        await OutboxDelivery.filter(id=delivery.id).update(
            done_at=utcnow(), leased_until=None, attempts=F("attempts") + 1
        )
    return await _settle(event, failures, busy, first_error)


async def _claim(event_id: str) -> OutboxEvent | None:
    """Lock the event briefly and make sure it has one delivery row per handler."""
    async with unit_of_work():
        event = await lock(OutboxEvent, event_id)
        if event is None or event.processed_at is not None:
            return event
        names = [handler_name(h) for h in handlers_of(event.event_type)]
        have = set(await OutboxDelivery.filter(event_id=event.id).values_list("handler", flat=True))
        await OutboxDelivery.bulk_create(
            [OutboxDelivery(event_id=event.id, handler=n) for n in names if n not in have]
        )
        return event


async def _release(delivery_id: int) -> None:
    """Free a lease after a run was cancelled. In a context of its own: the cancellation may
    have cut the handler's transaction off half-closed, and its connection with it."""

    async def free() -> None:
        await OutboxDelivery.filter(id=delivery_id, done_at=None).update(leased_until=None)

    try:
        await asyncio.create_task(free(), context=contextvars.Context())
    except Exception:  # the lease then runs out on its own (LEASE)
        log.warning("could not free the lease of outbox delivery %s", delivery_id, exc_info=True)


async def _lease(delivery_id: int) -> bool:
    now = utcnow()
    taken = (
        await OutboxDelivery.filter(id=delivery_id, done_at=None, failed_at=None)
        .filter(Q(leased_until=None) | Q(leased_until__lt=now))
        .update(leased_until=now + LEASE)
    )
    return taken == 1


async def _settle(
    event: OutboxEvent, failures: list[str], busy: int, first_error: Exception | None
) -> str:
    left = await OutboxDelivery.filter(event_id=event.id, done_at=None).count()
    if left == 0:
        await OutboxEvent.filter(id=event.id, processed_at=None).update(processed_at=utcnow())
        return "processed"
    if await OutboxDelivery.filter(event_id=event.id, failed_at__not_isnull=True).exists():
        await OutboxEvent.filter(id=event.id).update(failed_at=utcnow())
    if failures:
        raise DeliveryFailed("; ".join(failures)) from first_error
    return f"{busy} handler(s) running elsewhere" if busy else "pending"


async def _record_delivery_failure(delivery_id: int, exc: Exception) -> None:
    delivery = await OutboxDelivery.get(id=delivery_id)
    attempts = delivery.attempts + 1
    message = f"{type(exc).__name__}: {exc}"[:2000]
    await OutboxDelivery.filter(id=delivery_id).update(
        attempts=attempts,
        last_error=message,
        leased_until=None,
        # Left visible to administrators rather than retried for ever.
        failed_at=utcnow() if attempts >= MAX_ATTEMPTS else None,
    )
    await OutboxEvent.filter(
        id=delivery.event_id
    ).update(  # type: ignore[attr-defined]
        attempts=F("attempts") + 1, last_error=f"{delivery.handler}: {message}"[:2000]
    )


async def _record_event_failure(event_id: str, exc: Exception, *, final: bool) -> None:
    event = await OutboxEvent.get_or_none(id=event_id)
    if event is None:
        return
    attempts = event.attempts + 1
    await OutboxEvent.filter(id=event_id).update(
        attempts=attempts,
        last_error=f"{type(exc).__name__}: {exc}"[:2000],
        failed_at=utcnow() if final or attempts >= MAX_ATTEMPTS else None,
    )
