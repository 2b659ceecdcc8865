"""Offer pages: make an offer, the inboxes, one offer with its versions and thread.

Each handler parses, calls one use case and translates. A refusal the user can act on (bad
input, not their turn, the offer changed meanwhile, too many offers) shows the same page again
with the reason and the refusal's status; anything else is the error page."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from contracts.agreements import service as agreements
from contracts.offers import forms, labels, service, states
from contracts.offers.models import Offer, OfferState
from contracts.offers.schemas import (
    FromProposalIn,
    MessageIn,
    OfferIn,
    OfferTermsIn,
    ReasonIn,
)
from listings import forms as listing_forms
from listings import service as listings
from listings.models import Listing
from listings.schemas import LICENSE_TYPES
from market.accounts.models import OrganizationKind
from market.actor import Actor
from market.errors import DomainError, Forbidden, ValidationFailed
from market.validation import parse
from market.web import (
    language,
    page_number,
    read_form,
    redirect,
    render_form,
    require_login,
    template_global,
)

template_global("offer_labels", labels.FOR_TEMPLATES)

PER_PAGE = 20
# Refusals shown on the page the user acted from, with what they typed still there.
SHOWN_ON_PAGE = frozenset({403, 409, 422, 429})
HELPERS: dict[str, Any] = {
    "money_text": forms.money_text,
    "percent_text": forms.percent_text,
    "offer_states": [s.value for s in OfferState],
    "turns": states.TURN,
}


async def _page(
    request: Request,
    template: str,
    context: dict[str, Any],
    status: int = 200,
    error: DomainError | None = None,
) -> Response:
    return await render_form(request, template, {**HELPERS, **context}, status=status, error=error)


def _id(request: Request, name: str = "offer_id") -> str:
    return str(request.path_params[name])


def _shown(exc: DomainError) -> bool:
    return exc.status in SHOWN_ON_PAGE


# --- on the listing page -------------------------------------------------------------------


async def listing_context(actor: Actor, listing: Listing) -> dict[str, Any]:
    """What the listing page shows about offers: the link, and the rights still free."""
    grants, availability = await service.listing_rights(listing)
    owner = str(listing.institute_id) == actor.organization_id  # type: ignore[attr-defined]
    return {
        "can_offer": service.offer_refusal(actor, listing) is None,
        "grants": grants,
        "availability": availability,
        # Who licensed what is the owner's business, not every visitor's.
        "show_grantees": owner or actor.is_admin,
    }


# --- making an offer -----------------------------------------------------------------------


def _form_context(
    request: Request, actor: Actor, listing: Listing, values: dict[str, Any]
) -> dict[str, Any]:
    currency = str((values.get("upfront_fee") or {}).get("currency") or "")
    offered = list(listing.license_types or []) or list(LICENSE_TYPES)
    return {
        "listing": listing,
        "values": values,
        "offered_types": offered,
        "currencies": listing_forms.currency_options(language(request, actor), currency.upper()),
    }


async def new_offer(request: Request) -> Response:
    actor = await require_login(request)
    listing = await listings.get_listing(actor, _id(request, "listing_id"))
    refusal = service.offer_refusal(actor, listing)
    if refusal is not None:
        raise refusal
    if request.method == "GET":
        # "Make an offer" from an enquiry: the form carries it, and the offer names it.
        values = forms.new_values(listing)
        values["enquiry_id"] = request.query_params.get("enquiry", "")
        context = _form_context(request, actor, listing, values)
        return await _page(request, "offers/form.html", context)
    form = await read_form(request)
    values = forms.values_of(form)
    enquiry = form.get("enquiry_id")
    values["enquiry_id"] = enquiry if isinstance(enquiry, str) else ""
    try:
        offer = await service.make_offer(
            actor,
            str(listing.id),
            forms.parse_terms(OfferIn, values),
            enquiry_id=values["enquiry_id"] or None,
        )
    except DomainError as exc:
        if not _shown(exc):
            raise
        context = _form_context(request, actor, listing, values)
        return await _page(request, "offers/form.html", context, error=exc)
    return redirect(f"/offers/{offer.id}", "Your offer is sent to the institute.")


# --- making an offer from a need's proposal ---------------------------------------------------


FORM_NAMES = {"upfront_fee": "upfront_fee.amount"}


async def offer_from_proposal(request: Request) -> Response:
    """The seeker's "make an offer" form for a finalist, prefilled from the need; sending it
    converts the proposal (service.offer_from_proposal)."""
    actor = await require_login(request)
    proposal_id = _id(request, "proposal_id")
    if request.method == "GET":
        chosen = request.query_params.get("listing_id") or ""
        prefill = await service.offer_prefill(actor, proposal_id, chosen)
        values = forms.values_from_prefill(prefill)
        listing_id = prefill["listing_id"]
    else:
        form = await read_form(request)
        values = forms.values_of(form)
        listing_id = str(form.get("listing_id") or "")
        await service.offer_prefill(actor, proposal_id, listing_id)  # the same checks first
    listing = await Listing.get(id=listing_id)
    context = {
        **_form_context(request, actor, listing, values),
        "action": f"/proposals/{proposal_id}/offer",
        "origin": {"proposal_id": proposal_id, "listing_id": listing_id},
    }
    if request.method == "GET":
        return await _page(request, "offers/form.html", context)
    try:
        terms = forms.parse_terms(OfferIn, values)
        data = FromProposalIn.model_validate(
            {"listing_id": listing_id, **terms.model_dump(mode="json")}
        )
        try:
            offer = await service.offer_from_proposal(actor, proposal_id, data)
        except ValidationFailed as exc:
            # The budget's cap names the fee; on the form that is its amount.
            fields = {FORM_NAMES.get(k, k): v for k, v in exc.fields.items()}
            raise ValidationFailed(exc.message, fields=fields) from None
    except DomainError as exc:
        if not _shown(exc):
            raise
        return await _page(request, "offers/form.html", context, error=exc)
    return redirect(f"/offers/{offer.id}", "Your offer is sent to the institute.")


# --- the inbox -----------------------------------------------------------------------------


def _default_side(actor: Actor) -> str:
    if actor.is_admin:
        return ""  # administrators see every offer
    org = actor.organization
    return "seller" if org is not None and org.kind == OrganizationKind.INSTITUTE else "buyer"


async def inbox(request: Request) -> Response:
    actor = await require_login(request)
    side = request.query_params.get("side")
    if side is None:
        side = _default_side(actor)
    state = request.query_params.get("state") or ""
    page = page_number(request)
    counts = await service.offer_counts(actor, side=side)
    items, total = await service.list_offers(
        actor, side=side, state=state, page=page, per_page=PER_PAGE, counts=counts, table=True
    )
    rows = [(offer, offer.current_terms, service.side_of(actor, offer)) for offer in items]
    return await _page(
        request,
        "offers/index.html",
        {
            "rows": rows,
            "total": total,
            "counts": counts,
            "side": side,
            "state": state,
            "page": page,
            "per_page": PER_PAGE,
        },
    )


# --- one offer -----------------------------------------------------------------------------


async def _offer_page(
    request: Request,
    actor: Actor,
    offer_id: str,
    *,
    error: DomainError | None = None,
    values: dict[str, Any] | None = None,
) -> Response:
    view = await service.get_offer(actor, offer_id)
    context = {
        "view": view,
        "offer": view.offer,
        "listing": view.listing,
        "table": forms.versions_table(view.versions),
        "values": values or {},
        "contract_id": view.contract_id or await agreements.contract_id_for_offer(view.offer.id),
    }
    return await _page(request, "offers/show.html", context, error=error)


async def show(request: Request) -> Response:
    actor = await require_login(request)
    return await _offer_page(request, actor, _id(request))


async def _act(request: Request, action: str, done: str) -> Response:
    """Accept, reject or withdraw from the offer page's buttons."""
    actor = await require_login(request)
    form = await read_form(request)
    offer_id = _id(request)
    try:
        if action == "accept":
            await service.accept_offer(actor, offer_id)
        elif action == "reject":
            reason = parse(ReasonIn, {"reason": str(form.get("reason") or "")}).reason
            await service.reject_offer(actor, offer_id, reason)
        else:
            await service.withdraw_offer(actor, offer_id)
    except DomainError as exc:
        if not _shown(exc):
            raise
        values = {"reason": str(form.get("reason") or "")}
        return await _offer_page(request, actor, offer_id, error=exc, values=values)
    return redirect(f"/offers/{offer_id}", done)


