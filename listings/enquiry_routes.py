"""Enquiry pages: ask a question about a listing, the inbox (asked and received as tabs), one
enquiry with its thread. Each handler parses, calls one use case and translates; a refusal the
user can act on (bad input, a closed thread, too many questions today) shows the same page
again with the reason, the text typed still there."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from listings import enquiries
from listings import service as listings
from listings.schemas import ENQUIRY_BODY_MAX, EnquiryIn
from market.actor import Actor
from market.errors import DomainError
from market.validation import parse
from market.web import page_number, read_form, redirect, render_form, require_login

PER_PAGE = 20
SHOWN_ON_PAGE = frozenset({409, 422, 429})


def _id(request: Request, name: str = "enquiry_id") -> str:
    return str(request.path_params[name])


def _body(form: Any) -> str:
    value = form.get("body")
    return value.replace("\r\n", "\n") if isinstance(value, str) else ""


async def ask(request: Request) -> Response:
    """The "Ask a question" form (it is also on the listing page) and its answer."""
    actor = await require_login(request)
    listing = await listings.get_listing(actor, _id(request, "listing_id"))
    refusal = enquiries.enquiry_refusal(actor, listing)
    if refusal is not None:
        raise refusal
    context: dict[str, Any] = {"listing": listing, "body_max": ENQUIRY_BODY_MAX}
    if request.method == "GET":
        return await render_form(request, "enquiries/new.html", {**context, "values": {}})
    form = await read_form(request)
    body = _body(form)
    try:
        enquiry = await enquiries.ask(actor, str(listing.id), parse(EnquiryIn, {"body": body}))
    except DomainError as exc:
        if exc.status not in SHOWN_ON_PAGE:
            raise
        context["values"] = {"body": body}
        return await render_form(request, "enquiries/new.html", context, error=exc)
    return redirect(f"/enquiries/{enquiry.id}", "Your question is sent to the institute.")


async def inbox(request: Request) -> Response:
    actor = await require_login(request)
    side = request.query_params.get("side") or enquiries.default_side(actor)
    page = page_number(request)
    items, total = await enquiries.list_enquiries(actor, side=side, page=page, per_page=PER_PAGE)
    return await render_form(
        request,
        "enquiries/index.html",
        {"items": items, "total": total, "side": side, "page": page, "per_page": PER_PAGE},
    )


async def _enquiry_page(
    request: Request,
    actor: Actor,
    enquiry_id: str,
    *,
    error: DomainError | None = None,
    values: dict[str, Any] | None = None,
) -> Response:
    view = await enquiries.get_enquiry(actor, enquiry_id)
    context = {
        "view": view,
        "enquiry": view.enquiry,
        "listing": view.listing,
        "values": values or {},
        "body_max": ENQUIRY_BODY_MAX,
    }
    return await render_form(request, "enquiries/show.html", context, error=error)


async def show(request: Request) -> Response:
    actor = await require_login(request)
    return await _enquiry_page(request, actor, _id(request))


async def message(request: Request) -> Response:
    actor = await require_login(request)
    form = await read_form(request)
    enquiry_id = _id(request)
    body = _body(form)
    try:
        await enquiries.post_message(actor, enquiry_id, parse(EnquiryIn, {"body": body}))
    except DomainError as exc:
        if exc.status not in SHOWN_ON_PAGE:
            raise
        return await _enquiry_page(request, actor, enquiry_id, error=exc, values={"body": body})
    return redirect(f"/enquiries/{enquiry_id}#messages", "Your message is sent.")


async def close(request: Request) -> Response:
    actor = await require_login(request)
    await read_form(request)
    enquiry_id = _id(request)
    try:
        await enquiries.close_enquiry(actor, enquiry_id)
    except DomainError as exc:
        if exc.status not in SHOWN_ON_PAGE:
            raise
        return await _enquiry_page(request, actor, enquiry_id, error=exc)
    return redirect(f"/enquiries/{enquiry_id}", "The enquiry is closed.")


routes: list[BaseRoute] = [
    Route("/listings/{listing_id:uuid}/enquiries", ask, methods=["GET", "POST"]),
    Route("/enquiries", inbox),
    Route("/enquiries/{enquiry_id:uuid}", show),
    Route("/enquiries/{enquiry_id:uuid}/messages", message, methods=["POST"]),
    Route("/enquiries/{enquiry_id:uuid}/close", close, methods=["POST"]),
]
