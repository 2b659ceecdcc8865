"""Receipts of paid payments, as PDF (templates/documents/receipt.html, rendered like the
agreements), for either party or an administrator."""

from __future__ import annotations

import asyncio
import logging

from contracts.agreements import documents
from contracts.payments import ledger
from contracts.payments.models import (
    PAID_STATES,
    PaymentMethod,
    RefundState,
)
from contracts.payments.service import (
    get_payment,
    items_of,
)
from market.actor import Actor
from market.errors import Conflict

log = logging.getLogger(__name__)


async def receipt_pdf(actor: Actor, payment_id: str) -> tuple[str, bytes]:
    """The receipt of a paid payment, for either party or an administrator."""
    payment, contract, refunds = await get_payment(actor, payment_id)
    if payment.state not in PAID_STATES or payment.paid_at is None:
        raise Conflict("There is a receipt once the payment is received.", state=str(payment.state))
    await contract.fetch_related("listing", "seller", "buyer")
    item = next((i for i in await items_of(contract) if i.key == payment.item), None)
    html = documents.render_receipt(
        payment=payment,
        contract=contract,
        listing=contract.listing,
        seller=contract.seller,
        buyer=contract.buyer,
        item=item.description if item else payment.item,
        method="Card" if payment.method == PaymentMethod.CARD else "Bank transfer",
        paid_at=payment.paid_at,
        refunds=[r for r in refunds if r.state == RefundState.SUCCEEDED],
        # The rate the payment was created with, as the ledger posted it; never today's.
        fee=ledger.platform_fee(payment.amount, payment.fee_percent),
        fee_percent=documents.percent(payment.fee_percent).removesuffix("%"),
    )
    pdf = await asyncio.to_thread(documents.to_pdf, html)
    return f"receipt-{payment.reference}.pdf", pdf
