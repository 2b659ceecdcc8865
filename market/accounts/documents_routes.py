"""An organisation's verification documents over the organisation page: upload, removal and
the guarded download (its members and administrators; a 404 for anyone else)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from market import files
from market.accounts import documents
from market.accounts.routes import render_organization
from market.errors import Conflict, ValidationFailed
from market.web import check_form_csrf, get_actor, read_form, redirect, require_login

PAGE = "/organization"


async def download(request: Request) -> Response:
    document, path = await documents.open_document(
        await get_actor(request), request.path_params["document_id"]
    )
    return files.file_response(path, document.content_type, document.original_name, private=True)


async def upload_page(request: Request) -> Response:
    actor = await require_login(request)
    # Those who may not give documents are refused before their body is read.
    documents.authorize_upload(actor)
    try:
        form, upload, data = await files.read_upload(
            request, documents.FIELD, documents.MAX_DOCUMENT_BYTES
        )
        check_form_csrf(request, form)
        await documents.add_document(
            actor,
            filename=upload.filename or "",
            content_type_hint=upload.content_type or "",
            data=data,
        )
    except ValidationFailed as exc:
        return await render_organization(request, actor, error=exc)
    return redirect(PAGE, "The document is uploaded.")


async def delete_page(request: Request) -> Response:
    actor = await require_login(request)
    await read_form(request)
    try:
        await documents.remove_document(actor, request.path_params["document_id"])
    except Conflict as exc:
        return redirect(PAGE, exc.message)
    return redirect(PAGE, "The document is removed.")


routes: list[BaseRoute] = [
    Route("/organization/documents", upload_page, methods=["POST"]),
    Route("/organization/documents/{document_id}", download, methods=["GET"]),
    Route("/organization/documents/{document_id}/delete", delete_page, methods=["POST"]),
]
