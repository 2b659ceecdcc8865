"""Digests of saved searches, against PostgreSQL and a real Meilisearch index: only what is new,
each item once per saved search, nothing when nothing is new, daily and weekly due times, a
missed run caught up, two racing runs sending one digest, the user's language, and needs."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest

from alerts import service
from alerts.models import AlertSent, SavedSearch
from alerts.schemas import SavedSearchIn
from listings import search
from market.accounts.models import User
from market.clock import utcnow
from market.notify import Notification
from tests.builders import (
    a_published_listing,
    a_published_need,
    a_user,
    a_verified_enterprise,
    a_verified_institute,
    actor_of,
    run_crons,
    run_worker,
)


@pytest.fixture
async def index(settings):
    """A fresh Meilisearch index for this test (the session's server is shared)."""
    saved = settings.meili_index
    settings.meili_index = f"test_{uuid.uuid4().hex[:12]}"
    await search.apply_settings(settings)
    try:
        yield settings.meili_index
    finally:
        await search.close_search_clients()
        async with search.Meili(settings) as meili:
            await meili.call("DELETE", f"/indexes/{settings.meili_index}")
        settings.meili_index = saved


@pytest.fixture
async def institute():
    user, _ = await a_verified_institute()
    return user


async def published(institute: User, title: str, **fields):
    """A published listing, searchable once this returns."""
    fields.setdefault("summary", "A result of our laboratory, proven in a pilot with industry.")
    listing = await a_published_listing(institute, title=title, **fields)
    await search.upsert([listing.id], wait=True)
    return listing


async def saved_search(user: User, query: str, frequency: str = "daily", kind: str = "listings"):
    data = SavedSearchIn(name="Membranes", query=query, frequency=frequency, kind=kind)
    return await service.save_search(await actor_of(user), data)


async def make_due(saved: SavedSearch) -> None:
    await SavedSearch.filter(id=saved.id).update(next_digest_at=utcnow() - timedelta(minutes=1))


def digest_mails(mailbox, address: str) -> list:
    return [m for m in mailbox.to(address) if "“Membranes”" in str(m["Subject"])]


def body_of(message) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


async def test_a_digest_sends_only_new_matching_listings_once(
    settings, index, institute, redis_client, mailbox
) -> None:
    reader, _ = await a_user(email="reader@example.org")
    saved = await saved_search(reader, "q=graphene&kind=patent")
    first = await published(institute, "Graphene membrane for seawater")
    await published(institute, "Perovskite absorber layer")  # does not match the words
    await published(institute, "Graphene ink for printing", kind="know_how")  # not a patent

    await run_crons(settings, "send_search_digests")
    assert digest_mails(mailbox, reader.email) == []  # not due yet: a day after saving

    await make_due(saved)
    await run_crons(settings, "send_search_digests")
    [mail] = digest_mails(mailbox, reader.email)
    assert str(mail["Subject"]) == "1 new listing for “Membranes”"
    text = body_of(mail)
    assert "Graphene membrane for seawater" in text and f"/listings/{first.id}" in text
    assert "Perovskite" not in text and "Graphene ink" not in text
    assert "/saved-searches/unsubscribe/" in text
    # Mail clients offer a one-click button (RFC 8058) that POSTs to the same address.
    assert mail["List-Unsubscribe"] == f"<{service.unsubscribe_url(saved)}>"
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    row = await SavedSearch.get(id=saved.id)
    assert row.next_digest_at > utcnow() + timedelta(hours=23)

    # Run again, and again once due: nothing new, nothing sent.
    await run_crons(settings, "send_search_digests")
    await make_due(saved)
    await run_crons(settings, "send_search_digests")
    assert len(digest_mails(mailbox, reader.email)) == 1

    second = await published(institute, "Graphene oxide filter for brine")
    await make_due(saved)
    await run_crons(settings, "send_search_digests")
    mails = digest_mails(mailbox, reader.email)
    assert len(mails) == 2
    text = body_of(mails[-1])
    assert f"/listings/{second.id}" in text and f"/listings/{first.id}" not in text
    assert await AlertSent.filter(saved_search_id=saved.id).count() == 2


async def test_daily_and_weekly_due_times_and_a_missed_run_caught_up(index, institute) -> None:
    reader, _ = await a_user()
    daily = await saved_search(reader, "q=graphene", "daily")
    weekly = await saved_search(reader, "q=graphene", "weekly")
    for saved, days in ((daily, 1), (weekly, 7)):
        assert saved.next_digest_at - saved.created_at == pytest.approx(
            timedelta(days=days), abs=timedelta(seconds=5)
        )
    # Both saved ten days ago (the listings below are published now, after that).
    start = utcnow() - timedelta(days=10)
    await SavedSearch.filter(id=daily.id).update(
        created_at=start, next_digest_at=start + timedelta(days=1)
    )
    await SavedSearch.filter(id=weekly.id).update(
        created_at=start, next_digest_at=start + timedelta(days=7)
    )
    one = await published(institute, "Graphene membrane one")

    # A day later only the daily one is due.
    assert await service.send_due(now=start + timedelta(days=1, minutes=1)) == 1
    assert await Notification.filter(user_id=reader.id).count() == 1
    # The worker was down for three days; the catch-up sends what is new since, once.
    two = await published(institute, "Graphene membrane two")
    three = await published(institute, "Graphene membrane three")
    assert await service.send_due(now=start + timedelta(days=4)) == 2
    notes = await Notification.filter(user_id=reader.id).order_by("created_at")
    assert len(notes) == 2
    assert str(two.id) in notes[1].body and str(three.id) in notes[1].body
    assert str(one.id) not in notes[1].body
    row = await SavedSearch.get(id=daily.id)
    assert row.next_digest_at == start + timedelta(days=5)  # one period after the catch-up

    # A week after saving, the weekly one sends all three, in one digest; the daily nothing.
    assert await service.send_due(now=start + timedelta(days=7, minutes=1)) == 3
    assert await Notification.filter(user_id=reader.id).count() == 3
    assert await service.send_due(now=start + timedelta(days=7, minutes=2)) == 0


async def test_two_racing_runs_send_one_digest(index, institute) -> None:
    reader, _ = await a_user()
    saved = await saved_search(reader, "q=graphene")
    await published(institute, "Graphene membrane")
    await published(institute, "Graphene sensor")
    later = saved.created_at + timedelta(days=1, minutes=1)

    results = await asyncio.gather(*(service.send_due(now=later) for _ in range(4)))
    assert sorted(results) == [0, 0, 0, 2]
    assert await Notification.filter(user_id=reader.id).count() == 1
    assert await AlertSent.filter(saved_search_id=saved.id).count() == 2


async def test_a_digest_is_in_the_users_language(settings, index, institute, mailbox) -> None:
    reader, _ = await a_user()
    await User.filter(id=reader.id).update(locale="zh")
    reader = await User.get(id=reader.id)
    saved = await saved_search(reader, "q=graphene")
    await published(institute, "Graphene membrane")
    await service.send_due(now=saved.created_at + timedelta(days=1, minutes=1))
    await run_worker(settings)
    [mail] = [m for m in mailbox.to(reader.email) if "Membranes" in str(m["Subject"])]
    assert str(mail["Subject"]) == "“Membranes”有 1 条新成果"
    assert "如需退订这些邮件" in body_of(mail)


async def test_nothing_is_sent_when_nothing_is_new(index, institute) -> None:
    reader, _ = await a_user()
    saved = await saved_search(reader, "q=graphene")
    await published(institute, "Perovskite absorber")
    assert await service.send_due(now=saved.created_at + timedelta(days=1, minutes=1)) == 0
    assert await Notification.filter(user_id=reader.id).count() == 0
    row = await SavedSearch.get(id=saved.id)
    assert row.last_digest_at is not None and row.digests_sent == 0


async def test_a_search_that_cannot_answer_in_full_waits_for_the_next_run(
    settings, index, institute, monkeypatch
) -> None:
    reader, _ = await a_user()
    saved = await saved_search(reader, "q=graphene&ipc=B01D")
    await published(institute, "Graphene membrane")
    later = saved.created_at + timedelta(days=1, minutes=1)
    # Meilisearch away: the database fallback skips the IPC filter, so nothing is sent.
    monkeypatch.setattr(settings, "meili_url", "http://127.0.0.1:1")
    assert await service.send_due(now=later) == 0
    assert (await SavedSearch.get(id=saved.id)).next_digest_at == saved.next_digest_at
    monkeypatch.undo()
    assert await service.send_due(now=later) == 1


async def test_an_unsubscribed_search_sends_nothing(index, institute) -> None:
    reader, _ = await a_user()
    saved = await saved_search(reader, "q=graphene")
    await published(institute, "Graphene membrane")
    await service.unsubscribe(service.unsubscribe_token(saved))
    assert await service.send_due(now=saved.created_at + timedelta(days=2)) == 0
    assert await Notification.filter(user_id=reader.id).count() == 0


async def test_an_institute_gets_a_digest_of_new_needs_like_this(
    settings, redis_client, mailbox
) -> None:
    researcher, _ = await a_verified_institute(email="researcher@example.org")
    seeker, _ = await a_verified_enterprise(organization={"name": "Secretive Steel AG"})
    saved = await saved_search(researcher, "q=membrane&cooperation=license", kind="needs")
    assert saved.query == "q=membrane&cooperation=license"
    need = await a_published_need(seeker, visibility="anonymous")
    await a_published_need(
        seeker,
        title="A coating for turbine blades",
        problem="Our turbine blades erode within a year; we need a coating that lasts five.",
        cooperation=["license"],
    )
    await a_published_need(seeker, cooperation=["assignment"])  # another form of cooperation
    await run_worker(settings)
    mailbox.messages.clear()

    await make_due(saved)
    await run_crons(settings, "send_search_digests")
    [mail] = digest_mails(mailbox, researcher.email)
    assert str(mail["Subject"]) == "1 new technology need for “Membranes”"
    text = body_of(mail)
    assert f"/needs/{need.id}" in text and "turbine" not in text
    assert "Secretive Steel" not in text  # an anonymous seeker stays anonymous

    await make_due(saved)
    await run_crons(settings, "send_search_digests")
    assert len(digest_mails(mailbox, researcher.email)) == 1


async def test_a_needs_digest_on_postgresql_and_on_sqlite(database_kind) -> None:
    """`market dev` runs on SQLite: saving, the needs filter and the digest work there too."""
    researcher, _ = await a_verified_institute()
    seeker, _ = await a_verified_enterprise()
    saved = await saved_search(researcher, "q=membrane&cooperation=joint_development", kind="needs")
    need = await a_published_need(seeker)
    later = saved.created_at + timedelta(days=1, minutes=1)
    results = await asyncio.gather(service.send_due(now=later), service.send_due(now=later))
    assert sorted(results) == [0, 1]
    [note] = await Notification.filter(user_id=researcher.id, subject__contains="Membranes")
    assert f"/needs/{need.id}" in note.body
    assert await service.send_due(now=later + timedelta(days=1, minutes=1)) == 0
