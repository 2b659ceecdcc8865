"""Saved searches in the browser's way: the form under the search and the needs list, the list
page (frequency, delete), bad input given back escaped, and the unsubscribe link that works
without logging in and refuses a forged token."""

from __future__ import annotations

import html as html_lib
import re

from alerts import service
from alerts.models import SavedSearch
from tests.builders import a_user, a_verified_institute
from tests.listings.test_pages import ESCAPED, HOSTILE, csrf_of, page_login


def hidden_query(page: str) -> str:
    match = re.search(r'name="query" value="([^"]*)"', page)
    assert match, "no save form on the page"
    return html_lib.unescape(match.group(1))


async def test_save_from_the_search_page_then_change_and_delete(client) -> None:
    await a_user(email="me@example.org")
    await page_login(client, "me@example.org")
    page = (await client.get("/search?q=graphene&kind=patent&sort=newest")).text
    assert "Save this search" in page
    query = hidden_query(page)
    assert query == "q=graphene&kind=patent&sort=newest"
    token = csrf_of(page)
    saved = await client.post(
        "/saved-searches",
        data={
            "csrf_token": token,
            "kind": "listings",
            "query": query,
            "name": "Graphene",
            "frequency": "weekly",
        },
    )
    assert saved.status_code == 303 and saved.headers["location"] == "/saved-searches"
    row = await SavedSearch.get()
    assert (row.name, row.query, row.frequency) == ("Graphene", query, "weekly")

    listing = (await client.get("/saved-searches")).text
    assert "Graphene" in listing and f'href="/search?{html_lib.escape(query)}"' in listing
    changed = await client.post(
        f"/saved-searches/{row.id}/frequency", data={"csrf_token": token, "frequency": "daily"}
    )
    assert changed.status_code == 303
    assert (await SavedSearch.get(id=row.id)).frequency == "daily"
    deleted = await client.post(f"/saved-searches/{row.id}/delete", data={"csrf_token": token})
    assert deleted.status_code == 303
    assert await SavedSearch.all().count() == 0


async def test_the_needs_list_offers_the_same(client) -> None:
    await a_verified_institute(email="lab@example.org")
    await page_login(client, "lab@example.org")
    page = (await client.get("/needs?q=membrane&cooperation=license")).text
    assert hidden_query(page) == "q=membrane&cooperation=license"
    assert 'name="kind" value="needs"' in page
    response = await client.post(
        "/saved-searches",
        data={
            "csrf_token": csrf_of(page),
            "kind": "needs",
            "query": hidden_query(page),
            "name": "Membranes",
            "frequency": "daily",
        },
    )
    assert response.status_code == 303
    assert (await SavedSearch.get()).kind == "needs"


async def test_anonymous_visitors_are_asked_to_log_in(client) -> None:
    page = (await client.get("/search?q=graphene")).text
    assert "Log in to save this search" in page and 'name="query"' not in page
    response = await client.get("/saved-searches")
    assert response.status_code == 303 and response.headers["location"].startswith("/login")


async def test_bad_input_comes_back_escaped_and_saves_nothing(client) -> None:
    await a_user(email="me@example.org")
    await page_login(client, "me@example.org")
    token = csrf_of((await client.get("/search?q=graphene")).text)
    response = await client.post(
        "/saved-searches",
        data={
            "csrf_token": token,
            "kind": "listings",
            "query": f"q=graphene&kind={HOSTILE}",
            "name": HOSTILE * 10,
            "frequency": "hourly",
        },
    )
    assert response.status_code == 422
    page = response.text
    assert HOSTILE not in page and ESCAPED in page
    for control in ("name", "query", "frequency"):
        assert f'id="{control}-error"' in page, control
    assert await SavedSearch.all().count() == 0


async def test_unsubscribe_works_without_logging_in_and_refuses_forged_tokens(client) -> None:
    owner, _ = await a_user(email="me@example.org")
    other, _ = await a_user(email="other@example.org")
    mine = await SavedSearch.create(
        user=owner, name="Mine", query="q=graphene", next_digest_at=owner.created_at
    )
    theirs = await SavedSearch.create(
        user=other, name="Theirs", query="q=graphene", next_digest_at=other.created_at
    )
    token = service.unsubscribe_token(mine)

    client.cookies.clear()
    asked = await client.get(f"/saved-searches/unsubscribe/{token}")
    assert asked.status_code == 200 and "Mine" in asked.text
    assert (await SavedSearch.get(id=mine.id)).active  # a GET changes nothing

    signature = token.partition(".")[2]
    forged = [
        f"{theirs.id.hex}.{signature}",  # my signature on their id
        f"{mine.id.hex}.{'A' * len(signature)}",
        f"{mine.id.hex}",
        "not-a-token",
    ]
    for bad in forged:
        for method in ("GET", "POST"):
            response = await client.request(
                method,
                f"/saved-searches/unsubscribe/{bad}",
                data={"csrf_token": csrf_of(asked.text)},
            )
            assert response.status_code == 404, (bad, method)
            assert "not valid" in response.text
    assert (await SavedSearch.get(id=theirs.id)).active
    assert (await SavedSearch.get(id=mine.id)).active

    done = await client.post(
        f"/saved-searches/unsubscribe/{token}", data={"csrf_token": csrf_of(asked.text)}
    )
    assert done.status_code == 200 and "no more e-mails" in done.text
    assert not (await SavedSearch.get(id=mine.id)).active
    assert (await SavedSearch.get(id=theirs.id)).active


async def test_a_strangers_saved_search_is_not_found_on_the_pages(client) -> None:
    owner, _ = await a_user(email="me@example.org")
    await a_user(email="stranger@example.org")
    mine = await SavedSearch.create(
        user=owner, name="Mine", query="q=graphene", next_digest_at=owner.created_at
    )
    await page_login(client, "stranger@example.org")
    page = (await client.get("/saved-searches")).text
    assert "Mine" not in page
    token = csrf_of(page)
    for action, data in (("frequency", {"frequency": "weekly"}), ("delete", {})):
        response = await client.post(
            f"/saved-searches/{mine.id}/{action}", data={"csrf_token": token, **data}
        )
        assert response.status_code == 404, action
    row = await SavedSearch.get(id=mine.id)
    assert row.frequency == "daily"


async def test_a_mail_clients_one_click_unsubscribe_needs_no_form(client) -> None:
    owner, _ = await a_user(email="me@example.org")
    mine = await SavedSearch.create(
        user=owner, name="Mine", query="q=graphene", next_digest_at=owner.created_at
    )
    url = f"/saved-searches/unsubscribe/{service.unsubscribe_token(mine)}"
    client.cookies.clear()
    refused = await client.post(url, data={})  # a plain cross-site POST: no token, no change
    assert refused.status_code == 403 and (await SavedSearch.get(id=mine.id)).active
    done = await client.post(url, data={"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200
    assert not (await SavedSearch.get(id=mine.id)).active
