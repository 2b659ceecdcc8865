"""JSON endpoints for an organisation's logo (a multipart upload)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from market import files
from market.accounts import logos
from market.accounts.api import organization_json
from market.api import ApiRouter
from market.web import get_actor, json_response

router = ApiRouter("logos")


@router.route(
    "/organization/logo",
    "PUT",
    summary="Set the organisation's logo: a PNG or JPEG up to 512 KiB (multipart: logo); owners "
    "and admins",
)
async def set_logo(request: Request) -> Response:
    actor = await get_actor(request)
    logos.authorize_upload(actor)
    _, _, data = await files.read_upload(request, logos.FIELD, logos.MAX_LOGO_BYTES)
    org = await logos.set_logo(actor, data)
    return json_response({"organization": organization_json(org)})


@router.route("/organization/logo", "DELETE", summary="Remove the organisation's logo")
async def remove_logo(request: Request) -> Response:
    org = await logos.remove_logo(await get_actor(request))
    return json_response({"organization": organization_json(org)})
