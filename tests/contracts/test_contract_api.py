"""The contracts API end to end through the ASGI app and a real arq worker: the parties read,
download, sign and cancel as their own systems would; administrators decide. Every refusal
gets its status and changes nothing."""

from __future__ import annotations

import uuid
from typing import Any

from contracts.agreements.models import Contract, ContractDocument, Signature
from market.accounts import service as accounts
from market.accounts.models import Organization, User
from market.accounts.schemas import TokenIn
from market.audit import AuditEntry
from market.outbox import OutboxEvent
from tests.builders import (
    PASSWORD,
    a_colleague,
    a_contract,
    a_verified_enterprise,
    actor_of,
    an_admin,
    log_in,
    run_worker,
    signatories,
)
from tests.listings.test_pages import QueryCounter

HOSTILE = "<script>alert(1)</script>"


async def bearer(user: User) -> dict[str, str]:
    """A personal API token's header (no cookie, no CSRF)."""
    _, raw = await accounts.create_api_token(await actor_of(user), TokenIn(name="tests"))
    return {"Authorization": f"Bearer {raw}"}


async def snapshot(contract_id: Any) -> dict[str, Any]:
    """What a refused call must leave as it was."""
    return {
        "contract": await Contract.filter(id=contract_id).values(),
        "documents": await ContractDocument.filter(contract_id=contract_id).values_list(
            "number", "sha256"
        ),
        "signatures": await Signature.filter(contract_id=contract_id).values_list(
            "side", "full_name", "document_sha256"
        ),
        "audit": await AuditEntry.filter(object_id=str(contract_id)).count(),
        "events": await OutboxEvent.all().count(),
    }


async def refused(client, status: int, method: str, path: str, contract_id: Any, **kw: Any):
    before = await snapshot(contract_id)
    response = await client.request(method, path, **kw)
    assert response.status_code == status, response.text
    assert await snapshot(contract_id) == before
    return response.json()["error"]


# --- reading -----------------------------------------------------------------------------------


async def test_a_party_lists_reads_and_downloads(client) -> None:
    contract = await a_contract("pending_approval")
    seller, _ = await signatories(contract)
    headers = await bearer(seller.user)

    listed = await client.get("/api/v1/contracts", headers=headers)
    assert listed.status_code == 200
    data = listed.json()
    assert (data["total"], data["page"], data["per_page"]) == (1, 1, 20)
    [item] = data["items"]
    assert item["id"] == str(contract.id) and item["state"] == "pending_approval"
    assert item["listing"]["id"] == str(contract.listing_id)
    assert item["seller"]["id"] == str(contract.seller_id)
    assert item["buyer"]["id"] == str(contract.buyer_id)
    assert item["amount_due"] == {"amount": contract.amount_due, "currency": contract.currency}
    by_state = await client.get("/api/v1/contracts?state=signed", headers=headers)
    assert by_state.json()["total"] == 0
    bogus = await client.get("/api/v1/contracts?state=bogus", headers=headers)
    assert bogus.status_code == 422 and bogus.json()["error"]["fields"]["state"]

    shown = await client.get(f"/api/v1/contracts/{contract.id}", headers=headers)
    assert shown.status_code == 200
    body = shown.json()
    assert body["contract"]["id"] == str(contract.id)
    assert body["offer_id"] == str(contract.offer_id)
    assert body["state"] == "pending_approval"
    assert body["document_sha256"] == contract.document_sha256
    [version] = body["versions"]
    assert version["number"] == 1 and version["sha256"] == contract.document_sha256
    assert version["kind"] == "agreement"
    assert body["signatures"] == [] and body["payments"] == []
    assert body["actions"] == ["cancel"] and body["side"] == "seller"

    pdf = await client.get(f"/api/v1/contracts/{contract.id}/document.pdf", headers=headers)
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.headers["content-disposition"].startswith("attachment;")
    assert f"{contract.reference}-v1.pdf" in pdf.headers["content-disposition"]
    assert pdf.content.startswith(b"%PDF")
    missing = await client.get(
        f"/api/v1/contracts/{contract.id}/document.pdf?version=7", headers=headers
    )
    assert missing.status_code == 404
    bad = await client.get(
        f"/api/v1/contracts/{contract.id}/document.pdf?version=x", headers=headers
    )
    assert bad.status_code == 422


