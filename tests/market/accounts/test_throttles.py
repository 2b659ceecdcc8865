"""Login and registration limits under bursts: requests fired together through the app, and
what got through counted. A limit read before and written after the password check let 28 of
30 parallel guesses through a limit of 5 and then locked the whole address out."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from market.accounts.models import User
from market.accounts.passwords import hash_password, verify_password
from tests.builders import PASSWORD, a_user, registration
from tests.market.accounts.test_pages import csrf_of

BURST = 30
WRONG = "not the password at all"

Clients = Callable[[str], httpx.AsyncClient]


@pytest.fixture
async def client_from(app) -> AsyncIterator[Clients]:
    """Clients of the app, each from the address asked for."""
    opened: list[httpx.AsyncClient] = []

    def make(ip: str) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=app, client=(ip, 40000 + len(opened)))
        opened.append(httpx.AsyncClient(transport=transport, base_url="http://testserver"))
        return opened[-1]

    yield make
    for client in opened:
        await client.aclose()


async def login(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await client.post("/api/v1/auth/login", json={"email": email, "password": password})


async def burst(*requests) -> Counter[int]:  # type: ignore[no-untyped-def]
    """Fire the requests together; how many answers of each status came back. Every refusal
    must say when to come back."""
    answers = await asyncio.gather(*requests)
    for answer in answers:
        if answer.status_code == 429:
            assert int(answer.headers["retry-after"]) > 0
            assert answer.json()["error"]["code"] == "too_many_requests"
    return Counter(a.status_code for a in answers)


async def test_a_burst_of_guesses_at_one_account_checks_exactly_the_limit(
    client_from, settings
) -> None:
    limit = settings.login_max_failures_per_account
    await a_user(email="ada@example.org")
    await a_user(email="bob@example.org")
    guesser = client_from("203.0.113.50")

    statuses = await burst(*(login(guesser, "ada@example.org", WRONG) for _ in range(BURST)))
    assert statuses == {401: limit, 429: BURST - limit}

    # The account stays locked, for the right password too, from any address...
    locked = await login(client_from("198.51.100.20"), "ADA@example.org", PASSWORD)
    assert locked.status_code == 429 and int(locked.headers["retry-after"]) > 0
    assert "Too many failed logins for this account" in locked.json()["error"]["message"]
    # ...but the guesser's address counted only the guesses that were checked.
    assert (await login(guesser, "bob@example.org", PASSWORD)).status_code == 200


async def test_a_burst_from_one_address_across_accounts_checks_exactly_its_limit(
    client_from, settings
) -> None:
    per_ip = settings.login_max_failures_per_ip
    per_account = settings.login_max_failures_per_account
    await a_user(email="ada@example.org")
    sprayer = client_from("203.0.113.60")

    # First a burst at one account: per_account guesses checked, counted on the address too.
    await burst(*(login(sprayer, "ada@example.org", WRONG) for _ in range(BURST)))
    # Then one guess at each of many accounts: the address has exactly what is left.
    statuses = await burst(
        *(login(sprayer, f"guess{i}@example.org", WRONG) for i in range(BURST + per_ip))
    )
    assert statuses == {401: per_ip - per_account, 429: BURST + per_account}

    refused = await login(sprayer, "someone@example.org", WRONG)
    assert "Too many failed logins from your network" in refused.json()["error"]["message"]
    # Another address is not held back by this one.
    assert (await login(client_from("198.51.100.21"), "x@example.org", WRONG)).status_code == 401


async def test_a_right_password_does_not_count_as_a_failure(client_from, settings) -> None:
    limit = settings.login_max_failures_per_account
    await a_user(email="ada@example.org")
    client = client_from("203.0.113.70")
    for _ in range(limit - 1):
        assert (await login(client, "ada@example.org", WRONG)).status_code == 401
    for _ in range(limit + 2):
        assert (await login(client, "ada@example.org", PASSWORD)).status_code == 200
        client.cookies.clear()  # logged in, a login is a cookie-authenticated write
    # The earlier failures still count (the owner logging in gives a guesser no new
    # allowance): one more guess is checked, the next is refused.
    assert (await login(client, "ada@example.org", WRONG)).status_code == 401
    assert (await login(client, "ada@example.org", WRONG)).status_code == 429


async def test_the_login_page_shows_the_lockout_with_retry_after(client_from, settings) -> None:
    await a_user(email="ada@example.org")
    client = client_from("203.0.113.80")
    for _ in range(settings.login_max_failures_per_account):
        await login(client, "ada@example.org", WRONG)
    token = csrf_of((await client.get("/login")).text)
    page = await client.post(
        "/login", data={"email": "ada@example.org", "password": PASSWORD, "csrf_token": token}
    )
    assert page.status_code == 429 and int(page.headers["retry-after"]) > 0
    assert "Too many failed logins for this account. Try again in" in page.text
    assert 'value="ada@example.org"' in page.text and PASSWORD not in page.text
    assert "tm_session" not in page.headers.get("set-cookie", "")


async def test_a_burst_of_registrations_from_one_address_makes_exactly_the_limit(
    client_from, settings
) -> None:
    limit = settings.registrations_per_ip_per_hour
    client = client_from("203.0.113.90")
    statuses = await burst(
        *(
            client.post("/api/v1/auth/register", json=registration(email=f"r{i}@example.org"))
            for i in range(50)
        )
    )
    assert statuses == {202: limit, 429: 50 - limit}
    assert await User.all().count() == limit

    elsewhere = client_from("198.51.100.22")
    made = await elsewhere.post("/api/v1/auth/register", json=registration())
    assert made.status_code == 202
    assert await User.all().count() == limit + 1


async def test_registrations_with_one_address_are_limited_from_any_network(
    client_from, mailbox
) -> None:
    """Each registration with an address mails it: a stranger cannot flood someone's inbox
    by registering their address from many networks."""
    answers = [
        await client_from(f"198.51.100.{40 + i}").post(
            "/api/v1/auth/register", json=registration(email="flooded@example.org")
        )
        for i in range(5)
    ]
    assert [a.status_code for a in answers] == [202, 202, 202, 429, 429]
    assert "Several registrations used this address lately" in answers[-1].text
    assert await User.filter(email="flooded@example.org").count() == 1


async def test_the_registration_page_shows_the_limit_with_retry_after(
    client_from, settings, monkeypatch
) -> None:
    monkeypatch.setattr(settings, "registrations_per_ip_per_hour", 1)
    client = client_from("203.0.113.91")
    assert (await client.post("/api/v1/auth/register", json=registration())).status_code == 202
    page = await client.get("/register")
    data = {
        "email": "second@example.org",
        "password": PASSWORD,
        "name": "Second Person",
        "organization.name": "Second Institute",
        "organization.kind": "institute",
        "organization.country": "CN",
        "csrf_token": csrf_of(page.text),
    }
    refused = await client.post("/register", data=data)
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0
    assert "Too many registrations from your network" in refused.text
    assert 'value="second@example.org"' in refused.text
    assert await User.filter(email="second@example.org").count() == 0


async def ticks_while(work) -> int:  # type: ignore[no-untyped-def]
    """How often another coroutine got the event loop while `work` ran: none at all when the
    work holds the loop."""
    ticks = 0
    finished = False

    async def tick() -> None:
        nonlocal ticks
        while not finished:
            ticks += 1
            await asyncio.sleep(0)

    ticker = asyncio.create_task(tick())
    await asyncio.sleep(0)
    before = ticks
    await work
    during = ticks - before
    finished = True
    await ticker
    return during


async def test_hashing_and_verifying_leave_the_event_loop_free() -> None:
    stored = await hash_password(PASSWORD)
    assert await ticks_while(hash_password(PASSWORD)) >= 10
    assert await ticks_while(verify_password(stored, PASSWORD)) >= 10
    assert await ticks_while(verify_password(None, PASSWORD)) >= 10
    assert await verify_password(stored, PASSWORD)
    assert not await verify_password(stored, WRONG)
    assert not await verify_password(None, PASSWORD)
