"""JSON endpoints of the hall's meetings (API.md, wave 2 "exhibition hall"): joining an event's
meetings, its participant directory, requests and their answers, one's meetings and the
`.ics` agenda. Times are UTC; a meeting seen by one of its sides also carries that side's
local start and the other side's (`local_start`, `their_local_start`)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from hall import agenda, meetings
from hall.meeting_schemas import CancelIn, DeclineIn, JoinIn, RequestIn, SlotIn
from hall.models import Meeting, MeetingRequest, Participant
from market.actor import Actor
from market.api import PAGE, PER_PAGE, ApiRouter, body, paged, query_text, text
from market.web import get_actor, json_response, language, page_number, page_size, settings_of

router = ApiRouter("meetings")
Q_MAX = 200


def _event_id(request: Request) -> str:
    return str(request.path_params["event_id"])


async def _viewer(actor: Actor, row: MeetingRequest) -> Participant | None:
    """The side of the request the actor is, if one (an organiser is neither)."""
    for side in (row.requester, row.guest):
        if actor.user is not None and side.user_id == actor.user.id:  # type: ignore[attr-defined]
            return side
    return None


async def _request_answer(actor: Actor, row: MeetingRequest, status: int = 200) -> Response:
    data: dict[str, Any] = {"request": meetings.request_json(row), "state": str(row.state)}
    booked = await Meeting.get_or_none(request_id=row.id)
    if booked is not None:
        meeting = await meetings.load_meeting(booked.id)
        data["meeting"] = meetings.meeting_json(meeting, await _viewer(actor, row))
    return json_response(data, status)


@router.route(
    "/events/{event_id}/participants",
    "POST",
    body=JoinIn,
    status=201,
    summary="Join an event's meetings as the current user: your blocks and time zone "
    "(again: change them)",
)
async def join(request: Request) -> Response:
    actor = await get_actor(request)
    participant = await meetings.join(actor, _event_id(request), await body(request, JoinIn))
    blocks = await meetings.blocks_of([participant.id])
    return json_response(
        {"participant": meetings.participant_json(participant, blocks[str(participant.id)])}, 201
    )


@router.route(
    "/events/{event_id}/participants",
    summary="The event's participants, found by name, organisation or what they wrote",
    query={"q": text(Q_MAX), "page": PAGE, "per_page": PER_PAGE},
)
async def participants(request: Request) -> Response:
    actor = await get_actor(request)
    page, per_page = page_number(request), page_size(request)
    _, items, total = await meetings.directory(
        actor,
        _event_id(request),
        q=query_text(request, "q", Q_MAX),
        page=page,
        per_page=per_page,
    )
    blocks = await meetings.blocks_of([p.id for p in items])
    views = [meetings.participant_json(p, blocks[str(p.id)]) for p in items]
    return json_response(paged(views, page, per_page, total))


@router.route(
    "/events/{event_id}/meeting-requests",
    "POST",
    body=RequestIn,
    status=201,
    summary="Ask another participant for a meeting (booked at once if the event needs no "
    "acceptance)",
)
async def ask(request: Request) -> Response:
    actor = await get_actor(request)
    made = await meetings.request_meeting(actor, _event_id(request), await body(request, RequestIn))
    return await _request_answer(actor, made, 201)


@router.route(
    "/events/{event_id}/meeting-requests",
    summary="Your meeting requests at an event: those you received and those you sent",
)
async def my_requests(request: Request) -> Response:
    actor = await get_actor(request)
    event = await meetings.get_event(actor, _event_id(request))
    me = await meetings.participant_of(actor, event)
    received, sent = await meetings.requests_of(me) if me is not None else ([], [])
    return json_response(
        {
            "received": [meetings.request_json(r) for r in received],
            "sent": [meetings.request_json(r) for r in sent],
        }
    )


def _request_id(request: Request) -> str:
    return str(request.path_params["request_id"])


@router.route("/meeting-requests/{request_id}", summary="One meeting request (its two sides)")
async def show_request(request: Request) -> Response:
    actor = await get_actor(request)
    return await _request_answer(actor, await meetings.get_request(actor, _request_id(request)))


@router.route(
    "/meeting-requests/{request_id}/accept",
    "POST",
    body=SlotIn,
    summary="Accept a request into a slot both sides share (its start, UTC)",
)
async def accept(request: Request) -> Response:
    actor = await get_actor(request)
    data = await body(request, SlotIn)
    meeting = await meetings.accept(actor, _request_id(request), data.slot_start)
    return await _request_answer(actor, await meetings.load_request(meeting.request.id))


@router.route(
    "/meeting-requests/{request_id}/decline",
    "POST",
    body=DeclineIn,
    summary="Decline a request, with an optional reason",
)
async def decline(request: Request) -> Response:
    actor = await get_actor(request)
    data = await body(request, DeclineIn)
    row = await meetings.decline(actor, _request_id(request), data.reason)
    return await _request_answer(actor, row)


@router.route(
    "/meeting-requests/{request_id}/cancel",
    "POST",
    body=CancelIn,
    summary="Withdraw a pending request, or cancel an accepted one's meeting (its slot is freed)",
)
async def cancel(request: Request) -> Response:
    actor = await get_actor(request)
    data = await body(request, CancelIn)
    row = await meetings.cancel(actor, _request_id(request), data.reason)
    return await _request_answer(actor, row)


@router.route(
    "/events/{event_id}/schedule-meetings",
    "POST",
    summary="Organisers: book every pending request into the first slot both sides have free",
)
async def schedule(request: Request) -> Response:
    actor = await get_actor(request)
    booked, left = await meetings.schedule_pending(actor, _event_id(request))
    return json_response({"booked": booked, "left": left})


@router.route(
    "/events/{event_id}/meetings",
    summary="Your meetings at an event, earliest first, in UTC with your local time and theirs",
)
async def my_meetings(request: Request) -> Response:
    actor = await get_actor(request)
    _, me, found = await meetings.my_agenda(actor, _event_id(request))
    return json_response({"items": [meetings.meeting_json(m, me) for m in found]})


@router.route(
    "/meetings/{meeting_id}/reschedule",
    "POST",
    body=SlotIn,
    summary="Move a meeting to another slot both sides share",
)
async def reschedule(request: Request) -> Response:
    actor = await get_actor(request)
    data = await body(request, SlotIn)
    meeting = await meetings.reschedule(
        actor, str(request.path_params["meeting_id"]), data.slot_start
    )
    return await _request_answer(actor, await meetings.load_request(meeting.request.id))


@router.route(
    "/events/{event_id}/agenda.ics",
    summary="Your meetings at an event as an iCalendar file",
    produces="text/calendar",
)
async def agenda_file(request: Request) -> Response:
    actor = await get_actor(request)
    event, me, found = await meetings.my_agenda(actor, _event_id(request))
    content = agenda.agenda(
        event,
        me,
        found,
        lang=language(request, actor),
        base_url=settings_of(request).base_url,
    )
    return Response(
        content,
        media_type="text/calendar",
        headers={"Content-Disposition": f'attachment; filename="agenda-{event.id}.ics"'},
    )
