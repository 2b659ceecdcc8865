"""Helpers for payment tests: our app served over HTTP in this process (so localstripe can
deliver its signed webhooks to it), what Stripe.js does in a browser, and signing events the way
Stripe does."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from market.app import processes
from market.config import Settings
from tests.waiting import eventually


@asynccontextmanager
async def serve(app: Any) -> AsyncIterator[str]:
    """`app` on a free loopback port for the duration of the block; yields its base URL."""
    port = processes.free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="warning")
    )
    task = asyncio.create_task(server.serve())

    async def started() -> bool:
        if task.done():
            task.result()  # it failed to start: say why
        return server.started

    await eventually(started, what=f"the app to listen on port {port}", every=0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def set_up_card(settings: Settings, setup_client_secret: str, number: str) -> str:
    """What Stripe.js's confirmCardSetup does with the card the buyer typed: it goes from the
    browser to Stripe with the publishable key, never to us. Returns the PaymentMethod id."""
    setup_id = setup_client_secret.split("_secret_")[0]
    async with httpx.AsyncClient(base_url=settings.stripe_api_base) as stripe:
        response = await stripe.post(
            f"/v1/setup_intents/{setup_id}/confirm",
            data={
                "key": settings.stripe_publishable_key,
                "client_secret": setup_client_secret,
                "payment_method_data[type]": "card",
                "payment_method_data[card][number]": number,
                "payment_method_data[card][exp_month]": "12",
                "payment_method_data[card][exp_year]": "2031",
                "payment_method_data[card][cvc]": "123",
            },
        )
    response.raise_for_status()
    return response.json()["payment_method"]


async def authenticate(settings: Settings, client_secret: str, success: bool) -> None:
    """The 3-D Secure step confirmCardPayment runs in the browser."""
    intent_id = client_secret.split("_secret_")[0]
    async with httpx.AsyncClient(base_url=settings.stripe_api_base) as stripe:
        response = await stripe.post(
            f"/v1/payment_intents/{intent_id}/_authenticate",
            data={
                "key": settings.stripe_publishable_key,
                "client_secret": client_secret,
                "success": "true" if success else "false",
            },
        )
    response.raise_for_status()


async def stripe_get(settings: Settings, path: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=settings.stripe_api_base) as stripe:
        response = await stripe.get(
            path, headers={"Authorization": f"Bearer {settings.stripe_secret_key}"}
        )
    response.raise_for_status()
    return response.json()


def signed(
    secret: str, event: dict[str, Any], *, at: int | None = None
) -> tuple[bytes, dict[str, str]]:
    """A body and headers signed the way Stripe signs a webhook (t=..., v1=HMAC-SHA256)."""
    body = json.dumps(event).encode()
    timestamp = int(time.time()) if at is None else at
    mac = hmac.new(secret.encode(), b"%d." % timestamp + body, hashlib.sha256).hexdigest()
    return body, {"Stripe-Signature": f"t={timestamp},v1={mac}", "Content-Type": "application/json"}


def event_about(intent: dict[str, Any], event_type: str, event_id: str) -> dict[str, Any]:
    return {
        "id": event_id,
        "object": "event",
        "type": event_type,
        "created": int(time.time()),
        "data": {"object": intent},
    }


async def intents_of(settings: Settings, payment_id: str) -> list[dict[str, Any]]:
    """Every PaymentIntent at the Stripe server made for one of our payments (all pages)."""
    found: list[dict[str, Any]] = []
    after = ""
    while True:
        page = await stripe_get(
            settings,
            "/v1/payment_intents?limit=100" + (f"&starting_after={after}" if after else ""),
        )
        found += [i for i in page["data"] if i["metadata"].get("payment_id") == payment_id]
        if not page["has_more"] or not page["data"]:
            return found
        after = page["data"][-1]["id"]


@asynccontextmanager
async def a_dead_endpoint() -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    """An endpoint that refuses every webhook (503) but keeps what it was sent, so a test can
    lose deliveries and still know when the last one has gone."""
    received: list[dict[str, Any]] = []

    async def refuse(request: Request) -> Response:
        received.append(json.loads(await request.body()))
        return Response(status_code=503)

    async with serve(Starlette(routes=[Route("/", refuse, methods=["POST"])])) as url:
        yield url + "/", received
