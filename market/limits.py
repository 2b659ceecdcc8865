"""Request bodies read within a limit, and JSON within a nesting depth.

A body is never read whole before its size is known. A declared Content-Length above the limit
is refused before a byte is read; a body sent without one (chunked) is counted while it streams
and refused as soon as it passes the limit, so a client cannot make the server hold more than
the limit in memory, whatever it sends. The refusal is a 413 naming `body`.

Two layers, one rule:

- `BodyLimitMiddleware` holds every request's body to `MAX_BODY`, whoever reads it, so an
  endpoint that reads the raw body without thinking of its size is still bounded (GET and HEAD
  aside: nothing reads their bodies).
- Handlers read through `read_body` / `limited` (what `market.web.read_json`, `read_form` and the
  Stripe webhook use), each with its own limit. A route that takes more than `MAX_BODY` (media
  uploads, the portfolio import) reads with `limited(request, its_limit)`, which hands the limit
  of that request over from the middleware to the route.

`parse_json` refuses JSON nested deeper than `MAX_JSON_DEPTH` before parsing it, so no input can
drive the parser into a RecursionError.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from market.errors import DomainError, ValidationFailed

MAX_BODY = 1_000_000
MAX_JSON_DEPTH = 32
# Where the middleware leaves its meter for `limited` to find (the scope travels with the request).
_SCOPE_KEY = "market.body_limit"
_READER_KEY = "market.body_reader"
_UNREAD_METHODS = frozenset({"GET", "HEAD"})

# A JSON string, escapes included (the unrolled form: linear, no backtracking).
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_JSON_BRACKET = re.compile(r"[\[\]{}]")


class BodyTooLarge(ValidationFailed):
    status = 413
    code = "too_large"


def too_large() -> BodyTooLarge:
    why = "The request body is too large."
    return BodyTooLarge(why, fields={"body": why})


Refusal = Callable[[], DomainError]


def declared_length(headers: Any) -> int | None:
    """The Content-Length the client declared, None when it sent none (chunked)."""
    raw = headers.get("content-length")
    if raw is None:
        return None
    # isdigit() alone takes "²", which int() refuses.
    if not (raw.isascii() and raw.isdigit()):
        raise ValidationFailed("Bad Content-Length header.", fields={"body": "Invalid."})
    return int(raw)


class _Meter:
    """A `receive` that counts the body's bytes and refuses them past `limit`."""

    def __init__(
        self, receive: Receive, limit: int | None, declared: int | None, refuse: Refusal
    ) -> None:
        self.receive = receive
        self.limit = limit  # None: someone else holds this body to a limit
        self.declared = declared
        self.refuse = refuse
        self.seen = 0
        # Once the answer has started, whatever the app still receives (Starlette's streaming
        # responses listen for the disconnect that way) is dropped by its caller, not kept.
        self.answered = False

    async def __call__(self) -> Message:
        if self.limit is not None and not self.answered:
            if self.declared is not None and self.declared > self.limit:
                raise self.refuse()
        message = await self.receive()
        if message["type"] == "http.request":
            self.seen += len(message.get("body", b""))
            if self.limit is not None and not self.answered and self.seen > self.limit:
                raise self.refuse()
        return message


class BodyLimitMiddleware:
    """Every HTTP request's body held to `limit` (`MAX_BODY`) unless its route reads it with
    a limit of its own (`limited`)."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # No route reads the body of a GET or HEAD; Starlette's file and streaming responses
        # receive on them only to notice a disconnect, racing the answer they send, and a
        # refusal there would come after the answer had started. The server drops such a
        # body unread.
        if scope["type"] != "http" or scope["method"] in _UNREAD_METHODS:
            await self.app(scope, receive, send)
            return
        declared: int | None = None
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                # A malformed one is the reader's to refuse (with a 4xx); the server's parser
                # normally refuses it before we ever see it.
                declared = int(value) if value.isdigit() else None
        meter = _Meter(receive, self.limit, declared, too_large)
        scope[_SCOPE_KEY] = meter

        async def send_noting_answer(message: Message) -> None:
            if message["type"] == "http.response.start":
                meter.answered = True
            await send(message)

        await self.app(scope, meter, send_noting_answer)


def limited(request: Request, limit: int = MAX_BODY, refuse: Refusal = too_large) -> Request:
    """The request to read from, its body refused (with `refuse()`) past `limit`: at once when
    the declared Content-Length is larger, otherwise as soon as the bytes read pass it (422 for
    a malformed Content-Length).

    A body is read once: a second call returns the same reader, whose body or form Starlette
    keeps, as `request.form()` did before (a fresh reader would wait for bytes long gone)."""
    reader = request.scope.get(_READER_KEY)
    if isinstance(reader, Request):
        return reader
    declared = declared_length(request.headers)
    if declared is not None and declared > limit:
        raise refuse()
    net = request.scope.get(_SCOPE_KEY)
    if isinstance(net, _Meter):
        # This route's limit now holds (it may be larger than the default, e.g. uploads).
        net.limit = None
    reader = Request(request.scope, _Meter(request.receive, limit, declared, refuse))
    request.scope[_READER_KEY] = reader
    return reader


async def read_body(request: Request, limit: int = MAX_BODY, refuse: Refusal = too_large) -> bytes:
    """The whole body, never more than `limit` bytes of it held."""
    return await limited(request, limit, refuse).body()


def nesting_exceeds(text: str, depth: int) -> bool:
    """True when the JSON text opens more than `depth` arrays/objects inside each other.

    Strings are cut out first (brackets in them do not count). For text that is not valid JSON
    the count may be too high, never too low up to the first error, which is where the parser
    stops too."""
    if text.count("[") + text.count("{") <= depth:
        return False
    level = 0
    for bracket in _JSON_BRACKET.findall(_JSON_STRING.sub("", text)):
        if bracket in "[{":
            level += 1
            if level > depth:
                return True
        else:
            level -= 1
    return False


def parse_json(body: bytes, depth: int = MAX_JSON_DEPTH) -> Any:
    """The body's JSON value; 422 naming `body` for anything but UTF-8 JSON nested at most
    `depth` deep."""
    try:
        # RFC 8259: JSON between systems is UTF-8. Decoding first also means the nesting count
        # below sees the same characters as the parser (UTF-16 bytes could hide a bracket).
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationFailed("The body is not UTF-8.", fields={"body": "Invalid JSON."}) from None
    if nesting_exceeds(text, depth):
        why = f"The JSON is nested more than {depth} levels deep."
        raise ValidationFailed(why, fields={"body": why})
    try:
        return json.loads(text)
    except ValueError:
        raise ValidationFailed(
            "The body is not valid JSON.", fields={"body": "Invalid JSON."}
        ) from None
