"""The organiser's figures through the ASGI app: JSON, CSV download and page, the reminder
from the page; 403 to a participant, 404 to a stranger on a draft."""

from __future__ import annotations

import csv
import io

from hall.models import Participant
from tests.builders import a_verified_enterprise, log_in
from tests.hall.test_stats import HOSTILE, a_seeded_event
from tests.listings.test_pages import csrf_of, page_login


async def _organiser_email(event) -> str:
    org = await event.organiser
    membership = await org.memberships.all().first().prefetch_related("user")
    return membership.user.email


async def test_the_figures_as_json_csv_and_page(client) -> None:
    seeded = await a_seeded_event()
    event = seeded["event"]
    email = await _organiser_email(event)
    client.cookies.clear()
    headers = {"X-CSRF-Token": await log_in(client, email)}
    data = (await client.get(f"/api/v1/events/{event.id}/stats")).json()
    assert data["requests"]["declined"] == 2 and data["meetings"]["no_show"] == 1
    assert data["participants"]["without_meeting"] == 2
    assert data["booth_visits"]["total"] == 3
    assert data["contracts"]["value"] == [{"amount": 7_000_000, "currency": "EUR"}]
    download = await client.get(f"/api/v1/events/{event.id}/stats.csv")
    assert download.status_code == 200
    assert download.headers["content-type"].startswith("text/csv")
    assert "attachment" in download.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(download.text)))
    assert rows[0] == ["section", "item", "count", "amount", "currency"]
    bad = await client.post(
        f"/api/v1/events/{event.id}/reminders", json={"participant_ids": "all"}, headers=headers
    )
    assert bad.status_code == 422 and "participant_ids" in bad.json()["error"]["fields"]
    reminded = await client.post(f"/api/v1/events/{event.id}/reminders", json={}, headers=headers)
    assert reminded.json() == {"reminded": 2}

    await page_login(client, email)
    page = await client.get(f"/events/{event.id}/stats")
    assert page.status_code == 200
    assert HOSTILE not in page.text and "=HYPERLINK(&#34;" in page.text
    assert f"/events/{event.id}/stats.csv" in page.text
    assert (await client.get(f"/events/{event.id}/stats.csv")).status_code == 200
    # Everyone was reminded a moment ago: nobody again today.
    sent = await client.post(
        f"/events/{event.id}/reminders", data={"csrf_token": csrf_of(page.text)}
    )
    assert sent.status_code == 303
    assert await Participant.filter(reminded_at__isnull=False).count() == 2


async def test_participants_and_strangers_see_no_figures(client) -> None:
    seeded = await a_seeded_event()
    event = seeded["event"]
    client.cookies.clear()
    await log_in(client, seeded["first"].buyer.email)
    assert (await client.get(f"/api/v1/events/{event.id}/stats")).status_code == 403
    assert (await client.get(f"/api/v1/events/{event.id}/stats.csv")).status_code == 403
    await a_verified_enterprise(email="stranger@example.org")
    event.state = "draft"
    await event.save(update_fields=["state"])
    await page_login(client, "stranger@example.org")
    assert (await client.get(f"/events/{event.id}/stats")).status_code == 404
    assert (await client.get(f"/api/v1/events/{event.id}/stats")).status_code == 404
