"""Contract pages: the parties' list, one contract (its document, versions, signatures and the
sign form), the document itself (sandboxed HTML and PDF), and the administrators' approval
queue.

Each handler parses, calls one use case of `contracts.agreements` and translates. A refusal the
user can act on (bad input, no authority, the contract or its document changed meanwhile) shows
the same page again with the reason and the refusal's status; anything else (a stranger's 404,
a wrong CSRF token) is the error page."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from contracts.agreements import labels
from contracts.agreements import service as agreements
from contracts.agreements.models import Contract, ContractState
from contracts.agreements.schemas import ReasonRequiredIn, SignIn
from contracts.offers import forms, rights, service
from contracts.offers.models import Grant, OfferTerms, Side
from contracts.offers.routes import HELPERS as OFFER_HELPERS
from contracts.payments import service as payments
from market.accounts.service import require_admin
from market.actor import Actor
from market.errors import DomainError, ValidationFailed, validation_error
from market.validation import parse
from market.web import (
    client_ip,
    page_number,
    read_form,
    redirect,
    render_form,
    require_login,
    template_global,
)

template_global("contract_labels", labels.FOR_TEMPLATES)

PER_PAGE = 20
QUEUE_PER_PAGE = 10
# Refusals shown on the page the user acted from, with what they typed still there.
SHOWN_ON_PAGE = frozenset({403, 409, 422, 429})
CONTRACT_STATES = [s.value for s in ContractState]
ADMIN_ACTIONS = ("approve", "reject", "request_changes")
HELPERS: dict[str, Any] = {**OFFER_HELPERS, "contract_states": CONTRACT_STATES}

# The document a party reads runs nothing, loads nothing and may only be framed by our pages.
DOCUMENT_CSP = "sandbox; default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'self'"
PDF_CSP = "default-src 'none'; sandbox"


async def _page(
    request: Request,
    template: str,
    context: dict[str, Any],
    error: DomainError | None = None,
) -> Response:
    return await render_form(request, template, {**HELPERS, **context}, error=error)


def _id(request: Request) -> str:
    return str(request.path_params["contract_id"])


def _shown(exc: DomainError) -> bool:
    return exc.status in SHOWN_ON_PAGE


def version_param(request: Request) -> int | None:
    """?version=N names an older version of the document; none means the default one."""
    raw = request.query_params.get("version", "")
    if not raw:
        return None
    # isascii: str.isdigit() also takes digits like "²" that int() refuses.
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= 10_000:
        raise validation_error("version", "A version is a positive whole number.")
    return int(raw)


# --- the list ----------------------------------------------------------------------------------


async def index(request: Request) -> Response:
    actor = await require_login(request)
    state = request.query_params.get("state") or ""
    page = page_number(request)
    counts = await agreements.contract_counts(actor)
    items, total = await agreements.list_contracts(
        actor, state=state, page=page, per_page=PER_PAGE, counts=counts
    )
    rows = [(c, agreements.side_of(actor, c)) for c in items]
    context = {
        "rows": rows,
        "total": total,
        "counts": counts,
        "state": state,
        "page": page,
        "per_page": PER_PAGE,
    }
    return await _page(request, "contracts/index.html", context)


# --- one contract ------------------------------------------------------------------------------


async def _contract_page(
    request: Request,
    actor: Actor,
    contract_id: str,
    *,
    error: DomainError | None = None,
    values: dict[str, Any] | None = None,
    failed: str | None = None,
) -> Response:
    view = await agreements.get_contract(actor, contract_id)
    contract = view.contract
    shown = await payments.payments_of(actor, contract)
    context = {
        "view": view,
        "contract": contract,
        "listing": contract.listing,
        # As the agreement names them, not as they may be called by now.
        "organizations": {
            Side.SELLER.value: contract.seller_name,
            Side.BUYER.value: contract.buyer_name,
        },
        "can_sign": "sign" in view.actions and contract.state == ContractState.AWAITING_SIGNATURES,
        # An old login signs with its password typed again (accounts.confirm_identity).
        "reauthenticate": not actor.recently_authenticated,
        "decisions": [a for a in view.actions if a in ADMIN_ACTIONS],
        "failed": failed,
        "values": values or {},
        "payments": shown,
        "may_pay": await payments.owes_now(actor, contract, shown),
    }
    return await _page(request, "contracts/show.html", context, error=error)


async def show(request: Request) -> Response:
    return await _contract_page(request, await require_login(request), _id(request))


def _text(form: FormData, name: str) -> str:
    return str(form.get(name) or "").replace("\r\n", "\n")


def _sign_input(form: FormData) -> SignIn:
    """The typed name and the hash, and the box that says the document was read: all three
    checked at once, so every mistake shows on its field."""
    fields: dict[str, str] = {}
    if form.get("confirm") != "yes":
        fields["confirm"] = "Confirm that you have read the document and sign it."
    data = {
        "full_name": _text(form, "full_name"),
        "document_sha256": _text(form, "document_sha256"),
        "password": _text(form, "password") or None,
    }
    try:
        parsed = parse(SignIn, data)
    except ValidationFailed as exc:
        raise ValidationFailed(exc.message, fields={**exc.fields, **fields}) from None
    if fields:
        raise ValidationFailed(fields["confirm"], fields=fields)
    return parsed


async def sign(request: Request) -> Response:
    actor = await require_login(request)
    form = await read_form(request)
    contract_id = _id(request)
    values = {"full_name": _text(form, "full_name")}
    try:
        data = _sign_input(form)
        await agreements.sign_contract(
            actor,
            contract_id,
            data.full_name,
            data.document_sha256,
            ip=client_ip(request),
            user_agent=request.headers.get("user-agent", ""),
            password=data.password,
        )
    except DomainError as exc:
        if not _shown(exc):
            raise
        return await _contract_page(request, actor, contract_id, error=exc, values=values)
    return redirect(f"/contracts/{contract_id}", "You signed the contract.")


async def cancel(request: Request) -> Response:
    actor = await require_login(request)
    form = await read_form(request)
    contract_id = _id(request)
    reason = _text(form, "reason")
    try:
        await agreements.cancel_contract(actor, contract_id, reason)
    except DomainError as exc:
        if not _shown(exc):
            raise
        return await _contract_page(
            request, actor, contract_id, error=exc, values={"reason": reason}
        )
    return redirect(f"/contracts/{contract_id}", "The contract is cancelled.")


# --- the document ------------------------------------------------------------------------------


async def document_html(request: Request) -> Response:
    """The exact stored HTML of a version, for the sandboxed preview: it may not run scripts,
    load anything or submit anything, whatever it contained."""
    actor = await require_login(request)
    text = await agreements.document_html(actor, _id(request), version_param(request))
    return HTMLResponse(
        text,
        headers={
            "Content-Security-Policy": DOCUMENT_CSP,
            # Our own contract page frames it; the site-wide DENY would blank the preview.
            "X-Frame-Options": "SAMEORIGIN",
            "Cache-Control": "private, no-store",
        },
    )


def pdf_response(filename: str, pdf: bytes) -> Response:
    """A document's PDF as a download (the pages and the API serve it alike)."""
    return Response(
        pdf,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(filename, safe='')}",
            "Cache-Control": "private, no-store",
            "Content-Security-Policy": PDF_CSP,
        },
    )


