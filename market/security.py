"""Response headers every page gets; a pure ASGI middleware so it costs next to nothing.

Three rules live here rather than at each route, so that no route can forget them:
- under an https `BASE_URL`, browsers are told to come back over https only (HSTS) and every
  cookie, whoever sets it, is marked `Secure`;
- an answer to a request that a session cookie or bearer token resolved to a user is personal:
  `Cache-Control: no-store`, unless the route chose its own (a published listing's image is
  the same for everyone and says `public`);
- an answer that starts a session is personal too, whoever asked.
"""

from __future__ import annotations

from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from market.actor import Actor
from market.config import Settings
from market.web import SESSION_COOKIE

HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        b"frame-ancestors 'none'; form-action 'self'",
    ),
]
# A year, the minimum browsers' preload lists accept; sub-domains of the site's own host only.
HSTS = (b"strict-transport-security", b"max-age=31536000; includeSubDomains")
NO_STORE = (b"cache-control", b"no-store")
STARTS_SESSION = SESSION_COOKIE.encode() + b"="


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.https = settings.secure_cookies
        self.fixed = HEADERS + ([HSTS] if self.https else [])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # The request's state dict: `market.web.get_actor` leaves the resolved actor in it.
        state: dict[str, Any] = scope.setdefault("state", {})

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if self.https:
                    headers = [_secure_cookie(h) for h in headers]
                present = {name.lower() for name, _ in headers}
                # A route may set its own (downloads get a stricter policy); keep it.
                extra = [h for h in self.fixed if h[0] not in present]
                if b"cache-control" not in present and _personal(state, headers):
                    extra.append(NO_STORE)
                message["headers"] = headers + extra
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _personal(state: dict[str, Any], headers: list[tuple[bytes, bytes]]) -> bool:
    actor = state.get("actor")
    if isinstance(actor, Actor) and actor.is_authenticated:
        return True
    return any(
        name.lower() == b"set-cookie" and value.startswith(STARTS_SESSION)
        for name, value in headers
    )


def _secure_cookie(header: tuple[bytes, bytes]) -> tuple[bytes, bytes]:
    name, value = header
    if name.lower() != b"set-cookie":
        return header
    attributes = {part.strip().lower() for part in value.split(b";")[1:]}
    return header if b"secure" in attributes else (name, value + b"; Secure")
