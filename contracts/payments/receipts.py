"""Receipts of paid payments, as PDF (templates/documents/receipt.html, rendered like the
agreements), for either party or an administrator.

A receipt is rendered once (WeasyPrint is slow and CPU-bound) and stored with its SHA-256
(`Receipt`); every later request serves the stored bytes. A refund that succeeds changes what
the receipt says, so the next request renders and stores that edition once in turn."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass

from tortoise.exceptions import IntegrityError

from contracts.agreements import documents
from contracts.agreements.models import Contract
from contracts.payments import ledger
from contracts.payments.models import (
    PAID_STATES,
    Payment,
    PaymentMethod,
    Receipt,
    Refund,
    RefundState,
)
from contracts.payments.service import (
    get_payment,
    items_of,
)
from market.actor import Actor
from market.errors import Conflict

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StoredReceipt:
    filename: str
    pdf: bytes
    sha256: str


async def receipt(actor: Actor, payment_id: str) -> StoredReceipt:
    """The receipt of a paid payment, for either party or an administrator: as stored when it
    was first asked for, rendered now only if this edition never was."""
    payment, contract, refunds = await get_payment(actor, payment_id)
    if payment.state not in PAID_STATES or payment.paid_at is None:
        raise Conflict("There is a receipt once the payment is received.", state=str(payment.state))
    listed = [r for r in refunds if r.state == RefundState.SUCCEEDED]
    filename = f"receipt-{payment.reference}.pdf"
    stored = await Receipt.get_or_none(payment_id=payment.id, refunds=len(listed))
    if stored is None:
        pdf = await render_receipt(payment, contract, listed)
        try:
            stored = await Receipt.create(
                payment_id=payment.id,
                refunds=len(listed),
                sha256=hashlib.sha256(pdf).hexdigest(),
                pdf=pdf,
            )
        except IntegrityError:
            # Two first requests at once: the one stored first is the receipt.
            stored = await Receipt.get(payment_id=payment.id, refunds=len(listed))
    return StoredReceipt(filename, bytes(stored.pdf), stored.sha256)


async def receipt_pdf(actor: Actor, payment_id: str) -> tuple[str, bytes]:
    """The receipt's file name and PDF bytes (see `receipt`)."""
    found = await receipt(actor, payment_id)
    return found.filename, found.pdf


async def render_receipt(payment: Payment, contract: Contract, refunds: list[Refund]) -> bytes:
    """Render a receipt's PDF (slow: WeasyPrint, in a thread). The parties and the listing are
    named as the contract was drawn (its snapshot), never as they are called today."""
    item = next((i for i in await items_of(contract) if i.key == payment.item), None)
    html = documents.render_receipt(
        payment=payment,
        contract=contract,
        item=item.description if item else payment.item,
        method="Card" if payment.method == PaymentMethod.CARD else "Bank transfer",
        paid_at=payment.paid_at,
        refunds=refunds,
        # The rate the payment was created with, as the ledger posted it; never today's.
        fee=ledger.platform_fee(payment.amount, payment.fee_percent),
        fee_percent=documents.percent(payment.fee_percent).removesuffix("%"),
    )
    return await asyncio.to_thread(documents.to_pdf, html)
