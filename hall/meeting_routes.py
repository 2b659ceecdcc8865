"""Pages of the hall's meetings: joining an event's meetings, the participant directory, the
request form, the request inbox (accept into a free slot, decline, withdraw) and one's
agenda (cancel, move, the `.ics` file). Each handler parses, calls one use case and renders;
a refusal comes back on the page the user acted from, with what they typed and why.

Every time is shown in the viewer's own zone (their participation's, else the event's), with
the other side's local time beside it."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from docking.models import Need, NeedState, Visibility
from hall import meetings, outcomes
from hall.meeting_schemas import ZONES, CancelIn, DeclineIn, JoinIn, RequestIn, SlotIn
from hall.models import Event, MeetingBlock, Participant
from listings.models import Listing, ListingState
from market.actor import Actor
from market.api import query_text
from market.errors import DomainError
from market.i18n import N_
from market.validation import parse
from market.web import (
    language,
    nest,
    page_number,
    read_form,
    redirect,
    render_form,
    require_login,
)

PER_PAGE = 20
# Refusals shown on the page the user acted from, with what they typed still there.
SHOWN_ON_PAGE = frozenset({403, 409, 422, 429})
ZONE_LIST = sorted(ZONES)


def local_time(moment: datetime | None, zone: str) -> str:
    if moment is None:
        return ""
    return moment.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M")


def event_name(event: Event, lang: str) -> str:
    return event.name_zh if lang == "zh" and event.name_zh else event.name


# A request's state in words (marked for extraction; the page translates them).
STATE_WORDS = {
    "pending": N_("pending"),
    "accepted": N_("accepted"),
    "declined": N_("declined"),
    "cancelled": N_("cancelled"),
    "expired": N_("expired"),
}
HELPERS: dict[str, Any] = {"local_time": local_time, "state_words": STATE_WORDS}


def _event_id(request: Request) -> str:
    return str(request.path_params["event_id"])


def _zone_of(me: Participant | None, event: Event) -> str:
    return me.timezone if me is not None else event.timezone


async def _page(
    request: Request,
    actor: Actor,
    template: str,
    event: Event,
    context: dict[str, Any],
    error: DomainError | None = None,
) -> Response:
    lang = language(request, actor)
    base = {**HELPERS, "event": event, "event_name": event_name(event, lang)}
    return await render_form(request, template, {**base, **context}, error=error)


def _refused(exc: DomainError) -> bool:
    return exc.status in SHOWN_ON_PAGE


# --- joining ---------------------------------------------------------------------------------


async def join(request: Request) -> Response:
    actor = await require_login(request)
    event = await meetings.get_event(actor, _event_id(request))
    me = await meetings.participant_of(actor, event)
    blocks = list(await MeetingBlock.filter(event_id=event.id).order_by("starts_at"))
    if request.method == "GET":
        values: dict[str, Any] = {
            "timezone": me.timezone if me else event.timezone,
            "about": me.about if me else "",
            "block_ids": (await meetings.blocks_of([me.id]))[str(me.id)] if me else [],
        }
        return await _join_page(request, actor, event, me, blocks, values)
    form = await read_form(request)
    values = {
        "timezone": str(form.get("timezone", "")),
        "about": str(form.get("about", "")),
        "block_ids": [str(v) for v in form.getlist("block_ids")],
    }
    try:
        await meetings.join(actor, str(event.id), parse(JoinIn, values))
    except DomainError as exc:
        if not _refused(exc):
            raise
        return await _join_page(request, actor, event, me, blocks, values, exc)
    return redirect(f"/events/{event.id}/participants", "You take part in the event's meetings.")


async def _join_page(
    request: Request,
    actor: Actor,
    event: Event,
    me: Participant | None,
    blocks: list[MeetingBlock],
    values: dict[str, Any],
    error: DomainError | None = None,
) -> Response:
    return await _page(
        request,
        actor,
        "hall/meetings/join.html",
        event,
        {
            "me": me,
            "blocks": blocks,
            "zones": {z: z for z in ZONE_LIST},
            # What was typed is shown back in the form, never used to show times.
            "zone": me.timezone if me else event.timezone,
            "values": values,
        },
        error,
    )


# --- the directory ---------------------------------------------------------------------------


async def directory(request: Request) -> Response:
    actor = await require_login(request)
    page = page_number(request)
    q = query_text(request, "q", 200)
    event, items, total = await meetings.directory(
        actor, _event_id(request), q=q, page=page, per_page=PER_PAGE
    )
    me = await meetings.participant_of(actor, event)
    return await _page(
        request,
        actor,
        "hall/meetings/directory.html",
        event,
        {
            "me": me,
            "participants": items,
            "total": total,
            "page": page,
            "per_page": PER_PAGE,
            "q": q,
            "zone": _zone_of(me, event),
        },
    )


# --- asking ----------------------------------------------------------------------------------


async def _topics(orgs: list[Any]) -> tuple[list[Listing], list[Need]]:
    """What a request may be about: both sides' published listings and open needs (never an
    anonymous one, which would name its seeker to the other side)."""
    listings = await Listing.filter(institute_id__in=orgs, state=ListingState.PUBLISHED).order_by(
        "title"
    )
    needs = (
        await Need.filter(seeker_id__in=orgs, state=NeedState.PUBLISHED)
        .exclude(visibility=Visibility.ANONYMOUS)
        .order_by("title")
    )
    return list(listings), list(needs)


async def ask(request: Request) -> Response:
    actor = await require_login(request)
    event = await meetings.get_event(actor, _event_id(request))
    guest = await meetings.get_participant(actor, event, str(request.path_params["participant_id"]))
    values: dict[str, Any] = {"message": "", "listing_ids": [], "need_ids": []}
    error = None
    if request.method == "POST":
        form = await read_form(request)
        values = {
            "guest_participant_id": str(guest.id),
            "message": str(form.get("message", "")),
            "listing_ids": [str(v) for v in form.getlist("listing_ids")],
            "need_ids": [str(v) for v in form.getlist("need_ids")],
        }
        try:
            made = await meetings.request_meeting(actor, str(event.id), parse(RequestIn, values))
        except DomainError as exc:
            if not _refused(exc):
                raise
            error = exc
        else:
            if str(made.state) == "accepted":
                return redirect(f"/events/{event.id}/meetings", "Your meeting is booked.")
            return redirect(f"/events/{event.id}/requests", "Your request is sent.")
    me = await meetings.participant_of(actor, event)
    orgs = [guest.organization_id] + ([me.organization_id] if me else [])  # type: ignore[attr-defined]
    listings, needs = await _topics(orgs)
    shared = await meetings.shared_blocks(me, guest) if me else []
    # Before asking: which listings have already granted what an exclusive scope needs.
    warned = await outcomes.exclusive_warnings([str(x.id) for x in listings])
    return await _page(
        request,
        actor,
        "hall/meetings/request.html",
        event,
        {
            "me": me,
            "guest": guest,
            "listings": listings,
            "needs": needs,
            "shared": shared,
            "warnings": {str(w.listing.id): [w] for w in warned},
            "zone": _zone_of(me, event),
            "values": values,
        },
        error,
    )


# --- the inbox -------------------------------------------------------------------------------


async def inbox(request: Request) -> Response:
    actor = await require_login(request)
    return await _inbox(request, actor, _event_id(request))


async def _inbox(
    request: Request,
    actor: Actor,
    event_id: str,
    *,
    error: DomainError | None = None,
    values: dict[str, Any] | None = None,
) -> Response:
    event = await meetings.get_event(actor, event_id)
    me = await meetings.participant_of(actor, event)
    received, sent = await meetings.requests_of(me) if me else ([], [])
    slots: dict[str, list[tuple[str, str, str]]] = {}
    for r in received:
        if str(r.state) == "pending" and me is not None:
            free = await meetings.free_slots(event, me, r.requester)
            slots[str(r.id)] = [
                (
                    start.isoformat(),
                    local_time(start, me.timezone),
                    local_time(start, r.requester.timezone),
                )
                for _, start in free
            ]
    return await _page(
        request,
        actor,
        "hall/meetings/inbox.html",
        event,
        {
            "me": me,
            "received": received,
            "sent": sent,
            "slots": slots,
            "zone": _zone_of(me, event),
            "values": values or {},
        },
        error,
    )


async def _decide(request: Request, action: str) -> Response:
    actor = await require_login(request)
    form = nest(await read_form(request))
    request_id = str(request.path_params["request_id"])
    found = await meetings.get_request(actor, request_id)
    event_id = str(found.event.id)
    values = {"request_id": request_id, **{k: str(v) for k, v in form.items()}}
    try:
        if action == "accept":
            slot = parse(SlotIn, {"slot_start": form.get("slot_start", "")}).slot_start
            await meetings.accept(actor, request_id, slot)
            notice = N_("The meeting is booked.")
        elif action == "decline":
            reason = parse(DeclineIn, {"reason": form.get("reason", "")}).reason
            await meetings.decline(actor, request_id, reason)
            notice = N_("The request is declined.")
        else:
            reason = parse(CancelIn, {"reason": form.get("reason", "")}).reason
            await meetings.cancel(actor, request_id, reason)
            notice = N_("The request is cancelled.")
    except DomainError as exc:
        if not _refused(exc):
            raise
        if action == "cancel" and request.query_params.get("from") == "agenda":
            return await _agenda(request, actor, event_id, error=exc, values=values)
        return await _inbox(request, actor, event_id, error=exc, values=values)
    target = "meetings" if action == "accept" or request.query_params.get("from") else "requests"
    return redirect(f"/events/{event_id}/{target}", notice)


async def accept(request: Request) -> Response:
    return await _decide(request, "accept")


async def decline(request: Request) -> Response:
    return await _decide(request, "decline")


async def cancel(request: Request) -> Response:
    return await _decide(request, "cancel")


# --- the agenda ------------------------------------------------------------------------------


async def agenda(request: Request) -> Response:
    actor = await require_login(request)
    return await _agenda(request, actor, _event_id(request))


async def _agenda(
    request: Request,
    actor: Actor,
    event_id: str,
    *,
    error: DomainError | None = None,
    values: dict[str, Any] | None = None,
) -> Response:
    event, me, found = await meetings.my_agenda(actor, event_id)
    rows = []
    for m in found:
        other = meetings.other_side(m.request, me)
        free = await meetings.free_slots(event, me, other) if str(m.state) == "scheduled" else []
        rows.append(
            {
                "meeting": m,
                "other": other,
                "mine": local_time(m.starts_at, me.timezone),
                "mine_end": local_time(m.ends_at, me.timezone),
                "theirs": local_time(m.starts_at, other.timezone),
                "slots": [
                    (s.isoformat(), local_time(s, me.timezone), local_time(s, other.timezone))
                    for _, s in free
                ],
            }
        )
    return await _page(
        request,
        actor,
        "hall/meetings/agenda.html",
        event,
        {"me": me, "rows": rows, "zone": me.timezone, "values": values or {}},
        error,
    )


async def reschedule(request: Request) -> Response:
    actor = await require_login(request)
    form = nest(await read_form(request))
    meeting = await meetings.get_meeting(actor, str(request.path_params["meeting_id"]))
    event_id = str(meeting.event.id)
    values = {"meeting_id": str(meeting.id), "slot_start": str(form.get("slot_start", ""))}
    try:
        slot = parse(SlotIn, {"slot_start": form.get("slot_start", "")}).slot_start
        await meetings.reschedule(actor, str(meeting.id), slot)
    except DomainError as exc:
        if not _refused(exc):
            raise
        return await _agenda(request, actor, event_id, error=exc, values=values)
    return redirect(f"/events/{event_id}/meetings", "The meeting is moved.")


routes: list[BaseRoute] = [
    Route("/events/{event_id:uuid}/join", join, methods=["GET", "POST"]),
    Route("/events/{event_id:uuid}/participants", directory),
    Route(
        "/events/{event_id:uuid}/participants/{participant_id:uuid}/request",
        ask,
        methods=["GET", "POST"],
    ),
    Route("/events/{event_id:uuid}/requests", inbox),
    Route("/events/{event_id:uuid}/meetings", agenda),
    Route("/meeting-requests/{request_id:uuid}/accept", accept, methods=["POST"]),
    Route("/meeting-requests/{request_id:uuid}/decline", decline, methods=["POST"]),
    Route("/meeting-requests/{request_id:uuid}/cancel", cancel, methods=["POST"]),
    Route("/meetings/{meeting_id:uuid}/reschedule", reschedule, methods=["POST"]),
]
