"""JSON endpoints for offers (see API.md)."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from contracts.agreements import service as agreements
from contracts.offers import service
from contracts.offers.models import Offer, OfferMessage, OfferState, OfferTerms
from contracts.offers.schemas import FromProposalIn, MessageIn, OfferIn, OfferTermsIn, ReasonIn
from listings.models import Listing
from market.accounts.models import Organization, User
from market.api import PAGE, PER_PAGE, ApiRouter, body, filter_of, paged
from market.web import get_actor, json_response, page_number, page_size

router = ApiRouter("offers")


class RejectIn(ReasonIn):
    """Why the offer is rejected; optional.

    Its own name because the OpenAPI components are keyed by class name, and the accounts'
    ReasonIn (where a reason is required) is already documented under that one."""


# --- shapes ------------------------------------------------------------------------------------


def money_json(amount: int, currency: str) -> dict[str, Any]:
    return {"amount": amount, "currency": currency}


def percent_json(value: Decimal | None) -> str | None:
    """The column keeps three decimals; the wire shows the number as written ("3.5", "100")."""
    if value is None:
        return None
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _organization(org: Any) -> dict[str, Any] | None:
    # Present only when the query fetched it; an unfetched relation is a query, not a row.
    if isinstance(org, Organization):
        return {"id": str(org.id), "name": org.name}
    return None


def _person(user: Any) -> dict[str, Any] | None:
    if isinstance(user, User):
        return {"id": str(user.id), "name": user.name}
    return None


def terms_json(terms: OfferTerms) -> dict[str, Any]:
    """One version of the terms. `author` is filled when the query fetched it."""
    author_id = terms.author_id  # type: ignore[attr-defined]
    return {
        "id": str(terms.id),
        "number": terms.number,
        "side": str(terms.side),
        "author_id": str(author_id) if author_id else None,
        "author": _person(terms.author),
        "license_type": terms.license_type,
        "territories": terms.territories,
        "fields_of_use": terms.fields_of_use,
        "term_months": terms.term_months,
        "upfront_fee": money_json(terms.upfront_amount, terms.currency),
        "royalty_percent": percent_json(terms.royalty_percent),
        "milestones": [
            {"description": m["description"], "amount": money_json(m["amount"], terms.currency)}
            for m in terms.milestones
        ],
        "conditions": terms.conditions,
        "expires_at": terms.expires_at.isoformat(),
        "created_at": terms.created_at.isoformat(),
    }


def message_json(message: OfferMessage) -> dict[str, Any]:
    author_id = message.author_id  # type: ignore[attr-defined]
    return {
        "id": str(message.id),
        "offer_id": str(message.offer_id),  # type: ignore[attr-defined]
        "side": str(message.side),
        "author_id": str(author_id) if author_id else None,
        "author": _person(message.author),
        "body": message.body,
        "created_at": message.created_at.isoformat(),
    }


def offer_json(offer: Offer, terms: OfferTerms | None = None) -> dict[str, Any]:
    """An offer with its current terms. The listing, buyer and seller are named when the query
    fetched them (every endpoint here does); their ids are always there."""
    listing = offer.listing
    data: dict[str, Any] = {
        "id": str(offer.id),
        "state": str(offer.state),
        "listing_id": str(offer.listing_id),  # type: ignore[attr-defined]
        "listing": (
            {"id": str(listing.id), "title": listing.title}
            if isinstance(listing, Listing)
            else None
        ),
        "buyer_id": str(offer.buyer_id),  # type: ignore[attr-defined]
        "buyer": _organization(offer.buyer),
        "seller_id": str(offer.seller_id),  # type: ignore[attr-defined]
        "seller": _organization(offer.seller),
        "license_type": offer.license_type,
        "terms_number": offer.terms_number,
        "terms": terms_json(terms) if terms is not None else None,
        "expires_at": offer.expires_at.isoformat(),
        "closed_reason": offer.closed_reason or None,
        # While on hold: the state the offer comes back to if the contract holding it falls
        # through.
        "held_from": offer.held_from if offer.state == OfferState.ON_HOLD else None,
        # The enquiry the offer was made from, if it was.
        "enquiry_id": str(offer.enquiry_id) if offer.enquiry_id else None,  # type: ignore[attr-defined]
        # The need's proposal the offer was made from, if it was (offer_from_proposal).
        "proposal_id": str(offer.proposal_id) if offer.proposal_id else None,  # type: ignore[attr-defined]
        # The exhibition-hall meeting the offer followed, if it did (hall.outcomes).
        "meeting_id": str(offer.meeting_id) if offer.meeting_id else None,  # type: ignore[attr-defined]
        "created_at": offer.created_at.isoformat(),
        "updated_at": offer.updated_at.isoformat(),
    }
    return data


async def _current_terms(offers: Iterable[Offer]) -> dict[str, OfferTerms]:
    """The current terms of each offer, with their authors, in one query (no N+1 on lists)."""
    wanted = {str(o.id): o.terms_number for o in offers}
    if not wanted:
        return {}
    # Every version of these offers comes back; a negotiation has few, so one plain query beats
    # an OR of (offer, number) pairs.
    rows = await OfferTerms.filter(offer_id__in=list(wanted)).prefetch_related("author")
    return {
        str(t.offer_id): t  # type: ignore[attr-defined]
        for t in rows
        if t.number == wanted[str(t.offer_id)]  # type: ignore[attr-defined]
    }


async def _answer(offer: Offer, status: int = 200) -> Response:
    """{offer, state} after a change: the service returns the bare row, so name its parties."""
    await offer.fetch_related("listing", "buyer", "seller")
    terms = (await _current_terms([offer]))[str(offer.id)]
    return json_response({"offer": offer_json(offer, terms), "state": str(offer.state)}, status)


# --- endpoints ---------------------------------------------------------------------------------


@router.route(
    "/listings/{listing_id}/offers",
    "POST",
    summary="Make an offer on a published listing",
    body=OfferIn,
    status=201,
)
async def make(request: Request) -> Response:
    offer = await service.make_offer(
        await get_actor(request), request.path_params["listing_id"], await body(request, OfferIn)
    )
    return await _answer(offer, 201)


@router.route(
    "/enquiries/{enquiry_id}/offer",
    "POST",
    summary="Make an offer from an enquiry you asked: on its listing, naming it as its origin",
    body=OfferIn,
    status=201,
)
async def make_from_enquiry(request: Request) -> Response:
    offer = await service.make_offer_from_enquiry(
        await get_actor(request), request.path_params["enquiry_id"], await body(request, OfferIn)
    )
    return await _answer(offer, 201)


@router.route(
    "/offers",
    summary="Offers your organisation made (side=buyer) or received (side=seller)",
    query={
        "side": filter_of(service.SIDES),
        "state": filter_of(OfferState),
        "page": PAGE,
        "per_page": PER_PAGE,
    },
)
async def index(request: Request) -> Response:
    actor = await get_actor(request)
    page, per_page = page_number(request), page_size(request)
    side = request.query_params.get("side", "")
    counts = await service.offer_counts(actor, side=side)
    items, total = await service.list_offers(
        actor,
        side=side,
        state=request.query_params.get("state", ""),
        page=page,
        per_page=per_page,
        counts=counts,
    )
    # The list read each offer's current terms; their authors are named too.
    terms = [o.current_terms for o in items if o.current_terms is not None]
    if terms:
        await OfferTerms.fetch_for_list(terms, "author")
    data = paged([offer_json(o, o.current_terms) for o in items], page, per_page, total)
    data["counts"] = counts
    return json_response(data)


@router.route(
    "/offers/{offer_id}", summary="One offer with its versions, its messages and what you may do"
)
async def show(request: Request) -> Response:
    view = await service.get_offer(await get_actor(request), request.path_params["offer_id"])
    return json_response(
        {
            "offer": offer_json(view.offer, view.terms),
            "state": str(view.offer.state),
            "side": view.side.value if view.side else None,
            "versions": [terms_json(v) for v in view.versions],
            "messages": [message_json(m) for m in view.messages],
            "actions": view.actions,
            "turn": view.turn,
            "contract_id": view.contract_id
            or await agreements.contract_id_for_offer(view.offer.id),
        }
    )


@router.route(
    "/offers/{offer_id}/counter",
    "POST",
    summary="Counter with new terms (the side whose turn it is)",
    body=OfferTermsIn,
)
async def counter(request: Request) -> Response:
    offer = await service.counter_offer(
        await get_actor(request),
        request.path_params["offer_id"],
        await body(request, OfferTermsIn),
    )
    return await _answer(offer)


@router.route(
    "/offers/{offer_id}/accept", "POST", summary="Accept the current terms (the side whose turn)"
)
async def accept(request: Request) -> Response:
    offer = await service.accept_offer(await get_actor(request), request.path_params["offer_id"])
    return await _answer(offer)


@router.route(
    "/offers/{offer_id}/reject",
    "POST",
    summary="Reject the offer (either side), with an optional reason",
    body=RejectIn,
)
async def reject(request: Request) -> Response:
    # The body is optional: an empty one reads as {} and the reason defaults to "".
    data = await body(request, RejectIn)
    offer = await service.reject_offer(
        await get_actor(request), request.path_params["offer_id"], data.reason
    )
    return await _answer(offer)


@router.route("/offers/{offer_id}/withdraw", "POST", summary="Withdraw an open offer (the buyer)")
async def withdraw(request: Request) -> Response:
    offer = await service.withdraw_offer(await get_actor(request), request.path_params["offer_id"])
    return await _answer(offer)


@router.route(
    "/offers/{offer_id}/messages",
    "POST",
    summary="Write to the other side of the offer",
    body=MessageIn,
    status=201,
)
async def message(request: Request) -> Response:
    posted = await service.post_message(
        await get_actor(request), request.path_params["offer_id"], await body(request, MessageIn)
    )
    await posted.fetch_related("author")
    return json_response({"message": message_json(posted)}, 201)


# --- an offer from a need's proposal ---------------------------------------------------------


@router.route(
    "/proposals/{proposal_id}/offer",
    "POST",
    body=FromProposalIn,
    status=201,
    summary="Turn a finalist proposal into an offer on one of its listings (terms left out "
    "come from the need)",
)
async def from_proposal(request: Request) -> Response:
    actor = await get_actor(request)
    data = await body(request, FromProposalIn)
    offer = await service.offer_from_proposal(actor, str(request.path_params["proposal_id"]), data)
    return await _answer(offer, 201)
