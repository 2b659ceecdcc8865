"""The arq WorkerSettings: database set-up and teardown, job registry and cron jobs."""

from __future__ import annotations

from typing import Any

from arq import cron
from arq.connections import RedisSettings
from arq.worker import Worker

from listings import search_sync
from market import outbox
from market.config import Settings, get_settings
from market.db import close_db, init_db
from workers import handlers
from workers.jobs import (
    FUNCTIONS,
    advance_events,
    cancel_unsigned_contracts,
    check_needs_index,
    check_search_index,
    close_expired_needs,
    expire_meeting_requests,
    expire_offers,
    flush_listing_views,
    reconcile_payments,
    remind_contracts,
    remind_meeting_follow_ups,
    remind_offers,
    requeue_stalled_imports,
    send_search_digests,
    sweep_outbox,
)


def worker_settings(settings: Settings | None = None, *, manage_db: bool = True) -> dict[str, Any]:
    settings = settings or get_settings()
    # The worker confirms card payments from stored webhooks: it refuses to start without the
    # secret that vouched for them, as the web process does.
    settings.require_webhook_secret()
    # At start-up, not on the first event: a declared event type without handlers stops here.
    handlers.install()

    async def startup(ctx: dict[str, Any]) -> None:
        if manage_db:
            await init_db(settings)
        outbox.configure(settings.redis_url, settings.queue_name)

    async def shutdown(ctx: dict[str, Any]) -> None:
        await search_sync.close_batchers()
        await outbox.shutdown()
        if manage_db:
            await close_db()

    return {
        "functions": FUNCTIONS,
        "cron_jobs": [
            cron(sweep_outbox, second={0, 30}, run_at_startup=True),
            cron(requeue_stalled_imports, minute=set(range(0, 60, 5))),
            # Catches what the outbox could not deliver (Meilisearch down for long, a lost task).
            cron(check_search_index, minute=set(range(2, 60, 10)), timeout=600),
            cron(check_needs_index, minute=set(range(6, 60, 10)), timeout=600),
            # Every minute, at second 10 (off the outbox sweep's beat): an offer closes within
            # a minute of its expiry, whatever pages are or are not being loaded.
            cron(expire_offers, second=10),
            # Page views wait in listing_view (no lock on the listing per view); the count a
            # listing shows lags by at most half a minute.
            cron(flush_listing_views, second={5, 35}),
            # A need's deadline is a whole day (UTC): it closes within ten minutes of its end.
            cron(close_expired_needs, minute=set(range(3, 60, 10)), second=25),
            # A meeting request lapses within a minute of its time (hall/meetings.py).
            cron(expire_meeting_requests, second=15),
            # An event's booking opens, and the event starts and closes, within a minute of
            # its time (hall/service.py advance_due; an organiser may move it sooner).
            cron(advance_events, second=40),
            # Digests are daily or weekly; a quarter-hourly sweep sends each within 15 minutes
            # of its due time (alerts/service.py: a second, racing run sends nothing).
            cron(send_search_digests, minute={11, 26, 41, 56}, second=45, timeout=600),
            cron(remind_offers, minute=set(range(4, 60, 10)), second=20),
            # Contract timers count in days: hourly is plenty.
            cron(remind_contracts, minute=7, second=40),
            cron(cancel_unsigned_contracts, minute=37, second=40),
            # Follow-ups count in days after a meeting: hourly is plenty.
            cron(remind_meeting_follow_ups, minute=47, second=40),
            # A lost webhook should cost minutes: every 5 minutes, Stripe is asked about card
            # payments pending longer than PAYMENT_RECONCILE_MINUTES.
            cron(reconcile_payments, minute=set(range(1, 60, 5)), second=50, timeout=300),
        ],
        "on_startup": startup,
        "on_shutdown": shutdown,
        "redis_settings": RedisSettings.from_dsn(settings.redis_url),
        "queue_name": settings.queue_name,
        "max_tries": outbox.MAX_ATTEMPTS,
        # A listing event's handler waits for its search batch (up to BATCH_EVERY, plus
        # Meilisearch's indexing) before its delivery is done; arq's default of 10 jobs at a
        # time would cap a batch at 10 listings. The waiting jobs cost no CPU.
        "max_jobs": 100,
        "keep_result": 3600,
        # arq polls its queue; the default half second alone would eat most of the
        # freshness budget (publish -> searchable).
        "poll_delay": 0.05,
        "handle_signals": True,
    }


def make_worker(settings: Settings | None = None, **overrides: Any) -> Worker:
    options = worker_settings(settings, manage_db=overrides.pop("manage_db", True))
    options.update(overrides)
    return Worker(**options)


def __getattr__(name: str) -> Any:
    # `arq workers.settings.WorkerSettings` reads the settings when it asks for this, not when
    # the module is imported: `market` commands import it and must report bad settings
    # themselves, in one line.
    if name == "WorkerSettings":
        options = worker_settings()
        return type("WorkerSettings", (), {k: options[k] for k in _ARQ_OPTIONS})
    raise AttributeError(name)


_ARQ_OPTIONS = (
    "functions",
    "cron_jobs",
    "on_startup",
    "on_shutdown",
    "redis_settings",
    "queue_name",
    "max_tries",
    "max_jobs",
    "keep_result",
    "poll_delay",
    "handle_signals",
)
