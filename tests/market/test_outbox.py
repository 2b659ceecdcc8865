"""The transactional outbox against a real Redis and a real arq worker."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from contracts.agreements import events as contract_events
from contracts.offers import events as offer_events
from contracts.payments import events as payment_events
from market import outbox
from market.accounts import service
from market.accounts.models import User
from market.db import unit_of_work
from market.notify import Notification
from market.outbox import OutboxDelivery, OutboxEvent
from tests.builders import a_user, actor_of, an_admin, run_worker
from workers import handlers
from workers.settings import make_worker


async def queued(redis_client, settings) -> int:
    return redis_client.zcard(settings.queue_name)


async def test_a_committed_event_is_enqueued_after_commit_and_handled_once(
    settings, redis_client
) -> None:
    user, org = await a_user()
    admin = await actor_of(await an_admin())
    await service.verify_organization(admin, str(org.id))
    event = await OutboxEvent.get(event_type="organization.verified")
    assert event.enqueued_at is not None
    assert await run_worker(settings) >= 1
    event = await OutboxEvent.get(id=event.id)
    assert event.processed_at is not None
    assert await Notification.filter(user=user).count() == 1

    # Running the job again (arq may) does nothing more.
    assert await outbox.process(str(event.id)) == "already processed"
    assert await Notification.filter(user=user).count() == 1


async def test_an_event_written_while_redis_is_down_is_delivered_once_redis_is_back(
    settings, redis_client
) -> None:
    real = outbox.get_relay()
    # Nothing listens on port 1: this is what an unreachable Redis looks like to the relay.
    outbox.configure("redis://127.0.0.1:1/0", settings.queue_name)
    try:
        user, org = await a_user()
        admin = await actor_of(await an_admin())
        await service.verify_organization(admin, str(org.id))
        assert await outbox.sweep() == 0
    finally:
        await outbox.shutdown()
        outbox.configure(settings.redis_url, settings.queue_name)
        assert real is not None
    event = await OutboxEvent.get(event_type="organization.verified")
    assert event.enqueued_at is None and event.processed_at is None
    assert await queued(redis_client, settings) == 0

    # Redis is back: the sweep enqueues what was missed; sweeping twice does not double it.
    assert await outbox.sweep() >= 1
    await outbox.sweep()
    await run_worker(settings)
    assert (await OutboxEvent.get(id=event.id)).processed_at is not None
    assert await Notification.filter(user=user).count() == 1
    assert await outbox.sweep() == 0
    await run_worker(settings)
    assert await Notification.filter(user=user).count() == 1


async def test_an_event_of_a_rolled_back_transaction_is_never_delivered(
    settings, redis_client
) -> None:
    class Boom(Exception):
        """Raised on purpose to abort the work half-way."""

    with pytest.raises(Boom):
        async with unit_of_work():
            await outbox.emit("organization.verified", {"organization_id": "x"})
            raise Boom
    assert await OutboxEvent.all().count() == 0
    assert await outbox.sweep() == 0
    assert await queued(redis_client, settings) == 0
    assert await run_worker(settings) == 0


async def test_emit_outside_a_unit_of_work_is_refused() -> None:
    with pytest.raises(RuntimeError):
        await outbox.emit("organization.verified", {"organization_id": "x"})


@contextlib.contextmanager
def reacting(table: dict[str, tuple[outbox.Handler, ...]]) -> Iterator[None]:
    """The worker's handler table plus test event types, for the duration of a test."""
    outbox.declare(*table)
    try:
        outbox.install({**handlers.HANDLERS, **table})
        yield
    finally:
        outbox._declared.difference_update(table)
        handlers.install()


async def test_a_failing_handler_rolls_back_its_work_and_is_retried(settings) -> None:
    calls = []

    async def flaky(event: OutboxEvent) -> None:
        calls.append(event.id)
        async with unit_of_work():  # a handler owns its transaction
            await a_user()
            if len(calls) == 1:
                raise RuntimeError("transient")

    with reacting({"test.flaky": (flaky,)}):
        async with unit_of_work():
            event = await outbox.emit("test.flaky", {})
        with pytest.raises(outbox.DeliveryFailed):
            await outbox.process(str(event.id))
        failed = await OutboxEvent.get(id=event.id)
        assert failed.attempts == 1 and "transient" in failed.last_error
        assert failed.processed_at is None
        assert await User.all().count() == 0  # the failed attempt left nothing behind
        assert await outbox.process(str(event.id)) == "processed"
        assert await User.all().count() == 1


