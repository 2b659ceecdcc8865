"""Reconciliation with Stripe, run by a worker cron: a lost webhook costs minutes, not money."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from contracts.payments import gateway, webhooks
from contracts.payments.models import (
    Payment,
    PaymentMethod,
    PaymentState,
    Refund,
    RefundState,
)
from contracts.payments.refunds import send_refund
from contracts.payments.service import (
    apply_intent,
    handle_stripe_event,
)
from market.clock import utcnow
from market.config import get_settings
from market.errors import DomainError

log = logging.getLogger(__name__)


async def reconcile(now: datetime | None = None) -> dict[str, int]:
    """Ask Stripe for the truth about card payments pending too long (a lost webhook), retry
    refunds whose answer was lost, and handle stored events still unhandled."""
    now = now or utcnow()
    cutoff = now - timedelta(minutes=get_settings().payment_reconcile_minutes)
    done = {"payments": 0, "refunds": 0, "events": 0}
    stale = (
        await Payment.filter(
            method=PaymentMethod.CARD,
            state__in=[PaymentState.PENDING, PaymentState.PROCESSING],
            intent_id__not_isnull=True,
            updated_at__lte=cutoff,
        )
        .order_by("updated_at")
        .limit(200)
    )
    for payment in stale:
        try:
            intent = await gateway.retrieve_intent(payment.intent_id or "")
            await apply_intent(intent)
            done["payments"] += 1
        except gateway.StripeError as exc:
            log.warning("reconciling payment %s: %s", payment.id, exc)
        # Checked: to the back of the line, so payments a buyer abandoned (which stay pending
        # for ever) cannot keep a newer one with a lost webhook out of the next 200.
        await Payment.filter(
            id=payment.id, state__in=[PaymentState.PENDING, PaymentState.PROCESSING]
        ).update(updated_at=now)
    for refund in await Refund.filter(
        state=RefundState.PENDING, created_at__lte=now - timedelta(minutes=2)
    ).limit(100):
        try:
            await send_refund(refund.id)
            done["refunds"] += 1
        except DomainError as exc:
            log.warning("retrying refund %s: %s", refund.id, exc.message)
    for event_id in await webhooks.unhandled(now - timedelta(minutes=2)):
        try:
            await handle_stripe_event(event_id)
            done["events"] += 1
        except Exception as exc:
            log.warning("handling stored stripe event %s: %s", event_id, exc)
    return done
