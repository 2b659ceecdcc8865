"""Headers, cookies, readiness, 405s and safe configuration: what the shell promises every
response and every start (issue 15, findings 7 to 9)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from listings import service as listings
from listings.models import Listing, ListingState
from market.actor import Actor
from market.app import processes
from market.app.asgi import create_app
from market.config import ConfigError, Settings
from market.errors import NotAuthenticated
from market.web import get_actor, render
from tests.builders import PASSWORD, a_published_listing, a_user, an_admin, log_in
from workers.settings import worker_settings

STATIC = "/static/css/site.css"


def with_settings(settings: Settings, **changes: object) -> Settings:
    return Settings(**{**settings.model_dump(), **changes})


@asynccontextmanager
async def client_of(
    app: Starlette, *, base: str = "http://testserver", ip: str = "203.0.113.7"
) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=(ip, 40000))
    async with httpx.AsyncClient(transport=transport, base_url=base) as client:
        yield client


def set_cookies(response: httpx.Response) -> dict[str, str]:
    return {h.split("=", 1)[0]: h for h in response.headers.get_list("set-cookie")}


# --- HSTS and Secure cookies ---------------------------------------------------------------


async def test_https_gets_hsts_and_every_cookie_secure_http_neither(settings) -> None:
    await a_user(email="cookies@example.org")
    for base_url, secure in (("https://market.example", True), ("http://testserver", False)):
        app = create_app(with_settings(settings, base_url=base_url), manage_db=False)
        async with client_of(app, base="https://testserver") as client:
            home = await client.get("/")
            assert ("strict-transport-security" in home.headers) is secure
            if secure:
                assert home.headers["strict-transport-security"].startswith("max-age=31536000")
            cookies = set_cookies(home)  # the anonymous visitor's CSRF basis
            language = await client.get("/language/zh", follow_redirects=False)
            cookies |= set_cookies(language)
            await log_in(client, "cookies@example.org")
            csrf = (await client.get("/api/v1/me")).json()["csrf_token"]
            logout = await client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)
            cookies |= set_cookies(logout)  # the flash notice, and the session's deletion
            login = await client.post(
                "/api/v1/auth/login", json={"email": "cookies@example.org", "password": PASSWORD}
            )
            cookies |= {"tm_session": set_cookies(login)["tm_session"]}
        assert set(cookies) == {"tm_anon", "tm_lang", "tm_flash", "tm_session"}, cookies
        for name, header in cookies.items():
            assert ("; Secure" in header) is secure, (name, header)


# --- Cache-Control: no-store ---------------------------------------------------------------


async def test_every_authenticated_answer_is_no_store_and_public_ones_are_not(client) -> None:
    await a_user(email="private@example.org")
    home = await client.get("/")
    assert "cache-control" not in home.headers
    assert "cache-control" not in (await client.get(STATIC)).headers

    login = await client.post(
        "/api/v1/auth/login", json={"email": "private@example.org", "password": PASSWORD}
    )
    assert login.headers["cache-control"] == "no-store"  # it starts a session
    me = await client.get("/api/v1/me")
    assert "csrf_token" in me.json() and me.headers["cache-control"] == "no-store"
    for path in ("/", "/dashboard", "/account/tokens", "/no/such/page"):
        assert (await client.get(path)).headers["cache-control"] == "no-store", path

    made = await client.post(
        "/account/tokens", data={"csrf_token": me.json()["csrf_token"], "name": "ci"}
    )
    assert made.status_code == 200  # the page showing the new token, once
    assert made.headers["cache-control"] == "no-store"
    # Static files are not personal, whoever fetches them.
    assert "cache-control" not in (await client.get(STATIC)).headers

    token = re.search(r'<code class="token">([^<]+)</code>', made.text)
    assert token is not None
    client.cookies.clear()
    bearer = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token[1]}"})
    assert bearer.status_code == 200 and bearer.headers["cache-control"] == "no-store"


async def test_a_500_page_gets_the_headers_too(app) -> None:
    async def boom(request: Request) -> Response:
        await get_actor(request)
        raise RuntimeError("an unexpected failure")

    app.router.routes.insert(0, Route("/boom", boom))
    await a_user(email="unlucky@example.org")
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        stranger = await client.get("/boom")
        assert stranger.status_code == 500 and stranger.headers["x-frame-options"] == "DENY"
        assert "cache-control" not in stranger.headers
        await log_in(client, "unlucky@example.org")
        logged_in = await client.get("/boom")
    assert logged_in.status_code == 500 and logged_in.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in logged_in.headers["content-security-policy"]


async def test_a_route_that_chose_its_own_cache_policy_keeps_it(app, client) -> None:
    # As a published listing's image does: the same for everyone, whoever asks.
    async def public(request: Request) -> Response:
        await get_actor(request)
        return Response("same for all", headers={"Cache-Control": "public, max-age=300"})

    app.router.routes.insert(0, Route("/public", public))
    await a_user(email="visitor@example.org")
    await log_in(client, "visitor@example.org")
    assert (await client.get("/public")).headers["cache-control"] == "public, max-age=300"
    assert (await client.get("/dashboard")).headers["cache-control"] == "no-store"


# --- /readyz -------------------------------------------------------------------------------


async def test_readyz_details_only_for_administrators_and_this_machine(settings) -> None:
    # Meilisearch unreachable: the reason names a host, which strangers must not read.
    dead = f"http://127.0.0.1:{processes.free_port()}"
    app = create_app(with_settings(settings, meili_url=dead), manage_db=False)
    await a_user(email="member@example.org")
    await an_admin("root@example.org")

    async with client_of(app) as stranger:
        plain = await stranger.get("/readyz")
        assert plain.status_code == 503 and plain.json() == {"ok": False}
        assert "127.0.0.1" not in plain.text and "Connect" not in plain.text
        await log_in(stranger, "member@example.org")
        assert (await stranger.get("/readyz")).json() == {"ok": False}

    async with client_of(app) as admin:
        await log_in(admin, "root@example.org")
        detailed = (await admin.get("/readyz")).json()
        assert detailed["checks"]["database"]["ok"] is True
        assert "Connect" in detailed["checks"]["meilisearch"]["detail"]

    async with client_of(app, ip="127.0.0.1") as local:
        here = await local.get("/readyz")
        assert here.status_code == 503 and set(here.json()["checks"]) == {
            "database",
            "redis",
            "meilisearch",
        }
        # Relayed by a proxy on this machine: a visitor, not the operator.
        relayed = await local.get("/readyz", headers={"X-Forwarded-For": "198.51.100.9"})
        assert relayed.json() == {"ok": False}

    async with client_of(create_app(settings, manage_db=False), ip="::1") as local:
        ready = await local.get("/readyz")
        assert ready.status_code == 200 and all(c["ok"] for c in ready.json()["checks"].values())


# --- 405 -----------------------------------------------------------------------------------


async def test_405_names_the_allowed_methods_on_pages_and_the_api(client) -> None:
    page = await client.delete("/healthz")
    assert page.status_code == 405 and "<html" in page.text
    assert set(page.headers["allow"].split(", ")) == {"GET", "HEAD"}
    login = await client.put("/login")
    assert set(login.headers["allow"].split(", ")) == {"GET", "HEAD", "POST"}

    api = await client.delete("/api/v1/me")
    assert api.status_code == 405
    assert api.json()["error"]["code"] == "method_not_allowed"
    assert set(api.headers["allow"].split(", ")) == {"GET", "HEAD", "PATCH"}
    # What Allow names is answered: HEAD where there is a GET (once a 500, a missing handler).
    head = await client.head("/api/v1/me")
    assert head.status_code == 401 and head.content == b""
    post_only = await client.get("/api/v1/auth/login")
    assert post_only.status_code == 405 and post_only.headers["allow"] == "POST"


# --- safe configuration --------------------------------------------------------------------


async def test_card_payments_without_a_webhook_secret_refuse_to_start(settings) -> None:
    for secret in ("", "   "):
        unsigned = with_settings(settings, stripe_webhook_secret=secret)
        with pytest.raises(ConfigError, match="STRIPE_WEBHOOK_SECRET") as refused:
            create_app(unsigned, manage_db=False)
        assert "\n" not in str(refused.value)
        with pytest.raises(ConfigError, match="STRIPE_WEBHOOK_SECRET"):
            worker_settings(unsigned)
    # No card payments (no Stripe key): nothing to sign, nothing refused.
    no_cards = with_settings(settings, stripe_secret_key="", stripe_webhook_secret="")
    assert create_app(no_cards, manage_db=False) is not None
    assert worker_settings(no_cards)["queue_name"] == settings.queue_name


async def test_no_template_is_given_the_settings_object(app, client) -> None:
    async def leaky(request: Request) -> Response:
        return await render(request, "home.html", {"config": request.app.state.settings})

    app.router.routes.insert(0, Route("/leaky", leaky))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        refused = await c.get("/leaky")
    assert refused.status_code == 500
    assert app.state.settings.secret_key not in refused.text


# --- the system actor ----------------------------------------------------------------------


async def test_x_forwarded_for_system_behind_a_trusted_proxy_is_an_anonymous_visitor(
    app,
) -> None:
    async def whoami(request: Request) -> Response:
        actor = await get_actor(request)
        return JSONResponse(
            {"ip": actor.ip, "system": actor.is_system, "standing": sorted(actor.standing())}
        )

    app.router.routes.insert(0, Route("/whoami", whoami))
    # What `market serve --trust-proxy '*'` puts in front of the app.
    proxied = ProxyHeadersMiddleware(app, trusted_hosts="*")
    transport = httpx.ASGITransport(app=proxied, client=("10.0.0.2", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        forged = {"X-Forwarded-For": "system"}
        who = (await client.get("/whoami", headers=forged)).json()
        # The header did choose the address (the test would prove nothing otherwise) ...
        assert who["ip"] == "system"
        # ... and nothing more: an anonymous visitor with no standing.
        assert who["system"] is False and who["standing"] == []
        me = await client.get("/api/v1/me", headers=forged)
        assert me.status_code == 401


async def test_only_the_system_actor_is_the_system(settings) -> None:
    listing = await a_published_listing()
    impostors = [Actor.anonymous("system"), Actor(user=None, ip="system")]
    for impostor in impostors:
        assert not impostor.is_system and impostor.standing() == set()
        with pytest.raises(NotAuthenticated):
            await listings.license_listing(impostor, str(listing.id))
    assert (await Listing.get(id=listing.id)).state == ListingState.PUBLISHED

    system = Actor.system()
    assert system.is_system and system.standing() == {"system"} and system == Actor.system()
    assert system not in impostors
    await listings.license_listing(system, str(listing.id))
    assert (await Listing.get(id=listing.id)).state == ListingState.LICENSED
