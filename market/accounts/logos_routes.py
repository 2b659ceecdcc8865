"""An organisation's logo over HTTP: the organisation page's forms and the public image."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from market import files
from market.accounts import logos
from market.accounts.routes import render_organization
from market.errors import ValidationFailed
from market.web import check_form_csrf, get_actor, read_form, redirect, require_login

PAGE = "/organization"


async def logo(request: Request) -> Response:
    org, path, cache = await logos.open_logo(
        await get_actor(request),
        request.path_params["slug"],
        request.query_params.get("v", ""),
    )
    return files.file_response(path, org.logo_type, "logo", private=False, cache=cache)


async def upload_page(request: Request) -> Response:
    actor = await require_login(request)
    # Those who may not change the logo are refused before their body is read.
    logos.authorize_upload(actor)
    try:
        form, _, data = await files.read_upload(request, logos.FIELD, logos.MAX_LOGO_BYTES)
        check_form_csrf(request, form)
        await logos.set_logo(actor, data)
    except ValidationFailed as exc:
        return await render_organization(request, actor, error=exc)
    return redirect(PAGE, "The logo is saved.")


async def delete_page(request: Request) -> Response:
    actor = await require_login(request)
    await read_form(request)
    await logos.remove_logo(actor)
    return redirect(PAGE, "The logo is removed.")


routes: list[BaseRoute] = [
    Route("/organizations/{slug}/logo", logo, methods=["GET"]),
    Route("/organization/logo", upload_page, methods=["POST"]),
    Route("/organization/logo/delete", delete_page, methods=["POST"]),
]
