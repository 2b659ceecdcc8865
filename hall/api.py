"""JSON endpoints for events, their blocks and pavilions, booths, and the organiser role (see
API.md, wave 2 "exhibition hall"). Meetings have their own (hall/meetings_api.py)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from hall import service
from hall.models import Booth, BoothState, Event, EventState, MeetingBlock, Pavilion
from hall.schemas import BlockIn, BoothIn, EventIn, EventPatch, GrantIn, PavilionIn
from market.accounts.schemas import ReasonIn
from market.actor import Actor
from market.api import (
    FLAG,
    PAGE,
    PER_PAGE,
    UUID,
    ApiRouter,
    body,
    filter_of,
    flag,
    paged,
    query_text,
    text,
)
from market.web import get_actor, json_response, page_number, page_size

router = ApiRouter("events")
Q_MAX = 200


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date | datetime) else value


def event_json(event: Event) -> dict[str, Any]:
    data = {name: _iso(value) for name, value in service.as_input(event).items()}
    org = event.organiser
    data.update(
        {
            "id": str(event.id),
            "state": str(event.state),
            "organiser": {"id": str(org.id), "name": org.name, "slug": org.slug},
            "created_at": _iso(event.created_at),
            "updated_at": _iso(event.updated_at),
        }
    )
    return data


def block_json(block: MeetingBlock) -> dict[str, Any]:
    return {
        "id": str(block.id),
        "starts_at": _iso(block.starts_at),
        "ends_at": _iso(block.ends_at),
        "mode": str(block.mode),
        "tables": block.tables,
    }


def pavilion_json(pavilion: Pavilion) -> dict[str, Any]:
    return {
        "id": str(pavilion.id),
        "name": pavilion.name,
        "name_zh": pavilion.name_zh,
        "position": pavilion.position,
    }


def booth_json(booth: Booth, *, insider: bool = False) -> dict[str, Any]:
    org = booth.organization
    data: dict[str, Any] = {
        "id": str(booth.id),
        "event_id": str(booth.event_id),  # type: ignore[attr-defined]
        "pavilion_id": str(booth.pavilion_id),  # type: ignore[attr-defined]
        "organization": {"id": str(org.id), "name": org.name, "slug": org.slug},
        "state": str(booth.state),
        "headline": booth.headline,
        "headline_zh": booth.headline_zh,
        "video_url": booth.video_url,
        "listing_ids": list(booth.listing_ids),
        "need_ids": list(booth.need_ids),
        "attendee_ids": list(booth.attendee_ids),
        "brochures": [
            {"title": b.get("title", ""), "url": f"/booths/{booth.id}/brochures/{i}"}
            for i, b in enumerate(booth.brochures)
        ],
    }
    if insider:
        data["rejection_reason"] = booth.rejection_reason
    return data


async def _event_answer(actor: Actor, event: Event, status: int = 200) -> Response:
    data: dict[str, Any] = {
        "event": event_json(event),
        "state": str(event.state),
        "blocks": [block_json(b) for b in await service.blocks_of(event)],
        "pavilions": [pavilion_json(p) for p in await service.pavilions_of(event)],
    }
    if service.is_organiser(actor, event):
        data["actions"] = service.event_actions(actor, event)
    return json_response(data, status)


def _booth_answer(actor: Actor, booth: Booth, event: Event, status: int = 200) -> Response:
    actions = service.booth_actions(actor, booth, event)
    insider = bool(
        service.booth_roles_with(actor, booth, event.organiser_id)  # type: ignore[attr-defined]
        & {"organiser", "admin", "exhibitor"}
    )
    data: dict[str, Any] = {"booth": booth_json(booth, insider=insider), "state": str(booth.state)}
    if insider:
        data["actions"] = actions
    return json_response(data, status)


def _event_id(request: Request) -> str:
    return str(request.path_params["event_id"])


@router.route(
    "/events",
    "POST",
    body=EventIn,
    status=201,
    summary="Create a draft event (administrators and organisers)",
)
async def create(request: Request) -> Response:
    actor = await get_actor(request)
    event = await service.create_event(actor, await body(request, EventIn))
    return await _event_answer(actor, event, 201)


@router.route(
    "/events",
    auth=False,
    summary="Public events, soonest first (or your organisation's with mine=1)",
    query={
        "q": text(Q_MAX),
        "mine": FLAG,
        "state": filter_of(EventState),
        "page": PAGE,
        "per_page": PER_PAGE,
    },
)
async def index(request: Request) -> Response:
    actor = await get_actor(request)
    page, per_page = page_number(request), page_size(request)
    items, total = await service.list_events(
        actor,
        q=query_text(request, "q", Q_MAX),
        mine=flag(request, "mine"),
        state=request.query_params.get("state") or None,
        page=page,
        per_page=per_page,
    )
    return json_response(paged([event_json(e) for e in items], page, per_page, total))


@router.route("/events/{event_id}", auth=False, summary="One event, its blocks and pavilions")
async def show(request: Request) -> Response:
    actor = await get_actor(request)
    return await _event_answer(actor, await service.get_event(actor, _event_id(request)))


@router.route("/events/{event_id}", "PATCH", body=EventPatch, summary="Edit an event")
async def update(request: Request) -> Response:
    actor = await get_actor(request)
    patch = await body(request, EventPatch)
    return await _event_answer(actor, await service.update_event(actor, _event_id(request), patch))


def _mover(action: str, summary: str) -> None:
    path = "/events/{event_id}/" + action.replace("_", "-")

    async def move(request: Request) -> Response:
        actor = await get_actor(request)
        mover = getattr(service, MOVERS[action])
        return await _event_answer(actor, await mover(actor, _event_id(request)))

    move.__name__ = action
    router.route(path, "POST", summary=summary)(move)


MOVERS = {
    "publish": "publish_event",
    "open_booking": "open_booking",
    "start": "start_event",
    "close": "close_event",
}
_mover("publish", "Publish a draft event")
_mover("open_booking", "Open a published event for booking")
_mover("start", "Start an event")
_mover("close", "Close an event")


@router.route(
    "/events/{event_id}/blocks", "POST", body=BlockIn, status=201, summary="Add a meeting block"
)
async def add_block(request: Request) -> Response:
    actor = await get_actor(request)
    block = await service.add_block(actor, _event_id(request), await body(request, BlockIn))
    return json_response({"block": block_json(block)}, 201)


@router.route(
    "/blocks/{block_id}",
    "PUT",
    body=BlockIn,
    summary="Change a meeting block (refused while meetings sit in the slots it would lose)",
)
async def change_block(request: Request) -> Response:
    actor = await get_actor(request)
    data = await body(request, BlockIn)
    block = await service.update_block(actor, str(request.path_params["block_id"]), data)
    return json_response({"block": block_json(block)})


@router.route("/blocks/{block_id}", "DELETE", summary="Remove a meeting block nobody booked in")
async def remove_block(request: Request) -> Response:
    actor = await get_actor(request)
    await service.remove_block(actor, str(request.path_params["block_id"]))
    return json_response({"removed": True})


@router.route(
    "/events/{event_id}/pavilions", "POST", body=PavilionIn, status=201, summary="Add a pavilion"
)
async def add_pavilion(request: Request) -> Response:
    actor = await get_actor(request)
    pavilion = await service.add_pavilion(
        actor, _event_id(request), await body(request, PavilionIn)
    )
    return json_response({"pavilion": pavilion_json(pavilion)}, 201)


@router.route("/pavilions/{pavilion_id}", "PUT", body=PavilionIn, summary="Rename a pavilion")
async def change_pavilion(request: Request) -> Response:
    actor = await get_actor(request)
    data = await body(request, PavilionIn)
    pavilion = await service.update_pavilion(actor, str(request.path_params["pavilion_id"]), data)
    return json_response({"pavilion": pavilion_json(pavilion)})


@router.route(
    "/events/{event_id}/booths",
    "POST",
    body=BoothIn,
    status=201,
    summary="Apply for a booth for your organisation",
)
async def apply_for_booth(request: Request) -> Response:
    actor = await get_actor(request)
    booth = await service.apply_for_booth(actor, _event_id(request), await body(request, BoothIn))
    return _booth_answer(actor, booth, booth.event, 201)


@router.route(
    "/events/{event_id}/booths",
    auth=False,
    summary="An event's booths (approved; organisers may ask for another state)",
    query={
        "q": text(Q_MAX),
        "pavilion_id": {"anyOf": [UUID, {"type": "string", "enum": [""]}]},
        "state": filter_of(BoothState),
        "page": PAGE,
        "per_page": PER_PAGE,
    },
)
async def booths(request: Request) -> Response:
    actor = await get_actor(request)
    event = await service.get_event(actor, _event_id(request))
    page, per_page = page_number(request), page_size(request)
    items, total = await service.list_booths(
        actor,
        event,
        q=query_text(request, "q", Q_MAX),
        pavilion_id=request.query_params.get("pavilion_id") or None,
        state=request.query_params.get("state") or None,
        page=page,
        per_page=per_page,
    )
    return json_response(paged([booth_json(b) for b in items], page, per_page, total))


def _booth_id(request: Request) -> str:
    return str(request.path_params["booth_id"])


@router.route("/booths/{booth_id}", auth=False, summary="One booth")
async def booth(request: Request) -> Response:
    actor = await get_actor(request)
    found, event = await service.get_booth(actor, _booth_id(request))
    return _booth_answer(actor, found, event)


@router.route("/booths/{booth_id}", "PUT", body=BoothIn, summary="Change what a booth shows")
async def change_booth(request: Request) -> Response:
    actor = await get_actor(request)
    found = await service.update_booth(actor, _booth_id(request), await body(request, BoothIn))
    return _booth_answer(actor, found, found.event)


@router.route("/booths/{booth_id}/approve", "POST", summary="Approve a booth (organisers)")
async def approve(request: Request) -> Response:
    actor = await get_actor(request)
    found = await service.approve_booth(actor, _booth_id(request))
    return _booth_answer(actor, found, found.event)


@router.route(
    "/booths/{booth_id}/reject", "POST", body=ReasonIn, summary="Reject a booth, with the reason"
)
async def reject(request: Request) -> Response:
    actor = await get_actor(request)
    data = await body(request, ReasonIn)
    found = await service.reject_booth(actor, _booth_id(request), data.reason)
    return _booth_answer(actor, found, found.event)


@router.route("/booths/{booth_id}/withdraw", "POST", summary="Withdraw a booth")
async def withdraw(request: Request) -> Response:
    actor = await get_actor(request)
    found = await service.withdraw_booth(actor, _booth_id(request))
    return _booth_answer(actor, found, found.event)


@router.route(
    "/admin/organizations/{org_id}/organiser",
    "POST",
    body=GrantIn,
    summary="Grant (or withdraw) an organisation the organiser role",
)
async def grant(request: Request) -> Response:
    actor = await get_actor(request)
    data = await body(request, GrantIn)
    org = await service.grant_organiser(
        actor, str(request.path_params["org_id"]), data.organises_events
    )
    return json_response(
        {
            "organization": {"id": str(org.id), "name": org.name},
            "organises_events": org.organises_events,
        }
    )
