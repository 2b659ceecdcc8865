"""The saved-searches API end to end: saving, listing, changing, deleting; bad input names the
field and saves nothing; a stranger's saved search is a 404 to see, change or delete."""

from __future__ import annotations

from alerts import service
from alerts.models import SavedSearch
from tests.builders import a_user, copies, log_in


async def _signed_in(client, email: str) -> dict[str, str]:
    await a_user(email=email)
    return {"X-CSRF-Token": await log_in(client, email)}


async def test_save_list_change_and_delete(client) -> None:
    me = await _signed_in(client, "me@example.org")
    made = await client.post(
        "/api/v1/saved-searches",
        json={
            "name": "  Membranes ",
            "query": "?kind=patent&q=graphene  membrane&page=3&trl_min=4",
            "frequency": "weekly",
        },
        headers=me,
    )
    assert made.status_code == 201, made.text
    saved = made.json()
    # Stored as the search page builds it: canonical order, no page.
    assert saved["query"] == "q=graphene+membrane&kind=patent&trl_min=4"
    assert saved["url"] == "/search?q=graphene+membrane&kind=patent&trl_min=4"
    assert saved["name"] == "Membranes" and saved["kind"] == "listings"
    assert saved["frequency"] == "weekly" and saved["active"] is True

    needs = await client.post(
        "/api/v1/saved-searches",
        json={"name": "Needs", "query": "/needs?q=membrane", "frequency": "daily", "kind": "needs"},
        headers=me,
    )
    assert needs.status_code == 201 and needs.json()["url"] == "/needs?q=membrane"

    listed = (await client.get("/api/v1/saved-searches")).json()
    assert [s["name"] for s in listed["items"]] == ["Needs", "Membranes"]

    changed = await client.patch(
        f"/api/v1/saved-searches/{saved['id']}", json={"frequency": "daily"}, headers=me
    )
    assert changed.status_code == 200 and changed.json()["frequency"] == "daily"
    gone = await client.delete(f"/api/v1/saved-searches/{saved['id']}", headers=me)
    assert gone.status_code == 200
    assert (await client.get(f"/api/v1/saved-searches/{saved['id']}")).status_code == 404
    assert await SavedSearch.all().count() == 1


async def test_bad_input_names_the_field_and_saves_nothing(client) -> None:
    me = await _signed_in(client, "me@example.org")
    good = {"name": "Membranes", "query": "q=graphene", "frequency": "daily"}
    cases = [
        ({"frequency": "hourly"}, "frequency"),
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 121}, "name"),
        ({"query": ""}, "query"),
        ({"query": "?"}, "query"),
        ({"query": "q=" + "x" * 2000}, "query"),
        ({"query": "q=graphene&kind=spaceship"}, "query"),
        ({"query": "q=graphene&colour=blue"}, "query"),
        ({"query": "trl_min=7&trl_max=2"}, "query"),
        ({"query": "q=membrane&cooperation=barter", "kind": "needs"}, "query"),
        ({"query": "q=membrane&kind=patent", "kind": "needs"}, "query"),
        ({"kind": "people"}, "kind"),
        ({"owner": "someone"}, "owner"),
    ]
    for change, field in cases:
        response = await client.post("/api/v1/saved-searches", json={**good, **change}, headers=me)
        assert response.status_code == 422, (change, response.text)
        assert field in response.json()["error"]["fields"], (change, response.json())
    assert await SavedSearch.all().count() == 0

    client.cookies.clear()
    anonymous = await client.post("/api/v1/saved-searches", json=good)
    assert anonymous.status_code == 401
    assert await SavedSearch.all().count() == 0


async def test_a_user_keeps_at_most_fifty(client) -> None:
    me = await _signed_in(client, "me@example.org")
    good = {"name": "Membranes", "query": "q=graphene", "frequency": "daily"}
    first = await client.post("/api/v1/saved-searches", json=good, headers=me)
    row = await SavedSearch.get(id=first.json()["id"])
    assert service.MAX_PER_USER == 50  # the refusal's words say so
    await copies(row, service.MAX_PER_USER - 1)
    refused = await client.post("/api/v1/saved-searches", json=good, headers=me)
    assert refused.status_code == 422 and "name" in refused.json()["error"]["fields"]
    assert await SavedSearch.all().count() == service.MAX_PER_USER


async def test_a_stranger_can_neither_see_nor_change_nor_delete_it(client) -> None:
    owner = await _signed_in(client, "owner@example.org")
    made = await client.post(
        "/api/v1/saved-searches",
        json={"name": "Mine", "query": "q=graphene", "frequency": "daily"},
        headers=owner,
    )
    search_id = made.json()["id"]

    client.cookies.clear()
    stranger = await _signed_in(client, "stranger@example.org")
    assert (await client.get("/api/v1/saved-searches")).json()["items"] == []
    url = f"/api/v1/saved-searches/{search_id}"
    assert (await client.get(url)).status_code == 404
    patched = await client.patch(url, json={"frequency": "weekly"}, headers=stranger)
    assert patched.status_code == 404
    assert (await client.delete(url, headers=stranger)).status_code == 404
    assert (
        await client.delete("/api/v1/saved-searches/nonsense", headers=stranger)
    ).status_code == 404
    row = await SavedSearch.get(id=search_id)
    assert row.frequency == "daily"
