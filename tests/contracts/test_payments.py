"""Card payments against localstripe (a real Stripe-compatible server), our app served over
HTTP so localstripe's signed webhooks reach it, and a real arq worker: the whole card payment,
declines and retries, 3-D Secure, concurrency, reconciliation of a lost webhook, and refusals."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from contracts.agreements.documents import pdf_text
from contracts.agreements.models import Contract
from contracts.payments import ledger, receipts, reconcile
from contracts.payments import service as payments
from contracts.payments.models import LedgerTransaction, Payment, StripeEvent
from market.app import processes
from market.config import Settings
from market.errors import Conflict, Forbidden, NotFound, ValidationFailed
from market.notify import Notification
from tests.builders import (
    a_colleague,
    a_contract,
    a_verified_enterprise,
    actor_of,
    an_admin,
    log_in,
    run_worker,
    signatories,
)
from tests.contracts.stripe_support import (
    a_dead_endpoint,
    authenticate,
    intents_of,
    serve,
    set_up_card,
    stripe_get,
)
from tests.waiting import eventually

GOOD = "4242424242424242"
DECLINED = "4000000000000341"  # sets up fine, its charge is declined
THREE_D_SECURE = "4000002760003184"


@pytest.fixture(scope="session")
async def webhook_url(settings: Settings, localstripe: processes.Running) -> AsyncIterator[str]:
    """The app on a loopback port, and localstripe sending every event to it, signed."""
    from market.app.asgi import create_app

    async with serve(create_app(settings, manage_db=False)) as url:
        processes.point_localstripe_webhook(
            localstripe.url, url + "/webhooks/stripe", settings.stripe_webhook_secret
        )
        yield url


async def events_about(intent_id: str, event_type: str | None = None) -> list[StripeEvent]:
    query = StripeEvent.filter(object_id=intent_id)
    if event_type:
        query = query.filter(event_type=event_type)
    return await query


async def delivered(intent_id: str, event_type: str) -> list[StripeEvent]:
    return await eventually(
        lambda: events_about(intent_id, event_type),
        what=f"localstripe to deliver {event_type} for {intent_id}",
    )


async def handled(settings: Settings, intent_id: str, event_type: str) -> StripeEvent:
    """Wait for localstripe's event, and run the worker until its job has handled it (the
    endpoint enqueues the job just after storing the row)."""
    await delivered(intent_id, event_type)

    async def done() -> StripeEvent | None:
        await run_worker(settings)
        [event] = await events_about(intent_id, event_type)
        return event if event.handled_at is not None else None

    return await eventually(done, what=f"the worker to handle {event_type} for {intent_id}")


async def balanced() -> None:
    assert await ledger.unbalanced_transactions() == []


async def test_a_card_payment_from_intent_to_active_contract(
    settings: Settings, webhook_url: str
) -> None:
    contract = await a_contract("awaiting_payment")
    seller, buyer = await signatories(contract)

    started = await payments.start_payment(buyer, str(contract.id), "card")
    payment = started.payment
    assert payment.intent_id and started.client_secret and started.setup_client_secret
    intent = await stripe_get(settings, f"/v1/payment_intents/{payment.intent_id}")
    assert intent["amount"] == contract.amount_due == payment.amount
    assert intent["metadata"]["payment_id"] == str(payment.id)

    card = await set_up_card(settings, started.setup_client_secret, GOOD)
    result = await payments.confirm_card(buyer, str(payment.id), card)
    # Stripe has charged the card, but only its webhook marks the payment paid.
    assert result.state == "processing" and not result.requires_action
    assert (await Payment.get(id=payment.id)).paid_at is None
    assert await LedgerTransaction.all().count() == 0

    event = await handled(settings, payment.intent_id, "payment_intent.succeeded")
    assert event.payload["type"] == "payment_intent.succeeded"  # stored as localstripe signed it

    paid = await Payment.get(id=payment.id)
    assert paid.state == "succeeded" and paid.paid_at is not None
    assert (await Contract.get(id=contract.id)).state == "active"
    await balanced()
    fee = ledger.platform_fee(paid.amount, paid.fee_percent)
    assert fee == paid.amount * 5 // 100
    assert await ledger.owed_to(contract.seller_id, paid.currency) == paid.amount - fee
    accounts = await ledger.account_balances()
    assert accounts["cash_stripe"][paid.currency] == paid.amount
    assert accounts["platform_fees"][paid.currency] == -fee

    for side in (seller, buyer):
        [note] = await Notification.filter(
            user_id=side.user_id, subject__contains="Payment received"
        )
        assert note.link.endswith(f"/payments/{payment.id}")
    _, pdf = await receipts.receipt_pdf(buyer, str(payment.id))
    text = pdf_text(pdf)
    assert payment.reference in text and "50,000.00 USD" in text and contract.reference in text


async def test_a_declined_card_tells_the_buyer_and_the_retry_pays_the_same_payment(
    settings: Settings, webhook_url: str
) -> None:
    contract = await a_contract("awaiting_payment")
    seller, buyer = await signatories(contract)
    started = await payments.start_payment(buyer, str(contract.id), "card")
    first_intent = started.payment.intent_id
    assert first_intent

    card = await set_up_card(settings, started.setup_client_secret, DECLINED)
    result = await payments.confirm_card(buyer, str(started.payment.id), card)
    assert result.state == "failed" and "declined" in result.message

    await handled(settings, first_intent, "payment_intent.payment_failed")
    failed = await Payment.get(id=started.payment.id)
    assert failed.state == "failed" and "declined" in failed.failure_message
    [note] = await Notification.filter(
        user_id=buyer.user_id, subject__contains="did not go through"
    )
    assert note.link.endswith(f"/payments/{failed.id}")
    assert not await Notification.filter(user_id=seller.user_id, subject__contains="did not go")
    assert await LedgerTransaction.all().count() == 0

    # Again, on the same payment: the declined intent is retired, a fresh one takes the card.
    again = await payments.start_payment(buyer, str(contract.id), "card")
    assert again.payment.id == started.payment.id
    card = await set_up_card(settings, again.setup_client_secret, GOOD)
    result = await payments.confirm_card(buyer, str(started.payment.id), card)
    assert result.state == "processing"
    retried = await Payment.get(id=started.payment.id)
    assert retried.attempt == 1 and retried.intent_id not in (None, first_intent)
    assert (await stripe_get(settings, f"/v1/payment_intents/{first_intent}"))[
        "status"
    ] == "canceled"

    await handled(settings, retried.intent_id, "payment_intent.succeeded")
    assert (await Payment.get(id=retried.id)).state == "succeeded"
    assert (await Contract.get(id=contract.id)).state == "active"
    assert await LedgerTransaction.filter(kind="payment").count() == 1
    await balanced()


async def test_three_d_secure_is_handed_back_to_stripe_js(
    settings: Settings, webhook_url: str
) -> None:
    contract = await a_contract("awaiting_payment")
    _, buyer = await signatories(contract)
    started = await payments.start_payment(buyer, str(contract.id), "card")
    card = await set_up_card(settings, started.setup_client_secret, THREE_D_SECURE)

    result = await payments.confirm_card(buyer, str(started.payment.id), card)
    assert result.requires_action and result.client_secret == started.client_secret
    assert result.state == "pending"

    await authenticate(settings, result.client_secret, success=True)
    await handled(settings, started.payment.intent_id, "payment_intent.succeeded")
    assert (await Payment.get(id=started.payment.id)).state == "succeeded"
    assert (await Contract.get(id=contract.id)).state == "active"


async def test_twenty_concurrent_pay_requests_make_one_payment_and_one_intent(
    settings: Settings, client: httpx.AsyncClient
) -> None:
    contract = await a_contract("awaiting_payment")
    _, buyer = await signatories(contract)
    csrf = await log_in(client, buyer.user.email)

    answers = await asyncio.gather(
        *(
            client.post(
                f"/api/v1/contracts/{contract.id}/payments",
                json={"method": "card"},
                headers={"X-CSRF-Token": csrf},
            )
            for _ in range(20)
        )
    )

    assert {a.status_code for a in answers} == {201}
    assert len({a.json()["payment"]["id"] for a in answers}) == 1
    assert len({a.json()["client_secret"] for a in answers}) == 1
    payment = await Payment.get(contract_id=contract.id)
    ours = await intents_of(settings, str(payment.id))
    assert [i["id"] for i in ours] == [payment.intent_id]


async def test_a_lost_webhook_is_repaired_by_reconciliation(
    settings: Settings, localstripe: processes.Running, webhook_url: str
) -> None:
    contract = await a_contract("awaiting_payment")
    _, buyer = await signatories(contract)
    started = await payments.start_payment(buyer, str(contract.id), "card")
    # Stripe's delivery fails while this card is charged: localstripe sends each event a second
    # after it happens, to whatever address is registered then, so the dead endpoint stays until
    # the last one (succeeded) has reached it.
    async with a_dead_endpoint() as (dead, lost):
        processes.point_localstripe_webhook(localstripe.url, dead, settings.stripe_webhook_secret)
        try:
            card = await set_up_card(settings, started.setup_client_secret, GOOD)
            assert (await payments.confirm_card(buyer, str(started.payment.id), card)).state == (
                "processing"
            )

            async def succeeded_was_lost() -> bool:
                return any(
                    e["type"] == "payment_intent.succeeded"
                    and e["data"]["object"]["id"] == started.payment.intent_id
                    for e in lost
                )

            await eventually(succeeded_was_lost, what="localstripe to send payment succeeded")
        finally:
            processes.point_localstripe_webhook(
                localstripe.url, webhook_url + "/webhooks/stripe", settings.stripe_webhook_secret
            )
    assert await events_about(started.payment.intent_id) == []

    # Not yet: the payment has not been pending for the threshold.
    assert (await reconcile.reconcile())["payments"] == 0
    assert (await Payment.get(id=started.payment.id)).state == "processing"

    later = datetime.now(UTC) + timedelta(minutes=settings.payment_reconcile_minutes + 1)
    assert (await reconcile.reconcile(now=later))["payments"] == 1
    assert (await Payment.get(id=started.payment.id)).state == "succeeded"
    assert (await Contract.get(id=contract.id)).state == "active"
    assert await LedgerTransaction.filter(kind="payment").count() == 1
    await balanced()
    # And again changes nothing.
    await reconcile.reconcile(now=later)
    assert await LedgerTransaction.filter(kind="payment").count() == 1


async def test_a_contract_with_no_upfront_fee_is_active_once_signed(settings: Settings) -> None:
    contract = await a_contract(
        "awaiting_payment", upfront_fee={"amount": 0, "currency": "USD"}, milestones=[]
    )
    await run_worker(settings)
    assert (await Contract.get(id=contract.id)).state == "active"
    _, buyer = await signatories(contract)
    with pytest.raises(Conflict):
        await payments.start_payment(buyer, str(contract.id), "card")
    assert await Payment.all().count() == 0


# --- who may pay, and when ----------------------------------------------------------------------


async def test_paying_is_refused_to_anyone_but_the_buyers_signatory(settings: Settings) -> None:
    contract = await a_contract("awaiting_payment")
    seller, buyer = await signatories(contract)
    stranger = await actor_of((await a_verified_enterprise())[0])
    member = await actor_of(await a_colleague(buyer.organization, role="member"))
    admin = await actor_of(await an_admin())

    with pytest.raises(NotFound):
        await payments.start_payment(stranger, str(contract.id), "card")
    for who in (seller, member, admin):
        with pytest.raises(Forbidden):
            await payments.start_payment(who, str(contract.id), "card")
    with pytest.raises(ValidationFailed) as bad:
        await payments.start_payment(buyer, str(contract.id), "cheque")
    assert "method" in bad.value.fields
    assert await Payment.all().count() == 0

    started = await payments.start_payment(buyer, str(contract.id), "card")
    with pytest.raises(NotFound):
        await payments.confirm_card(stranger, str(started.payment.id), "pm_x")
    with pytest.raises(ValidationFailed) as bad:
        await payments.confirm_card(buyer, str(started.payment.id), "4242424242424242")
    assert "payment_method" in bad.value.fields
    assert (await Payment.get(id=started.payment.id)).state == "pending"


async def test_a_contract_not_awaiting_payment_cannot_be_paid(settings: Settings) -> None:
    contract = await a_contract("awaiting_signatures")
    _, buyer = await signatories(contract)
    with pytest.raises(Conflict) as refused:
        await payments.start_payment(buyer, str(contract.id), "card")
    assert refused.value.state == "awaiting_signatures"
    with pytest.raises(Conflict):  # a milestone waits for the contract to be active
        await payments.start_payment(buyer, str(contract.id), "card", item="milestone-1")
    assert await Payment.all().count() == 0
    await balanced()


async def test_an_intent_cancelled_at_stripe_is_replaced_on_the_next_try(
    settings: Settings,
) -> None:
    from contracts.payments import gateway

    contract = await a_contract("awaiting_payment")
    _, buyer = await signatories(contract)
    started = await payments.start_payment(buyer, str(contract.id), "card")
    # Someone cancels it in Stripe's dashboard; the buyer then pays.
    await gateway.cancel_intent(started.payment.intent_id, "test:cancel")
    card = await set_up_card(settings, started.setup_client_secret, GOOD)

    result = await payments.confirm_card(buyer, str(started.payment.id), card)

    payment = await Payment.get(id=started.payment.id)
    assert result.state == "processing" and payment.attempt == 1
    assert payment.intent_id != started.payment.intent_id
    intent = await stripe_get(settings, f"/v1/payment_intents/{payment.intent_id}")
    assert intent["status"] == "succeeded" and intent["amount"] == payment.amount
