"""The listings API end to end through the ASGI app, as an institute's portfolio system uses it."""

from listings.models import Listing
from tests.builders import a_published_listing, a_verified_institute, an_admin, listing_data, log_in


async def _institute_client(client, email: str = "inst@example.org") -> dict[str, str]:
    await a_verified_institute(email=email)
    return {"X-CSRF-Token": await log_in(client, email)}


async def test_create_submit_approve_and_read_publicly(client) -> None:
    headers = await _institute_client(client)
    created = await client.post("/api/v1/listings", json=listing_data(), headers=headers)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["state"] == "draft"
    listing = body["listing"]
    assert listing["asking_price"] == {"amount": 15_000_000, "currency": "USD"}
    assert listing["ipc"][0]["code"] == "B01D 69/12" and listing["ipc"][0]["title"]
    lid = listing["id"]

    submitted = await client.post(f"/api/v1/listings/{lid}/submit", headers=headers)
    assert submitted.json()["state"] == "submitted"
    again = await client.post(f"/api/v1/listings/{lid}/submit", headers=headers)
    assert again.status_code == 409 and again.json()["error"]["state"] == "submitted"

    client.cookies.clear()
    assert (await client.get(f"/api/v1/listings/{lid}")).status_code == 404
    await an_admin("admin@example.org")
    admin = {"X-CSRF-Token": await log_in(client, "admin@example.org")}
    queue = (await client.get("/api/v1/admin/listings?state=submitted")).json()
    assert [x["id"] for x in queue["items"]] == [lid]
    assert queue["items"][0]["institute"]["name"]
    approved = await client.post(f"/api/v1/admin/listings/{lid}/approve", headers=admin)
    assert approved.json()["state"] == "published"

    client.cookies.clear()
    public = await client.get(f"/api/v1/listings/{lid}")
    assert public.status_code == 200 and "actions" not in public.json()
    page = (await client.get("/api/v1/listings?per_page=5")).json()
    assert page["total"] == 1 and page["per_page"] == 5 and page["items"][0]["id"] == lid


async def test_errors_name_the_field_and_create_nothing(client) -> None:
    headers = await _institute_client(client)
    bad = listing_data(
        trl=12, ipc_codes=["ZZ99 1/1"], asking_price={"amount": -5, "currency": "US"}
    )
    response = await client.post("/api/v1/listings", json=bad, headers=headers)
    assert response.status_code == 422
    fields = response.json()["error"]["fields"]
    assert {"trl", "ipc_codes.0", "asking_price.amount", "asking_price.currency"} <= set(fields)
    assert await Listing.all().count() == 0
    missing = await client.post("/api/v1/listings", json={"kind": "patent"}, headers=headers)
    assert {"title", "summary"} <= set(missing.json()["error"]["fields"])


async def test_another_institute_cannot_edit_or_submit(client) -> None:
    owner, _ = await a_verified_institute(email="owner@example.org")
    listing = await a_published_listing(owner)
    headers = await _institute_client(client, "rival@example.org")
    edit = await client.patch(
        f"/api/v1/listings/{listing.id}", json={"title": "Stolen"}, headers=headers
    )
    assert edit.status_code == 403
    withdraw = await client.post(f"/api/v1/listings/{listing.id}/withdraw", headers=headers)
    assert withdraw.status_code == 403
    approve = await client.post(f"/api/v1/admin/listings/{listing.id}/approve", headers=headers)
    assert approve.status_code == 403
    assert (await Listing.get(id=listing.id)).title == listing.title


async def test_a_published_edit_becomes_a_revision_the_admin_approves(client) -> None:
    owner, _ = await a_verified_institute(email="owner@example.org")
    listing = await a_published_listing(owner)
    headers = {"X-CSRF-Token": await log_in(client, "owner@example.org")}
    patched = await client.patch(
        f"/api/v1/listings/{listing.id}", json={"title": "Sharper title"}, headers=headers
    )
    body = patched.json()
    assert body["listing"]["title"] == listing.title
    revision_id = body["revision"]["id"]
    mine = (await client.get(f"/api/v1/listings/{listing.id}")).json()
    assert mine["pending_revision"]["changes"] == {"title": "Sharper title"}
    assert mine["actions"] == ["withdraw"]

    client.cookies.clear()
    await an_admin("admin@example.org")
    admin = {"X-CSRF-Token": await log_in(client, "admin@example.org")}
    pending = (await client.get("/api/v1/admin/revisions")).json()["items"]
    assert [r["id"] for r in pending] == [revision_id]
    approved = await client.post(f"/api/v1/admin/revisions/{revision_id}/approve", headers=admin)
    assert approved.json()["listing"]["title"] == "Sharper title"


async def test_mine_lists_all_states_of_my_institute_only(client) -> None:
    owner, _ = await a_verified_institute(email="owner@example.org")
    await a_published_listing(owner)
    await a_published_listing()
    await log_in(client, "owner@example.org")
    mine = (await client.get("/api/v1/listings?mine=1")).json()
    assert mine["total"] == 1
    assert (await client.get("/api/v1/listings?per_page=1000")).status_code == 422
    assert (await client.get("/api/v1/listings?state=bogus")).status_code == 422
