"""Transactional outbox.

An event row is written in the same transaction as the change it announces. After that
transaction commits, the relay enqueues the event to arq with the event id as the job id; a
cron sweep enqueues whatever the relay could not (Redis down, process killed). The job that
handles an event locks its row and marks it processed in the handler's own transaction, so a
job that runs twice does the work once.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from arq.connections import ArqRedis, RedisSettings, create_pool
from tortoise import fields
from tortoise.models import Model

from market.db import current_unit_of_work, unit_of_work

log = logging.getLogger(__name__)

JOB_NAME = "handle_outbox_event"
# An enqueued event still unprocessed after this long is enqueued again: Redis keeps nothing
# on disk here, so a restart loses its queue.
REQUEUE_AFTER = timedelta(minutes=10)
MAX_ATTEMPTS = 8


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


Handler = Callable[[OutboxEvent], Awaitable[None]]
_handlers: dict[str, list[Handler]] = {}


def handles(*event_types: str) -> Callable[[Handler], Handler]:
    """Register an idempotent handler for the given event types."""

    def register(func: Handler) -> Handler:
        for event_type in event_types:
            _handlers.setdefault(event_type, []).append(func)
        return func

    return register


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
            await OutboxEvent.filter(id__in=enqueued).update(enqueued_at=_now())
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
    cutoff = _now() - REQUEUE_AFTER
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


async def process(event_id: str) -> str:
    """Run the handlers of one event exactly once; returns what happened, for the job log."""
    try:
        async with unit_of_work():
            event = await OutboxEvent.select_for_update().get_or_none(id=event_id)
            if event is None:
                return "missing"
            if event.processed_at is not None:
                return "already processed"
            for handler in _handlers.get(event.event_type, []):
                await handler(event)
            await OutboxEvent.filter(id=event.id).update(processed_at=_now())
            return "processed"
    except Exception as exc:
        await _record_failure(event_id, exc)
        raise


async def _record_failure(event_id: str, exc: Exception) -> None:
    event = await OutboxEvent.get_or_none(id=event_id)
    if event is None:
        return
    attempts = event.attempts + 1
    await OutboxEvent.filter(id=event_id).update(
        attempts=attempts,
        last_error=f"{type(exc).__name__}: {exc}"[:2000],
        # Left visible to administrators rather than retried for ever.
        failed_at=_now() if attempts >= MAX_ATTEMPTS else None,
    )


def _now() -> datetime:
    return datetime.now(UTC)
