"""The transactional outbox against a real Redis and a real arq worker."""

from __future__ import annotations

import pytest

from market import outbox
from market.accounts import service
from market.db import unit_of_work
from market.notify import Notification
from market.outbox import OutboxEvent
from tests.builders import a_user, actor_of, an_admin, run_worker


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


async def test_a_failing_handler_rolls_back_its_work_and_is_retried(settings) -> None:
    calls = []

    @outbox.handles("test.flaky")
    async def flaky(event: OutboxEvent) -> None:
        calls.append(event.id)
        user, _ = await a_user()
        if len(calls) == 1:
            raise RuntimeError("transient")

    try:
        async with unit_of_work():
            event = await outbox.emit("test.flaky", {})
        with pytest.raises(RuntimeError):
            await outbox.process(str(event.id))
        failed = await OutboxEvent.get(id=event.id)
        assert failed.attempts == 1 and "transient" in failed.last_error
        assert failed.processed_at is None
        from market.accounts.models import User

        assert await User.all().count() == 0  # the failed attempt left nothing behind
        assert await outbox.process(str(event.id)) == "processed"
        assert await User.all().count() == 1
    finally:
        outbox._handlers.pop("test.flaky", None)
