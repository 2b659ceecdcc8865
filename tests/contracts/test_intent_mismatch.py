"""An intent at Stripe that is not what its payment owes (another amount, another currency,
metadata naming something else) never marks the payment paid: not from a webhook, not from
reconciliation, not from the buyer's confirmation. It is audited and the administrators are
told, once per intent; the contract is not activated. Against localstripe, whose intents are
changed the way someone with access to the Stripe account (or a bug of ours) would."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest

from contracts.agreements.models import Contract
from contracts.payments import gateway, reconcile
from contracts.payments import service as payments
from contracts.payments.models import LedgerTransaction, Payment, StripeEvent
from market.audit import AuditEntry
from market.clock import utcnow
from market.config import Settings
from market.errors import Conflict
from market.notify import Notification
from tests.builders import a_contract, an_admin, run_worker, signatories
from tests.contracts.stripe_support import event_about, set_up_card, signed, stripe_get

GOOD = "4242424242424242"


async def a_card_payment_set_up(settings: Settings) -> tuple[Payment, str]:
    """A card payment with its intent at localstripe and the buyer's card set up (a pm_ id)."""
    await an_admin()
    contract = await a_contract("awaiting_payment")
    _, buyer = await signatories(contract)
    started = await payments.start_payment(buyer, str(contract.id), "card")
    card = await set_up_card(settings, started.setup_client_secret or "", GOOD)
    return await Payment.get(id=started.payment.id), card


async def change_at_stripe(payment: Payment, **changes: Any) -> None:
    """Change the payment's intent at localstripe. A new amount or currency comes as a fresh
    intent carrying our payment's metadata, made the payment's intent (as a bug that sent the
    wrong figure would have): localstripe keeps an updated amount as text, which Stripe never
    answers."""
    if "metadata" in changes:
        await gateway.client().v1.payment_intents.update_async(payment.intent_id or "", changes)
        return
    stray = await gateway.create_intent(
        amount=changes.get("amount", payment.amount),
        currency=changes.get("currency", payment.currency),
        key=f"test:{uuid.uuid4()}",
        metadata={
            "payment_id": str(payment.id),
            "contract_id": str(payment.contract_id),  # type: ignore[attr-defined]
            "reference": payment.reference,
        },
    )
    await Payment.filter(id=payment.id).update(intent_id=stray["id"])
    payment.intent_id = stray["id"]


async def charge_at_stripe(intent_id: str, card: str) -> dict[str, Any]:
    """Confirmed at Stripe behind our back (our own confirmation refuses such an intent)."""
    await gateway.use_payment_method(intent_id, card, f"test:{uuid.uuid4()}")
    return await gateway.retrieve_intent(intent_id)


async def mismatches_recorded(payment: Payment) -> list[dict[str, Any]]:
    return list(
        await AuditEntry.filter(
            action="payment.intent_mismatch", object_type="payment", object_id=str(payment.id)
        ).values_list("state_after", flat=True)
    )


async def admins_told(payment: Payment) -> int:
    admin = await an_admin()
    return await Notification.filter(
        user_id=admin.id, subject__contains=f"Payment {payment.reference} was not marked paid"
    ).count()


async def assert_not_paid(payment: Payment) -> None:
    now = await Payment.get(id=payment.id)
    assert now.state in ("pending", "processing") and now.paid_at is None
    assert not await LedgerTransaction.filter(payment_id=payment.id).exists()
    contract = await Contract.get(id=payment.contract_id)  # type: ignore[attr-defined]
    assert contract.state == "awaiting_payment"


@pytest.mark.parametrize(
    ("changes", "difference"),
    [
        ({"amount": 50}, "amount"),
        ({"metadata": {"payment_id": str(uuid.uuid4())}}, "payment_id"),
        ({"metadata": {"reference": "TMP-SOMEONEELSE"}}, "reference"),
    ],
)
async def test_a_webhook_for_an_intent_that_differs_marks_nothing_and_tells_the_admins(
    settings: Settings, client: httpx.AsyncClient, changes: dict[str, Any], difference: str
) -> None:
    payment, card = await a_card_payment_set_up(settings)
    await change_at_stripe(payment, **changes)
    charged = await charge_at_stripe(payment.intent_id or "", card)
    assert charged["status"] == "succeeded"
    raw = await stripe_get(settings, f"/v1/payment_intents/{payment.intent_id}")
    event = event_about(raw, "payment_intent.succeeded", "evt_" + uuid.uuid4().hex[:24])
    body, headers = signed(settings.stripe_webhook_secret, event)
    assert (await client.post("/webhooks/stripe", content=body, headers=headers)).is_success
    [row] = await StripeEvent.filter(event_id=event["id"])

    assert await payments.handle_stripe_event(row.id) == "mismatch"

    await assert_not_paid(payment)
    [entry] = await mismatches_recorded(payment)
    assert entry["intent"] == payment.intent_id and entry["status"] == "succeeded"
    assert set(entry["differences"]) == {difference}
    if difference == "amount":
        assert entry["differences"]["amount"] == {"expected": payment.amount, "found": 50}
    await run_worker(settings)
    assert await admins_told(payment) == 1
    # The same intent again (a repeated event, the reconciliation cron): still not paid, and
    # the administrators are not told twice.
    later = utcnow() + timedelta(hours=2)
    await Payment.filter(id=payment.id).update(updated_at=utcnow() - timedelta(hours=1))
    assert (await reconcile.reconcile(later))["payments"] == 1
    assert await payments.apply_intent(await gateway.retrieve_intent(row.object_id)) == "mismatch"
    await run_worker(settings)
    await assert_not_paid(payment)
    assert len(await mismatches_recorded(payment)) == 1
    assert await admins_told(payment) == 1


async def test_reconciliation_finds_an_intent_in_another_currency_and_marks_nothing(
    settings: Settings,
) -> None:
    payment, card = await a_card_payment_set_up(settings)
    other = "EUR" if payment.currency != "EUR" else "GBP"
    await change_at_stripe(payment, currency=other)
    await Payment.filter(id=payment.id).update(updated_at=utcnow() - timedelta(hours=1))
    assert (await charge_at_stripe(payment.intent_id or "", card))["status"] == "succeeded"

    assert (await reconcile.reconcile(utcnow() + timedelta(hours=2)))["payments"] == 1

    await assert_not_paid(payment)
    [entry] = await mismatches_recorded(payment)
    assert entry["differences"] == {"currency": {"expected": payment.currency, "found": other}}
    await run_worker(settings)
    assert await admins_told(payment) == 1


async def test_the_buyer_s_confirmation_refuses_an_intent_that_differs_and_charges_nothing(
    settings: Settings,
) -> None:
    payment, card = await a_card_payment_set_up(settings)
    contract = await Contract.get(id=payment.contract_id)  # type: ignore[attr-defined]
    _, buyer = await signatories(contract)
    await change_at_stripe(payment, amount=50)

    with pytest.raises(Conflict, match="does not match what is owed"):
        await payments.confirm_card(buyer, str(payment.id), card)

    held = await stripe_get(settings, f"/v1/payment_intents/{payment.intent_id}")
    assert held["status"] == "requires_payment_method" and not held.get("latest_charge")
    await assert_not_paid(payment)
    assert len(await mismatches_recorded(payment)) == 1
