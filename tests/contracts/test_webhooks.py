"""POST /webhooks/stripe: signature and timestamp checked on the raw body, only handled types,
stored once by event id, handled by a worker job that re-reads the PaymentIntent from localstripe,
so repeats, concurrency and events out of order end in the right state with one effect."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx
import pytest

from contracts.payments import ledger, webhooks
from contracts.payments import service as payments
from contracts.payments.models import LedgerTransaction, Payment, StripeEvent
from market.config import Settings
from market.notify import Notification
from tests.builders import a_contract, run_worker, signatories
from tests.contracts.stripe_support import event_about, set_up_card, signed, stripe_get

GOOD = "4242424242424242"
DECLINED = "4000000000000341"


def an_event_id() -> str:
    return "evt_" + uuid.uuid4().hex[:24]


async def a_charged_card(settings: Settings, card: str = GOOD) -> tuple[Payment, dict[str, Any]]:
    """A contract's payment whose intent localstripe has charged (or declined)."""
    contract = await a_contract("awaiting_payment")
    _, buyer = await signatories(contract)
    started = await payments.start_payment(buyer, str(contract.id), "card")
    method = await set_up_card(settings, started.setup_client_secret, card)
    await payments.confirm_card(buyer, str(started.payment.id), method)
    payment = await Payment.get(id=started.payment.id)
    return payment, await stripe_get(settings, f"/v1/payment_intents/{payment.intent_id}")


