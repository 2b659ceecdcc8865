"""Pages for saved searches: saving one (the form under the listings search and the needs
list), the owner's list (change the frequency, delete), and the unsubscribe link a digest
carries, which works without logging in (GET asks, POST does)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from alerts import service
from alerts.schemas import FREQUENCIES, MAX_NAME, FrequencyIn, SavedSearchIn
from market import limits
from market.errors import DomainError
from market.validation import parse
from market.web import (
    check_form_csrf,
    get_actor,
    nest,
    read_form,
    redirect,
    render,
    require_login,
)

HELPERS: dict[str, Any] = {"frequencies": FREQUENCIES, "max_name": MAX_NAME}


def _id(request: Request) -> str:
    return str(request.path_params["search_id"])


def _rows(searches: list[Any]) -> list[dict[str, Any]]:
    return [{"search": s, "url": service.search_url(s)} for s in searches]


async def index(request: Request) -> Response:
    actor = await require_login(request)
    searches = await service.list_saved_searches(actor)
    return await render(
        request,
        "alerts/index.html",
        {**HELPERS, "rows": _rows(searches), "limit": service.MAX_PER_USER},
    )


async def save(request: Request) -> Response:
    actor = await require_login(request)
    form = nest(await read_form(request))
    values = {
        "name": str(form.get("name", "")),
        "query": str(form.get("query", "")),
        "frequency": str(form.get("frequency", "")),
        "kind": str(form.get("kind", "") or "listings"),
    }
    try:
        await service.save_search(actor, parse(SavedSearchIn, values))
    except DomainError as exc:
        if exc.status != 422:
            raise
        return await render(
            request,
            "alerts/save.html",
            {**HELPERS, "values": values, "errors": exc.fields, "message": exc.message},
            status=exc.status,
        )
    return redirect("/saved-searches", "The search is saved.")


async def frequency(request: Request) -> Response:
    actor = await get_actor(request)
    form = nest(await read_form(request))
    try:
        data = parse(FrequencyIn, {"frequency": str(form.get("frequency", ""))})
    except DomainError as exc:
        return redirect("/saved-searches", exc.message)
    await service.change_frequency(actor, _id(request), data.frequency)
    return redirect("/saved-searches", "The saved search is changed; its e-mails are on.")


async def delete(request: Request) -> Response:
    actor = await get_actor(request)
    await read_form(request)
    await service.delete_saved_search(actor, _id(request))
    return redirect("/saved-searches", "The saved search is deleted.")


async def unsubscribe(request: Request) -> Response:
    token = str(request.path_params["token"])
    saved = await service.by_unsubscribe_token(token)
    if request.method == "POST":
        form = await limits.limited(request, limits.MAX_BODY).form(max_files=0, max_fields=20)
        # A mail client's one-click unsubscribe (RFC 8058) carries no CSRF token: the signed
        # token in the address is the whole authority, and it stops e-mails, nothing more.
        if form.get("List-Unsubscribe") != "One-Click":
            check_form_csrf(request, form)
        saved = await service.unsubscribe(token)
        return await render(request, "alerts/unsubscribed.html", {"search": saved})
    return await render(request, "alerts/unsubscribe.html", {"search": saved, "token": token})


routes: list[BaseRoute] = [
    Route("/saved-searches", index),
    Route("/saved-searches", save, methods=["POST"]),
    Route("/saved-searches/unsubscribe/{token}", unsubscribe, methods=["GET", "POST"]),
    Route("/saved-searches/{search_id:uuid}/frequency", frequency, methods=["POST"]),
    Route("/saved-searches/{search_id:uuid}/delete", delete, methods=["POST"]),
]
