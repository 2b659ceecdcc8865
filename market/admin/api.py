"""JSON endpoints for platform administrators."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from market import audit
from market.accounts import documents
from market.accounts import service as accounts
from market.accounts.api import organization_json, user_json
from market.accounts.documents import Applicant
from market.accounts.documents_api import document_json
from market.accounts.models import Verification
from market.accounts.schemas import ReasonIn
from market.api import PAGE, ApiRouter, body, filter_of, paged, query_text, text
from market.audit import AuditEntry
from market.web import get_actor, json_response, page_number

router = ApiRouter("admin")


def audit_json(entry: AuditEntry) -> dict[str, Any]:
    return {
        "id": str(entry.id),
        "actor_id": str(entry.actor_id) if entry.actor_id else None,
        "actor_email": entry.actor_email,
        "organization_id": str(entry.organization_id) if entry.organization_id else None,
        "action": entry.action,
        "object_type": entry.object_type,
        "object_id": entry.object_id,
        "state_before": entry.state_before,
        "state_after": entry.state_after,
        "ip": entry.ip,
        "created_at": entry.created_at.isoformat(),
    }


def applicant_json(applicant: Applicant) -> dict[str, Any]:
    org = applicant.organization
    return {
        **(organization_json(org) or {}),
        "registration_number": org.registration_number,
        "documents": [document_json(d) for d in applicant.documents],
        "email_domain": applicant.email_domain,
        "website_domain": applicant.website_domain,
        # null when there is nothing to compare (no website, or no owner left).
        "email_domain_matches_website": applicant.domain_matches,
    }


@router.route(
    "/admin/organizations",
    summary="Organisations by verification state, with what verification checks",
    query={"state": filter_of([*Verification, accounts.CHANGES]), "page": PAGE},
)
async def organizations(request: Request) -> Response:
    page = page_number(request)
    items, total = await documents.applicants(
        await get_actor(request), state=request.query_params.get("state") or None, page=page
    )
    return json_response(paged([applicant_json(a) for a in items], page, 50, total))


@router.route("/admin/organizations/{org_id}/verify", "POST", summary="Verify an organisation")
async def verify(request: Request) -> Response:
    org = await accounts.verify_organization(
        await get_actor(request), request.path_params["org_id"]
    )
    return json_response({"organization": organization_json(org)})


@router.route(
    "/admin/organizations/{org_id}/reject",
    "POST",
    summary="Reject an organisation, with the reason",
    body=ReasonIn,
)
async def reject(request: Request) -> Response:
    data = await body(request, ReasonIn)
    org = await accounts.reject_organization(
        await get_actor(request), request.path_params["org_id"], data.reason
    )
    return json_response({"organization": organization_json(org)})


@router.route(
    "/admin/organizations/{org_id}/approve-identity",
    "POST",
    summary="Apply a verified organisation's proposed name and country",
)
async def approve_identity(request: Request) -> Response:
    org = await accounts.decide_identity(
        await get_actor(request), request.path_params["org_id"], approve=True
    )
    return json_response({"organization": organization_json(org)})


@router.route(
    "/admin/organizations/{org_id}/reject-identity",
    "POST",
    summary="Turn down a verified organisation's proposed name and country, with the reason",
    body=ReasonIn,
)
async def reject_identity(request: Request) -> Response:
    data = await body(request, ReasonIn)
    org = await accounts.decide_identity(
        await get_actor(request), request.path_params["org_id"], approve=False, reason=data.reason
    )
    return json_response({"organization": organization_json(org)})


@router.route(
    "/admin/users/{user_id}/deactivate",
    "POST",
    summary="Deactivate a user; ends their sessions and tokens",
)
async def deactivate(request: Request) -> Response:
    user = await accounts.deactivate_user(await get_actor(request), request.path_params["user_id"])
    return json_response({"user": user_json(user)})


@router.route(
    "/admin/audit",
    summary="Browse the audit trail",
    query={
        "action": text(64),
        "object_type": text(64),
        "object_id": text(64),
        "actor_email": text(254),
        "page": PAGE,
    },
)
async def audit_trail(request: Request) -> Response:
    accounts.require_admin(await get_actor(request))
    page = page_number(request)
    items, total = await audit.browse(
        action=query_text(request, "action", 64),
        object_type=query_text(request, "object_type", 64),
        object_id=query_text(request, "object_id", 64),
        actor_email=query_text(request, "actor_email", 254),
        page=page,
    )
    return json_response(paged([audit_json(e) for e in items], page, 50, total))
