"""JSON endpoints for listings and their moderation (see API.md)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from listings import ipc, service
from listings.models import Listing, ListingRevision, ListingState
from listings.schemas import ListingIn, ListingPatch
from market.accounts.models import Organization
from market.accounts.schemas import ReasonIn
from market.api import FLAG, PAGE, PER_PAGE, ApiRouter, body, filter_of, flag, paged
from market.web import get_actor, json_response, page_number, page_size

router = ApiRouter("listings")


def listing_json(listing: Listing) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": str(listing.id),
        "institute_id": str(listing.institute_id),  # type: ignore[attr-defined]
        "title": listing.title,
        "summary": listing.summary,
        "description": listing.description,
        "kind": str(listing.kind),
        "patent_numbers": listing.patent_numbers,
        "ipc_codes": listing.ipc_codes,
        "ipc": [{"code": code, "title": ipc.title(code)} for code in listing.ipc_codes],
        "trl": listing.trl,
        "keywords": listing.keywords,
        "inventors": listing.inventors,
        "license_types": listing.license_types,
        "territories": listing.territories,
        "fields_of_use": listing.fields_of_use,
        "price_model": listing.price_model,
        "asking_price": service.asking_price(listing),
        "language": listing.language,
        "contact_name": listing.contact_name,
        "contact_email": listing.contact_email,
        "state": str(listing.state),
        "rejection_reason": listing.rejection_reason,
        "version": listing.version,
        "view_count": listing.view_count,
        "created_at": listing.created_at.isoformat(),
        "updated_at": listing.updated_at.isoformat(),
        "published_at": listing.published_at.isoformat() if listing.published_at else None,
    }
    # Present only when the query fetched it (lists prefetch it, in one query).
    institute = listing.institute
    if isinstance(institute, Organization):
        data["institute"] = {
            "id": str(institute.id),
            "name": institute.name,
            "country": institute.country,
        }
    return data


def revision_json(revision: ListingRevision | None) -> dict[str, Any] | None:
    if revision is None:
        return None
    return {
        "id": str(revision.id),
        "listing_id": str(revision.listing_id),  # type: ignore[attr-defined]
        "changes": revision.changes,
        "state": str(revision.state),
        "reason": revision.reason,
        "created_at": revision.created_at.isoformat(),
    }


@router.route("/listings", "POST", summary="Create a draft listing", body=ListingIn, status=201)
async def create(request: Request) -> Response:
    listing = await service.create_listing(await get_actor(request), await body(request, ListingIn))
    return json_response({"listing": listing_json(listing), "state": str(listing.state)}, 201)


@router.route(
    "/listings",
    summary="Published listings, or your institute's with mine=1",
    auth=False,
    query={"mine": FLAG, "state": filter_of(ListingState), "page": PAGE, "per_page": PER_PAGE},
)
async def index(request: Request) -> Response:
    page, per_page = page_number(request), page_size(request)
    items, total = await service.list_listings(
        await get_actor(request),
        mine=flag(request, "mine"),
        state=request.query_params.get("state") or None,
        page=page,
        per_page=per_page,
    )
    return json_response(paged([listing_json(x) for x in items], page, per_page, total))


@router.route(
    "/listings/{listing_id}", summary="One listing (unpublished: owner and admins)", auth=False
)
async def show(request: Request) -> Response:
    actor = await get_actor(request)
    listing = await service.get_listing(actor, request.path_params["listing_id"])
    data: dict[str, Any] = {"listing": listing_json(listing), "state": str(listing.state)}
    if service.roles_on(actor, listing) & {"member", "admin"}:
        data["pending_revision"] = revision_json(await service.pending_revision(listing))
        data["actions"] = service.actions_for(actor, listing)
    return json_response(data)


@router.route(
    "/listings/{listing_id}",
    "PATCH",
    body=ListingPatch,
    summary="Edit; on a published listing substance changes wait for review",
)
async def update(request: Request) -> Response:
    listing, revision = await service.update_listing(
        await get_actor(request),
        request.path_params["listing_id"],
        await body(request, ListingPatch),
    )
    return json_response({"listing": listing_json(listing), "revision": revision_json(revision)})


@router.route("/listings/{listing_id}/submit", "POST", summary="Submit for moderation")
async def submit(request: Request) -> Response:
    listing = await service.submit_listing(
        await get_actor(request), request.path_params["listing_id"]
    )
    return json_response({"listing": listing_json(listing), "state": str(listing.state)})


@router.route("/listings/{listing_id}/withdraw", "POST", summary="Withdraw a published listing")
async def withdraw(request: Request) -> Response:
    listing = await service.withdraw_listing(
        await get_actor(request), request.path_params["listing_id"]
    )
    return json_response({"listing": listing_json(listing), "state": str(listing.state)})


@router.route(
    "/admin/listings",
    summary="The moderation queue",
    query={"state": filter_of(ListingState), "page": PAGE},
)
async def queue(request: Request) -> Response:
    page = page_number(request)
    items, total = await service.moderation_queue(
        await get_actor(request),
        state=request.query_params.get("state") or "submitted",
        page=page,
    )
    return json_response(paged([listing_json(x) for x in items], page, 50, total))


@router.route("/admin/listings/{listing_id}/approve", "POST", summary="Publish a listing")
async def approve(request: Request) -> Response:
    listing = await service.approve_listing(
        await get_actor(request), request.path_params["listing_id"]
    )
    return json_response({"listing": listing_json(listing), "state": str(listing.state)})


@router.route(
    "/admin/listings/{listing_id}/reject",
    "POST",
    body=ReasonIn,
    summary="Reject a listing, with the reason",
)
async def reject(request: Request) -> Response:
    data = await body(request, ReasonIn)
    listing = await service.reject_listing(
        await get_actor(request), request.path_params["listing_id"], data.reason
    )
    return json_response({"listing": listing_json(listing), "state": str(listing.state)})


@router.route("/admin/revisions", summary="Pending revisions of published listings")
async def revisions(request: Request) -> Response:
    items = await service.revision_queue(await get_actor(request))
    return json_response({"items": [revision_json(r) for r in items]})


@router.route("/admin/revisions/{revision_id}/approve", "POST", summary="Apply a revision")
async def approve_revision(request: Request) -> Response:
    listing = await service.approve_revision(
        await get_actor(request), request.path_params["revision_id"]
    )
    return json_response({"listing": listing_json(listing)})


@router.route(
    "/admin/revisions/{revision_id}/reject",
    "POST",
    body=ReasonIn,
    summary="Refuse a revision, with the reason",
)
async def reject_revision(request: Request) -> Response:
    data = await body(request, ReasonIn)
    revision = await service.reject_revision(
        await get_actor(request), request.path_params["revision_id"], data.reason
    )
    return json_response({"revision": revision_json(revision)})
