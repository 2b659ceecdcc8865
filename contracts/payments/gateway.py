"""Our one boundary with Stripe: every call the marketplace makes, with its idempotency key.

Every call that creates or moves money carries a key built from our own ids
(`payment:<id>:intent:<attempt>`, `refund:<id>:create`), so a retried request or a lost
response never charges or refunds twice at Stripe. The local test server ignores the keys; the
services guarantee the same on our side (contracts/payments.py).

Amounts cross here, both ways (market/currencies.py): callers pass and get back our minor
units (Babel's exponent); Stripe is sent and answers in its own (ISK counts hundredths at
Stripe, whole krónur with us). An amount Stripe cannot carry exactly is refused with
`NotChargeable` before anything is sent; an intent whose amount is no whole number of our units
comes back with `amount` None (so it equals no payment), Stripe's own figure in
`provider_amount`, and its currency upper-cased as we write it.
"""

from __future__ import annotations

import json
import re
from functools import cache
from typing import Any

import stripe

from market import currencies
from market.config import get_settings

StripeError = stripe.StripeError
CardError = stripe.CardError
NotChargeable = currencies.NotChargeable
# The amounts an intent or a refund carries; each is converted to our units on the way back.
_AMOUNTS = ("amount", "amount_received", "amount_capturable")

# Stripe object ids: a short prefix and letters/digits.
_ID = re.compile(r"^[a-z]{2,8}_[A-Za-z0-9_]{1,120}$")


def is_stripe_id(value: Any, prefix: str) -> bool:
    return isinstance(value, str) and value.startswith(prefix + "_") and bool(_ID.match(value))


@cache
def _client(secret_key: str, api_base: str) -> stripe.StripeClient:
    return stripe.StripeClient(
        secret_key,
        base_addresses={"api": api_base} if api_base else None,
        http_client=stripe.HTTPXClient(),
        # Our own retries (the worker's, reconciliation) carry the same keys; the SDK's would
        # only hide a slow Stripe from the request that waits on it.
        max_network_retries=0,
    )


def client() -> stripe.StripeClient:
    settings = get_settings()
    return _client(settings.stripe_secret_key, settings.stripe_api_base)


def _key(key: str) -> dict[str, Any]:
    return {"idempotency_key": key}


def _plain(obj: Any) -> dict[str, Any]:
    # Plain dicts beyond this module: the SDK's objects are not dicts in recent versions.
    return obj.to_dict()


def _ours(obj: Any) -> dict[str, Any]:
    """A Stripe object with money as a plain dict, its amounts in our minor units."""
    plain = _plain(obj)
    currency = str(plain.get("currency") or "").upper()
    plain["currency"] = currency
    plain["provider_amount"] = plain.get("amount")
    for name in _AMOUNTS:
        raw = plain.get(name)
        if raw is None:
            continue
        try:
            plain[name] = currencies.from_provider(raw, currency) if type(raw) is int else None
        except NotChargeable:
            plain[name] = None
    return plain


async def create_intent(
    *, amount: int, currency: str, key: str, metadata: dict[str, str]
) -> dict[str, Any]:
    sent = currencies.to_provider(amount, currency)  # before any call: refused, nothing made
    return _ours(
        await client().v1.payment_intents.create_async(
            {
                "amount": sent,
                "currency": currency.lower(),
                "payment_method_types": ["card"],
                "metadata": metadata,
            },
            _key(key),
        )
    )


async def retrieve_intent(intent_id: str) -> dict[str, Any]:
    return _ours(await client().v1.payment_intents.retrieve_async(intent_id))


async def use_payment_method(intent_id: str, payment_method: str, key: str) -> None:
    """Attach the card the browser set up, then confirm the intent with it."""
    intents = client().v1.payment_intents
    await intents.update_async(intent_id, {"payment_method": payment_method}, _key(key + ":pm"))
    await intents.confirm_async(intent_id, {}, _key(key + ":confirm"))


async def cancel_intent(intent_id: str, key: str) -> dict[str, Any]:
    return _ours(await client().v1.payment_intents.cancel_async(intent_id, {}, _key(key)))


async def create_setup_intent(metadata: dict[str, str]) -> dict[str, Any]:
    # Moves no money, but is made only when the buyer asks to pay (a POST), never by a page view.
    return _plain(
        await client().v1.setup_intents.create_async(
            {"usage": "on_session", "payment_method_types": ["card"], "metadata": metadata}
        )
    )


async def create_refund(
    *, intent_id: str, amount: int, currency: str, key: str, metadata: dict[str, str]
) -> dict[str, Any]:
    sent = currencies.to_provider(amount, currency)
    return _ours(
        await client().v1.refunds.create_async(
            {"payment_intent": intent_id, "amount": sent, "metadata": metadata}, _key(key)
        )
    )


def verify_event(payload: bytes, signature: str | None) -> dict[str, Any]:
    """Check Stripe's signature over the raw body and its timestamp, then parse it; raises
    ValueError for a body that is not JSON and stripe.SignatureVerificationError for a bad
    signature. (What construct_event does, without building SDK objects we would not use.)"""
    settings = get_settings()
    text = payload.decode("utf-8")
    stripe.WebhookSignature.verify_header(
        text,
        signature or "",
        settings.stripe_webhook_secret,
        tolerance=settings.stripe_webhook_tolerance,
    )
    event = json.loads(text)
    if not isinstance(event, dict):
        raise ValueError("a Stripe event is a JSON object")
    return event
