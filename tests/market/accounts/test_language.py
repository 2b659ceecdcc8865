"""The header's language switch, for a logged-in user, is stored: pages and mails follow it."""

import httpx

from market.accounts.models import User
from market.notify import Notification, tell
from tests.builders import a_user
from tests.market.accounts.test_pages import csrf_of, page_login


async def switch(client: httpx.AsyncClient, lang: str, page: str = "/dashboard") -> httpx.Response:
    csrf = csrf_of((await client.get(page)).text)
    return await client.post(
        "/language",
        data={"lang": lang, "next": page, "csrf_token": csrf},
        follow_redirects=False,
    )


async def test_switching_while_logged_in_stores_the_language(client) -> None:
    user, _ = await a_user(email="lang@example.org")
    await page_login(client, user.email)
    page = (await client.get("/dashboard")).text
    assert 'action="/language"' in page  # a form with the token, not a link that writes
    answer = await switch(client, "zh")
    assert answer.status_code == 303 and answer.headers["location"] == "/dashboard"
    assert (await User.get(id=user.id)).locale == "zh"
    assert '<html lang="zh">' in (await client.get("/dashboard")).text

    # Another browser, a new login: still Chinese.
    await client.post("/logout", data={"csrf_token": csrf_of(page)})
    client.cookies.clear()
    await page_login(client, user.email)
    assert '<html lang="zh">' in (await client.get("/dashboard")).text
    # And the mails: a notification is written in the stored language.
    await tell(await User.get(id=user.id), "organization_verified", dedup_key="lang-test")
    note = await Notification.get(dedup_key="lang-test")
    assert note.subject == "贵机构已通过审核"

    await switch(client, "en")
    assert (await User.get(id=user.id)).locale == "en"
    assert '<html lang="en">' in (await client.get("/dashboard")).text


async def test_the_switch_wants_the_token_and_a_local_page(client) -> None:
    user, _ = await a_user(email="lang2@example.org")
    await page_login(client, user.email)
    refused = await client.post("/language", data={"lang": "zh"}, follow_redirects=False)
    assert refused.status_code == 403
    assert (await User.get(id=user.id)).locale == "en"
    csrf = csrf_of((await client.get("/dashboard")).text)
    away = await client.post(
        "/language",
        data={"lang": "zh", "next": "//evil.example/", "csrf_token": csrf},
        follow_redirects=False,
    )
    assert away.headers["location"] == "/"
    unknown = await client.post(
        "/language", data={"lang": "xx", "csrf_token": csrf}, follow_redirects=False
    )
    assert unknown.status_code == 404


async def test_a_visitor_switches_with_a_link(client) -> None:
    home = (await client.get("/")).text
    assert 'href="/language/zh"' in home and 'action="/language"' not in home
    await client.get("/language/zh")
    assert '<html lang="zh">' in (await client.get("/")).text


async def test_saving_the_account_language_changes_the_pages_too(client) -> None:
    user, _ = await a_user(email="lang3@example.org")
    await page_login(client, user.email)
    await client.get("/language/en")  # this browser said English before
    csrf = csrf_of((await client.get("/account")).text)
    await client.post("/account", data={"name": "Li", "locale": "zh", "csrf_token": csrf})
    assert '<html lang="zh">' in (await client.get("/dashboard")).text
