"""What happens after payment events commit, in the worker: the parties are told (in the app
and by e-mail, templates/emails/payment_*.txt, in each one's language), with a link to the
payment and its receipt; a contract that owes nothing up front is activated by agreements (its
own events)."""

from __future__ import annotations

from typing import Any

from contracts.agreements.events import ADMINS, _admins, _members
from contracts.agreements.models import Contract, ContractState
from contracts.payments.models import Payment
from listings.labels import LICENSE
from market.config import get_settings
from market.money import Money
from market.notify import about, tell
from market.outbox import OutboxEvent

TEMPLATES = {
    "payment.succeeded": "payment_succeeded",
    "payment.failed": "payment_failed",
    "payment.refunded": "payment_refunded",
    "payment.duplicate_charge": "payment_duplicate_charge",
    "payment.intent_mismatch": "payment_intent_mismatch",
}
RECIPIENTS = {
    "payment.succeeded": ("seller", "buyer"),
    "payment.failed": ("buyer",),
    "payment.refunded": ("seller", "buyer"),
    "payment.duplicate_charge": (ADMINS,),
    "payment.intent_mismatch": (ADMINS,),
}


def payment_link(payment_id: Any) -> str:
    return f"{get_settings().base_url.rstrip('/')}/payments/{payment_id}"


async def tell_about_payment(event: OutboxEvent) -> None:
    payload = event.payload
    payment = await Payment.get_or_none(id=payload["payment_id"])
    if payment is None:
        return
    contract = await Contract.get(id=payment.contract_id).select_related(  # type: ignore[attr-defined]
        "listing", "seller", "buyer"
    )
    orgs = {"seller": contract.seller, "buyer": contract.buyer}
    link = payment_link(payment.id)
    context: dict[str, Any] = {
        "contract": contract,
        "listing": contract.listing,
        "seller": contract.seller,
        "buyer": contract.buyer,
        "license": LICENSE.text(contract.license_type),
        "payment": payment,
        "amount": Money(amount=payment.amount, currency=payment.currency).format(),
        "refunded": Money(
            amount=int(payload.get("refunded") or 0), currency=payment.currency
        ).format(),
        "message": payload.get("message", ""),
        "intent": payload.get("intent", ""),
        "differences": payload.get("differences") or {},
        # The database, not the event: an upfront payment's contract is active by now.
        "activated": payment.item == "upfront" and contract.state == ContractState.ACTIVE,
        "receipt": f"{link}/receipt.pdf",
    }
    actor_id = payload.get("actor_id")
    template = TEMPLATES[event.event_type]
    for who in RECIPIENTS[event.event_type]:
        users = await _admins() if who == ADMINS else await _members(orgs[who].id)
        for user in users:
            if str(user.id) == actor_id:
                continue
            await tell(
                user,
                template,
                dedup_key=f"{event.id}:{user.id}",
                about=about("contract", contract.id),
                link=link,
                side=who,
                **context,
            )
