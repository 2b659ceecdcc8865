"""Receipts are rendered once (WeasyPrint is slow) and stored with their SHA-256: later
requests, from the page or the API, serve the stored bytes; a refund makes a new edition,
rendered once in turn."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx
import pytest

from contracts.payments import receipts, refunds
from contracts.payments import service as payments
from contracts.payments.models import Payment, Receipt
from market.money import Money
from tests.builders import a_contract, actor_of, an_admin, signatories
from tests.contracts.test_payment_pages import as_buyer


async def a_paid_transfer() -> Payment:
    contract = await a_contract("awaiting_payment")
    _, buyer = await signatories(contract)
    started = await payments.start_payment(buyer, str(contract.id), "bank_transfer")
    officer = await actor_of(await an_admin())
    return await payments.confirm_transfer(officer, str(started.payment.id), "BANK-RCPT-1")


@pytest.fixture
def renders(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every call of our own render function (which still renders: a spy, not a mock)."""
    calls: list[Any] = []
    real = receipts.render_receipt

    async def spy(payment: Any, contract: Any, listed: Any) -> bytes:
        calls.append(payment.id)
        return await real(payment, contract, listed)

    monkeypatch.setattr(receipts, "render_receipt", spy)
    return calls


async def test_a_receipt_is_rendered_once_and_served_as_stored(
    client: httpx.AsyncClient, renders: list[Any]
) -> None:
    payment = await a_paid_transfer()
    await as_buyer(client, await payment.contract)
    url = f"/payments/{payment.id}/receipt.pdf"

    first = await client.get(url)
    assert first.status_code == 200 and first.content.startswith(b"%PDF")
    assert renders == [payment.id]
    [stored] = await Receipt.filter(payment_id=payment.id)
    assert stored.sha256 == hashlib.sha256(first.content).hexdigest()
    assert bytes(stored.pdf) == first.content
    assert first.headers["etag"] == f'"{stored.sha256}"'

    again = await client.get(url)
    from_api = await client.get(f"/api/v1/payments/{payment.id}/receipt.pdf")
    for answer in (again, from_api):
        assert answer.status_code == 200
        assert answer.content == first.content
        assert hashlib.sha256(answer.content).hexdigest() == stored.sha256
        assert answer.headers["etag"] == f'"{stored.sha256}"'
    assert renders == [payment.id]  # not rendered again
    assert await Receipt.filter(payment_id=payment.id).count() == 1


async def test_a_refund_makes_a_new_edition_rendered_once(
    client: httpx.AsyncClient, renders: list[Any]
) -> None:
    payment = await a_paid_transfer()
    await as_buyer(client, await payment.contract)
    url = f"/payments/{payment.id}/receipt.pdf"
    before = (await client.get(url)).content

    officer = await actor_of(await an_admin())
    part = Money(amount=1_000, currency=payment.currency)
    await refunds.refund_payment(officer, str(payment.id), part, "Partly cancelled")
    after = await client.get(url)
    assert after.content != before and len(renders) == 2
    assert (await client.get(url)).content == after.content and len(renders) == 2
    editions = await Receipt.filter(payment_id=payment.id).order_by("refunds")
    assert [e.refunds for e in editions] == [0, 1]
    assert editions[1].sha256 == hashlib.sha256(after.content).hexdigest()
