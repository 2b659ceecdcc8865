"""Is each service this process needs reachable? Used by /readyz and `market check`."""

from __future__ import annotations

import asyncio
import ipaddress
from dataclasses import dataclass

import httpx
from redis.asyncio import Redis
from starlette.requests import Request
from tortoise import Tortoise

from market.config import Settings


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


async def check_database(settings: Settings) -> Check:
    try:
        conn = Tortoise.get_connection("default")
        await asyncio.wait_for(conn.execute_query("SELECT 1"), timeout=3)
        return Check("database", True, settings.effective_database_url.split("://", 1)[0])
    except Exception as exc:
        return Check("database", False, _reason(exc))


async def check_redis(settings: Settings) -> Check:
    client = Redis.from_url(settings.redis_url, socket_connect_timeout=2, socket_timeout=2)
    try:
        await client.ping()
        return Check("redis", True, "PONG")
    except Exception as exc:
        return Check("redis", False, _reason(exc))
    finally:
        await client.aclose()


async def check_meilisearch(settings: Settings) -> Check:
    try:
        async with httpx.AsyncClient(timeout=3) as client:
            response = await client.get(settings.meili_url.rstrip("/") + "/health")
        ok = response.status_code == 200
        return Check(
            "meilisearch", ok, response.text[:100] if ok else f"HTTP {response.status_code}"
        )
    except Exception as exc:
        return Check("meilisearch", False, _reason(exc))


async def check_stripe(settings: Settings) -> Check:
    base = settings.stripe_api_base or "https://api.stripe.com"
    if not settings.stripe_secret_key:
        return Check("stripe", False, "STRIPE_SECRET_KEY is not set")
    try:
        async with httpx.AsyncClient(timeout=5) as client:
            response = await client.get(
                base.rstrip("/") + "/v1/balance",
                headers={"Authorization": f"Bearer {settings.stripe_secret_key}"},
            )
        return Check("stripe", response.status_code < 500, f"HTTP {response.status_code}")
    except Exception as exc:
        return Check("stripe", False, _reason(exc))


async def readiness(settings: Settings) -> list[Check]:
    return list(
        await asyncio.gather(
            check_database(settings), check_redis(settings), check_meilisearch(settings)
        )
    )


# Headers a reverse proxy adds: a request that came through one is not from this machine, even
# when the proxy itself connects from loopback (and uvicorn was not told to trust it).
FORWARDING_HEADERS = ("x-forwarded-for", "forwarded", "x-real-ip")


def from_this_machine(request: Request) -> bool:
    """A request from loopback that no proxy relayed: an operator's own check."""
    try:
        loopback = ipaddress.ip_address(request.client.host if request.client else "").is_loopback
    except ValueError:
        return False
    return loopback and not any(name in request.headers for name in FORWARDING_HEADERS)


def _reason(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}"[:200]
