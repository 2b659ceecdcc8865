"""Administrators' pages: the organisation verification queue and the audit browser."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from market import audit
from market.accounts import documents
from market.accounts import service as accounts
from market.errors import DomainError
from market.i18n import Msg
from market.web import get_actor, nest, page_number, read_form, redirect, render

STATES = ("pending", "rejected", "verified", accounts.CHANGES)


async def organizations(request: Request) -> Response:
    actor = await get_actor(request)
    state = request.query_params.get("state", "pending")
    page = page_number(request)
    items, total = await documents.applicants(actor, state=state, page=page)
    return await render(
        request,
        "admin/organizations.html",
        {"applicants": items, "total": total, "state": state, "states": STATES, "page": page},
    )


async def verify(request: Request) -> Response:
    actor = await get_actor(request)
    await read_form(request)
    org = await accounts.verify_organization(actor, request.path_params["org_id"])
    return redirect("/admin/organizations", Msg("%(name)s is verified.", name=org.name))


async def reject(request: Request) -> Response:
    actor = await get_actor(request)
    form = await read_form(request)
    reason = str(nest(form).get("reason", ""))
    try:
        org = await accounts.reject_organization(actor, request.path_params["org_id"], reason)
    except DomainError as exc:
        if exc.status != 422:
            raise
        return redirect("/admin/organizations", exc.message)
    return redirect("/admin/organizations", Msg("%(name)s is rejected.", name=org.name))


async def decide_identity(request: Request) -> Response:
    actor = await get_actor(request)
    form = nest(await read_form(request))
    approve = request.path_params["decision"] == "approve"
    queue = f"/admin/organizations?state={accounts.CHANGES}"
    reason = str(form.get("reason", ""))
    try:
        org = await accounts.decide_identity(
            actor, request.path_params["org_id"], approve=approve, reason=reason
        )
    except DomainError as exc:
        if exc.status not in (409, 422):
            raise
        return redirect(queue, exc.message)
    done = "approved: it is now shown" if approve else "turned down"
    return redirect(queue, Msg("%(name)s: the change is %(done)s.", name=org.name, done=done))


async def audit_browser(request: Request) -> Response:
    actor = await get_actor(request)
    accounts.require_admin(actor)
    page = page_number(request)
    filters = {
        key: request.query_params.get(key, "").strip()
        for key in ("action", "object_type", "object_id", "actor_email")
    }
    entries, total = await audit.browse(**filters, page=page, per_page=50)
    return await render(
        request,
        "admin/audit.html",
        {"entries": entries, "total": total, "filters": filters, "page": page, "per_page": 50},
    )


routes = [
    Route("/admin/organizations", organizations),
    Route("/admin/organizations/{org_id}/verify", verify, methods=["POST"]),
    Route("/admin/organizations/{org_id}/reject", reject, methods=["POST"]),
    Route(
        "/admin/organizations/{org_id}/identity/{decision:str}",
        decide_identity,
        methods=["POST"],
    ),
    Route("/admin/audit", audit_browser),
]
