"""Pages for listings: the public list and page, the institute's dashboard and forms, and the
administrators' moderation queue. Each handler parses, calls one use case and translates."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from contracts.offers import routes as offer_pages
from listings import enquiries, forms, ipc, labels, markdown, service, states
from listings.media import visible_media
from listings.models import Listing, ListingState
from listings.schemas import (
    ENQUIRY_BODY_MAX,
    KINDS,
    LICENSE_TYPES,
    PRICE_MODELS,
    ListingIn,
    ListingPatch,
)
from market.accounts.models import OrganizationKind
from market.accounts.schemas import countries
from market.accounts.service import NotVerified
from market.actor import Actor
from market.errors import DomainError, Forbidden
from market.i18n import Msg
from market.web import (
    get_actor,
    language,
    nest,
    page_number,
    read_form,
    redirect,
    render,
    render_error,
    require_login,
    template_global,
)

PER_PAGE = 20
# Every page that shows a listing (offers, contracts, search, admin) names its values so.
template_global("listing_labels", labels.FOR_TEMPLATES)
# Helpers the listing templates call; plain functions, no queries.
HELPERS: dict[str, Any] = {
    "markdown": markdown.render,
    "ipc_title": ipc.title,
    "money_text": forms.money_text,
    "kinds": KINDS,
    "license_types": LICENSE_TYPES,
    "price_models": PRICE_MODELS,
    "trl_levels": forms.TRL_LEVELS,
    "listing_states": [s.value for s in ListingState],
    "editable_states": states.EDITABLE,
    "substance_fields": states.SUBSTANCE,
}


async def _page(
    request: Request, template: str, context: dict[str, Any], status: int = 200
) -> Response:
    return await render(request, template, {**HELPERS, **context}, status=status)


def _id(request: Request, name: str = "listing_id") -> str:
    return str(request.path_params[name])


# --- public ------------------------------------------------------------------------------


async def index(request: Request) -> Response:
    actor = await get_actor(request)
    page = page_number(request)
    items, total = await service.list_listings(actor, page=page, per_page=PER_PAGE, table=True)
    return await _page(
        request,
        "listings/index.html",
        {"listings": items, "total": total, "page": page, "per_page": PER_PAGE},
    )


async def show(request: Request) -> Response:
    actor = await get_actor(request)
    view = await service.view_listing(actor, _id(request))
    listing = view.listing
    roles = service.roles_on(actor, listing)
    insider = bool(roles & {"member", "admin"})
    revision = await service.pending_revision(listing) if insider else None
    can_ask = enquiries.enquiry_refusal(actor, listing) is None
    return await _page(
        request,
        "listings/show.html",
        {
            "listing": listing,
            "actions": service.actions_for(actor, listing),
            "is_owner": "member" in roles,
            "can_edit": "member" in roles and _editable(listing),
            "revision": revision,
            "diff": service.revision_diff(listing, revision) if revision else [],
            "media": view.media,
            "countries": countries(),
            "can_ask": can_ask,
            # The link to an enquiry already asked, read with the listing.
            "asked": view.asked if can_ask else None,
            "enquiry_max": ENQUIRY_BODY_MAX,
            # The make-offer link and the rights already granted.
            **await offer_pages.listing_context(actor, listing),
        },
    )


def _editable(listing: Listing) -> bool:
    return str(listing.state) in states.EDITABLE or listing.state == ListingState.PUBLISHED


# --- the institute's own ------------------------------------------------------------------


async def mine(request: Request) -> Response:
    actor = await require_login(request)
    state = request.query_params.get("state") or None
    page = page_number(request)
    items, total = await service.list_listings(
        actor, mine=True, state=state, page=page, per_page=PER_PAGE
    )
    return await _page(
        request,
        "listings/mine.html",
        {
            "listings": items,
            "total": total,
            "counts": await service.state_counts(actor),
            "state": state or "",
            "page": page,
            "per_page": PER_PAGE,
        },
    )


def _form_context(request: Request, actor: Actor, values: dict[str, Any]) -> dict[str, Any]:
    currency = str((values.get("asking_price") or {}).get("currency") or "")
    return {
        "values": values,
        "currencies": forms.currency_options(language(request, actor), currency.upper()),
    }


async def new(request: Request) -> Response:
    actor = await require_login(request)
    if actor.organization is None or actor.organization.kind != OrganizationKind.INSTITUTE:
        raise Forbidden("Only members of a research institute can create listings.")
    if request.method == "GET":
        return await _page(
            request, "listings/form.html", _form_context(request, actor, forms.new_values())
        )
    values: dict[str, Any] = {}
    try:
        form = await read_form(request)
        values = forms.values_of(form)
        listing = await service.create_listing(actor, forms.parse_listing(ListingIn, values))
    except DomainError as exc:
        if exc.status != 422:
            raise
        return await render_error(
            request, exc, "listings/form.html", {**HELPERS, **_form_context(request, actor, values)}
        )
    return redirect(f"/listings/{listing.id}", "The draft is saved.")


async def edit(request: Request) -> Response:
    actor = await require_login(request)
    listing = await service.get_listing(actor, _id(request))
    if "member" not in service.roles_on(actor, listing):
        raise Forbidden("Only the institute that owns this listing can edit it.")
    revision = await service.pending_revision(listing)
    # The form shows what the listing will be once the pending revision is approved.
    shown = forms.current_data(listing, revision)
    context = {
        "listing": listing,
        "revision": revision,
        "diff": service.revision_diff(listing, revision) if revision else [],
        "media": await visible_media(actor, listing),
        "editable": _editable(listing),
        "facts_fixed": await service.relied_on(listing.id),
    }
    if request.method == "GET":
        return await _page(
            request,
            "listings/form.html",
            {**context, **_form_context(request, actor, forms.values_from(shown))},
        )
    values: dict[str, Any] = {}
    try:
        form = await read_form(request)
        values = forms.values_of(form)
        updated, proposed = await service.update_listing(
            actor, str(listing.id), forms.parse_listing(ListingPatch, values)
        )
    except DomainError as exc:
        # 422: the input is wrong; 409 with fields: a fact an accepted offer relies on.
        if exc.status != 422 and not (exc.status == 409 and exc.fields):
            raise
        return await render_error(
            request,
            exc,
            "listings/form.html",
            {**HELPERS, **context, **_form_context(request, actor, values)},
        )
    unchanged = updated.version == listing.version and (
        (proposed.changes if proposed else None) == (revision.changes if revision else None)
    )
    if unchanged:
        return redirect(f"/listings/{listing.id}", "Nothing was changed.")
    if proposed is not None:
        return redirect(
            f"/listings/{listing.id}",
            "Saved. Changes to the title, summary, description, patent numbers, inventors, "
            "technology readiness level, licence types, territories, fields of use or price "
            "wait for an administrator's review; the published version stays visible until then.",
        )
    return redirect(f"/listings/{listing.id}", "The listing is saved.")


async def submit(request: Request) -> Response:
    actor = await get_actor(request)
    await read_form(request)
    url = f"/listings/{_id(request)}"
    try:
        await service.submit_listing(actor, _id(request))
    except NotVerified as exc:  # back to the draft, told why and until when
        return redirect(url, exc.message)
    except DomainError as exc:
        if exc.status != 422:
            raise
        return redirect(url, _problems(exc))
    return redirect(url, "The listing is submitted; an administrator will review it.")


async def withdraw(request: Request) -> Response:
    actor = await get_actor(request)
    await read_form(request)
    await service.withdraw_listing(actor, _id(request))
    return redirect(f"/listings/{_id(request)}", "The listing is withdrawn.")


def _problems(exc: DomainError) -> str:
    return " ".join([exc.message, *exc.fields.values()])


# --- moderation ----------------------------------------------------------------------------


async def moderation(request: Request) -> Response:
    actor = await get_actor(request)
    state = request.query_params.get("state") or "submitted"
    page = page_number(request)
    items, total = await service.moderation_queue(actor, state=state, page=page)
    revisions = await service.revision_queue(actor)
    return await _page(
        request,
        "admin/listings.html",
        {
            "rows": [(listing, service.actions_for(actor, listing)) for listing in items],
            "total": total,
            "state": state,
            "page": page,
            "per_page": 50,
            "revisions": [(r, service.revision_diff(r.listing, r)) for r in revisions],
        },
    )


async def approve(request: Request) -> Response:
    actor = await get_actor(request)
    await read_form(request)
    listing = await service.approve_listing(actor, _id(request))
    return redirect("/admin/listings", Msg("“%(title)s” is published.", title=listing.title))


async def reject(request: Request) -> Response:
    actor = await get_actor(request)
    form = await read_form(request)
    reason = str(nest(form).get("reason", ""))
    try:
        listing = await service.reject_listing(actor, _id(request), reason)
    except DomainError as exc:
        if exc.status != 422:
            raise
        return redirect("/admin/listings", exc.message)
    return redirect("/admin/listings", Msg("“%(title)s” is rejected.", title=listing.title))


async def approve_revision(request: Request) -> Response:
    actor = await get_actor(request)
    await read_form(request)
    try:
        listing = await service.approve_revision(actor, _id(request, "revision_id"))
    except DomainError as exc:
        if exc.status != 409:
            raise
        return redirect("/admin/listings", exc.message)
    return redirect(
        "/admin/listings", Msg("The changes to “%(title)s” are published.", title=listing.title)
    )


async def reject_revision(request: Request) -> Response:
    actor = await get_actor(request)
    form = await read_form(request)
    reason = str(nest(form).get("reason", ""))
    try:
        await service.reject_revision(actor, _id(request, "revision_id"), reason)
    except DomainError as exc:
        if exc.status != 422:
            raise
        return redirect("/admin/listings", exc.message)
    return redirect("/admin/listings", "The proposed changes are rejected.")


# `:uuid` keeps /listings/import and other fixed paths free for their own routes.
routes: list[BaseRoute] = [
    Route("/listings", index),
    Route("/listings/mine", mine),
    Route("/listings/new", new, methods=["GET", "POST"]),
    Route("/listings/{listing_id:uuid}", show),
    Route("/listings/{listing_id:uuid}/edit", edit, methods=["GET", "POST"]),
    Route("/listings/{listing_id:uuid}/submit", submit, methods=["POST"]),
    Route("/listings/{listing_id:uuid}/withdraw", withdraw, methods=["POST"]),
    Route("/admin/listings", moderation),
    Route("/admin/listings/{listing_id:uuid}/approve", approve, methods=["POST"]),
    Route("/admin/listings/{listing_id:uuid}/reject", reject, methods=["POST"]),
    Route("/admin/revisions/{revision_id:uuid}/approve", approve_revision, methods=["POST"]),
    Route("/admin/revisions/{revision_id:uuid}/reject", reject_revision, methods=["POST"]),
]
