"""The payments JSON API (API.md): start, read, confirm a transfer, refund, the ledger and
payouts; bad input answers 4xx naming the field and changes nothing."""

from __future__ import annotations

import httpx

from contracts.payments import ledger
from contracts.payments.models import LedgerTransaction, Payment, Refund
from market.config import Settings
from tests.builders import (
    PASSWORD,
    a_contract,
    a_verified_enterprise,
    an_admin,
    log_in,
    signatories,
)


async def as_user(client: httpx.AsyncClient, email: str) -> dict[str, str]:
    client.cookies.clear()
    return {"X-CSRF-Token": await log_in(client, email, PASSWORD)}


async def test_a_bank_transfer_through_the_api_from_start_to_ledger(
    settings: Settings, client: httpx.AsyncClient
) -> None:
    contract = await a_contract("awaiting_payment")
    _, buyer = await signatories(contract)
    admin = await an_admin()
    base = f"/api/v1/contracts/{contract.id}/payments"

    headers = await as_user(client, buyer.user.email)
    for body, field in (
        ({}, "method"),
        ({"method": "cheque"}, "method"),
        ({"method": "card", "item": "milestone-0"}, "item"),
        ({"method": "card", "extra": 1}, "extra"),
    ):
        answer = await client.post(base, json=body, headers=headers)
        assert answer.status_code == 422, body
        assert field in answer.json()["error"]["fields"], body
    assert (await client.post(base, json={"method": "bank_transfer"})).status_code == 403  # CSRF
    assert await Payment.all().count() == 0

    answer = await client.post(base, json={"method": "bank_transfer"}, headers=headers)
    assert answer.status_code == 201
    data = answer.json()
    payment_id = data["payment"]["id"]
    assert data["payment"]["state"] == "pending" and data["client_secret"] is None
    assert data["bank_transfer"]["reference"] == data["payment"]["reference"]
    shown = (await client.get(f"/api/v1/contracts/{contract.id}")).json()
    assert [p["id"] for p in shown["payments"]] == [payment_id]

    # A stranger: the same 404 as for nothing at all.
    stranger, _ = await a_verified_enterprise()
    headers = await as_user(client, stranger.email)
    assert (await client.get(f"/api/v1/payments/{payment_id}")).status_code == 404
    assert (await client.post(base, json={"method": "card"}, headers=headers)).status_code == 404

    headers = await as_user(client, admin.email)
    confirm = f"/api/v1/admin/payments/{payment_id}/confirm-transfer"
    answer = await client.post(confirm, json={"reference": ""}, headers=headers)
    assert answer.status_code == 422 and "reference" in answer.json()["error"]["fields"]
    answer = await client.post(confirm, json={"reference": "SWIFT-0042"}, headers=headers)
    assert answer.status_code == 200 and answer.json()["payment"]["state"] == "succeeded"
    answer = await client.post(confirm, json={"reference": "SWIFT-0042"}, headers=headers)
    assert answer.status_code == 409 and answer.json()["error"]["state"] == "succeeded"
    assert await LedgerTransaction.all().count() == 1

    refund = f"/api/v1/admin/payments/{payment_id}/refund"
    amount = data["payment"]["amount"]
    for body, field in (
        ({"amount": {**amount, "amount": amount["amount"] + 1}, "reason": "x"}, "amount"),
        ({"amount": {**amount, "amount": -5}, "reason": "x"}, "amount"),
        ({"amount": {**amount, "amount": "100"}, "reason": "x"}, "amount"),
        ({"amount": amount}, "reason"),
    ):
        answer = await client.post(refund, json=body, headers=headers)
        assert answer.status_code == 422, body
        assert any(k.startswith(field) for k in answer.json()["error"]["fields"]), body
    assert await Refund.all().count() == 0 and await LedgerTransaction.all().count() == 1

    answer = await client.post(
        refund,
        json={"amount": {**amount, "amount": 100_000}, "reason": "<script>alert(1)</script>"},
        headers=headers,
    )
    assert answer.status_code == 201
    assert answer.json()["payment"]["state"] == "partially_refunded"
    assert answer.json()["refund"]["reason"] == "<script>alert(1)</script>"  # JSON, not HTML

    owed = await ledger.owed_to(contract.seller_id, amount["currency"])
    book = (await client.get(f"/api/v1/admin/ledger?organization={contract.seller_id}")).json()
    assert book["owed"][0]["amount"] == {"amount": owed, "currency": amount["currency"]}
    assert all(sum(e["amount"]["amount"] for e in t["entries"]) == 0 for t in book["transactions"])

    payout = {"organization": str(contract.seller_id), "reference": "PAYOUT-1"}
    answer = await client.post(
        "/api/v1/admin/payouts",
        json={**payout, "amount": {"amount": owed + 1, "currency": amount["currency"]}},
        headers=headers,
    )
    assert answer.status_code == 422 and "amount" in answer.json()["error"]["fields"]
    answer = await client.post(
        "/api/v1/admin/payouts",
        json={**payout, "amount": {"amount": owed, "currency": amount["currency"]}},
        headers=headers,
    )
    assert answer.status_code == 201
    assert await ledger.owed_to(contract.seller_id, amount["currency"]) == 0
    assert await ledger.unbalanced_transactions() == []

    headers = await as_user(client, buyer.user.email)
    assert (await client.get("/api/v1/admin/ledger")).status_code == 403
    receipt = await client.get(f"/api/v1/payments/{payment_id}/receipt.pdf")
    assert receipt.status_code == 200 and receipt.content.startswith(b"%PDF")


async def test_the_openapi_document_lists_the_payment_endpoints(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/api/v1/openapi.json")).json()["paths"]
    for path in (
        "/api/v1/contracts/{contract_id}/payments",
        "/api/v1/payments/{payment_id}/confirm",
        "/api/v1/admin/payments/{payment_id}/confirm-transfer",
        "/api/v1/admin/payments/{payment_id}/refund",
        "/api/v1/admin/ledger",
        "/api/v1/admin/payouts",
    ):
        assert path in paths, path
