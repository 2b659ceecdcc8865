"""The notification centre (page and JSON), the unread badge, and the notifications' e-mail:
to a real SMTP server (aiosmtpd) when one is configured, to the log otherwise."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from tortoise.connection import connections

from market import notify, outbox
from market.accounts.models import User
from market.config import get_settings
from market.notify import Notification
from market.outbox import OutboxEvent
from tests.builders import a_user, log_in, run_worker
from tests.html import Page

HOSTILE = "<script>alert(1)</script>"
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


async def some_notes(user: User, count: int, *, read: int = 0, prefix: str = "Note") -> list:
    """`count` notifications, the first one oldest; the oldest `read` of them read."""
    notes = []
    for n in range(count):
        note = await Notification.create(
            user=user,
            subject=f"{prefix} {n}",
            body=f"Body of {prefix.lower()} {n} {HOSTILE}",
            link=f"http://testserver/offers/{n}",
            dedup_key=f"test:{user.id}:{prefix}:{n}",
        )
        read_at = T0 + timedelta(days=1) if n < read else None
        await Notification.filter(id=note.id).update(
            created_at=T0 + timedelta(minutes=n), read_at=read_at
        )
        notes.append(note)
    return notes


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "the page carries no CSRF token"
    return match.group(1)


def badge(html: str) -> str | None:
    """The unread count shown in the navigation, if any."""
    match = re.search(
        r'href="/notifications"[^>]*>[^<]*<span class="badge badge-count">(\d+)', html
    )
    return match.group(1) if match else None


async def unread(user: User) -> int:
    return await Notification.filter(user=user, read_at=None).count()


# --- the page ------------------------------------------------------------------------------


async def test_the_badge_counts_unread_notifications_on_every_page(client) -> None:
    user, _ = await a_user()
    await some_notes(user, 3, read=1)
    await log_in(client, user.email)
    for path in ("/", "/dashboard", "/listings", "/notifications"):
        page = await client.get(path)
        assert page.status_code == 200, path
        assert badge(page.text) == "2", path
    assert await notify.unread_count(user) == 2
    await Notification.filter(user=user).update(read_at=T0)
    assert badge((await client.get("/dashboard")).text) is None
    assert await notify.unread_count(None) == 0


async def test_anonymous_visitors_see_no_badge_and_are_sent_to_log_in(client) -> None:
    home = await client.get("/")
    assert badge(home.text) is None and 'href="/notifications"' not in home.text
    page = await client.get("/notifications")
    assert page.status_code == 303 and page.headers["location"] == "/login?next=/notifications"
    api = await client.get("/api/v1/notifications")
    assert api.status_code == 401


async def test_the_page_lists_newest_first_highlights_unread_and_escapes(client) -> None:
    user, _ = await a_user()
    await some_notes(user, 3, read=1)
    await log_in(client, user.email)
    page = await client.get("/notifications")
    html = page.text
    subjects = re.findall(r"(Note \d)\s*</h2>", html)
    assert subjects == ["Note 2", "Note 1", "Note 0"]
    items = re.findall(r'<li class="(notification-\w+)">', html)
    assert items == ["notification-unread", "notification-unread", "notification-read"]
    assert "2 unread notifications" in html
    assert "&lt;script&gt;" in html and HOSTILE not in html
    assert "http://testserver/offers/2" in Page(html).links
    forms = [f for f in Page(html).forms if f.get("action") == "/notifications/read"]
    # "Mark all as read" and one "Mark as read" per unread notification.
    assert len(forms) == 3
    assert all(any(i.get("name") == "csrf_token" for i in f["inputs"]) for f in forms)


async def test_the_page_is_paginated(client) -> None:
    user, _ = await a_user()
    await some_notes(user, 25)
    await log_in(client, user.email)
    first = (await client.get("/notifications")).text
    assert re.findall(r"(Note \d+)\s*</h2>", first) == [f"Note {n}" for n in range(24, 4, -1)]
    assert "?page=2" in Page(first).links
    second = (await client.get("/notifications?page=2")).text
    found = re.findall(r"(Note \d+)\s*</h2>", second)
    assert found == ["Note 4", "Note 3", "Note 2", "Note 1", "Note 0"]
    assert (await client.get("/notifications?page=0")).status_code == 422


async def test_marking_one_then_all_read(client) -> None:
    user, _ = await a_user()
    notes = await some_notes(user, 3)
    await log_in(client, user.email)
    token = csrf_of((await client.get("/notifications")).text)

    one = await client.post(
        "/notifications/read", data={"csrf_token": token, "id": str(notes[1].id)}
    )
    assert one.status_code == 303 and one.headers["location"] == "/notifications"
    assert await unread(user) == 2
    assert (await Notification.get(id=notes[1].id)).read_at is not None
    assert badge((await client.get("/notifications")).text) == "2"

    every = await client.post("/notifications/read", data={"csrf_token": token, "page": "2"})
    assert every.status_code == 303 and every.headers["location"] == "/notifications?page=2"
    assert await unread(user) == 0
    after = await client.get("/notifications")
    assert badge(after.text) is None and "2 notifications marked as read." in after.text
    assert "notification-unread" not in after.text


async def test_marking_read_needs_the_csrf_token(client) -> None:
    user, _ = await a_user()
    await some_notes(user, 2)
    await log_in(client, user.email)
    await client.get("/notifications")
    refused = await client.post("/notifications/read", data={})
    assert refused.status_code == 403
    forged = await client.post("/notifications/read", data={"csrf_token": "0" * 64})
    assert forged.status_code == 403
    assert await unread(user) == 2


async def test_nobody_reads_or_marks_another_users_notifications(client) -> None:
    owner, _ = await a_user()
    other, _ = await a_user()
    [secret] = await some_notes(owner, 1, prefix="Secret")
    await some_notes(other, 1, prefix="Mine")
    await log_in(client, other.email)
    page = (await client.get("/notifications")).text
    assert "Mine 0" in page and "Secret" not in page
    token = csrf_of(page)

    for target in (str(secret.id), "not-an-id"):
        refused = await client.post("/notifications/read", data={"csrf_token": token, "id": target})
        assert refused.status_code == 404
        api = await client.post(
            "/api/v1/notifications/read", json={"id": target}, headers={"X-CSRF-Token": token}
        )
        assert api.status_code == 404 and api.json()["error"]["code"] == "not_found"
    # Marking "all" marks only one's own.
    await client.post("/notifications/read", data={"csrf_token": token})
    assert await unread(owner) == 1 and await unread(other) == 0
    listed = (await client.get("/api/v1/notifications")).json()
    assert [n["subject"] for n in listed["items"]] == ["Mine 0"]


# --- the API -------------------------------------------------------------------------------


async def test_the_api_pages_filters_and_marks_read(client) -> None:
    user, _ = await a_user()
    notes = await some_notes(user, 5, read=2)
    token = await log_in(client, user.email)

    page = (await client.get("/api/v1/notifications?per_page=2")).json()
    assert page["total"] == 5 and page["unread"] == 3 and page["page"] == 1
    assert [n["subject"] for n in page["items"]] == ["Note 4", "Note 3"]
    assert page["items"][0] == {
        "id": str(notes[4].id),
        "subject": "Note 4",
        "body": f"Body of note 4 {HOSTILE}",
        "link": "http://testserver/offers/4",
        "created_at": (T0 + timedelta(minutes=4)).isoformat(),
        "read_at": None,
    }
    unread_only = (await client.get("/api/v1/notifications?unread=true")).json()
    assert [n["subject"] for n in unread_only["items"]] == ["Note 4", "Note 3", "Note 2"]
    assert unread_only["total"] == 3

    no_header = await client.post("/api/v1/notifications/read", json={})
    assert no_header.status_code == 403
    headers = {"X-CSRF-Token": token}
    one = await client.post(
        "/api/v1/notifications/read", json={"id": str(notes[3].id)}, headers=headers
    )
    assert one.json() == {"marked": 1, "unread": 2}
    again = await client.post(
        "/api/v1/notifications/read", json={"id": str(notes[3].id)}, headers=headers
    )
    assert again.json() == {"marked": 0, "unread": 2}
    bad = await client.post("/api/v1/notifications/read", json={"ids": []}, headers=headers)
    assert bad.status_code == 422
    every = await client.post("/api/v1/notifications/read", json={}, headers=headers)
    assert every.json() == {"marked": 2, "unread": 0}
    assert (await client.get("/api/v1/notifications?per_page=101")).status_code == 422


async def test_the_api_is_in_the_openapi_document(client) -> None:
    document = (await client.get("/api/v1/openapi.json")).json()
    assert {"get"} <= set(document["paths"]["/api/v1/notifications"])
    assert {"post"} <= set(document["paths"]["/api/v1/notifications/read"])


class QueryCounter:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        conn = connections.get("default")
        for name in ("execute_query", "execute_query_dict"):
            monkeypatch.setattr(conn, name, self._counting(getattr(conn, name)))

    def _counting(self, method):
        async def wrapper(*args, **kwargs):
            self.count += 1
            return await method(*args, **kwargs)

        return wrapper

    async def during(self, request) -> int:
        self.count = 0
        response = await request
        assert response.status_code == 200
        return self.count


async def test_the_centre_makes_a_fixed_number_of_queries(
    client: httpx.AsyncClient, monkeypatch
) -> None:
    user, _ = await a_user()
    await log_in(client, user.email)
    counter = QueryCounter(monkeypatch)

    async def measure() -> tuple[int, int, int]:
        return (
            await counter.during(client.get("/notifications")),
            await counter.during(client.get("/api/v1/notifications")),
            await counter.during(client.get("/")),
        )

    await some_notes(user, 2)
    few = await measure()
    await some_notes(user, 18, prefix="More")
    assert await measure() == few


# --- e-mail --------------------------------------------------------------------------------


async def test_notify_mails_through_a_real_smtp_server_once(
    settings, mailbox, redis_client
) -> None:
    user, _ = await a_user(name="Ada Mail")
    await run_worker(settings)  # the registration's own notifications go first
    mailbox.messages.clear()

    link = "http://testserver/offers/1"
    assert await notify.notify(user, "Hello " + HOSTILE, "Line\n\nMore", dedup_key="k:1", link=link)
    assert not await notify.notify(user, "Hello again", "Other", dedup_key="k:1", link=link)
    await run_worker(settings)

    [mail] = mailbox.messages
    assert mail["To"] == user.email and mail["Subject"] == "Hello " + HOSTILE
    text = mail.get_body(preferencelist=("plain",)).get_content()
    html = mail.get_body(preferencelist=("html",)).get_content()
    assert "Hello Ada Mail," in text and link in text and "Line" in text
    assert f'<a href="{link}">' in html and HOSTILE not in html
    note = await Notification.get(dedup_key="k:1")
    assert note.emailed_at is not None and note.subject == "Hello " + HOSTILE

    # The mail job running again (arq may) sends nothing more.
    [event] = [
        e
        for e in await OutboxEvent.filter(event_type=notify.MAIL_EVENT)
        if e.payload["notification_id"] == str(note.id)
    ]
    await OutboxEvent.filter(id=event.id).update(processed_at=None)
    assert await outbox.process(str(event.id)) == "processed"
    assert len(mailbox.messages) == 1


async def test_without_smtp_mail_goes_to_the_log(settings, redis_client, caplog) -> None:
    assert get_settings().smtp_host == ""  # development: no SMTP server configured
    user, _ = await a_user()
    caplog.set_level(logging.INFO, logger="market.mail")
    await notify.notify(user, "Logged", "To the console", dedup_key="log:1", link="http://l/1")
    await run_worker(settings)
    logged = [r.getMessage() for r in caplog.records if r.name == "market.mail"]
    assert any(user.email in m and "Logged" in m and "http://l/1" in m for m in logged)
    assert (await Notification.get(dedup_key="log:1")).emailed_at is not None


async def test_a_deactivated_user_keeps_the_notification_but_gets_no_mail(
    settings, mailbox, redis_client
) -> None:
    user, _ = await a_user()
    await run_worker(settings)
    mailbox.messages.clear()
    await User.filter(id=user.id).update(is_active=False)
    await notify.notify(user, "Quiet", "Nothing", dedup_key="quiet:1")
    await run_worker(settings)
    assert mailbox.messages == []
    note = await Notification.get(dedup_key="quiet:1")
    assert note.emailed_at is None


async def test_the_dashboards_newest_unread_are_what_the_orm_reads(database_kind) -> None:
    user, _ = await a_user()
    other, _ = await a_user()
    await some_notes(user, 5, read=2)
    await some_notes(other, 2, prefix="Theirs")
    found = await notify.recent(user, n=2)
    expected = (
        await Notification.filter(user_id=user.id, read_at=None)
        .order_by("-created_at", "-id")
        .limit(2)
    )
    shown = notify.RECENT_FIELDS
    assert [{f: getattr(n, f) for f in shown} for n in found] == [
        {f: getattr(n, f) for f in shown} for n in expected
    ]
    assert [n.subject for n in found] == ["Note 4", "Note 3"]
    assert not hasattr(found[0], "body")  # a whole e-mail's text the dashboard does not show