async def test_a_stranger_gets_404_as_for_a_contract_that_does_not_exist(client) -> None:
    contract = await a_contract("awaiting_signatures")
    stranger, _ = await a_verified_enterprise()
    headers = await bearer(stranger)
    for cid in (str(contract.id), str(uuid.uuid4()), "not-an-id"):
        for path in ("", "/document.pdf"):
            response = await client.get(f"/api/v1/contracts/{cid}{path}", headers=headers)
            assert response.status_code == 404, (cid, path)
            assert response.json()["error"]["code"] == "not_found"
        error = await refused(
            client,
            404,
            "POST",
            f"/api/v1/contracts/{cid}/sign",
            contract.id,
            headers=headers,
            json={
                "full_name": "Eve Stranger",
                "document_sha256": contract.document_sha256,
                "password": PASSWORD,
            },
        )
        assert error["message"] == "No such contract."
    listed = (await client.get("/api/v1/contracts", headers=headers)).json()
    assert listed["items"] == [] and listed["total"] == 0
    anonymous = await client.get(f"/api/v1/contracts/{contract.id}")
    assert anonymous.status_code == 401


# --- the administrators' decision ----------------------------------------------------------------


async def test_an_administrator_approves_rejects_or_asks_for_changes(
    client, settings, redis_client
) -> None:
    admin = await bearer(await an_admin())
    first = await a_contract("pending_approval")
    seller, _ = await signatories(first)

    # Parties do not approve their own trade.
    await refused(
        client,
        403,
        "POST",
        f"/api/v1/admin/contracts/{first.id}/approve",
        first.id,
        headers=await bearer(seller.user),
    )
    approved = await client.post(f"/api/v1/admin/contracts/{first.id}/approve", headers=admin)
    assert approved.status_code == 200, approved.text
    assert approved.json()["state"] == "approved"
    assert approved.json()["contract"]["seller"]["id"] == str(first.seller_id)
    error = await refused(
        client, 409, "POST", f"/api/v1/admin/contracts/{first.id}/approve", first.id, headers=admin
    )
    assert error["state"] == "approved"
    await run_worker(settings)
    assert (await Contract.get(id=first.id)).state == "awaiting_signatures"

    second = await a_contract("pending_approval")
    for payload in ({}, {"reason": ""}, {"reason": "  "}, {"reason": "no"}):
        error = await refused(
            client,
            422,
            "POST",
            f"/api/v1/admin/contracts/{second.id}/reject",
            second.id,
            headers=admin,
            json=payload,
        )
        assert "reason" in error["fields"], payload
        await refused(
            client,
            422,
            "POST",
            f"/api/v1/admin/contracts/{second.id}/request-changes",
            second.id,
            headers=admin,
            json=payload,
        )
    changed = await client.post(
        f"/api/v1/admin/contracts/{second.id}/request-changes",
        headers=admin,
        json={"reason": "Name the governing law."},
    )
    assert changed.status_code == 200 and changed.json()["state"] == "drafted"
    await run_worker(settings)  # version 2, submitted again
    shown = (await client.get(f"/api/v1/contracts/{second.id}", headers=admin)).json()
    assert shown["state"] == "pending_approval"
    assert [(v["number"], v["reason"]) for v in shown["versions"]] == [
        (1, None),
        (2, "Name the governing law."),
    ]
    rejected = await client.post(
        f"/api/v1/admin/contracts/{second.id}/reject",
        headers=admin,
        json={"reason": "Sanctions " + HOSTILE},
    )
    assert rejected.status_code == 200
    assert rejected.json()["state"] == "rejected"
    assert rejected.json()["contract"]["reason"] == "Sanctions " + HOSTILE  # JSON, as typed


# --- signing -------------------------------------------------------------------------------------


