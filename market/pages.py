"""The home page, the language switch, the terms and privacy pages, health endpoints and error
pages."""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from market import health
from market.accounts.service import set_locale
from market.api import PREFIX
from market.errors import DomainError, NotAuthenticated, NotFound
from market.i18n import LANGUAGES
from market.web import (
    error_json,
    get_actor,
    local_path,
    read_form,
    redirect,
    remember_language,
    render,
    settings_of,
)

log = logging.getLogger(__name__)


async def home(request: Request) -> Response:
    return await render(request, "home.html")


async def set_language(request: Request) -> Response:
    """A visitor's switch: a link, so it only sets this browser's cookie."""
    lang = request.path_params["lang"]
    if lang not in LANGUAGES:
        raise NotFound("No such language.")
    response = redirect("/")
    remember_language(response, lang)
    return response


async def switch_language(request: Request) -> Response:
    """The header's switch for a logged-in user: a form (it writes `User.locale`, so mails
    follow too), back to the page it was pressed on."""
    form = await read_form(request)
    lang = str(form.get("lang", ""))
    if lang not in LANGUAGES:
        raise NotFound("No such language.")
    actor = await get_actor(request)
    if actor.user is not None:
        await set_locale(actor, lang)
    response = redirect(local_path(str(form.get("next", "")), "/"))
    remember_language(response, lang)
    return response


async def terms(request: Request) -> Response:
    return await render(request, "terms.html", {"support": settings_of(request).support_email})


async def privacy(request: Request) -> Response:
    return await render(request, "privacy.html", {"support": settings_of(request).support_email})


async def healthz(request: Request) -> Response:
    return PlainTextResponse("ok")


async def readyz(request: Request) -> Response:
    """Ready or not, for a load balancer; which service failed and why (error text that may
    name hosts and users) only for an administrator or a check run on this machine."""
    checks = await health.readiness(settings_of(request))
    ok = all(c.ok for c in checks)
    body: dict = {"ok": ok}
    if health.from_this_machine(request) or (await get_actor(request)).is_admin:
        body["checks"] = {c.name: {"ok": c.ok, "detail": c.detail} for c in checks}
    return JSONResponse(body, status_code=200 if ok else 503)


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith(PREFIX) or request.url.path.startswith("/webhooks/")


async def domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DomainError)
    if _wants_json(request):
        return error_json(exc)
    if isinstance(exc, NotAuthenticated):
        return redirect(f"/login?next={request.url.path}")
    return await render(
        request, "error.html", {"status": exc.status, "message": exc.message}, status=exc.status
    )


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    error = DomainError(exc.detail or "Error")
    error.status = exc.status_code
    error.code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "error")
    if exc.status_code == 404:
        error.message = "There is nothing at this address."
    response = await domain_error(request, error)
    # Starlette's own headers for the status: `Allow` on a 405, pages and API alike.
    for name, value in (exc.headers or {}).items():
        response.headers[name] = value
    return response


async def server_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s", request.url.path, exc_info=exc)
    if _wants_json(request):
        return JSONResponse(
            {"error": {"code": "server_error", "message": "Something went wrong on our side."}},
            status_code=500,
        )
    try:
        return await render(
            request,
            "error.html",
            {"status": 500, "message": "Something went wrong on our side."},
            status=500,
        )
    except Exception:  # the template layer itself may be what failed
        return PlainTextResponse("Something went wrong on our side.", status_code=500)


routes = [
    Route("/", home),
    Route("/language", switch_language, methods=["POST"]),
    Route("/language/{lang}", set_language),
    Route("/terms", terms),
    Route("/privacy", privacy),
    Route("/healthz", healthz),
    Route("/readyz", readyz),
]
