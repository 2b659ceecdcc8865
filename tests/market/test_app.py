"""Behaviour of the application shell that no single domain owns."""

import httpx
from starlette.responses import Response
from starlette.routing import Route

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