async def test_both_sides_sign_through_the_api_and_the_worker_finishes(
    client, settings, redis_client
) -> None:
    contract = await a_contract("awaiting_signatures")
    seller, buyer = await signatories(contract)
    sha = contract.document_sha256
    path = f"/api/v1/contracts/{contract.id}/sign"

    # The seller's owner through the browser session: the CSRF header is needed.
    csrf = await log_in(client, seller.user.email)
    await refused(
        client,
        403,
        "POST",
        path,
        contract.id,
        json={"full_name": "Li Wei", "document_sha256": sha, "password": PASSWORD},
    )
    signed = await client.post(
        path,
        json={"full_name": "Li Wei", "document_sha256": sha.upper(), "password": PASSWORD},
        headers={"X-CSRF-Token": csrf, "User-Agent": "portfolio-sync/1.0"},
    )
    assert signed.status_code == 201, signed.text
    body = signed.json()
    assert body["state"] == "awaiting_signatures"
    assert body["signature"]["side"] == "seller"
    assert body["signature"]["full_name"] == "Li Wei"
    assert body["signature"]["document_sha256"] == sha
    [row] = await Signature.filter(contract_id=contract.id)
    assert row.user_agent == "portfolio-sync/1.0"
    # Twice is refused.
    error = await refused(
        client,
        409,
        "POST",
        path,
        contract.id,
        json={"full_name": "Li Wei", "document_sha256": sha, "password": PASSWORD},
        headers={"X-CSRF-Token": csrf},
    )
    assert "already" in error["message"]
    shown = (await client.get(f"/api/v1/contracts/{contract.id}")).json()
    assert shown["actions"] == ["cancel"]
    assert [s["side"] for s in shown["signatures"]] == ["seller"]

    client.cookies.clear()
    signed = await client.post(
        path,
        json={"full_name": "Anna Schmidt", "document_sha256": sha, "password": PASSWORD},
        headers=await bearer(buyer.user),
    )
    assert signed.status_code == 201, signed.text
    assert signed.json()["state"] == "signed"
    await run_worker(settings)

    done = (
        await client.get(f"/api/v1/contracts/{contract.id}", headers=await bearer(buyer.user))
    ).json()
    assert done["state"] == "awaiting_payment"
    assert [(v["number"], v["kind"]) for v in done["versions"]] == [(1, "agreement"), (2, "signed")]
    assert done["contract"]["signed_document_number"] == 2
    assert done["actions"] == []
    pdf = await client.get(
        f"/api/v1/contracts/{contract.id}/document.pdf", headers=await bearer(buyer.user)
    )
    assert pdf.status_code == 200
    assert f"{done['contract']['reference']}-signed.pdf" in pdf.headers["content-disposition"]


async def test_signing_refusals_change_nothing(client) -> None:
    contract = await a_contract("awaiting_signatures")
    seller, _ = await signatories(contract)
    headers = await bearer(seller.user)
    path = f"/api/v1/contracts/{contract.id}/sign"
    sha = contract.document_sha256

    # A well-formed hash of another document.
    error = await refused(
        client,
        409,
        "POST",
        path,
        contract.id,
        headers=headers,
        json={"full_name": "Li Wei", "document_sha256": "0" * 64, "password": PASSWORD},
    )
    assert error["state"] == "awaiting_signatures" and "document_sha256" in error["fields"]
    for payload, field in (
        ({"full_name": "Li Wei", "document_sha256": "abc"}, "document_sha256"),
        ({"full_name": "Li Wei", "document_sha256": "g" * 64}, "document_sha256"),
        ({"full_name": "Li", "document_sha256": sha}, "full_name"),
        ({"full_name": "L" * 201, "document_sha256": sha}, "full_name"),
        ({"document_sha256": sha}, "full_name"),
        ({"full_name": "Li Wei"}, "document_sha256"),
        ({"full_name": "Li Wei", "document_sha256": sha, "extra": 1}, "extra"),
    ):
        error = await refused(client, 422, "POST", path, contract.id, headers=headers, json=payload)
        assert field in error["fields"], payload

    # A plain member of the institute may read the contract but not sign it.
    member = await a_colleague(await Organization.get(id=contract.seller_id))
    error = await refused(
        client,
        403,
        "POST",
        path,
        contract.id,
        headers=await bearer(member),
        json={"full_name": "Plain Member", "document_sha256": sha, "password": PASSWORD},
    )
    assert "Only members who may sign for" in error["message"]
    # Administrators do not sign.
    await refused(
        client,
        403,
        "POST",
        path,
        contract.id,
        headers=await bearer(await an_admin()),
        json={"full_name": "The Admin", "document_sha256": sha, "password": PASSWORD},
    )


