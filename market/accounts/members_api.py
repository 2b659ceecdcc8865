"""JSON endpoints for an organisation's team: members, roles, invitations (API.md, wave 2)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from market.accounts import members, service
from market.accounts.api import organization_json, set_session_cookie, user_json
from market.accounts.models import Invitation, MemberRole, Membership
from market.accounts.roles import TABLE
from market.accounts.schemas import AcceptIn, InvitationIn, MemberPatch
from market.api import ApiRouter, body
from market.web import client_ip, get_actor, json_response

router = ApiRouter("members")


def member_json(member: Membership) -> dict[str, Any]:
    role = MemberRole(member.role)
    return {
        "user": {"id": str(member.user.id), "name": member.user.name, "email": member.user.email},
        "role": role.value,
        "can_sign": member.can_sign,
        # What the role allows, from the one table (market/accounts/roles.py).
        "may": sorted(p.value for p in TABLE[role]) + (["sign"] if member.can_sign else []),
        "joined_at": member.created_at.isoformat(),
    }


def invitation_json(invitation: Invitation) -> dict[str, Any]:
    return {
        "id": str(invitation.id),
        "email": invitation.email,
        "role": str(invitation.role),
        "created_at": invitation.created_at.isoformat(),
        "sent_at": invitation.sent_at.isoformat() if invitation.sent_at else None,
        "expires_at": invitation.expires_at.isoformat(),
    }


@router.route("/organization/members", summary="The members of your organisation and their roles")
async def list_members(request: Request) -> Response:
    found = await members.list_members(await get_actor(request))
    return json_response({"items": [member_json(m) for m in found]})


@router.route(
    "/organization/members/{user_id}",
    "PATCH",
    summary="Change a member's role or signing right (owners and admins; owners for owners "
    "and signing)",
    body=MemberPatch,
)
async def update_member(request: Request) -> Response:
    actor = await get_actor(request)
    member = await members.update_member(
        actor, request.path_params["user_id"], await body(request, MemberPatch)
    )
    await member.fetch_related("user")
    return json_response({"member": member_json(member)})


@router.route(
    "/organization/members/{user_id}",
    "DELETE",
    summary="Remove a member (or leave); their sessions and tokens end at once",
)
async def remove_member(request: Request) -> Response:
    await members.remove_member(await get_actor(request), request.path_params["user_id"])
    return json_response({"removed": True})


@router.route(
    "/organization/invitations",
    "POST",
    summary="Invite an address with a role; the link goes by e-mail",
    body=InvitationIn,
    status=201,
)
async def invite(request: Request) -> Response:
    invitation = await members.invite(await get_actor(request), await body(request, InvitationIn))
    return json_response({"invitation": invitation_json(invitation)}, 201)


@router.route("/organization/invitations", summary="Invitations waiting for an answer")
async def list_invitations(request: Request) -> Response:
    found = await members.list_invitations(await get_actor(request))
    return json_response({"items": [invitation_json(i) for i in found]})


@router.route(
    "/organization/invitations/{invitation_id}",
    "DELETE",
    summary="Revoke an invitation: its link stops working",
)
async def revoke(request: Request) -> Response:
    invitation = await members.revoke(
        await get_actor(request), request.path_params["invitation_id"]
    )
    return json_response({"invitation": invitation_json(invitation)})


@router.route(
    "/organization/invitations/{invitation_id}/resend",
    "POST",
    summary="Send an invitation again, with a new link and seven more days",
)
async def resend(request: Request) -> Response:
    invitation = await members.resend(
        await get_actor(request), request.path_params["invitation_id"]
    )
    return json_response({"invitation": invitation_json(invitation)})


@router.route(
    "/invitations/{token}/accept",
    "POST",
    summary="Join the organisation: logged in as the invited address, or with a name and "
    "password to create that account",
    body=AcceptIn,
    auth=False,
)
async def accept(request: Request) -> Response:
    actor = await get_actor(request)
    user, org, role = await members.accept(
        actor, request.path_params["token"], await body(request, AcceptIn), ip=client_ip(request)
    )
    response = json_response(
        {"user": user_json(user), "organization": organization_json(org), "role": role.value}
    )
    if actor.user is None:
        token = await service.start_session(
            user, ip=client_ip(request), user_agent=request.headers.get("user-agent", "")
        )
        set_session_cookie(request, response, token, user)
    return response
