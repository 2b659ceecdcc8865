"""Bodies are refused while they stream (413 naming `body`), JSON and form nesting is bounded,
and none of the inputs that used to answer 500 (a non-ASCII CSRF token, colliding form keys,
JSON nested 10,000 deep) does any more. The app runs in this process; the real web process and
its memory are in test_limits_memory.py."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from contracts.payments import webhooks
from contracts.payments.models import StripeEvent
from market import limits
from market.accounts.models import ApiToken, User
from market.app.asgi import create_app
from market.config import Settings
from market.errors import ValidationFailed
from market.web import nest
from tests.builders import a_user, a_verified_institute, log_in, registration
from tests.market.accounts.test_pages import csrf_of, form_of

CHUNK = 64 * 1024
JSON = {"Content-Type": "application/json"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


class Feed:
    """A body made while it is sent, in CHUNK pieces, counting how much the server took."""

    def __init__(self, total: int, head: bytes = b"") -> None:
        self.total = total
        self.head = head
        self.sent = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        piece = self.head + b" " * (CHUNK - len(self.head))
        while self.sent < self.total:
            chunk = piece[: self.total - self.sent]
            piece = b" " * CHUNK
            self.sent += len(chunk)
            yield chunk


def assert_refused_body(response: httpx.Response) -> None:
    assert response.status_code == 413, response.text
    error = response.json()["error"]
    assert error["code"] == "too_large" and "body" in error["fields"]


# --- JSON --------------------------------------------------------------------------------


async def test_json_past_the_limit_without_a_length_is_refused_while_it_streams(client) -> None:
    feed = Feed(5 * limits.MAX_BODY, head=b'{"email": "')
    response = await client.post("/api/v1/auth/register", content=feed, headers=JSON)
    assert_refused_body(response)
    # The server stopped taking the body at the chunk that passed the limit.
    assert feed.sent <= limits.MAX_BODY + CHUNK
    assert await User.all().count() == 0


async def test_json_declared_past_the_limit_is_refused_before_a_byte_is_read(client) -> None:
    feed = Feed(5 * limits.MAX_BODY)
    headers = {**JSON, "Content-Length": str(feed.total)}
    response = await client.post("/api/v1/auth/register", content=feed, headers=headers)
    assert_refused_body(response)
    assert feed.sent == 0


async def test_json_up_to_the_limit_is_read(client) -> None:
    body = b"{}".ljust(limits.MAX_BODY, b" ")
    response = await client.post("/api/v1/auth/register", content=body, headers=JSON)
    # Read and parsed: what it lacks is the registration's fields, not room.
    assert response.status_code == 422
    assert "email" in response.json()["error"]["fields"]


@pytest.mark.parametrize(
    "deep",
    [b"[" * 10_000 + b"]" * 10_000, b'{"a": ' * 10_000 + b"1" + b"}" * 10_000, b"[" * 10_000],
    ids=["arrays", "objects", "unclosed"],
)
async def test_json_nested_ten_thousand_deep_is_refused_naming_the_body(client, deep) -> None:
    response = await client.post("/api/v1/auth/register", content=deep, headers=JSON)
    assert response.status_code == 422, response.text
    assert "body" in response.json()["error"]["fields"]


def test_json_nesting_is_counted_outside_strings_up_to_the_limit() -> None:
    depth = limits.MAX_JSON_DEPTH
    assert limits.parse_json(b"[" * depth + b"]" * depth) is not None
    with pytest.raises(ValidationFailed) as refused:
        limits.parse_json(b"[" * (depth + 1) + b"]" * (depth + 1))
    assert "body" in refused.value.fields
    # Brackets inside strings (escaped quotes included) are text, not nesting.
    text = '["' + "[{" * 100 + '\\"' + "[" * 100 + '"]'
    assert limits.parse_json(text.encode()) == ["[{" * 100 + '"' + "[" * 100]
    assert limits.parse_json(b'{"a": [1, {"b": "]]]"}]}') == {"a": [1, {"b": "]]]"}]}


def test_json_that_is_not_utf8_is_refused() -> None:
    # UTF-16 could hide a bracket from the nesting count; JSON on the wire is UTF-8 (RFC 8259).
    for body in ('{"a": 1}'.encode("utf-16"), b'{"a": "\xff"}'):
        with pytest.raises(ValidationFailed) as refused:
            limits.parse_json(body)
        assert refused.value.fields == {"body": "Invalid JSON."}


async def test_a_malformed_content_length_is_a_4xx(client) -> None:
    headers = {**JSON, "Content-Length": "\u00b2".encode("latin-1")}
    response = await client.post("/api/v1/auth/register", content=b"{}", headers=headers)
    assert response.status_code == 422
    assert "body" in response.json()["error"]["fields"]


# --- forms -------------------------------------------------------------------------------


async def test_a_form_past_the_limit_is_refused_while_it_streams(client) -> None:
    token = csrf_of((await client.get("/register")).text)
    feed = Feed(5 * limits.MAX_BODY, head=f"csrf_token={token}&name=".encode())
    response = await client.post("/register", content=feed, headers=FORM)
    assert response.status_code == 413
    assert "The request body is too large." in response.text
    assert feed.sent <= limits.MAX_BODY + CHUNK
    assert await User.all().count() == 0


async def test_a_form_declared_past_the_limit_is_refused_on_a_plain_error_page(client) -> None:
    token = csrf_of((await client.get("/login")).text)
    data = {"csrf_token": token, "padding": "x" * (2 * limits.MAX_BODY)}
    response = await client.post("/logout", data=data)
    assert response.status_code == 413
    assert "<html" in response.text and "413" in response.text


# --- the Stripe webhook ------------------------------------------------------------------


async def test_a_webhook_past_its_limit_without_a_length_is_refused_while_it_streams(
    settings: Settings, client
) -> None:
    feed = Feed(5 * webhooks.MAX_BODY, head=b'{"id": "evt_')
    headers = {**JSON, "Stripe-Signature": "t=1,v1=00"}
    response = await client.post("/webhooks/stripe", content=feed, headers=headers)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "bad_webhook"
    assert feed.sent <= webhooks.MAX_BODY + CHUNK
    assert await StripeEvent.all().count() == 0


# --- the middleware: every route bounded unless it says otherwise --------------------------


async def test_a_route_that_reads_the_raw_body_is_still_held_to_the_limit(settings) -> None:
    app = create_app(settings, manage_db=False)

    async def raw(request: Request) -> Response:
        return Response(str(len(await request.body())))

    async def larger(request: Request) -> Response:
        body = await limits.read_body(request, 3 * limits.MAX_BODY)
        # Read once, kept: a second read gets the same bytes instead of waiting for more.
        assert await limits.read_body(request, 3 * limits.MAX_BODY) == body
        return Response(str(len(body)))

    app.router.routes[:0] = [
        Route("/raw", raw, methods=["POST"]),
        Route("/larger", larger, methods=["POST"]),
    ]
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        feed = Feed(5 * limits.MAX_BODY)
        refused = await client.post("/raw", content=feed)
        assert refused.status_code == 413
        assert feed.sent <= limits.MAX_BODY + CHUNK
        declared = Feed(2 * limits.MAX_BODY)
        refused = await client.post(
            "/raw", content=declared, headers={"Content-Length": str(declared.total)}
        )
        assert refused.status_code == 413 and declared.sent == 0
        # Below the default, and a route that takes more, read it all.
        assert (await client.post("/raw", content=Feed(limits.MAX_BODY))).text == str(
            limits.MAX_BODY
        )
        taken = await client.post("/larger", content=Feed(2 * limits.MAX_BODY))
        assert taken.status_code == 200 and taken.text == str(2 * limits.MAX_BODY)
        assert (await client.post("/larger", content=Feed(4 * limits.MAX_BODY))).status_code == 413


async def test_a_file_is_served_whatever_body_its_get_came_with(client) -> None:
    # A file answer listens for the disconnect by receiving the body; that must not trip the
    # limit halfway through the answer.
    for headers in ({}, {"Content-Length": str(3 * limits.MAX_BODY)}):
        feed = Feed(3 * limits.MAX_BODY)
        response = await client.request(
            "GET", "/static/css/site.css", content=feed, headers=headers
        )
        assert response.status_code == 200 and response.content


async def test_the_portfolio_import_still_takes_files_past_the_default_limit(client) -> None:
    user, _ = await a_verified_institute()
    token = await log_in(client, user.email)
    garbage = random.Random(2).randbytes(2 * limits.MAX_BODY)
    response = await client.post(
        "/listings/import",
        data={"csrf_token": token},
        files={"file": ("data.csv", garbage, "text/csv")},
    )
    # Read whole and judged on its content, not cut off at the default 1 MB.
    assert response.status_code == 422 and "CSV or JSON Lines" in response.text


# --- inputs that used to answer 500 ------------------------------------------------------


async def test_a_non_ascii_csrf_token_on_a_form_is_refused_like_any_wrong_token(client) -> None:
    await client.get("/register")
    data = form_of(registration(email="csrf-unicode@example.org"))
    response = await client.post("/register", data={**data, "csrf_token": "tökén-ü"})
    assert response.status_code == 403
    assert await User.all().count() == 0


async def test_a_non_ascii_csrf_header_on_a_cookie_api_write_is_refused(client) -> None:
    await a_user(email="csrf-api@example.org")
    await log_in(client, "csrf-api@example.org")
    response = await client.post(
        "/api/v1/tokens",
        json={"name": "sync"},
        headers={"X-CSRF-Token": "tökén".encode()},
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"
    assert await ApiToken.all().count() == 0


@pytest.mark.parametrize(
    ("items", "field"),
    [
        ([("organization", "x"), ("organization.name", "y")], "organization"),
        ([("organization.name", "y"), ("organization", "x")], "organization"),
        ([("organization.name", "y"), ("organization.name.first", "z")], "organization.name"),
    ],
    ids=["value-then-group", "group-then-value", "deeper"],
)
def test_a_form_key_that_is_both_a_value_and_a_group_is_refused_naming_it(items, field) -> None:
    with pytest.raises(ValidationFailed) as refused:
        nest(FormData(items))
    assert list(refused.value.fields) == [field]


async def test_colliding_form_keys_on_a_page_come_back_as_a_field_error(client) -> None:
    token = csrf_of((await client.get("/register")).text)
    data = form_of(registration(email="collide@example.org"))
    for order in (
        {"organization": "x", **data},
        {**data, "organization": "x"},
    ):
        response = await client.post("/register", data={**order, "csrf_token": token})
        assert response.status_code == 422
        assert "both as a value and as a group" in response.text
    assert await User.all().count() == 0


def test_form_field_names_are_nested_at_most_the_json_depth() -> None:
    fine = ".".join(["a"] * limits.MAX_JSON_DEPTH)
    assert nest(FormData([(fine, "v")]))
    deep = ".".join(["a"] * (limits.MAX_JSON_DEPTH + 1))
    with pytest.raises(ValidationFailed) as refused:
        nest(FormData([(deep, "v")]))
    assert deep in refused.value.fields
