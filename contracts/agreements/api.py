"""JSON endpoints for contracts (see API.md): the parties read, download, sign and cancel;
administrators approve, reject or ask for changes. The same use cases as the pages."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from contracts.agreements import service as agreements
from contracts.agreements.models import Contract, ContractState, Signature
from contracts.agreements.routes import pdf_response, version_param
from contracts.agreements.schemas import CancelIn, ReasonRequiredIn, SignIn
from contracts.offers.api import money_json
from contracts.payments import service as payments
from contracts.payments.api import payment_json
from market.api import PAGE, PER_PAGE, ApiRouter, body, filter_of, paged
from market.web import client_ip, get_actor, json_response, page_number, page_size

router = ApiRouter("contracts")


# --- shapes ------------------------------------------------------------------------------------


def _when(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def contract_json(contract: Contract) -> dict[str, Any]:
    """A contract. The listing and both parties are named as its agreement names them (the
    snapshot taken with the document), not as they may be called by now."""
    snapshot = contract.snapshot
    return {
        "id": str(contract.id),
        "reference": contract.reference,
        "state": str(contract.state),
        "offer_id": str(contract.offer_id),  # type: ignore[attr-defined]
        "listing_id": str(contract.listing_id),  # type: ignore[attr-defined]
        "listing": {"id": str(contract.listing_id), "title": contract.listing_title},  # type: ignore[attr-defined]
        "seller_id": str(contract.seller_id),  # type: ignore[attr-defined]
        "seller": {"id": str(contract.seller_id), "name": contract.seller_name},  # type: ignore[attr-defined]
        "buyer_id": str(contract.buyer_id),  # type: ignore[attr-defined]
        "buyer": {"id": str(contract.buyer_id), "name": contract.buyer_name},  # type: ignore[attr-defined]
        # Everything the agreement states of the parties and the listing.
        "parties": {"seller": snapshot["seller"], "buyer": snapshot["buyer"]},
        "listing_facts": snapshot["listing"],
        "license_type": contract.license_type,
        "terms_number": contract.terms_number,
        "document_number": contract.document_number,
        "document_sha256": contract.document_sha256,
        "signed_document_number": contract.signed_number,
        "amount_due": money_json(contract.amount_due, contract.currency),
        "reason": contract.reason or None,
        "signing_opened_at": _when(contract.signing_opened_at),
        "signed_at": _when(contract.signed_at),
        "created_at": contract.created_at.isoformat(),
        "updated_at": contract.updated_at.isoformat(),
    }


def version_json(contract: Contract, doc: dict[str, Any]) -> dict[str, Any]:
    """One version of the document, as `agreements.get_contract` lists it (no body)."""
    return {
        "number": doc["number"],
        "kind": str(doc["kind"]),
        "sha256": doc["sha256"],
        "reason": doc["reason"] or None,
        "created_at": doc["created_at"].isoformat(),
        "pdf_url": f"/api/v1/contracts/{contract.id}/document.pdf?version={doc['number']}",
    }


def signature_json(signature: Signature) -> dict[str, Any]:
    return {
        "id": str(signature.id),
        "side": str(signature.side),
        "organization_id": str(signature.organization_id),  # type: ignore[attr-defined]
        "user_id": str(signature.user_id),  # type: ignore[attr-defined]
        "full_name": signature.full_name,
        "email": signature.email,
        "document_number": signature.document_number,
        "document_sha256": signature.document_sha256,
        "signed_at": signature.signed_at.isoformat(),
    }


async def _answer(contract: Contract, status: int = 200, **extra: Any) -> Response:
    """{contract, state} after a change."""
    data = {"contract": contract_json(contract), "state": str(contract.state), **extra}
    return json_response(data, status)


# --- endpoints ---------------------------------------------------------------------------------


@router.route(
    "/contracts",
    summary="Your organisation's contracts (either side); administrators see every contract",
    query={"state": filter_of(ContractState), "page": PAGE, "per_page": PER_PAGE},
)
async def index(request: Request) -> Response:
    actor = await get_actor(request)
    page, per_page = page_number(request), page_size(request)
    items, total = await agreements.list_contracts(
        actor, state=request.query_params.get("state", ""), page=page, per_page=per_page
    )
    return json_response(paged([contract_json(c) for c in items], page, per_page, total))


@router.route(
    "/contracts/{contract_id}",
    summary="One contract with its document versions, signatures and what you may do",
)
async def show(request: Request) -> Response:
    actor = await get_actor(request)
    view = await agreements.get_contract(actor, request.path_params["contract_id"])
    contract = view.contract
    return json_response(
        {
            "contract": contract_json(contract),
            "offer_id": str(contract.offer_id),  # type: ignore[attr-defined]
            "state": str(contract.state),
            "document_sha256": contract.document_sha256,
            "document_number": contract.document_number,
            "side": view.side.value if view.side else None,
            "versions": [version_json(contract, d) for d in view.documents],
            "signatures": [signature_json(s) for s in view.signatures],
            "payments": [payment_json(p) for p in await payments.payments_of(actor, contract)],
            "actions": view.actions,
        }
    )


@router.route(
    "/contracts/{contract_id}/document.pdf",
    summary="The document as PDF: the signed one once there is one, else the current version; "
    "?version=N for another",
    query={"version": {"type": "integer", "minimum": 1, "maximum": 10_000}},
    produces="application/pdf",
)
async def document_pdf(request: Request) -> Response:
    filename, pdf = await agreements.download_document(
        await get_actor(request), request.path_params["contract_id"], version_param(request)
    )
    return pdf_response(filename, pdf)


@router.route(
    "/contracts/{contract_id}/sign",
    "POST",
    summary="Sign for your organisation the document whose hash you read (an owner or admin)",
    body=SignIn,
    status=201,
)
async def sign(request: Request) -> Response:
    actor = await get_actor(request)
    data = await body(request, SignIn)
    contract_id = request.path_params["contract_id"]
    signature = await agreements.sign_contract(
        actor,
        contract_id,
        data.full_name,
        data.document_sha256,
        ip=client_ip(request),
        user_agent=request.headers.get("user-agent", ""),
        password=data.password,
    )
    contract = await Contract.get(id=signature.contract_id)  # type: ignore[attr-defined]
    return await _answer(contract, 201, signature=signature_json(signature))


@router.route(
    "/contracts/{contract_id}/cancel",
    "POST",
    summary="Cancel a contract before it is signed (either party's owner or admin)",
    body=CancelIn,
)
async def cancel(request: Request) -> Response:
    # The body is optional: an empty one reads as {} and the reason defaults to "".
    data = await body(request, CancelIn)
    contract = await agreements.cancel_contract(
        await get_actor(request), request.path_params["contract_id"], data.reason
    )
    return await _answer(contract)


@router.route(
    "/admin/contracts/{contract_id}/approve",
    "POST",
    summary="Approve the trade; signing opens (administrators)",
)
async def approve(request: Request) -> Response:
    contract = await agreements.approve_contract(
        await get_actor(request), request.path_params["contract_id"]
    )
    return await _answer(contract)


@router.route(
    "/admin/contracts/{contract_id}/reject",
    "POST",
    summary="Reject the trade, with the reason the parties read (administrators)",
    body=ReasonRequiredIn,
)
async def reject(request: Request) -> Response:
    data = await body(request, ReasonRequiredIn)
    contract = await agreements.reject_contract(
        await get_actor(request), request.path_params["contract_id"], data.reason
    )
    return await _answer(contract)


@router.route(
    "/admin/contracts/{contract_id}/request-changes",
    "POST",
    summary="Send the contract back for a new version of its document (administrators)",
    body=ReasonRequiredIn,
)
async def request_changes(request: Request) -> Response:
    data = await body(request, ReasonRequiredIn)
    contract = await agreements.request_changes(
        await get_actor(request), request.path_params["contract_id"], data.reason
    )
    return await _answer(contract)