async def accept(request: Request) -> Response:
    return await _act(request, "accept", "You accepted the offer.")


async def reject(request: Request) -> Response:
    return await _act(request, "reject", "You rejected the offer.")


async def withdraw(request: Request) -> Response:
    return await _act(request, "withdraw", "You withdrew the offer.")


async def message(request: Request) -> Response:
    actor = await require_login(request)
    form = await read_form(request)
    offer_id = _id(request)
    body = str(form.get("body") or "").replace("\r\n", "\n")
    try:
        await service.post_message(actor, offer_id, parse(MessageIn, {"body": body}))
    except DomainError as exc:
        if not _shown(exc):
            raise
        return await _offer_page(request, actor, offer_id, error=exc, values={"body": body})
    return redirect(f"/offers/{offer_id}#messages", "Your message is sent.")


def _refusal(actor: Actor, offer: Offer, action: str) -> DomainError:
    """Why the state table refuses `action` to this actor: not their turn or not a party
    (403), or the offer is past it (409)."""
    side = service.side_of(actor, offer)
    turn = states.TURN.get(str(offer.state))
    if side is not None and turn and turn != side.value:
        return Forbidden(f"It is {service.SIDE_NAMES[turn]}'s turn: wait for their answer.")
    try:
        service.OFFERING.check(actor, offer, action)
    except DomainError as exc:
        return exc
    return Forbidden(f"You cannot {action} this offer.")


