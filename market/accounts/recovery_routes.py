"""Pages for passwords and sessions: forgot, reset, change, and the list of one's sessions."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from market.accounts import recovery
from market.accounts.schemas import PasswordChangeIn, PasswordIn, ResetRequestIn
from market.accounts.service import digest
from market.errors import DomainError
from market.validation import parse
from market.web import (
    SESSION_COOKIE,
    client_ip,
    nest,
    read_form,
    redirect,
    render,
    render_form,
    require_login,
)

SENT = "If the address has an account, a reset link is on its way. It works for an hour."


async def forgot_page(request: Request) -> Response:
    values: dict[str, Any] = {}
    if request.method == "POST":
        try:
            values = nest(await read_form(request))
            data = parse(ResetRequestIn, values)
            await recovery.request_reset(data.email, ip=client_ip(request))
        except DomainError as exc:
            return await render_form(request, "accounts/forgot.html", {"values": values}, error=exc)
        return redirect("/login", SENT)
    return await render(request, "accounts/forgot.html", {"values": values})


async def reset_page(request: Request) -> Response:
    token = request.path_params["token"]
    try:
        await recovery.reset_for(token)
    except DomainError as exc:
        return await render_form(request, "accounts/reset.html", {"invalid": True}, error=exc)
    if request.method == "GET":
        return await render(request, "accounts/reset.html", {"token": token, "values": {}})
    try:
        values = nest(await read_form(request))
        data = parse(PasswordIn, values)
        await recovery.reset_password(token, data.password, ip=client_ip(request))
    except DomainError as exc:
        return await render_form(
            request, "accounts/reset.html", {"token": token, "values": {}}, error=exc
        )
    response = redirect("/login", "Your password is changed; every device was logged out.")
    response.delete_cookie(SESSION_COOKIE)
    return response


async def password_page(request: Request) -> Response:
    actor = await require_login(request)
    if request.method == "GET":
        return await render(request, "accounts/password.html", {"values": {}})
    try:
        data = parse(PasswordChangeIn, nest(await read_form(request)))
        await recovery.change_password(
            actor,
            data.current_password,
            data.password,
            keep=request.cookies.get(SESSION_COOKIE, ""),
        )
    except DomainError as exc:
        return await render_form(request, "accounts/password.html", {"values": {}}, error=exc)
    return redirect("/account/sessions", "Your password is changed; other devices are logged out.")


async def sessions_page(request: Request) -> Response:
    actor = await require_login(request)
    found = await recovery.list_sessions(actor)
    current = digest(request.cookies.get(SESSION_COOKIE, ""))
    return await render(request, "accounts/sessions.html", {"sessions": found, "current": current})


async def revoke_session(request: Request) -> Response:
    actor = await require_login(request)
    await read_form(request)
    await recovery.revoke_session(actor, request.path_params["session_id"])
    return redirect("/account/sessions", "The session has ended.")


async def revoke_all(request: Request) -> Response:
    actor = await require_login(request)
    await read_form(request)
    await recovery.log_out_everywhere(actor)
    response = redirect("/login", "You are logged out everywhere.")
    response.delete_cookie(SESSION_COOKIE)
    return response


routes = [
    Route("/password-reset", forgot_page, methods=["GET", "POST"]),
    Route("/password-reset/{token}", reset_page, methods=["GET", "POST"]),
    Route("/account/password", password_page, methods=["GET", "POST"]),
    Route("/account/sessions", sessions_page),
    Route("/account/sessions/revoke-all", revoke_all, methods=["POST"]),
    Route("/account/sessions/{session_id}/revoke", revoke_session, methods=["POST"]),
]
