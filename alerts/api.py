"""JSON endpoints for saved searches: the signed-in user's own, nobody else's (a stranger's
id answers 404, as one that does not exist)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from alerts import service
from alerts.schemas import FrequencyIn, SavedSearchIn
from market.api import ApiRouter, body
from market.web import get_actor, json_response

router = ApiRouter("saved-searches")


def _id(request: Request) -> str:
    return str(request.path_params["search_id"])


@router.route(
    "/saved-searches",
    "POST",
    summary="Save a search (the search page's or the needs list's query string) with a "
    "digest frequency",
    body=SavedSearchIn,
    status=201,
)
async def create(request: Request) -> Response:
    actor = await get_actor(request)
    saved = await service.save_search(actor, await body(request, SavedSearchIn))
    return json_response(service.saved_search_json(saved), 201)


@router.route("/saved-searches", summary="Your saved searches, newest first")
async def index(request: Request) -> Response:
    actor = await get_actor(request)
    items = [service.saved_search_json(s) for s in await service.list_saved_searches(actor)]
    return json_response({"items": items, "total": len(items)})


@router.route("/saved-searches/{search_id}", summary="One of your saved searches")
async def show(request: Request) -> Response:
    actor = await get_actor(request)
    saved = await service.get_saved_search(actor, _id(request))
    return json_response(service.saved_search_json(saved))


@router.route(
    "/saved-searches/{search_id}",
    "PATCH",
    body=FrequencyIn,
    summary="Change a saved search's frequency (and resume its e-mail)",
)
async def update(request: Request) -> Response:
    actor = await get_actor(request)
    data = await body(request, FrequencyIn)
    saved = await service.change_frequency(actor, _id(request), data.frequency)
    return json_response(service.saved_search_json(saved))


@router.route("/saved-searches/{search_id}", "DELETE", summary="Delete a saved search")
async def delete(request: Request) -> Response:
    actor = await get_actor(request)
    await service.delete_saved_search(actor, _id(request))
    return json_response({"deleted": True})