async def document_pdf(request: Request) -> Response:
    actor = await require_login(request)
    filename, pdf = await agreements.download_document(actor, _id(request), version_param(request))
    return pdf_response(filename, pdf)


# --- the administrators' approval queue --------------------------------------------------------


@dataclass
class QueueItem:
    contract: Contract
    actions: list[str]
    versions: list[OfferTerms]
    table: list[tuple[str, list[forms.Cell]]]
    grants: list[Grant]
    availability: list[rights.Availability]


async def _queue_items(actor: Actor, contracts: list[Contract]) -> list[QueueItem]:
    """Each contract with its offer's versions and its listing's rights, in a fixed number of
    queries whatever the page holds."""
    offer_ids = [c.offer_id for c in contracts]  # type: ignore[attr-defined]
    versions: dict[str, list[OfferTerms]] = defaultdict(list)
    if contracts:
        for terms in (
            await OfferTerms.filter(offer_id__in=offer_ids)
            .order_by("number")
            .prefetch_related("author")
        ):
            versions[str(terms.offer_id)].append(terms)  # type: ignore[attr-defined]
    listing_rights = await service.listing_rights_for(c.listing for c in contracts)
    items = []
    for contract in contracts:
        grants, availability = listing_rights[str(contract.listing.id)]
        offered = versions[str(contract.offer_id)]  # type: ignore[attr-defined]
        items.append(
            QueueItem(
                contract=contract,
                actions=[a for a in agreements.actions_for(actor, contract) if a in ADMIN_ACTIONS],
                versions=offered,
                table=forms.versions_table(offered),
                grants=grants,
                availability=availability,
            )
        )
    return items


