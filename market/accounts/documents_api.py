"""JSON endpoints for an organisation's verification documents (multipart uploads)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from market import files
from market.accounts import documents
from market.accounts.models import VerificationDocument
from market.api import ApiRouter
from market.web import get_actor, json_response

router = ApiRouter("documents")


def document_json(document: VerificationDocument) -> dict[str, Any]:
    return {
        "id": str(document.id),
        "name": document.original_name,
        "size": document.size,
        "content_type": document.content_type,
        "sha256": document.sha256,
        "url": f"/organization/documents/{document.id}",
        "created_at": document.created_at.isoformat(),
    }


@router.route(
    "/organization/documents",
    "POST",
    summary="Give a verification document: a PDF, PNG or JPEG (multipart: document); owners "
    "and admins",
    status=201,
)
async def upload(request: Request) -> Response:
    actor = await get_actor(request)
    documents.authorize_upload(actor)
    _, part, data = await files.read_upload(request, documents.FIELD, documents.MAX_DOCUMENT_BYTES)
    document = await documents.add_document(
        actor,
        filename=part.filename or "",
        content_type_hint=part.content_type or "",
        data=data,
    )
    return json_response({"document": document_json(document)}, 201)


@router.route("/organization/documents", summary="Your organisation's verification documents")
async def list_documents(request: Request) -> Response:
    found = await documents.list_documents(await get_actor(request))
    return json_response({"items": [document_json(d) for d in found]})


@router.route(
    "/organization/documents/{document_id}",
    "DELETE",
    summary="Remove a verification document (owners and admins; not once verified)",
)
async def remove(request: Request) -> Response:
    await documents.remove_document(await get_actor(request), request.path_params["document_id"])
    return json_response({"ok": True})
