"""Keeping the search index in step with the database.

- Outbox handlers: every listing event (published, changed — which covers revisions, edits
  and licensing — and withdrawn) re-reads the listing's current state and upserts or deletes
  its document. The handler runs in the worker after the change committed (the relay
  enqueues the event only after commit), so a rolled-back change never reaches the index.
  It only enqueues a Meilisearch task (milliseconds), never waits for indexing, and holds no
  database lock meanwhile (each handler is its own delivery, outside the event's claim). If
  Meilisearch is down the handler raises, its delivery stays undone and arq retries it with
  back-off; the periodic drift check repairs whatever the retries did not.
- `check_search_drift`: the cron job comparing ids and versions and repairing.
"""

from __future__ import annotations

import logging
from typing import Any

from listings import search
from market.outbox import OutboxEvent

log = logging.getLogger(__name__)

LISTING_EVENTS = ("listing.published", "listing.changed", "listing.withdrawn")


async def sync_listing(event: OutboxEvent) -> None:
    """Idempotent: the event only says which listing; the database says what it is now."""
    listing_id = (event.payload or {}).get("listing_id")
    if listing_id:
        await search.upsert([listing_id])


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
