"""JSON endpoints for enquiries (see API.md, wave 2): ask about a listing, read the inbox and a
thread, write in it, close it. The offer made from an enquiry is the offer room's
(`POST /api/v1/enquiries/{id}/offer`, contracts/offers/api.py)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from listings import enquiries
from listings.models import Enquiry, EnquiryMessage, Listing
from listings.schemas import EnquiryIn
from market.accounts.models import Organization, User
from market.api import PAGE, PER_PAGE, ApiRouter, body, filter_of, paged
from market.web import get_actor, json_response, page_number, page_size

router = ApiRouter("enquiries")


def _named(row: Any, kind: type, name: str = "name") -> dict[str, Any] | None:
    """{id, name} of a related row, when the query fetched it (an unfetched relation is a
    query, not a row)."""
    if isinstance(row, kind):
        return {"id": str(row.id), name: getattr(row, name)}
    return None


def enquiry_json(enquiry: Enquiry) -> dict[str, Any]:
    return {
        "id": str(enquiry.id),
        "state": str(enquiry.state),
        "listing_id": str(enquiry.listing_id),  # type: ignore[attr-defined]
        "listing": _named(enquiry.listing, Listing, "title"),
        "buyer_id": str(enquiry.buyer_id),  # type: ignore[attr-defined]
        "buyer": _named(enquiry.buyer, Organization),
        "seller_id": str(enquiry.seller_id),  # type: ignore[attr-defined]
        "seller": _named(enquiry.seller, Organization),
        "closed_by": enquiry.closed_by or None,
        "created_at": enquiry.created_at.isoformat(),
        "updated_at": enquiry.updated_at.isoformat(),
    }


def message_json(message: EnquiryMessage) -> dict[str, Any]:
    author_id = message.author_id  # type: ignore[attr-defined]
    return {
        "id": str(message.id),
        "enquiry_id": str(message.enquiry_id),  # type: ignore[attr-defined]
        "side": str(message.side),
        "author_id": str(author_id) if author_id else None,
        "author": _named(message.author, User),
        "body": message.body,
        "created_at": message.created_at.isoformat(),
    }


async def _answer(enquiry: Enquiry, status: int = 200) -> Response:
    await enquiry.fetch_related("listing", "buyer", "seller")
    return json_response({"enquiry": enquiry_json(enquiry), "state": str(enquiry.state)}, status)


@router.route(
    "/listings/{listing_id}/enquiries",
    "POST",
    summary="Ask the institute a question about a published listing (no terms, binds nobody)",
    body=EnquiryIn,
    status=201,
)
async def ask(request: Request) -> Response:
    enquiry = await enquiries.ask(
        await get_actor(request), request.path_params["listing_id"], await body(request, EnquiryIn)
    )
    return await _answer(enquiry, 201)


@router.route(
    "/enquiries",
    summary="Enquiries your organisation asked (side=buyer) or was asked (side=seller)",
    query={"side": filter_of(enquiries.SIDES), "page": PAGE, "per_page": PER_PAGE},
)
async def index(request: Request) -> Response:
    page, per_page = page_number(request), page_size(request)
    items, total = await enquiries.list_enquiries(
        await get_actor(request),
        side=request.query_params.get("side", ""),
        page=page,
        per_page=per_page,
    )
    return json_response(paged([enquiry_json(e) for e in items], page, per_page, total))


@router.route("/enquiries/{enquiry_id}", summary="One enquiry with its messages")
async def show(request: Request) -> Response:
    view = await enquiries.get_enquiry(await get_actor(request), request.path_params["enquiry_id"])
    return json_response(
        {
            "enquiry": enquiry_json(view.enquiry),
            "state": str(view.enquiry.state),
            "side": view.side.value if view.side else None,
            "messages": [message_json(m) for m in view.messages],
            "actions": view.actions,
        }
    )


@router.route(
    "/enquiries/{enquiry_id}/messages",
    "POST",
    summary="Write in an open enquiry (either side)",
    body=EnquiryIn,
    status=201,
)
async def message(request: Request) -> Response:
    posted = await enquiries.post_message(
        await get_actor(request),
        request.path_params["enquiry_id"],
        await body(request, EnquiryIn),
    )
    await posted.fetch_related("author")
    return json_response({"message": message_json(posted)}, 201)


@router.route("/enquiries/{enquiry_id}/close", "POST", summary="Close the enquiry (either side)")
async def close(request: Request) -> Response:
    enquiry = await enquiries.close_enquiry(
        await get_actor(request), request.path_params["enquiry_id"]
    )
    return await _answer(enquiry)