async def _queue_page(
    request: Request,
    actor: Actor,
    *,
    state: str | None = None,
    error: DomainError | None = None,
    values: dict[str, Any] | None = None,
    failed: tuple[str, str] | None = None,
) -> Response:
    require_admin(actor)
    if state is None:
        state = request.query_params.get("state") or ContractState.PENDING_APPROVAL.value
    page = page_number(request)
    counts = await agreements.contract_counts(actor)
    contracts, total = await agreements.list_contracts(
        actor, state=state, page=page, per_page=QUEUE_PER_PAGE, counts=counts
    )
    context = {
        "items": await _queue_items(actor, contracts),
        "total": total,
        "counts": counts,
        "state": state,
        "page": page,
        "per_page": QUEUE_PER_PAGE,
        "failed_id": failed[0] if failed else "",
        "failed": failed[1] if failed else None,
        "values": values or {},
    }
    return await _page(request, "admin/contracts.html", context, error=error)


async def queue(request: Request) -> Response:
    return await _queue_page(request, await require_login(request))


async def _decide(request: Request, action: str, done: str) -> Response:
    """Approve, reject or ask for changes, from the queue or from the contract's page; a
    refusal shows the page the administrator acted from again, with the reason typed."""
    actor = await require_login(request)
    form = await read_form(request)
    contract_id = _id(request)
    origin = "contract" if form.get("origin") == "contract" else "queue"
    reason = _text(form, "reason")
    try:
        if action == "approve":
            contract = await agreements.approve_contract(actor, contract_id)
        else:
            text = parse(ReasonRequiredIn, {"reason": reason}).reason
            use_case = (
                agreements.reject_contract if action == "reject" else agreements.request_changes
            )
            contract = await use_case(actor, contract_id, text)
    except DomainError as exc:
        if not _shown(exc):
            raise
        values = {"reason": reason}
        if origin == "contract":
            return await _contract_page(
                request, actor, contract_id, error=exc, values=values, failed=action
            )
        return await _queue_page(
            request,
            actor,
            state=ContractState.PENDING_APPROVAL.value,
            error=exc,
            values=values,
            failed=(contract_id, action),
        )
    back = f"/contracts/{contract_id}" if origin == "contract" else "/admin/contracts"
    return redirect(back, done.format(reference=contract.reference))


async def approve(request: Request) -> Response:
    return await _decide(request, "approve", "Contract {reference} is approved.")


async def reject(request: Request) -> Response:
    return await _decide(request, "reject", "Contract {reference} is rejected.")


async def request_changes(request: Request) -> Response:
    return await _decide(request, "request_changes", "Changes to {reference} are asked for.")


routes: list[BaseRoute] = [
    Route("/contracts", index),
    Route("/contracts/{contract_id:uuid}", show),
    Route("/contracts/{contract_id:uuid}/document.html", document_html),
    Route("/contracts/{contract_id:uuid}/document.pdf", document_pdf),
    Route("/contracts/{contract_id:uuid}/sign", sign, methods=["POST"]),
    Route("/contracts/{contract_id:uuid}/cancel", cancel, methods=["POST"]),
    Route("/admin/contracts", queue),
    Route("/admin/contracts/{contract_id:uuid}/approve", approve, methods=["POST"]),
    Route("/admin/contracts/{contract_id:uuid}/reject", reject, methods=["POST"]),
    Route("/admin/contracts/{contract_id:uuid}/request-changes", request_changes, methods=["POST"]),
]
