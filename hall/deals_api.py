"""JSON endpoints of what follows a meeting (API.md, wave 2 "exhibition hall"): its outcome,
the offer made from it, its card with the live rights of its listings, and the organiser's
figures of an event (JSON and CSV) with the reminder to participants with no meeting."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from contracts.offers import service as offers
from contracts.offers.api import offer_json
from contracts.offers.models import Offer
from hall import outcomes, stats
from hall.deal_schemas import FromMeetingIn, OutcomeIn, RemindIn
from hall.models import MeetingOutcome
from market.actor import Actor
from market.api import UUID, ApiRouter, body
from market.errors import DomainError, ValidationFailed
from market.i18n import Msg
from market.validation import object_id
from market.web import get_actor, json_response

router = ApiRouter("hall_deals")


def _meeting_id(request: Request) -> str:
    return str(request.path_params["meeting_id"])


def _event_id(request: Request) -> str:
    return str(request.path_params["event_id"])


def outcome_json(outcome: MeetingOutcome, card: outcomes.MeetingCard) -> dict[str, Any]:
    requester, _ = outcomes.sides(card.meeting)
    mine = card.me is not None and str(card.me.id) == str(outcome.participant_id)  # type: ignore[attr-defined]
    return {
        "participant_id": str(outcome.participant_id),  # type: ignore[attr-defined]
        "side": "requester" if str(outcome.participant_id) == str(requester.id) else "guest",  # type: ignore[attr-defined]
        "outcome": str(outcome.outcome),
        # A side's note is its own: the other side and the organiser see what, not why.
        "note": outcome.note if mine else None,
        "recorded_at": outcome.recorded_at.isoformat(),
    }


def rights_json(item: outcomes.ListingRights) -> dict[str, Any]:
    return {
        "id": str(item.listing.id),
        "title": item.listing.title,
        "state": str(item.listing.state),
        "availability": [
            {"license_type": a.license_type, "status": a.status} for a in item.availability
        ],
        "exclusive_taken": [a.license_type for a in item.exclusive_taken],
    }


def card_json(card: outcomes.MeetingCard) -> dict[str, Any]:
    meeting = card.meeting
    requester, _ = outcomes.sides(meeting)
    side = None
    if card.me is not None:
        side = "requester" if card.me.id == requester.id else "guest"
    return {
        "meeting": {
            "id": str(meeting.id),
            "event_id": str(meeting.event_id),  # type: ignore[attr-defined]
            "state": str(meeting.state),
            "starts_at": meeting.starts_at.isoformat(),
            "ends_at": meeting.ends_at.isoformat(),
            "table": meeting.table_no,
            "video_url": meeting.video_url or None,
        },
        "side": side,
        "took_place": outcomes.took_place(meeting),
        "outcomes": [outcome_json(o, card) for o in card.outcomes.values()],
        "listings": [rights_json(x) for x in card.listings],
        "offers": [
            {"id": str(o.id), "state": str(o.state), "listing_id": str(o.listing_id)}  # type: ignore[attr-defined]
            for o in card.offers
        ],
        "offerable_listing_ids": [str(x.id) for x in card.offerable],
    }


async def _card(actor: Actor, meeting_id: str) -> dict[str, Any]:
    return card_json(await outcomes.meeting_card(actor, meeting_id))


@router.route(
    "/meetings/{meeting_id}/outcome",
    summary="The meeting's card: what each side recorded, the live rights of its listings, "
    "the offers made from it",
)
async def card(request: Request) -> Response:
    return json_response(await _card(await get_actor(request), _meeting_id(request)))


@router.route(
    "/meetings/{meeting_id}/outcome",
    "POST",
    body=OutcomeIn,
    summary="Record (or change) what came of the meeting for your side",
)
async def record(request: Request) -> Response:
    actor = await get_actor(request)
    data = await body(request, OutcomeIn)
    recorded = await outcomes.record_outcome(actor, _meeting_id(request), data)
    shown = await outcomes.meeting_card(actor, _meeting_id(request))
    return json_response({"outcome": outcome_json(recorded, shown), **card_json(shown)})


@router.route(
    "/meetings/{meeting_id}/offer",
    "POST",
    body=FromMeetingIn,
    status=201,
    summary="Make an offer on one of the other side's listings the meeting was about (terms "
    "left out come from the listing)",
)
async def offer(request: Request) -> Response:
    actor = await get_actor(request)
    data = await body(request, FromMeetingIn)
    made = await outcomes.offer_from_meeting(actor, _meeting_id(request), data)
    made = await Offer.get(id=made.id).select_related("listing", "buyer", "seller")
    answer = offer_json(made, await offers.current_terms(made))
    return json_response({"offer": answer, "state": str(made.state)}, 201)


@router.route(
    "/events/{event_id}/stats",
    summary="The organiser's figures: requests by state, meetings held and no-shows, "
    "participants with no meeting, booth visits, offers and contracts and their value",
)
async def event_stats(request: Request) -> Response:
    figures = await stats.event_stats(await get_actor(request), _event_id(request))
    return json_response(stats.stats_json(figures))


@router.route(
    "/events/{event_id}/stats.csv",
    summary="The organiser's figures as CSV (section, item, count, amount, currency)",
    produces="text/csv",
    answer={"type": "string"},
)
async def event_stats_csv(request: Request) -> Response:
    figures = await stats.event_stats(await get_actor(request), _event_id(request))
    return csv_response(figures)


def csv_response(figures: stats.EventStats) -> Response:
    name = f"event-{figures.event.id}-figures.csv"
    return Response(
        stats.stats_csv(figures),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.route(
    "/events/{event_id}/reminders",
    "POST",
    body=RemindIn,
    summary="Remind the participants with no meeting (all, or those named) while booking is "
    "open; each at most once a day",
)
async def remind(request: Request) -> Response:
    actor = await get_actor(request)
    data = await body(request, RemindIn)
    reminded = await stats.remind_unmatched(actor, _event_id(request), data)
    return json_response({"reminded": reminded})


# The most listings one check takes (a request names a handful).
MAX_CHECKED = 20


@router.route(
    "/rights/warnings",
    summary="Before asking for a meeting about listings: those whose exclusive licence or "
    "assignment is already (partly) granted, with their live rights",
    query={"listing_id": {"type": "array", "items": UUID, "maxItems": MAX_CHECKED}},
)
async def rights_warnings(request: Request) -> Response:
    raw = request.query_params.getlist("listing_id")
    if len(raw) > MAX_CHECKED:
        too_many = Msg("Check at most %(n)s listings at once.", n=MAX_CHECKED)
        raise ValidationFailed(too_many, fields={"listing_id": too_many})
    try:
        ids = [object_id(value, "listing") for value in raw]
    except DomainError:
        why = "Name listings by their ids."
        raise ValidationFailed(why, fields={"listing_id": why}) from None
    warned = await outcomes.exclusive_warnings(ids)
    return json_response({"items": [rights_json(x) for x in warned]})
