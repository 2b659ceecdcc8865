"""Pages for an organisation's team: the members page (roles, invitations) and the page an
invitation's link opens."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from market.accounts import members, service
from market.accounts.api import set_session_cookie
from market.accounts.models import MemberRole
from market.accounts.roles import TABLE, Permission, may
from market.accounts.schemas import AcceptIn, InvitationIn, MemberPatch
from market.errors import DomainError
from market.i18n import Msg
from market.validation import parse
from market.web import (
    N_,
    Labels,
    client_ip,
    get_actor,
    nest,
    read_form,
    redirect,
    render,
    render_form,
    require_login,
    template_global,
)

PAGE = "/organization/members"

# What the members page calls roles and permissions, in the page's language.
ROLE_LABELS = Labels({"owner": N_("Owner"), "admin": N_("Administrator"), "member": N_("Member")})
PERMISSION_LABELS = Labels(
    {
        "list": N_("List technologies"),
        "negotiate": N_("Negotiate offers"),
        "pay": N_("Pay"),
        "edit_organization": N_("Edit the organisation"),
        "manage_members": N_("Manage members"),
        "manage_owners": N_("Manage owners and signatories"),
        "sign": N_("Sign contracts"),
    }
)
template_global("member_labels", SimpleNamespace(role=ROLE_LABELS, permission=PERMISSION_LABELS))


async def _members_page(
    request: Request,
    *,
    error: DomainError | None = None,
    values: dict[str, Any] | None = None,
) -> Response:
    actor = await require_login(request)
    found = await members.list_members(actor)
    managing = may(actor, Permission.MANAGE_MEMBERS)
    context = {
        "members": found,
        "invitations": await members.list_invitations(actor) if managing else [],
        "managing": managing,
        "owning": may(actor, Permission.MANAGE_OWNERS),
        "table": TABLE,
        "permissions": [p for p in Permission if p != Permission.SIGN],
        "roles": [r.value for r in MemberRole],
        "values": values or {"role": "member"},
    }
    return await render_form(request, "accounts/members.html", context, error=error)


async def members_page(request: Request) -> Response:
    return await _members_page(request)


async def invite(request: Request) -> Response:
    actor = await require_login(request)
    values: dict[str, Any] = {}
    try:
        values = nest(await read_form(request))
        data = parse(InvitationIn, values)
        await members.invite(actor, data)
    except DomainError as exc:
        return await _members_page(request, error=exc, values=values)
    return redirect(PAGE, Msg("An invitation is on its way to %(email)s.", email=data.email))


async def _on_invitation(request: Request, act: Any, done: str) -> Response:
    actor = await require_login(request)
    try:
        await read_form(request)
        await act(actor, request.path_params["invitation_id"])
    except DomainError as exc:
        return await _members_page(request, error=exc)
    return redirect(PAGE, done)


async def resend(request: Request) -> Response:
    return await _on_invitation(request, members.resend, "The invitation is sent again.")


async def revoke(request: Request) -> Response:
    return await _on_invitation(request, members.revoke, "The invitation is revoked.")


async def update_member(request: Request) -> Response:
    actor = await require_login(request)
    try:
        form = await read_form(request)
        values = nest(form)
        if "can_sign" in values or values.get("signing") == "shown":
            # A checkbox says nothing when unticked: the form says it showed one.
            values["can_sign"] = values.get("can_sign") == "yes"
        values.pop("signing", None)
        await members.update_member(
            actor, request.path_params["user_id"], parse(MemberPatch, values)
        )
    except DomainError as exc:
        return await _members_page(request, error=exc)
    return redirect(PAGE, "The member's role is saved.")


async def remove_member(request: Request) -> Response:
    actor = await require_login(request)
    leaving = str(actor.user_id) == request.path_params["user_id"]
    try:
        await read_form(request)
        await members.remove_member(actor, request.path_params["user_id"])
    except DomainError as exc:
        return await _members_page(request, error=exc)
    if leaving:
        return redirect("/login", "You left the organisation.")
    return redirect(PAGE, "The member is removed; their sessions have ended.")


async def invitation_page(request: Request) -> Response:
    """What the mailed link opens: who invites, for which role, and how to join."""
    actor = await get_actor(request)
    token = request.path_params["token"]
    values: dict[str, Any] = {}
    try:
        invitation, org = await members.invitation_for(token)
    except DomainError as exc:
        return await render_form(request, "accounts/invitation.html", {"invalid": True}, error=exc)
    context = {
        "invitation": invitation,
        "org": org,
        "token": token,
        "has_account": actor.user is None and await service.account_exists(invitation.email),
    }
    if request.method == "GET":
        return await render(request, "accounts/invitation.html", {**context, "values": {}})
    try:
        values = nest(await read_form(request))
        user, org, _ = await members.accept(
            actor, token, parse(AcceptIn, values), ip=client_ip(request)
        )
    except DomainError as exc:
        values.pop("password", None)
        return await render_form(
            request, "accounts/invitation.html", {**context, "values": values}, error=exc
        )
    response = redirect("/dashboard", Msg("Welcome to %(name)s.", name=org.name))
    if actor.user is None:
        session = await service.start_session(
            user, ip=client_ip(request), user_agent=request.headers.get("user-agent", "")
        )
        set_session_cookie(request, response, session, user)
    return response


routes = [
    Route(PAGE, members_page),
    Route(f"{PAGE}/invite", invite, methods=["POST"]),
    Route(f"{PAGE}/{{user_id}}", update_member, methods=["POST"]),
    Route(f"{PAGE}/{{user_id}}/remove", remove_member, methods=["POST"]),
    Route("/organization/invitations/{invitation_id}/resend", resend, methods=["POST"]),
    Route("/organization/invitations/{invitation_id}/revoke", revoke, methods=["POST"]),
    Route("/invitations/{token}", invitation_page, methods=["GET", "POST"]),
]
