"""Counting a listing's page views takes no lock on the listing: sixteen viewers of a listing
another transaction holds FOR UPDATE all get their page, and the worker's flush counts each of
them exactly once. The page does not need Redis to count."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from listings import service
from listings.models import Listing, ListingView
from market import outbox
from market.actor import Actor
from market.app import processes
from tests.builders import a_published_listing, run_crons
from tests.waiting import eventually

VIEWERS = 16


async def test_concurrent_views_do_not_wait_for_the_listings_row_lock(
    client, settings, pg_url
) -> None:
    listing = await a_published_listing()
    holder = await asyncpg.connect(pg_url)
    views: list[asyncio.Task] = []
    try:
        async with holder.transaction():
            await holder.execute("SELECT id FROM listing WHERE id = $1 FOR UPDATE", listing.id)
            views = [
                asyncio.create_task(client.get(f"/listings/{listing.id}")) for _ in range(VIEWERS)
            ]

            async def all_answered() -> bool:
                return all(view.done() for view in views)

            # Before the fix each view waited here for the lock, which is only let go below.
            await eventually(
                all_answered, what=f"{VIEWERS} views of a listing locked FOR UPDATE", within=10
            )
        assert [v.result().status_code for v in views] == [200] * VIEWERS
    finally:
        for view in views:
            view.cancel()
        await holder.close()
    assert (await Listing.get(id=listing.id)).view_count == 0  # counted, not yet added
    # The worker's own cron adds them, each once.
    await run_crons(settings, "flush_listing_views")
    assert (await Listing.get(id=listing.id)).view_count == VIEWERS
    assert await ListingView.all().count() == 0
    assert await service.flush_views() == 0  # a second flush counts nothing twice


async def test_a_flush_counts_each_view_once_while_views_keep_coming() -> None:
    listing = await a_published_listing()
    anonymous = Actor.anonymous()

    async def view(n: int) -> None:
        for _ in range(n):
            await service.view_listing(anonymous, str(listing.id))

    flushed = await asyncio.gather(view(20), service.flush_views(), view(20))
    flushed_after = await service.flush_views()
    assert flushed[1] + flushed_after == 40
    assert (await Listing.get(id=listing.id)).view_count == 40


@pytest.fixture
def dead_redis(monkeypatch, settings):
    """Redis unreachable for the app: its outbox relay (the app's one Redis client) points at a
    port where nothing listens."""
    dead = f"redis://127.0.0.1:{processes.free_port()}/0"
    monkeypatch.setattr(outbox, "_relay", outbox.Relay(dead, settings.queue_name))
    monkeypatch.setattr(settings, "redis_url", dead)


async def test_the_page_renders_and_counts_without_redis(client, dead_redis) -> None:
    listing = await a_published_listing()
    response = await client.get(f"/listings/{listing.id}")
    assert response.status_code == 200
    assert listing.title in response.text
    assert await service.flush_views() == 1
    assert (await Listing.get(id=listing.id)).view_count == 1
