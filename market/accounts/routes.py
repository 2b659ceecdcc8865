"""Pages for registration, login, the dashboard, profiles and API tokens."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from market import actions, notify
from market.accounts import confirmation, documents, onboarding, service
from market.accounts.api import set_session_cookie
from market.accounts.models import Organization, OrganizationKind
from market.accounts.roles import Permission, may
from market.accounts.schemas import (
    LoginIn,
    OrganizationUpdate,
    ProfileIn,
    RegisterIn,
    TokenIn,
    countries,
)
from market.actor import Actor
from market.errors import DomainError
from market.i18n import Msg
from market.validation import parse
from market.web import (
    SESSION_COOKIE,
    client_ip,
    get_actor,
    language,
    nest,
    read_form,
    redirect,
    remember_language,
    render,
    render_error,
    render_form,
    require_login,
    settings_of,
)


async def register_page(request: Request) -> Response:
    context = {"countries": countries()}
    if request.method == "GET":
        return await render(request, "accounts/register.html", context)
    values: dict = {}
    try:
        form = await read_form(request)
        values = nest(form)
        await confirmation.sign_up(
            parse(RegisterIn, values),
            ip=client_ip(request),
            locale=language(request, None),
        )
    except DomainError as exc:
        values.pop("password", None)
        return await render_form(
            request, "accounts/register.html", {**context, "values": values}, error=exc
        )
    # The same answer for a known address as for a new one: its mail says which it was.
    return redirect("/login", confirmation.CHECK_YOUR_MAIL)


async def confirm_page(request: Request) -> Response:
    """The mailed link opens a page with a button: a mail scanner that fetches links does not
    use it up."""
    token = request.path_params["token"]
    try:
        if request.method == "POST":
            await read_form(request)
            user = await confirmation.confirm_address(token, ip=client_ip(request))
        else:
            await confirmation.check_link(token)
    except DomainError as exc:
        return await render_form(request, "accounts/confirm.html", {"invalid": True}, error=exc)
    if request.method == "GET":
        return await render(request, "accounts/confirm.html", {"token": token})
    actor = await get_actor(request)
    if actor.user is not None and actor.user.id == user.id:
        return redirect("/dashboard", "Your address is confirmed.")
    return redirect("/login?next=/dashboard", "Your address is confirmed. Log in to go on.")


async def send_confirmation_again(request: Request) -> Response:
    actor = await require_login(request)
    await read_form(request)
    try:
        await confirmation.send_again(actor)
    except DomainError as exc:
        return redirect("/dashboard", exc.message)
    return redirect("/dashboard", "A new link is on its way to your address.")


async def login_page(request: Request) -> Response:
    if request.method == "GET":
        return await render(request, "accounts/login.html", {"next": _safe_next(request)})
    values: dict = {}
    try:
        form = await read_form(request)
        values = nest(form)
        user = await service.authenticate(parse(LoginIn, values), ip=client_ip(request))
        token = await service.start_session(
            user, ip=client_ip(request), user_agent=request.headers.get("user-agent", "")
        )
    except DomainError as exc:
        values.pop("password", None)
        return await render_form(
            request,
            "accounts/login.html",
            {"values": values, "next": _safe_next(request)},
            error=exc,
        )
    response = redirect(_safe_next(request))
    set_session_cookie(request, response, token, user)
    return response


def _safe_next(request: Request) -> str:
    target = request.query_params.get("next", "/dashboard")
    # Only local paths: an open redirect would make our login page a phishing tool.
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/dashboard"
    return target


async def logout(request: Request) -> Response:
    await read_form(request)
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        await service.end_session(token, ip=client_ip(request))
    response = redirect("/", "You are logged out.")
    response.delete_cookie(SESSION_COOKIE)
    return response


async def dashboard(request: Request) -> Response:
    """What waits for the user first (market/actions.py), the newcomer's checklist while
    their organisation waits for verification, then the unread notifications, short."""
    actor = await require_login(request)
    assert actor.user is not None
    settings = settings_of(request)
    context = {
        "cards": await actions.shown_for(actor, language(request, actor)),
        "checklist": await onboarding.checklist(
            actor,
            verification_days=settings.verification_days,
            support_email=settings.support_email,
        ),
        "notifications": await notify.recent(actor.user),
    }
    return await render(request, "accounts/dashboard.html", context)


async def profile_page(request: Request) -> Response:
    actor = await require_login(request)
    assert actor.user is not None
    values = {"name": actor.user.name, "locale": actor.user.locale}
    if request.method == "GET":
        return await render(request, "accounts/profile.html", {"values": values})
    try:
        form = await read_form(request)
        values = nest(form)
        user = await service.update_profile(actor, parse(ProfileIn, values))
    except DomainError as exc:
        return await render_error(request, exc, "accounts/profile.html", {"values": values})
    response = redirect("/account", "Your profile is saved.")
    remember_language(response, user.locale)
    return response


def _profile_values(org: Organization | None) -> dict:
    if org is None:
        return {}
    return {
        # What the owner asked for last, where it still waits for an administrator.
        "name": org.proposed_name or org.name,
        "country": org.proposed_country or org.country,
        "region": org.region,
        "website": org.website,
        "about": org.about,
        "about_zh": org.about_zh,
    }


async def render_organization(
    request: Request,
    actor: Actor,
    *,
    error: DomainError | None = None,
    values: dict | None = None,
) -> Response:
    """The organisation page; with `error`, one of its forms comes back refused."""
    org: Organization | None = actor.organization
    insider = org is not None and org.kind != OrganizationKind.PLATFORM
    context = {
        "countries": countries(),
        "organization": org,
        "can_edit": may(actor, Permission.EDIT_ORGANIZATION),
        "memberships": await service.memberships_of(actor),
        "documents": await documents.list_documents(actor) if insider else [],
        "values": _profile_values(org) if values is None else values,
    }
    return await render_form(request, "accounts/organization.html", context, error=error)


async def organization_page(request: Request) -> Response:
    actor = await require_login(request)
    if request.method == "GET":
        return await render_organization(request, actor)
    values: dict = {}
    try:
        form = await read_form(request)
        values = nest(form)
        await service.update_organization(actor, parse(OrganizationUpdate, values))
    except DomainError as exc:
        return await render_organization(request, actor, error=exc, values=values)
    return redirect("/organization", "The organisation's profile is saved.")


async def switch(request: Request) -> Response:
    actor = await require_login(request)
    form = nest(await read_form(request))
    org = await service.switch_organization(
        actor, request.cookies.get(SESSION_COOKIE, ""), str(form.get("organization_id", ""))
    )
    return redirect("/dashboard", Msg("You now act for %(name)s.", name=org.name))


async def resubmit(request: Request) -> Response:
    actor = await require_login(request)
    await read_form(request)
    await service.resubmit_organization(actor)
    return redirect("/organization", "Your organisation is back in the verification queue.")


async def tokens_page(request: Request) -> Response:
    actor = await require_login(request)
    new_token = None
    values: dict = {}
    if request.method == "POST":
        try:
            form = await read_form(request)
            values = nest(form)
            if not values.get("expires_in_days"):
                values.pop("expires_in_days", None)  # left empty: it lasts until revoked
            _, new_token = await service.create_api_token(actor, parse(TokenIn, values))
        except DomainError as exc:
            tokens = await service.list_api_tokens(actor)
            return await render_error(
                request,
                exc,
                "accounts/tokens.html",
                {"tokens": tokens, "values": values, "new_token": None},
            )
    tokens = await service.list_api_tokens(actor)
    return await render(
        request, "accounts/tokens.html", {"tokens": tokens, "new_token": new_token, "values": {}}
    )


async def revoke_token(request: Request) -> Response:
    actor = await require_login(request)
    await read_form(request)
    await service.revoke_api_token(actor, request.path_params["token_id"])
    return redirect("/account/tokens", "The token is revoked.")


routes = [
    Route("/register", register_page, methods=["GET", "POST"]),
    Route("/confirm-email/{token}", confirm_page, methods=["GET", "POST"]),
    Route("/account/confirm-email", send_confirmation_again, methods=["POST"]),
    Route("/login", login_page, methods=["GET", "POST"]),
    Route("/logout", logout, methods=["POST"]),
    Route("/dashboard", dashboard),
    Route("/account", profile_page, methods=["GET", "POST"]),
    Route("/organization", organization_page, methods=["GET", "POST"]),
    Route("/organization/resubmit", resubmit, methods=["POST"]),
    Route("/organization/switch", switch, methods=["POST"]),
    Route("/account/tokens", tokens_page, methods=["GET", "POST"]),
    Route("/account/tokens/{token_id}/revoke", revoke_token, methods=["POST"]),
]
