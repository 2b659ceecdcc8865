"""JSON endpoints for passwords and the user's own sessions (API.md, wave 2)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from market.accounts import recovery
from market.accounts.models import Session
from market.accounts.schemas import PasswordChangeIn, PasswordIn, ResetRequestIn
from market.accounts.service import digest
from market.api import ApiRouter, body
from market.web import SESSION_COOKIE, client_ip, get_actor, json_response

router = ApiRouter("passwords and sessions")


def session_json(session: Session, current: str) -> dict[str, Any]:
    return {
        "id": str(session.id),
        "ip": session.ip,
        "user_agent": session.user_agent,
        "created_at": session.created_at.isoformat(),
        "expires_at": session.expires_at.isoformat(),
        "last_seen_at": (session.last_seen_at or session.created_at).isoformat(),
        "current": session.token_hash == current,
    }


@router.route(
    "/auth/password-reset",
    "POST",
    summary="Mail a reset link to the address (the same answer whether or not it has an account)",
    body=ResetRequestIn,
    status=202,
    auth=False,
)
async def request_reset(request: Request) -> Response:
    data = await body(request, ResetRequestIn)
    await recovery.request_reset(data.email, ip=client_ip(request))
    return json_response(
        {"message": "If the address has an account, a reset link is on its way."}, 202
    )


@router.route(
    "/auth/password-reset/{token}",
    "POST",
    summary="Set a new password with a mailed link; every session and token of the account end",
    body=PasswordIn,
    auth=False,
)
async def reset(request: Request) -> Response:
    data = await body(request, PasswordIn)
    await recovery.reset_password(
        request.path_params["token"], data.password, ip=client_ip(request)
    )
    return json_response({"reset": True})


@router.route(
    "/me/password",
    "POST",
    summary="Change the password, given the current one; other sessions end",
    body=PasswordChangeIn,
)
async def change_password(request: Request) -> Response:
    data = await body(request, PasswordChangeIn)
    await recovery.change_password(
        await get_actor(request),
        data.current_password,
        data.password,
        keep=request.cookies.get(SESSION_COOKIE, ""),
    )
    return json_response({"changed": True})


@router.route("/me/sessions", summary="Your sessions that are still live")
async def sessions(request: Request) -> Response:
    found = await recovery.list_sessions(await get_actor(request))
    current = digest(request.cookies.get(SESSION_COOKIE, ""))
    return json_response({"items": [session_json(s, current) for s in found]})


@router.route("/me/sessions/{session_id}", "DELETE", summary="End one of your sessions")
async def revoke_session(request: Request) -> Response:
    await recovery.revoke_session(await get_actor(request), request.path_params["session_id"])
    return json_response({"revoked": True})


@router.route("/me/sessions/revoke-all", "POST", summary="Log out everywhere, here included")
async def revoke_all(request: Request) -> Response:
    ended = await recovery.log_out_everywhere(await get_actor(request))
    response = json_response({"revoked": ended})
    response.delete_cookie(SESSION_COOKIE)
    return response
