"""The offer crons, run by a real arq worker on Redis: expiry (never on a page load) and the
reminder a day before, once per version of the terms; both end as notifications and e-mail
through a real SMTP server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from contracts.offers import service as offers
from contracts.offers.models import Offer
from contracts.offers.schemas import OfferIn, OfferTermsIn
from market.notify import Notification
from market.outbox import OutboxEvent
from tests.builders import (
    PASSWORD,
    Parties,
    actor_of,
    log_in,
    offer_terms,
    run_crons,
    run_worker,
    the_parties,
)
from workers.settings import worker_settings

SELLERS = {"seller", "seller_mate"}
BUYERS = {"buyer", "buyer_mate"}


def now() -> datetime:
    return datetime.now(UTC)


async def told(p: Parties, event_type: str) -> list[str]:
    """Who was notified of events of this type (names, sorted; a name twice is a bug)."""
    events = {str(e.id) for e in await OutboxEvent.filter(event_type=event_type)}
    notes = await Notification.all()
    users = [n.user_id for n in notes if n.dedup_key.split(":")[0] in events]  # type: ignore[attr-defined]
    return sorted(name for u in users for name in p.names([u]))


@pytest.fixture
async def parties(settings, mailbox, redis_client) -> Parties:
    p = await the_parties()
    await run_worker(settings)
    mailbox.messages.clear()
    return p


async def an_open_offer(p: Parties) -> Offer:
    data = OfferIn.model_validate(offer_terms())
    return await offers.make_offer(await actor_of(p.buyer), str(p.listing.id), data)


def test_the_crons_are_scheduled() -> None:
    crons = {job.name: job for job in worker_settings()["cron_jobs"]}
    expire = crons["cron:expire_offers"]
    # Every minute: no month, day, hour or minute restriction, one second in the minute.
    assert (expire.hour, expire.minute, expire.second) == (None, None, 10)
    assert not expire.run_at_startup
    remind = crons["cron:remind_offers"]
    assert remind.minute == {4, 14, 24, 34, 44, 54} and remind.hour is None


async def test_a_page_load_never_expires_an_offer_the_cron_does(
    settings, mailbox, parties, client
) -> None:
    offer = await an_open_offer(parties)
    await run_worker(settings)
    mailbox.messages.clear()
    # Its expiry passed a minute ago, and no cron has run since.
    await Offer.filter(id=offer.id).update(expires_at=now() - timedelta(minutes=1))

    await log_in(client, parties.seller.email, PASSWORD)
    page = await client.get(f"/offers/{offer.id}")
    assert page.status_code == 200
    api = await client.get(f"/api/v1/offers/{offer.id}")
    assert api.status_code == 200
    inbox = await client.get("/offers")
    assert inbox.status_code == 200
    assert (await Offer.get(id=offer.id)).state == "open"
    assert not await OutboxEvent.filter(event_type="offer.expired").exists()

    await run_crons(settings, "expire_offers")

    assert (await Offer.get(id=offer.id)).state == "expired"
    # Both sides hear of it; the system expired it, so nobody is left out as the actor.
    assert await told(parties, "offer.expired") == sorted(SELLERS | BUYERS)
    assert sorted(parties.by_email(mailbox.recipients)) == sorted(SELLERS | BUYERS)
    for message in mailbox.messages:
        assert "expired" in message["Subject"]
        text = message.get_body(preferencelist=("plain",)).get_content()
        assert f"http://testserver/offers/{offer.id}" in text

    # The next minute's run finds nothing more to do.
    await run_crons(settings, "expire_offers")
    assert await OutboxEvent.filter(event_type="offer.expired").count() == 1
    assert len(mailbox.messages) == 4


async def test_an_offer_not_yet_due_is_left_open(settings, mailbox, parties) -> None:
    offer = await an_open_offer(parties)
    await run_crons(settings, "expire_offers")
    assert (await Offer.get(id=offer.id)).state == "open"
    assert not await OutboxEvent.filter(event_type="offer.expired").exists()


async def test_the_reminder_comes_a_day_before_once_per_version_of_the_terms(
    settings, mailbox, parties
) -> None:
    offer = await an_open_offer(parties)
    far = await an_open_offer(parties)  # expires in 14 days: nothing to remind yet
    await run_worker(settings)
    mailbox.messages.clear()
    await Offer.filter(id=offer.id).update(expires_at=now() + timedelta(hours=20))

    await run_crons(settings, "remind_offers")
    # An open offer waits for the institute: only its members hear.
    assert await told(parties, "offer.expiring") == sorted(SELLERS)
    assert sorted(parties.by_email(mailbox.recipients)) == sorted(SELLERS)
    [event] = await OutboxEvent.filter(event_type="offer.expiring")
    assert event.payload["offer_id"] == str(offer.id) and event.payload["side"] == "seller"

    # Ten minutes later the same terms are still due: no second reminder.
    await run_crons(settings, "remind_offers")
    assert await OutboxEvent.filter(event_type="offer.expiring").count() == 1
    assert len(mailbox.messages) == 2

    # A counter-offer is a new version with its own expiry: it earns its own reminder, for
    # the buyer, whose turn it now is.
    counter = OfferTermsIn.model_validate(
        offer_terms(expires_at=(now() + timedelta(hours=3)).isoformat())
    )
    await offers.counter_offer(await actor_of(parties.seller), str(offer.id), counter)
    await run_worker(settings)
    mailbox.messages.clear()
    await run_crons(settings, "remind_offers")
    expiring = await OutboxEvent.filter(event_type="offer.expiring").order_by("created_at")
    assert [(e.payload["terms_number"], e.payload["side"]) for e in expiring] == [
        (1, "seller"),
        (2, "buyer"),
    ]
    assert sorted(parties.by_email(mailbox.recipients)) == sorted(BUYERS)
    await run_crons(settings, "remind_offers")
    assert await OutboxEvent.filter(event_type="offer.expiring").count() == 2
    assert all(e.payload["offer_id"] != str(far.id) for e in expiring)
    assert (await Offer.get(id=far.id)).reminded_for == 0
