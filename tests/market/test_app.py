"""Behaviour of the application shell that no single domain owns."""

import re
import uuid

import httpx
from starlette.responses import Response
from starlette.routing import Match, Route

from market.app.asgi import create_app
from market.config import Settings
from tests.builders import PASSWORD, a_user


async def test_an_unexpected_error_shows_the_500_page_and_leaks_nothing(settings) -> None:
    app = create_app(settings, manage_db=False)

    async def boom(request) -> Response:
        raise RuntimeError("secret internals: password=hunter2")

    app.router.routes.append(Route("/boom", boom))
    # Ahead of the API's mount, which answers every other /api/v1 path.
    app.router.routes.insert(0, Route("/api/v1/boom", boom))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        page = await client.get("/boom")
        assert page.status_code == 500 and "<html" in page.text
        assert "hunter2" not in page.text
        api = await client.get("/api/v1/boom")
        assert api.status_code == 500 and api.json()["error"]["code"] == "server_error"
        assert "hunter2" not in api.text


async def test_cookies_are_secure_when_served_over_https(settings) -> None:
    secure = Settings(**{**settings.model_dump(), "base_url": "https://market.example"})
    app = create_app(secure, manage_db=False)
    await a_user(email="secure@example.org")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as client:
        response = await client.post(
            "/api/v1/auth/login", json={"email": "secure@example.org", "password": PASSWORD}
        )
    cookie = response.headers["set-cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie


async def test_a_short_secret_key_refuses_to_start(settings) -> None:
    import pytest

    from market.config import ConfigError

    with pytest.raises(ConfigError):
        create_app(Settings(**{**settings.model_dump(), "secret_key": "short"}), manage_db=False)


def _sample_path(template: str) -> str:
    """A concrete path a route's template matches: each parameter given a value of its kind."""
    values = {"uuid": str(uuid.uuid4()), "int": "7", "path": "a/b.css", "str": "x", "float": "1.5"}
    return re.sub(
        r"{[^}:]+(?::([a-z]+))?}", lambda m: values.get(m.group(1) or "str", "x"), template
    )


def test_the_router_finds_the_route_starlette_would(settings) -> None:
    """Every request path goes to the first route of them all that matches it fully, as in
    Starlette's walk, though ours tries only those its first segment can match."""
    app = create_app(settings, manage_db=False)
    router = app.router
    paths = {"/", "", "/nope", "/listings/", "/Listings", "//listings", "/static", "/api/v1/x"}
    paths |= {_sample_path(r.path) for r in router.routes if isinstance(r, Route)}
    paths |= {_sample_path(r.path) + "/x" for r in router.routes if isinstance(r, Route)}
    paths |= {"/static/css/site.css", "/api/v1/listings", f"/api/v1/listings/{uuid.uuid4()}"}
    assert len(paths) > 150

    def check() -> None:
        for path in sorted(paths):
            for method in ("GET", "POST", "DELETE"):
                scope = {"type": "http", "path": path, "root_path": "", "method": method}
                every = [r for r in router.routes if r.matches(scope)[0] is Match.FULL]
                tried = [r for r in router._candidates(path) if r.matches(scope)[0] is Match.FULL]
                assert tried[:1] == every[:1], (method, path)

    check()
    # A route whose first segment is a parameter can match under any first segment; added
    # after the first request, it is seen too.
    anywhere = Route("/{slug}/special", lambda request: Response("any"))
    router.routes.insert(5, anywhere)
    paths |= {"/listings/special", "/whatever/special"}
    check()
    assert [r for r in router._candidates("/listings/special") if r is anywhere]


async def test_what_no_route_takes_fully_is_starlettes_own_answer(client) -> None:
    assert (await client.get("/no-such-page")).status_code == 404
    moved = await client.get("/listings/", follow_redirects=False)
    assert moved.status_code in (307, 308) and moved.headers["location"].endswith("/listings")
    assert (await client.request("PATCH", "/dashboard")).status_code == 405
