"""Stripe webhooks: verified, stored once, handled by the worker.

`POST /webhooks/stripe` checks Stripe's signature over the raw body (and its timestamp, within
Stripe's tolerance), accepts only the event types we handle, stores the event unique on its
Stripe id and answers 200; a repeat delivery is acknowledged and changes nothing. After the row
commits, a worker job gets only its id. The handler re-reads the PaymentIntent from Stripe and
applies what it says now (`service.handle_stripe_event`), so a repeated, late or out-of-order
event cannot move a payment backwards; the row is marked handled when that is done. Events a
job could not handle stay unhandled and the reconciliation cron handles them.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import stripe
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from tortoise.exceptions import IntegrityError

from contracts.payments import gateway
from contracts.payments.models import StripeEvent
from market import limits, outbox
from market.errors import ValidationFailed

log = logging.getLogger(__name__)

HANDLED_TYPES = frozenset(
    {
        "payment_intent.succeeded",
        "payment_intent.payment_failed",
        "payment_intent.processing",
        "payment_intent.canceled",
    }
)
# Stripe's events are a few kilobytes; anything far larger is not one.
MAX_BODY = 256 * 1024
JOB_NAME = "handle_stripe_event"


def _refuse(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": {"code": "bad_webhook", "message": message}}, status)


async def stripe_webhook(request: Request) -> JSONResponse:
    try:
        # Refused as soon as it passes the limit, declared or not (chunked).
        payload = await limits.read_body(request, MAX_BODY)
    except limits.BodyTooLarge:
        return _refuse("The body is too large for a Stripe event.", 413)
    except ValidationFailed as exc:  # a malformed Content-Length
        return _refuse(exc.message)
    signature = request.headers.get("stripe-signature")
    if not signature:
        return _refuse("The Stripe-Signature header is missing.")
    try:
        event = gateway.verify_event(payload, signature)
    except stripe.SignatureVerificationError:
        return _refuse("The signature does not match, or its timestamp is too old.")
    except ValueError:  # not UTF-8, not JSON, or not an object
        return _refuse("The body is not a JSON Stripe event.")
    event_id, event_type = event.get("id"), event.get("type")
    if not isinstance(event_id, str) or not event_id.startswith("evt_") or len(event_id) > 80:
        return _refuse("The event has no valid id.")
    if event_type not in HANDLED_TYPES:
        return _refuse(f"Events of type {str(event_type)[:64]!r} are not handled here.")
    data = event.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    object_id = obj.get("id") if isinstance(obj, dict) else None
    if not gateway.is_stripe_id(object_id, "pi"):
        return _refuse("The event is not about a PaymentIntent.")
    row = await store(event_id, event_type, object_id, event)
    if row is None:
        return JSONResponse({"received": True, "duplicate": True})
    relay = outbox.get_relay()
    if relay is not None:
        # Best effort: an event whose job never ran is handled by the reconciliation cron.
        # Keyed by Stripe's event id: row ids restart with a database, arq's job ids do not.
        await relay.enqueue_job(JOB_NAME, row.id, job_id=f"stripe-event:{event_id}")
    return JSONResponse({"received": True})


async def store(
    event_id: str, event_type: str, object_id: str, payload: dict[str, Any]
) -> StripeEvent | None:
    """The stored row, or None when this event was stored before."""
    try:
        return await StripeEvent.create(
            event_id=event_id, event_type=event_type, object_id=object_id, payload=payload
        )
    except IntegrityError:
        return None


async def unhandled(before: datetime, limit: int = 200) -> list[int]:
    return list(
        await StripeEvent.filter(handled_at=None, received_at__lte=before)
        .order_by("id")
        .limit(limit)
        .values_list("id", flat=True)
    )


def event_json(row: StripeEvent) -> dict[str, Any]:
    return {
        "id": row.id,
        "event_id": row.event_id,
        "type": row.event_type,
        "object_id": row.object_id,
        "received_at": row.received_at.isoformat(),
        "handled_at": row.handled_at.isoformat() if row.handled_at else None,
    }


routes = [Route("/webhooks/stripe", stripe_webhook, methods=["POST"])]
