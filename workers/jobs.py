"""Job functions: thin adapters from arq to the services that hold the rules."""

from __future__ import annotations

from typing import Any

from arq import Retry
from arq.worker import func

from alerts import service as alerts
from contracts.agreements import service as agreements
from contracts.offers import service as offers
from contracts.payments import reconcile
from contracts.payments import service as payments
from docking import search as need_search
from docking import service as needs
from hall import meetings as hall_meetings
from hall import outcomes as hall_outcomes
from hall import service as hall
from listings import importer, search_sync
from listings import service as listings
from market import outbox
from market.errors import DomainError


async def handle_outbox_event(ctx: dict[str, Any], event_id: str) -> str:
    try:
        return await outbox.process(event_id)
    except Exception as exc:
        tries = ctx.get("job_try", 1)
        if tries >= outbox.MAX_ATTEMPTS:
            raise
        # Back off 5 s, 10 s, 20 s ... so a flapping dependency is not hammered.
        raise Retry(defer=5 * 2 ** (tries - 1)) from exc


async def sweep_outbox(ctx: dict[str, Any]) -> int:
    return await outbox.sweep()


async def requeue_stalled_imports(ctx: dict[str, Any]) -> int:
    return await importer.requeue_stalled()


async def run_listing_import(ctx: dict[str, Any], import_id: str) -> str:
    """Run or resume one portfolio import; safe to run again (a retried job resumes)."""
    try:
        imp = await importer.run_import(import_id)
    except DomainError as exc:  # the import is gone: nothing to retry
        return f"not run: {exc.message}"
    except Exception as exc:
        tries = ctx.get("job_try", 1)
        if tries >= importer.MAX_ATTEMPTS:
            await importer.mark_failed(import_id, f"{type(exc).__name__}: {exc}")
            raise
        raise Retry(defer=5 * 2 ** (tries - 1)) from exc
    return f"{imp.state}: {imp.created} created, {imp.skipped} skipped, {imp.refused} refused"


async def check_search_index(ctx: dict[str, Any]) -> dict[str, Any]:
    """Compare the search index with the database by id and version; repair drift."""
    return await search_sync.check_search_drift(ctx)


async def check_needs_index(ctx: dict[str, Any]) -> dict[str, Any]:
    """The same check for the needs index."""
    return await need_search.check_needs_drift(ctx)


async def flush_listing_views(ctx: dict[str, Any]) -> int:
    """Add the page views counted since the last run to the listings' view counts."""
    return await listings.flush_views()


async def expire_offers(ctx: dict[str, Any]) -> int:
    """Expire the offers past their expiry: only here, never on a page load."""
    return await offers.expire_due()


async def close_expired_needs(ctx: dict[str, Any]) -> int:
    """Close the published needs whose deadline has passed: only here, never on a page load."""
    return await needs.expire_due()


async def expire_meeting_requests(ctx: dict[str, Any]) -> int:
    """Let the meeting requests nobody answered in time lapse, freeing the requesters' quota."""
    return await hall_meetings.expire_due()


async def advance_events(ctx: dict[str, Any]) -> int:
    """Open booking, start and close the hall's events on their clocks: only here."""
    return await hall.advance_due()


async def send_search_digests(ctx: dict[str, Any]) -> int:
    """Mail each due saved search a digest of what is new for it: only here, never on a page."""
    return await alerts.send_due()


async def remind_offers(ctx: dict[str, Any]) -> int:
    """Remind the side whose turn it is of offers that expire soon, once per terms version."""
    return await offers.remind_due()


async def remind_contracts(ctx: dict[str, Any]) -> int:
    """Remind the parties yet to sign an approved contract, once, after a few days."""
    return await agreements.remind_unsigned()


async def remind_meeting_follow_ups(ctx: dict[str, Any]) -> int:
    """Remind both sides of a meeting with nothing recorded its event's follow-up days after."""
    return await hall_outcomes.remind_follow_ups()


async def cancel_unsigned_contracts(ctx: dict[str, Any]) -> int:
    """Cancel, with notice, contracts left unsigned too long after approval."""
    return await agreements.cancel_unsigned()


async def handle_stripe_event(ctx: dict[str, Any], row_id: int) -> str:
    """Apply one stored Stripe event (by row id), re-reading its PaymentIntent from Stripe."""
    try:
        return await payments.handle_stripe_event(row_id)
    except Exception as exc:
        tries = ctx.get("job_try", 1)
        if tries >= 5:
            raise  # left unhandled: the reconciliation cron tries it again
        raise Retry(defer=2 * 2 ** (tries - 1)) from exc


async def reconcile_payments(ctx: dict[str, Any]) -> dict[str, int]:
    return await reconcile.reconcile()


FUNCTIONS = [
    handle_outbox_event,
    func(handle_stripe_event, max_tries=5),
    func(run_listing_import, timeout=importer.RUN_TIMEOUT, max_tries=importer.MAX_ATTEMPTS),
]
