"""JSON endpoints for accounts, organisations and tokens (see API.md)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from market import actions
from market.accounts import confirmation, service
from market.accounts.models import ApiToken, Organization, User
from market.accounts.schemas import (
    LoginIn,
    OrganizationUpdate,
    ProfileIn,
    RegisterIn,
    SwitchIn,
    TokenIn,
    TokenOnlyIn,
)
from market.api import ApiRouter, body
from market.web import (
    SESSION_COOKIE,
    client_ip,
    csrf_token,
    get_actor,
    json_response,
    language,
    remember_language,
    settings_of,
)

router = ApiRouter("accounts")


def user_json(user: User) -> dict[str, Any]:
    return {
        "id": str(user.id),
        "email": user.email,
        "name": user.name,
        "locale": user.locale,
        "is_active": user.is_active,
        "email_verified": user.email_verified,
        "created_at": user.created_at.isoformat(),
    }


def organization_json(org: Organization | None) -> dict[str, Any] | None:
    if org is None:
        return None
    return {
        "id": str(org.id),
        "name": org.name,
        "kind": str(org.kind),
        "country": org.country,
        "region": org.region,
        "website": org.website,
        "verification": str(org.verification),
        "rejection_reason": org.rejection_reason,
        "slug": org.slug,
        "about": org.about,
        "about_zh": org.about_zh,
        "logo_url": org.logo_url or None,
        # A verified organisation's change waiting for an administrator ("" when none).
        "proposed_name": org.proposed_name,
        "proposed_country": org.proposed_country,
        "created_at": org.created_at.isoformat(),
    }


def token_json(token: ApiToken) -> dict[str, Any]:
    return {
        "id": str(token.id),
        "name": token.name,
        "prefix": token.prefix,
        "created_at": token.created_at.isoformat(),
        "last_used_at": token.last_used_at.isoformat() if token.last_used_at else None,
        "scope": token.scope,
        "expires_at": token.expires_at.isoformat() if token.expires_at else None,
    }


def set_session_cookie(request: Request, response: Response, token: str, user: User) -> None:
    """The session, and the language the user chose (`User.locale`): pages follow it from the
    moment they log in, whatever this browser was set to before."""
    settings = settings_of(request)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="lax",
        secure=settings.secure_cookies,
        max_age=settings.session_days * 86400,
    )
    remember_language(response, user.locale)


@router.route(
    "/auth/register",
    "POST",
    summary="Register a user with a new organisation; the address is confirmed by a mailed "
    "link (the same answer whether or not the address has an account)",
    body=RegisterIn,
    status=202,
    auth=False,
)
async def register(request: Request) -> Response:
    data = await body(request, RegisterIn)
    await confirmation.sign_up(data, ip=client_ip(request), locale=language(request, None))
    return json_response({"email": data.email, "message": confirmation.CHECK_YOUR_MAIL}, 202)


@router.route(
    "/auth/verify-email",
    "POST",
    summary="Confirm the address with the token of the mailed link",
    body=TokenOnlyIn,
    auth=False,
)
async def verify_email(request: Request) -> Response:
    data = await body(request, TokenOnlyIn)
    user = await confirmation.confirm_address(data.token, ip=client_ip(request))
    return json_response({"user": user_json(user)})


@router.route(
    "/me/verify-email",
    "POST",
    summary="Mail a new link to confirm your address",
    status=202,
)
async def send_confirmation_again(request: Request) -> Response:
    await confirmation.send_again(await get_actor(request))
    return json_response({"message": "A new link is on its way."}, 202)


@router.route(
    "/auth/login", "POST", summary="Log in; sets the session cookie", body=LoginIn, auth=False
)
async def login(request: Request) -> Response:
    data = await body(request, LoginIn)
    user = await service.authenticate(data, ip=client_ip(request))
    token = await service.start_session(
        user, ip=client_ip(request), user_agent=request.headers.get("user-agent", "")
    )
    response = json_response({"user": user_json(user)})
    set_session_cookie(request, response, token, user)
    return response


@router.route("/auth/logout", "POST", summary="End the current session", auth=False)
async def logout(request: Request) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        await service.end_session(token, ip=client_ip(request))
    response = JSONResponse({"ok": True})
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.route("/me", summary="The current user, organisation and CSRF token")
async def me(request: Request) -> Response:
    actor = await get_actor(request)
    assert actor.user is not None
    return json_response(
        {
            "user": user_json(actor.user),
            "organization": organization_json(actor.organization),
            "role": str(actor.role) if actor.role else None,
            "is_admin": actor.is_admin,
            "csrf_token": csrf_token(request),
        }
    )


@router.route(
    "/me/actions",
    summary="What waits for you and your current organisation (the dashboard's cards): "
    "`items` of `{kind, text, link, count?, subject_id?}`, `text` in your language",
)
async def my_actions(request: Request) -> Response:
    actor = await get_actor(request)
    return json_response({"items": await actions.shown_for(actor, language(request, actor))})


@router.route(
    "/me/organization",
    "POST",
    summary="Act for another of your organisations in this session",
    body=SwitchIn,
)
async def switch_organization(request: Request) -> Response:
    data = await body(request, SwitchIn)
    org = await service.switch_organization(
        await get_actor(request), request.cookies.get(SESSION_COOKIE, ""), data.organization_id
    )
    return json_response({"organization": organization_json(org)})


@router.route("/me", "PATCH", summary="Change the profile", body=ProfileIn)
async def update_me(request: Request) -> Response:
    user = await service.update_profile(await get_actor(request), await body(request, ProfileIn))
    response = json_response({"user": user_json(user)})
    remember_language(response, user.locale)
    return response


@router.route(
    "/organization",
    "PATCH",
    summary="Change the organisation's profile (owner)",
    body=OrganizationUpdate,
)
async def update_organization(request: Request) -> Response:
    data = await body(request, OrganizationUpdate)
    org = await service.update_organization(await get_actor(request), data)
    return json_response({"organization": organization_json(org)})


@router.route(
    "/organization/resubmit", "POST", summary="Ask again for verification after a rejection (owner)"
)
async def resubmit(request: Request) -> Response:
    org = await service.resubmit_organization(await get_actor(request))
    return json_response({"organization": organization_json(org)})


@router.route(
    "/tokens", "POST", summary="Create a personal API token (shown once)", body=TokenIn, status=201
)
async def create_token(request: Request) -> Response:
    token, raw = await service.create_api_token(
        await get_actor(request), await body(request, TokenIn)
    )
    return json_response({"token": raw, "api_token": token_json(token)}, 201)


@router.route("/tokens", summary="List your API tokens (never the tokens themselves)")
async def list_tokens(request: Request) -> Response:
    tokens = await service.list_api_tokens(await get_actor(request))
    return json_response({"items": [token_json(t) for t in tokens]})


@router.route("/tokens/{token_id}", "DELETE", summary="Revoke one of your API tokens")
async def revoke_token(request: Request) -> Response:
    await service.revoke_api_token(await get_actor(request), request.path_params["token_id"])
    return json_response({"ok": True})