async def test_signing_before_approval_is_refused_with_the_state(client) -> None:
    contract = await a_contract("pending_approval")
    seller, _ = await signatories(contract)
    error = await refused(
        client,
        409,
        "POST",
        f"/api/v1/contracts/{contract.id}/sign",
        contract.id,
        headers=await bearer(seller.user),
        json={
            "full_name": "Li Wei",
            "document_sha256": contract.document_sha256,
            "password": PASSWORD,
        },
    )
    assert error["state"] == "pending_approval"


async def test_a_party_cancels_with_or_without_a_reason(client) -> None:
    first = await a_contract("awaiting_signatures")
    _, buyer = await signatories(first)
    headers = await bearer(buyer.user)
    cancelled = await client.post(f"/api/v1/contracts/{first.id}/cancel", headers=headers)
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
    error = await refused(
        client, 409, "POST", f"/api/v1/contracts/{first.id}/cancel", first.id, headers=headers
    )
    assert error["state"] == "cancelled"

    second = await a_contract("approved")
    seller, _ = await signatories(second)
    cancelled = await client.post(
        f"/api/v1/contracts/{second.id}/cancel",
        headers=await bearer(seller.user),
        json={"reason": "We changed our minds."},
    )
    assert cancelled.json()["contract"]["reason"] == "We changed our minds."


# --- the document and the cost ------------------------------------------------------------------


async def test_the_list_costs_a_fixed_number_of_queries(client, monkeypatch) -> None:
    admin = await bearer(await an_admin())
    await a_contract("pending_approval")
    # A token's first use records when it was used (then once every few minutes): not a
    # cost of the list.
    await client.get("/api/v1/me", headers=admin)
    counter = QueryCounter(monkeypatch)
    one = await counter.during(client.get("/api/v1/contracts", headers=admin))
    for _ in range(3):
        await a_contract("pending_approval")
    four = await counter.during(client.get("/api/v1/contracts", headers=admin))
    assert four == one
    assert (await client.get("/api/v1/contracts", headers=admin)).json()["total"] == 4


async def test_the_openapi_document_lists_the_contract_endpoints(client) -> None:
    document = (await client.get("/api/v1/openapi.json")).json()
    paths = document["paths"]
    expected = {
        "/api/v1/contracts": {"get": None},
        "/api/v1/contracts/{contract_id}": {"get": None},
        "/api/v1/contracts/{contract_id}/document.pdf": {"get": None},
        "/api/v1/contracts/{contract_id}/sign": {"post": "SignIn"},
        "/api/v1/contracts/{contract_id}/cancel": {"post": "CancelIn"},
        "/api/v1/admin/contracts/{contract_id}/approve": {"post": None},
        "/api/v1/admin/contracts/{contract_id}/reject": {"post": "ReasonRequiredIn"},
        "/api/v1/admin/contracts/{contract_id}/request-changes": {"post": "ReasonRequiredIn"},
    }
    for path, methods in expected.items():
        assert path in paths, path
        for method, schema in methods.items():
            operation = paths[path][method]
            assert operation["tags"] == ["contracts"]
            if schema is None:
                assert "requestBody" not in operation
            else:
                ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
                assert ref == f"#/components/schemas/{schema}"
    sign = document["components"]["schemas"]["SignIn"]
    assert sign["properties"]["document_sha256"]["pattern"] == "^[0-9a-fA-F]{64}$"
    assert sign["properties"]["full_name"]["minLength"] == 3
    assert set(sign["required"]) == {"full_name", "document_sha256"}