async def counter(request: Request) -> Response:
    actor = await require_login(request)
    offer_id = _id(request)
    view = await service.get_offer(actor, offer_id)
    context: dict[str, Any] = {"offer": view.offer, "view": view}
    if request.method == "GET":
        if "counter" not in view.actions:
            return await _offer_page(
                request, actor, offer_id, error=_refusal(actor, view.offer, "counter")
            )
        values = forms.values_from(view.terms)
        context.update(_form_context(request, actor, view.listing, values))
        return await _page(request, "offers/form.html", context)
    form = await read_form(request)
    values = forms.values_of(form)
    try:
        await service.counter_offer(actor, offer_id, forms.parse_terms(OfferTermsIn, values))
    except DomainError as exc:
        if not _shown(exc):
            raise
        context.update(_form_context(request, actor, view.listing, values))
        return await _page(request, "offers/form.html", context, error=exc)
    return redirect(f"/offers/{offer_id}", "Your counter-offer is sent.")


routes: list[BaseRoute] = [
    Route("/listings/{listing_id:uuid}/offer", new_offer, methods=["GET", "POST"]),
    Route("/proposals/{proposal_id:uuid}/offer", offer_from_proposal, methods=["GET", "POST"]),
    Route("/offers", inbox),
    Route("/offers/{offer_id:uuid}", show),
    Route("/offers/{offer_id:uuid}/counter", counter, methods=["GET", "POST"]),
    Route("/offers/{offer_id:uuid}/accept", accept, methods=["POST"]),
    Route("/offers/{offer_id:uuid}/reject", reject, methods=["POST"]),
    Route("/offers/{offer_id:uuid}/withdraw", withdraw, methods=["POST"]),
    Route("/offers/{offer_id:uuid}/messages", message, methods=["POST"]),
]
