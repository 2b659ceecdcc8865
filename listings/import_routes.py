"""Pages of the portfolio import: the upload form and each import's status and report."""

from __future__ import annotations

import re
from typing import Any

from starlette.datastructures import FormData, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from listings import importer
from listings.models import ImportState
from listings.schemas import LICENSE_TYPES, PRICE_MODELS
from market import limits
from market.errors import DomainError, ValidationFailed
from market.web import (
    check_form_csrf,
    get_actor,
    page_number,
    redirect,
    render,
    render_error,
    settings_of,
)

FORM_TEMPLATE = "listings/import.html"
STATUS_TEMPLATE = "listings/import_status.html"
# Room for the form's other fields and the multipart boundaries around the file.
FORM_OVERHEAD = 64 * 1024
REPORT_PER_PAGE = 100


def _limit() -> int:
    return importer.MAX_UPLOAD_BYTES + FORM_OVERHEAD


async def read_upload(request: Request) -> FormData:
    """read_form for a form with one file: multipart, size-limited, CSRF-checked."""
    content_type = request.headers.get("content-type", "").lower()
    if not content_type.startswith("multipart/form-data"):
        raise importer.ImportRefused("Send the form with its file (multipart/form-data).")
    # Refused at once when declared larger than the limit, else as soon as it passes it.
    body = limits.limited(request, _limit(), importer.TooLarge).stream()
    parser = MultiPartParser(request.headers, body, max_files=1, max_fields=40)
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise importer.ImportRefused(f"The upload could not be read: {exc.message}") from None
    check_form_csrf(request, form)
    return form


def _form_values(form: FormData) -> dict[str, Any]:
    """What the form sent, as the template shows it again."""
    return {
        "submit": bool(form.get("submit_listings")),
        "trl": str(form.get("trl") or ""),
        "license_types": [str(v) for v in form.getlist("license_types")],
        "price_model": str(form.get("price_model") or ""),
        "territories": str(form.get("territories") or ""),
    }


def _options(values: dict[str, Any]) -> importer.ImportOptions:
    trl = values["trl"].strip()
    raw = {
        "submit": values["submit"],
        "trl": int(trl) if trl.isdigit() else (trl or None),
        "license_types": values["license_types"],
        "price_model": values["price_model"] or None,
        "territories": [t for t in re.split(r"[\s,;]+", values["territories"]) if t],
    }
    return importer.parse_options(raw)


async def _context(actor) -> dict[str, Any]:
    return {
        "imports": await importer.recent_imports(actor),
        "license_types": LICENSE_TYPES,
        "price_models": PRICE_MODELS,
        "trl_levels": list(range(1, 10)),
        "max_mib": importer.MAX_UPLOAD_BYTES // (1024 * 1024),
    }


async def import_page(request: Request) -> Response:
    actor = await get_actor(request)
    importer.require_importer(actor)
    if request.method == "GET":
        return await render(request, FORM_TEMPLATE, await _context(actor))
    values: dict[str, Any] = {}
    form: FormData | None = None
    try:
        form = await read_upload(request)
        values = _form_values(form)
        options = _options(values)
        upload = form.get("file")
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise ValidationFailed(
                "Choose a file to import.", fields={"file": "Choose a file to import."}
            )
        imp = await importer.upload_import(
            actor,
            filename=upload.filename,
            source=upload.file,
            options=options,
            var_dir=settings_of(request).var_dir,
        )
    except DomainError as exc:
        context = {**await _context(actor), "values": values}
        return await render_error(request, exc, FORM_TEMPLATE, context)
    finally:
        if form is not None:
            await form.close()
    return redirect(
        f"/listings/import/{imp.id}",
        "The file is uploaded. The import runs in the background; this page shows how far it is.",
    )


async def import_status(request: Request) -> Response:
    actor = await get_actor(request)
    imp = await importer.get_import(actor, request.path_params["import_id"])
    page = page_number(request)
    report = imp.report or []
    entries = report[(page - 1) * REPORT_PER_PAGE : page * REPORT_PER_PAGE]
    running = imp.state in (ImportState.QUEUED, ImportState.RUNNING)
    return await render(
        request,
        STATUS_TEMPLATE,
        {
            "imp": imp,
            "running": running,
            "lines": importer.report_lines(entries),
            "report_total": len(report),
            "report_limit": importer.REPORT_LIMIT,
            "warned": sum(1 for e in report if e.get("outcome") != "refused"),
            "page": page,
            "per_page": REPORT_PER_PAGE,
        },
    )


routes: list[BaseRoute] = [
    Route("/listings/import", import_page, methods=["GET", "POST"]),
    Route("/listings/import/{import_id:uuid}", import_status),
]
