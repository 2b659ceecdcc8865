"""Listing media over HTTP: the guarded download, the edit page's forms and the JSON API."""

from __future__ import annotations

from typing import Any

from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from listings import media
from listings.models import ListingMedia
from listings.service import get_listing
from market import files
from market.api import ApiRouter
from market.errors import Conflict, ValidationFailed
from market.web import check_form_csrf, get_actor, json_response, read_form, redirect

router = ApiRouter("media")

_TRUE = {"true", "1", "on", "yes"}
_FALSE = {"false", "0", "off", "no", ""}


def media_json(item: ListingMedia) -> dict[str, Any]:
    return {
        "id": str(item.id),
        "kind": str(item.kind),
        "content_type": item.content_type,
        "original_name": item.original_name,
        "size": item.size,
        "sha256": item.sha256,
        "confidential": item.confidential,
        "url": f"/media/{item.id}",
        "created_at": item.created_at.isoformat(),
    }


def _flag(form: FormData, name: str) -> bool:
    value = form.get(name)
    text = value.strip().lower() if isinstance(value, str) else ""
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    why = "Use true or false."
    raise ValidationFailed(why, fields={name: why})


async def _add(request: Request, form: FormData, upload: UploadFile, data: bytes) -> ListingMedia:
    return await media.add_media(
        await get_actor(request),
        request.path_params["listing_id"],
        filename=upload.filename or "",
        content_type_hint=upload.content_type or "",
        data=data,
        confidential=_flag(form, "confidential"),
    )


# --- pages -------------------------------------------------------------------------------


async def download(request: Request) -> Response:
    item, path = await media.open_media(await get_actor(request), request.path_params["media_id"])
    return files.file_response(
        path,
        item.content_type,
        item.original_name,
        private=media.is_private(item, item.listing),
    )


async def upload_page(request: Request) -> Response:
    # Strangers are refused before their body is read; those errors get the error page.
    listing = await media.authorize_upload(
        await get_actor(request), request.path_params["listing_id"]
    )
    back = f"/listings/{listing.id}/edit"
    try:
        form, upload, data = await files.read_upload(request, "file", media.MAX_MEDIA_BYTES)
        check_form_csrf(request, form)
        await _add(request, form, upload, data)
    except (ValidationFailed, Conflict) as exc:
        return redirect(back, exc.message)
    return redirect(back, "File added.")


async def delete_page(request: Request) -> Response:
    await read_form(request)
    listing_id = request.path_params["listing_id"]
    back = f"/listings/{listing_id}/edit"
    try:
        await media.remove_media(
            await get_actor(request), listing_id, request.path_params["media_id"]
        )
    except Conflict as exc:
        return redirect(back, exc.message)
    return redirect(back, "File removed.")


routes: list[BaseRoute] = [
    Route("/media/{media_id}", download, methods=["GET"]),
    Route("/listings/{listing_id}/media", upload_page, methods=["POST"]),
    Route("/listings/{listing_id}/media/{media_id}/delete", delete_page, methods=["POST"]),
]


# --- JSON API ----------------------------------------------------------------------------


@router.route(
    "/listings/{listing_id}/media",
    "POST",
    summary="Upload an image or PDF (multipart: file, confidential=true|false); owner only",
    status=201,
)
async def api_upload(request: Request) -> Response:
    await media.authorize_upload(await get_actor(request), request.path_params["listing_id"])
    form, upload, data = await files.read_upload(request, "file", media.MAX_MEDIA_BYTES)
    item = await _add(request, form, upload, data)
    return json_response({"media": media_json(item)}, 201)


@router.route(
    "/listings/{listing_id}/media",
    summary="The listing's files the caller may see",
    auth=False,
)
async def api_list(request: Request) -> Response:
    actor = await get_actor(request)
    listing = await get_listing(actor, request.path_params["listing_id"])
    items = await media.visible_media(actor, listing)
    return json_response({"items": [media_json(x) for x in items]})


@router.route(
    "/listings/{listing_id}/media/{media_id}",
    "DELETE",
    summary="Remove a file from a listing; owner only",
)
async def api_delete(request: Request) -> Response:
    await media.remove_media(
        await get_actor(request),
        request.path_params["listing_id"],
        request.path_params["media_id"],
    )
    return json_response({"ok": True})