async def test_a_failing_handler_does_not_hold_back_the_others_of_its_event(settings) -> None:
    ran: list[str] = []

    async def tells(event: OutboxEvent) -> None:
        ran.append("tells")

    async def breaks(event: OutboxEvent) -> None:
        ran.append("breaks")
        if ran.count("breaks") == 1:
            raise RuntimeError("Meilisearch is down")

    async def indexes(event: OutboxEvent) -> None:
        ran.append("indexes")

    with reacting({"test.pair": (tells, breaks, indexes)}):
        async with unit_of_work():
            event = await outbox.emit("test.pair", {})
        with pytest.raises(outbox.DeliveryFailed, match="Meilisearch is down"):
            await outbox.process(str(event.id))
        assert ran == ["tells", "breaks", "indexes"]  # the one after the failure ran too
        deliveries = {
            d.handler.rsplit(".", 1)[1]: d for d in await OutboxDelivery.filter(event_id=event.id)
        }
        assert deliveries["tells"].done_at and deliveries["indexes"].done_at
        assert deliveries["breaks"].done_at is None and deliveries["breaks"].attempts == 1
        assert "Meilisearch is down" in deliveries["breaks"].last_error

        # The retry runs only the one not done.
        assert await outbox.process(str(event.id)) == "processed"
        assert ran == ["tells", "breaks", "indexes", "breaks"]
        assert await outbox.process(str(event.id)) == "already processed"


async def test_a_handler_that_keeps_failing_is_left_failed_and_visible(settings) -> None:
    async def broken(event: OutboxEvent) -> None:
        raise RuntimeError("a bug")

    async def fine(event: OutboxEvent) -> None:
        return None

    with reacting({"test.broken": (fine, broken)}):
        async with unit_of_work():
            event = await outbox.emit("test.broken", {})
        for _ in range(outbox.MAX_ATTEMPTS):
            with pytest.raises(outbox.DeliveryFailed):
                await outbox.process(str(event.id))
        failed = await OutboxEvent.get(id=event.id)
        assert failed.failed_at is not None and failed.processed_at is None
        assert "broken" in failed.last_error and "a bug" in failed.last_error
        assert await outbox.sweep() == 0  # no longer retried


async def test_a_worker_killed_between_two_handlers_reruns_only_the_one_not_done(
    settings,
) -> None:
    ran: list[str] = []
    second_started = asyncio.Event()

    async def first(event: OutboxEvent) -> None:
        ran.append("first")

    async def second(event: OutboxEvent) -> None:
        ran.append("second")
        if ran.count("second") == 1:
            second_started.set()
            await asyncio.Event().wait()  # killed here, with the first one done

    with reacting({"test.killed": (first, second)}):
        async with unit_of_work():
            event = await outbox.emit("test.killed", {})
        job = asyncio.create_task(outbox.process(str(event.id)))
        await asyncio.wait_for(second_started.wait(), 30)
        job.cancel()
        with pytest.raises(asyncio.CancelledError):
            await job
        assert (await OutboxEvent.get(id=event.id)).processed_at is None

        assert await outbox.process(str(event.id)) == "processed"
        assert ran == ["first", "second", "second"]


async def test_a_worker_that_died_leaves_its_lease_to_run_out(settings) -> None:
    ran: list[str] = []

    async def once(event: OutboxEvent) -> None:
        ran.append("once")

    with reacting({"test.lease": (once,)}):
        async with unit_of_work():
            event = await outbox.emit("test.lease", {})
        # A worker took the delivery and died outright (no clean-up ran).
        await outbox.process(str(event.id))
        await OutboxEvent.filter(id=event.id).update(processed_at=None)
        await OutboxDelivery.filter(event_id=event.id).update(
            done_at=None, leased_until=datetime.now(UTC) + timedelta(minutes=1)
        )
        assert await outbox.process(str(event.id)) == "1 handler(s) running elsewhere"
        assert ran == ["once"]
        await OutboxDelivery.filter(event_id=event.id).update(
            leased_until=datetime.now(UTC) - timedelta(seconds=1)
        )
        assert await outbox.process(str(event.id)) == "processed"
        assert ran == ["once", "once"]


def test_an_event_type_without_handlers_stops_the_worker_at_start_up(settings) -> None:
    outbox.declare("test.orphan")
    try:
        with pytest.raises(outbox.HandlerTableError, match="test.orphan"):
            make_worker(settings, manage_db=False, burst=True)
    finally:
        outbox._declared.discard("test.orphan")
        handlers.install()
    with pytest.raises(outbox.HandlerTableError, match="undeclared test.stray"):
        outbox.install({**handlers.HANDLERS, "test.stray": ()})
    handlers.install()


async def test_an_undeclared_event_type_is_refused_when_emitted() -> None:
    with pytest.raises(ValueError, match="undeclared outbox event type 'offer.acepted'"):
        async with unit_of_work():
            await outbox.emit("offer.acepted", {})
    assert await OutboxEvent.all().count() == 0


def test_the_table_routes_every_notification_template_to_its_teller() -> None:
    for templates, teller in (
        (offer_events.TEMPLATES, offer_events.tell_the_parties),
        (contract_events.TEMPLATES, contract_events.tell_about_contract),
        (payment_events.TEMPLATES, payment_events.tell_about_payment),
    ):
        for event_type in templates:
            assert teller in handlers.HANDLERS[event_type], event_type