async def post(client: httpx.AsyncClient, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return await client.post("/webhooks/stripe", content=body, headers=headers)


async def test_the_same_event_fifty_times_at_once_has_one_effect(
    settings: Settings, client: httpx.AsyncClient
) -> None:
    payment, intent = await a_charged_card(settings)
    event_id = an_event_id()
    body, headers = signed(
        settings.stripe_webhook_secret, event_about(intent, "payment_intent.succeeded", event_id)
    )

    answers = await asyncio.gather(*(post(client, body, headers) for _ in range(50)))

    assert {a.status_code for a in answers} == {200}
    assert sum(1 for a in answers if not a.json().get("duplicate")) == 1
    [row] = await StripeEvent.filter(event_id=event_id)
    # Fifty workers handling that row at once still pay once.
    results = await asyncio.gather(*(payments.handle_stripe_event(row.id) for _ in range(50)))
    assert results.count("paid") == 1
    await run_worker(settings)
    assert (await Payment.get(id=payment.id)).state == "succeeded"
    assert await LedgerTransaction.filter(payment_id=payment.id).count() == 1
    assert await ledger.unbalanced_transactions() == []
    contract = await payment.contract
    _, buyer = await signatories(contract)
    assert (
        await Notification.filter(
            user_id=buyer.user_id, subject__contains="Payment received"
        ).count()
        == 1
    )


async def test_events_out_of_order_end_in_the_right_state(
    settings: Settings, client: httpx.AsyncClient
) -> None:
    payment, declined = await a_charged_card(settings, DECLINED)
    contract = await payment.contract
    _, buyer = await signatories(contract)
    again = await payments.start_payment(buyer, str(contract.id), "card")
    method = await set_up_card(settings, again.setup_client_secret, GOOD)
    await payments.confirm_card(buyer, str(payment.id), method)
    payment = await Payment.get(id=payment.id)
    succeeded = await stripe_get(settings, f"/v1/payment_intents/{payment.intent_id}")
    assert succeeded["status"] == "succeeded" and declined["status"] == "requires_payment_method"

    # Delivered newest first: success, then "processing", then the older attempt's failure.
    late = [
        event_about(succeeded, "payment_intent.succeeded", an_event_id()),
        event_about(
            {**succeeded, "status": "processing"}, "payment_intent.processing", an_event_id()
        ),
        event_about(declined, "payment_intent.payment_failed", an_event_id()),
    ]
    for event in late:
        body, headers = signed(settings.stripe_webhook_secret, event)
        assert (await post(client, body, headers)).status_code == 200
        [row] = await StripeEvent.filter(event_id=event["id"])
        await payments.handle_stripe_event(row.id)

    paid = await Payment.get(id=payment.id)
    assert paid.state == "succeeded" and paid.failure_message == ""
    assert await LedgerTransaction.filter(payment_id=payment.id).count() == 1
    assert not await Notification.filter(user_id=buyer.user_id, subject__contains="did not go")


async def test_every_bad_delivery_is_refused_with_400_and_nothing_stored(
    settings: Settings, client: httpx.AsyncClient
) -> None:
    secret = settings.stripe_webhook_secret
    intent = {"id": "pi_" + uuid.uuid4().hex[:14], "object": "payment_intent", "metadata": {}}
    good = event_about(intent, "payment_intent.succeeded", an_event_id())
    body, headers = signed(secret, good)

    cases: dict[str, tuple[bytes, dict[str, str]]] = {
        "no signature": (body, {"Content-Type": "application/json"}),
        "wrong secret": signed("whsec_" + "0" * 32, good),
        "body changed after signing": (body.replace(b"succeeded", b"processing"), headers),
        "stale timestamp": signed(secret, good, at=int(time.time()) - 3600),
        "unknown event type": signed(secret, {**good, "type": "customer.created"}),
        "not about a PaymentIntent": signed(
            secret, {**good, "data": {"object": {"id": "cus_123", "object": "customer"}}}
        ),
        "garbage header": (body, {"Stripe-Signature": "v1=zz,t=abc"}),
    }
    not_json = b"this is not json"
    stamp = int(time.time())
    import hashlib
    import hmac

    mac = hmac.new(secret.encode(), b"%d." % stamp + not_json, hashlib.sha256).hexdigest()
    cases["signed, but not JSON"] = (not_json, {"Stripe-Signature": f"t={stamp},v1={mac}"})

    # (Counted by this test's ids: localstripe may be delivering other tests' events meanwhile.)
    async def stored() -> int:
        return await StripeEvent.filter(event_id=good["id"]).count()

    for name, (payload, hdrs) in cases.items():
        answer = await post(client, payload, hdrs)
        assert answer.status_code == 400, name
        assert answer.json()["error"]["message"], name
    assert await stored() == 0
    assert await StripeEvent.filter(object_id="cus_123").count() == 0

    too_big = b"{" + b" " * (webhooks.MAX_BODY + 1) + b"}"
    answer = await post(client, *signed_raw(secret, too_big))
    assert answer.status_code == 413
    assert await stored() == 0

    # The well-signed one is taken, once.
    assert (await post(client, body, headers)).status_code == 200
    assert (await post(client, body, headers)).json() == {"received": True, "duplicate": True}
    assert await stored() == 1


def signed_raw(secret: str, body: bytes) -> tuple[bytes, dict[str, str]]:
    import hashlib
    import hmac

    stamp = int(time.time())
    mac = hmac.new(secret.encode(), b"%d." % stamp + body, hashlib.sha256).hexdigest()
    return body, {"Stripe-Signature": f"t={stamp},v1={mac}"}


@pytest.mark.parametrize("status", ["requires_payment_method", "canceled"])
async def test_an_event_for_an_intent_that_is_not_ours_changes_nothing(
    settings: Settings, client: httpx.AsyncClient, status: str
) -> None:
    from contracts.payments import gateway

    foreign = await gateway.create_intent(
        amount=500, currency="EUR", key=f"test:{uuid.uuid4()}", metadata={"shop": "another"}
    )
    event = event_about(
        {**foreign, "status": status}, "payment_intent.payment_failed", an_event_id()
    )
    body, headers = signed(settings.stripe_webhook_secret, event)
    assert (await post(client, body, headers)).status_code == 200
    [row] = await StripeEvent.filter(event_id=event["id"])
    assert await payments.handle_stripe_event(row.id) == "not ours"
    assert (await StripeEvent.get(id=row.id)).handled_at is not None
    assert await Payment.all().count() == 0
