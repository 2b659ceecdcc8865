"""Passwords and sessions: reset by e-mail through a real SMTP server (and the lockout it
lifts), change with the current password, the user's own sessions; every wrong link refused
with a reason and nothing changed."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx

from market.accounts import recovery
from market.accounts import service as accounts
from market.accounts.models import PasswordReset, User
from market.accounts.schemas import TokenIn
from market.clock import utcnow
from market.errors import Conflict
from tests.builders import PASSWORD, a_mailed_link, a_user, actor_of, log_in, run_worker
from tests.market.accounts.test_pages import csrf_of

NEW = "a brand new passphrase"


def a_client(app: Any, ip: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(ip, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def reset_link(settings: Any, mailbox: Any, address: str) -> str:
    return await a_mailed_link(settings, mailbox, address, "password-reset")


async def test_a_reset_link_lets_the_owner_back_in_and_everyone_else_out(
    app, settings, mailbox, redis_client
) -> None:
    user, _ = await a_user(email="owner@example.org")
    _, raw_token = await accounts.create_api_token(await actor_of(user), TokenIn(name="ci"))
    async with a_client(app, "203.0.113.30") as thief, a_client(app, "203.0.113.31") as owner:
        await log_in(thief, user.email)
        # Someone fails logins on purpose until the account is locked.
        for _ in range(6):
            await owner.post(
                "/api/v1/auth/login", json={"email": user.email, "password": "wrong guess!"}
            )
        locked = await owner.post(
            "/api/v1/auth/login", json={"email": user.email, "password": PASSWORD}
        )
        assert locked.status_code == 429

        asked = await owner.post("/api/v1/auth/password-reset", json={"email": "OWNER@example.org"})
        assert asked.status_code == 202
        token = await reset_link(settings, mailbox, user.email)
        stored = await PasswordReset.get(user_id=user.id)
        assert stored.token_hash == accounts.digest(token) and token not in stored.token_hash

        weak = await owner.post(f"/api/v1/auth/password-reset/{token}", json={"password": "x"})
        assert weak.status_code == 422 and "password" in weak.json()["error"]["fields"]
        done = await owner.post(f"/api/v1/auth/password-reset/{token}", json={"password": NEW})
        assert done.status_code == 200, done.text

        assert (await thief.get("/api/v1/me")).status_code == 401  # every session ended
        bearer = {"Authorization": f"Bearer {raw_token}"}
        assert (await owner.get("/api/v1/me", headers=bearer)).status_code == 401
        again = await owner.post(f"/api/v1/auth/password-reset/{token}", json={"password": NEW})
        assert again.status_code == 409 and "used" in again.json()["error"]["message"]
        # The lock is lifted for the owner of the address.
        back = await owner.post("/api/v1/auth/login", json={"email": user.email, "password": NEW})
        assert back.status_code == 200, back.text


async def test_an_unknown_address_gets_the_same_answer_and_no_mail(
    client, settings, mailbox, redis_client
) -> None:
    answer = await client.post("/api/v1/auth/password-reset", json={"email": "nobody@example.org"})
    assert answer.status_code == 202
    assert (
        answer.json()
        == (
            await client.post("/api/v1/auth/password-reset", json={"email": "other@example.org"})
        ).json()
    )
    await run_worker(settings)
    assert mailbox.to("nobody@example.org") == []
    assert not await PasswordReset.exists()


async def test_wrong_links_change_nothing(client, settings, mailbox, redis_client) -> None:
    user, _ = await a_user()
    before = (await User.get(id=user.id)).password_hash
    await recovery.request_reset(user.email)
    token = await reset_link(settings, mailbox, user.email)

    forged = await client.post("/api/v1/auth/password-reset/forged", json={"password": NEW})
    assert forged.status_code == 404 and "not valid" in forged.json()["error"]["message"]
    await PasswordReset.filter(user_id=user.id).update(expires_at=utcnow() - timedelta(seconds=1))
    expired = await client.post(f"/api/v1/auth/password-reset/{token}", json={"password": NEW})
    assert expired.status_code == 409 and expired.json()["error"]["state"] == "expired"
    assert (await User.get(id=user.id)).password_hash == before

    page = await client.get(f"/password-reset/{token}")
    assert page.status_code == 409 and "expired" in page.text


async def test_one_link_used_twice_at_once_sets_one_password(
    settings, mailbox, redis_client
) -> None:
    user, _ = await a_user()
    await recovery.request_reset(user.email)
    token = await reset_link(settings, mailbox, user.email)
    results = await asyncio.gather(
        recovery.reset_password(token, NEW),
        recovery.reset_password(token, NEW + " two"),
        return_exceptions=True,
    )
    assert sorted(type(r).__name__ for r in results) == ["Conflict", "User"], results
    assert isinstance(next(r for r in results if isinstance(r, Exception)), Conflict)


async def test_resets_are_throttled_per_address(client, redis_client) -> None:
    user, _ = await a_user()
    answers = [
        (await client.post("/api/v1/auth/password-reset", json={"email": user.email})).status_code
        for _ in range(4)
    ]
    assert answers == [202, 202, 202, 429]
    assert await PasswordReset.filter(user_id=user.id).count() == 3


async def test_change_password_and_the_sessions_list(app, redis_client) -> None:
    user, _ = await a_user()
    async with a_client(app, "203.0.113.40") as here, a_client(app, "203.0.113.41") as there:
        csrf = await log_in(here, user.email)
        await log_in(there, user.email)
        listed = (await here.get("/api/v1/me/sessions")).json()["items"]
        assert len(listed) == 2 and sum(s["current"] for s in listed) == 1

        headers = {"x-csrf-token": csrf}
        wrong = await here.post(
            "/api/v1/me/password",
            json={"current_password": "not it at all", "password": NEW},
            headers=headers,
        )
        assert wrong.status_code == 422 and "current_password" in wrong.json()["error"]["fields"]
        changed = await here.post(
            "/api/v1/me/password",
            json={"current_password": PASSWORD, "password": NEW},
            headers=headers,
        )
        assert changed.status_code == 200, changed.text
        assert (await there.get("/api/v1/me")).status_code == 401  # the other device is out
        assert (await here.get("/api/v1/me")).status_code == 200  # this one stays

        everywhere = await here.post("/api/v1/me/sessions/revoke-all", headers=headers)
        assert everywhere.status_code == 200
        assert (await here.get("/api/v1/me")).status_code == 401


async def test_the_reset_pages(client, settings, mailbox, redis_client) -> None:
    user, _ = await a_user()
    login = await client.get("/login")
    assert 'href="/password-reset"' in login.text
    form = await client.get("/password-reset")
    sent = await client.post(
        "/password-reset", data={"email": user.email, "csrf_token": csrf_of(form.text)}
    )
    assert sent.status_code == 303 and sent.headers["location"].startswith("/login")
    token = await reset_link(settings, mailbox, user.email)
    page = await client.get(f"/password-reset/{token}")
    assert page.status_code == 200
    weak = await client.post(
        f"/password-reset/{token}", data={"password": "short", "csrf_token": csrf_of(page.text)}
    )
    assert weak.status_code == 422
    done = await client.post(
        f"/password-reset/{token}", data={"password": NEW, "csrf_token": csrf_of(weak.text)}
    )
    assert done.status_code == 303
    assert (await log_in_ok(client, user.email, NEW)) == 200


async def log_in_ok(client: httpx.AsyncClient, email: str, password: str) -> int:
    answer = await client.post("/api/v1/auth/login", json={"email": email, "password": password})
    return answer.status_code


async def test_an_idle_session_ends_and_a_used_one_is_seen(app, redis_client) -> None:
    from market.accounts.models import Session

    user, _ = await a_user()
    async with a_client(app, "203.0.113.50") as browser:
        await log_in(browser, user.email)
        session = await Session.get(user_id=user.id)
        # Used a while ago: the next page brings last_seen_at up to date.
        await Session.filter(id=session.id).update(last_seen_at=utcnow() - timedelta(hours=1))
        assert (await browser.get("/api/v1/me")).status_code == 200
        seen = (await Session.get(id=session.id)).last_seen_at
        assert seen is not None and utcnow() - seen < timedelta(minutes=1)
        listed = (await browser.get("/api/v1/me/sessions")).json()["items"]
        assert [s["id"] for s in listed] == [str(session.id)]
        # Unused for longer than the idle timeout: ended, though not yet expired.
        idle = utcnow() - timedelta(hours=73)
        await Session.filter(id=session.id).update(last_seen_at=idle)
        assert (await browser.get("/api/v1/me")).status_code == 401
        assert (await Session.get(id=session.id)).expires_at > utcnow()


async def test_a_read_token_reads_and_an_expired_token_is_nothing(client) -> None:
    from market.accounts.models import ApiToken

    user, _ = await a_user()
    actor = await actor_of(user)
    _, read = await accounts.create_api_token(actor, TokenIn(name="dashboards", scope="read"))
    token, expiring = await accounts.create_api_token(actor, TokenIn(name="job", expires_in_days=1))
    reader = {"Authorization": f"Bearer {read}"}
    assert (await client.get("/api/v1/me", headers=reader)).status_code == 200
    refused = await client.patch(
        "/api/v1/me", json={"name": "Changed", "locale": "en"}, headers=reader
    )
    assert refused.status_code == 403 and "only read" in refused.json()["error"]["message"]
    assert (await User.get(id=user.id)).name != "Changed"

    job = {"Authorization": f"Bearer {expiring}"}
    assert (await client.get("/api/v1/me", headers=job)).status_code == 200
    await ApiToken.filter(id=token.id).update(expires_at=utcnow() - timedelta(seconds=1))
    assert (await client.get("/api/v1/me", headers=job)).status_code == 401

    _, writer = await accounts.create_api_token(actor, TokenIn(name="writer"))
    cases = [
        ({"name": "x", "scope": "admin"}, "scope"),
        ({"name": "x", "expires_in_days": 0}, "expires_in_days"),
        ({"name": "x", "expires_in_days": 10_000}, "expires_in_days"),
        ({"name": "x", "expires_in_days": "soon"}, "expires_in_days"),
    ]
    before = await ApiToken.filter(user_id=user.id).count()
    for bad, field in cases:
        answer = await client.post(
            "/api/v1/tokens", json=bad, headers={"Authorization": f"Bearer {writer}"}
        )
        assert answer.status_code == 422 and field in answer.json()["error"]["fields"], bad
    assert await ApiToken.filter(user_id=user.id).count() == before
