"""Refunds, full or in parts, with a reason and never more than was paid: asked for by an
administrator, carried out at Stripe for a card (same idempotency key `refund:<id>:create` on
every try) or by the bank, then posted to the ledger (the fee returned on the cumulative
refunded amount, at the payment's own rate) and applied to the payment by its table."""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from contracts.agreements.models import Contract
from contracts.payments import gateway, ledger, states
from contracts.payments.models import (
    Payment,
    PaymentMethod,
    PaymentState,
    Refund,
    RefundState,
)
from contracts.payments.service import (
    REASON_MAX,
    PaymentUnavailable,
    audit_payment,
    load_payment,
    move,
    require_chargeable,
)
from market.accounts.service import require_admin
from market.actor import Actor
from market.db import unit_of_work
from market.errors import Conflict, validation_error
from market.i18n import Msg
from market.locks import lock_existing
from market.money import MAX_MINOR_UNITS, Money
from market.transitions import Lifecycle, apply

log = logging.getLogger(__name__)


REFUNDING = Lifecycle(
    "refund",
    Refund,
    states.REFUND,
    roles=lambda actor, refund: actor.standing(),
    payload=lambda refund, actor: {"refund_id": str(refund.id)},
    organization=lambda refund, actor: None,
)


async def refunded_total(payment_id: Any, *states_: RefundState) -> int:
    rows = await Refund.filter(payment_id=payment_id, state__in=list(states_)).values_list(
        "amount", flat=True
    )
    return sum(int(a) for a in rows)


async def refund_payment(actor: Actor, payment_id: str, amount: Any, reason: Any) -> Refund:
    """Refund all or part of what was paid, never more in total; at Stripe too for cards."""
    require_admin(actor)
    payment, contract = await load_payment(actor, payment_id)
    money = amount if isinstance(amount, Money) else None
    if money is None:
        raise validation_error("amount", "Give the amount as {amount, currency}.")
    if money.currency != payment.currency:
        raise validation_error(
            "amount", Msg("The payment was in %(currency)s.", currency=payment.currency)
        )
    if not 0 < money.amount <= MAX_MINOR_UNITS:
        raise validation_error("amount", "Refund a positive amount.")
    if payment.method == PaymentMethod.CARD:
        require_chargeable(money.amount, payment.currency, "amount")
    text = str(reason or "").strip() if isinstance(reason, str) else ""
    if not text:
        raise validation_error("reason", "Say why the money is refunded.")
    if len(text) > REASON_MAX:
        raise validation_error(
            "reason", Msg("At most %(reason_max)s characters.", reason_max=REASON_MAX)
        )
    async with unit_of_work():
        locked = await lock_existing(Payment, payment.id)
        if locked.state not in (PaymentState.SUCCEEDED, PaymentState.PARTIALLY_REFUNDED):
            raise Conflict(
                f"Only a paid payment can be refunded; this one is {locked.state}.",
                state=str(locked.state),
            )
        taken = await refunded_total(locked.id, RefundState.PENDING, RefundState.SUCCEEDED)
        left = locked.amount - taken
        if money.amount > left:
            raise validation_error(
                "amount",
                Msg(
                    "At most %(amount)s can still be refunded.",
                    amount=Money(amount=max(left, 0), currency=locked.currency).format(),
                ),
            )
        refund = await Refund.create(
            payment_id=locked.id,
            amount=money.amount,
            currency=locked.currency,
            reason=text,
            created_by_id=actor.user_id,
        )
        await audit_payment(
            actor, "refund.requested", locked, contract, amount=money.amount, reason=text
        )
    return await send_refund(refund.id)


async def send_refund(refund_id: Any) -> Refund:
    """Carry a recorded refund out: at Stripe for a card (same key on every try), by bank
    otherwise (the administrator sends it), then post it. Safe to run again."""
    refund = await Refund.get(id=refund_id)
    if refund.state != RefundState.PENDING:
        return refund
    payment = await Payment.get(id=refund.payment_id)  # type: ignore[attr-defined]
    stripe_id = None
    if payment.method == PaymentMethod.CARD:
        try:
            made = await gateway.create_refund(
                intent_id=payment.intent_id or "",
                amount=refund.amount,
                currency=refund.currency,
                key=f"refund:{refund.id}:create",
                metadata={"refund_id": str(refund.id), "payment_id": str(payment.id)},
            )
        except gateway.StripeError as exc:
            if getattr(exc, "http_status", None) and exc.http_status < 500:  # type: ignore[operator]
                with contextlib.suppress(Conflict):  # another run recorded it first
                    async with unit_of_work():
                        await apply(
                            REFUNDING,
                            refund.id,
                            "fail",
                            Actor.system(),
                            changes={"failure_message": str(exc.user_message or exc)[:500]},
                        )
                raise Conflict(f"Stripe refused the refund: {exc.user_message or exc}") from exc
            raise PaymentUnavailable(
                "Stripe could not be reached; the refund is recorded and will be retried."
            ) from exc
        stripe_id = made["id"]
    await _finish_refund(refund, stripe_id)
    return await Refund.get(id=refund.id)


async def _finish_refund(refund: Refund, stripe_id: str | None) -> None:
    contract = await Contract.get(payments__id=refund.payment_id)  # type: ignore[attr-defined]
    async with unit_of_work():
        payment = await lock_existing(Payment, refund.payment_id)  # type: ignore[attr-defined]
        current = await lock_existing(Refund, refund.id)
        if current.state != RefundState.PENDING:
            return
        system = Actor.system()
        before = await refunded_total(payment.id, RefundState.SUCCEEDED)
        await apply(
            REFUNDING, refund.id, "succeed", system, changes={"stripe_refund_id": stripe_id}
        )
        await ledger.post_refund(current, payment, contract.seller_id, before)  # type: ignore[attr-defined]
        total = before + current.amount
        await move(
            system,
            payment,
            "refund_all" if total >= payment.amount else "refund_part",
            noted={"refund_id": str(current.id), "amount": current.amount, "refunded": total},
            announced={"refund_id": str(current.id), "refunded": current.amount},
        )
