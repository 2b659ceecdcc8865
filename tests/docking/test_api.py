"""The needs API end to end through the ASGI app: an enterprise's scouting tool posts a need,
an administrator moderates it, anyone reads it; refusals name the field; an anonymous
seeker stays out of every answer to anyone else."""

from __future__ import annotations

from docking.models import Need
from tests.builders import a_published_need, a_verified_enterprise, an_admin, log_in, need_data

SECRET = "Secretive Steel AG"


async def _enterprise(client, email: str = "buyer@example.org", **org) -> dict[str, str]:
    await a_verified_enterprise(email=email, organization=org)
    return {"X-CSRF-Token": await log_in(client, email)}


async def test_post_submit_moderate_and_read_publicly(client) -> None:
    seeker = await _enterprise(client)
    created = await client.post("/api/v1/needs", json=need_data(), headers=seeker)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["state"] == "draft" and body["actions"] == ["submit", "withdraw"]
    need = body["need"]
    assert need["budget_max"] == {"amount": 20_000_000, "currency": "USD"}
    assert need["ipc"][0]["code"] == "B01D 69/12" and need["ipc"][0]["title"]
    nid = need["id"]
    patched = await client.patch(f"/api/v1/needs/{nid}", json={"trl_min": 8}, headers=seeker)
    assert patched.status_code == 422 and "trl_max" in patched.json()["error"]["fields"]
    submitted = await client.post(f"/api/v1/needs/{nid}/submit", headers=seeker)
    assert submitted.json()["state"] == "submitted"
    again = await client.post(f"/api/v1/needs/{nid}/submit", headers=seeker)
    assert again.status_code == 409 and again.json()["error"]["state"] == "submitted"
    approve = await client.post(f"/api/v1/admin/needs/{nid}/approve", headers=seeker)
    assert approve.status_code == 403

    client.cookies.clear()
    assert (await client.get(f"/api/v1/needs/{nid}")).status_code == 404
    await an_admin("admin@example.org")
    admin = {"X-CSRF-Token": await log_in(client, "admin@example.org")}
    queue = (await client.get("/api/v1/admin/needs?state=submitted")).json()
    assert [x["id"] for x in queue["items"]] == [nid]
    refused = await client.post(f"/api/v1/admin/needs/{nid}/reject", json={}, headers=admin)
    assert refused.status_code == 422 and "reason" in refused.json()["error"]["fields"]
    rejected = await client.post(
        f"/api/v1/admin/needs/{nid}/reject", json={"reason": "Name no supplier"}, headers=admin
    )
    assert rejected.json()["need"]["rejection_reason"] == "Name no supplier"

    client.cookies.clear()
    seeker = {"X-CSRF-Token": await log_in(client, "buyer@example.org")}
    await client.post(f"/api/v1/needs/{nid}/submit", headers=seeker)
    client.cookies.clear()
    admin = {"X-CSRF-Token": await log_in(client, "admin@example.org")}
    approved = await client.post(f"/api/v1/admin/needs/{nid}/approve", headers=admin)
    assert approved.json()["state"] == "published"

    client.cookies.clear()
    public = (await client.get(f"/api/v1/needs/{nid}")).json()
    assert public["need"]["published_at"] and "actions" not in public
    assert "rejection_reason" not in public["need"]
    listed = (await client.get("/api/v1/needs?q=membrane&cooperation=license&per_page=5")).json()
    assert listed["total"] == 1 and listed["items"][0]["id"] == nid
    assert (await client.get("/api/v1/needs?state=bogus")).status_code == 422


async def test_bad_input_names_each_field_and_creates_nothing(client) -> None:
    seeker = await _enterprise(client)
    bad = need_data(
        budget_min={"amount": 9_000_000, "currency": "USD"},
        budget_max={"amount": 1_000, "currency": "USD"},
        trl_min=6,
        trl_max=2,
        deadline="2001-01-01",
        ipc_codes=["ZZ99 1/1"],
        title="<script>" * 40,
    )
    response = await client.post("/api/v1/needs", json=bad, headers=seeker)
    assert response.status_code == 422
    fields = response.json()["error"]["fields"]
    assert {"budget_max", "trl_max", "deadline", "ipc_codes.0", "title"} <= set(fields), fields
    missing = await client.post("/api/v1/needs", json={"title": "Only a title"}, headers=seeker)
    assert {"problem", "trl_min", "trl_max", "deadline"} <= set(missing.json()["error"]["fields"])
    assert await Need.all().count() == 0


async def test_an_anonymous_seeker_is_in_no_answer_but_its_own(client) -> None:
    owner, org = await a_verified_enterprise(
        email="secret@example.org", organization={"name": SECRET}
    )
    need = await a_published_need(owner, visibility="anonymous")
    # Its profile names it, and so lists no anonymous need.
    profile = await client.get(f"/api/v1/organizations/{org.slug}")
    assert profile.status_code == 200 and profile.json()["needs"] == []
    answers = [
        await client.get(f"/api/v1/needs/{need.id}"),
        await client.get("/api/v1/needs?q=membrane"),
    ]
    assert answers[0].json()["need"]["seeker"] is None
    assert answers[1].json()["total"] == 1
    for answer in answers:
        assert answer.status_code == 200
        assert SECRET not in answer.text and str(org.id) not in answer.text
        assert str(owner.id) not in answer.text and owner.email not in answer.text

    await log_in(client, "secret@example.org")
    own = (await client.get(f"/api/v1/needs/{need.id}")).json()
    assert own["need"]["seeker"]["name"] == SECRET and own["need"]["anonymous"]
