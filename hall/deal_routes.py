"""Pages of what follows a meeting: its card with the outcome form, the "make an offer" form
prefilled from the meeting's listing, and the organiser's figures of an event (page, CSV and
the reminder to participants with no meeting).

Each handler parses, calls one use case and renders; a refusal the user can act on shows the
same page again with the reason, the input kept, and the refusal's status."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from contracts.offers import forms as offer_forms
from contracts.offers.routes import HELPERS as OFFER_HELPERS
from contracts.offers.schemas import OfferIn
from hall import outcomes, stats
from hall.deal_schemas import FromMeetingIn, OutcomeIn, RemindIn
from hall.deals_api import csv_response
from listings import forms as listing_forms
from listings.models import Listing
from listings.schemas import LICENSE_TYPES
from market.actor import Actor
from market.errors import DomainError, ValidationFailed
from market.i18n import Msg
from market.validation import parse
from market.web import (
    N_,
    Labels,
    language,
    read_form,
    redirect,
    render_form,
    require_login,
    template_global,
)

# Refusals shown on the page the user acted from, with what they typed still there.
SHOWN_ON_PAGE = frozenset({403, 409, 422, 429})

OUTCOME = Labels(
    {
        "follow_up": N_("We follow up"),
        "confidentiality": N_("We sign a confidentiality agreement"),
        "offer": N_("An offer follows"),
        "no_fit": N_("No fit"),
        "no_show": N_("The other side did not come"),
    }
)
REQUEST_STATE = Labels(
    {
        "pending": N_("Waiting for an answer"),
        "accepted": N_("Accepted"),
        "declined": N_("Declined"),
        "cancelled": N_("Cancelled"),
        "expired": N_("Expired"),
    }
)
MEETING_FIGURE = Labels(
    {
        "scheduled": N_("Booked"),
        "held": N_("Held"),
        "no_show": N_("No-shows"),
        "upcoming": N_("Still to come"),
        "cancelled": N_("Cancelled"),
    }
)
template_global(
    "deal_labels",
    SimpleNamespace(outcome=OUTCOME, request_state=REQUEST_STATE, meeting_figure=MEETING_FIGURE),
)


def _shown(exc: DomainError) -> bool:
    return exc.status in SHOWN_ON_PAGE


def _meeting_id(request: Request) -> str:
    return str(request.path_params["meeting_id"])


def _event_id(request: Request) -> str:
    return str(request.path_params["event_id"])


# --- the meeting's card and its outcome ------------------------------------------------------


def _times(card: outcomes.MeetingCard) -> dict[str, str]:
    """The meeting's start in the viewer's zone (a side's own, else the event's) and, for a
    side, in the other side's zone beside it."""
    meeting = card.meeting
    zone = card.me.timezone if card.me is not None else meeting.event.timezone  # type: ignore[attr-defined]
    times = {"mine": outcomes.local_time(meeting.starts_at, zone), "theirs": ""}
    if card.other is not None and card.other.timezone != zone:
        times["theirs"] = outcomes.local_time(meeting.starts_at, card.other.timezone)
    return times


async def _outcome_page(
    request: Request,
    actor: Actor,
    meeting_id: str,
    *,
    values: dict[str, Any] | None = None,
    error: DomainError | None = None,
) -> Response:
    card = await outcomes.meeting_card(actor, meeting_id)
    mine = card.outcome_of(card.me)
    if values is None:
        values = {"outcome": str(mine.outcome), "note": mine.note} if mine else {}
    context = {
        "card": card,
        "meeting": card.meeting,
        "event": card.meeting.event,
        "times": _times(card),
        "took_place": outcomes.took_place(card.meeting),
        "values": values,
        "outcome_choices": {key: OUTCOME(key) for key in OUTCOME},
        **OFFER_HELPERS,
    }
    return await render_form(request, "hall/outcome.html", context, error=error)


async def outcome(request: Request) -> Response:
    actor = await require_login(request)
    meeting_id = _meeting_id(request)
    if request.method == "GET":
        return await _outcome_page(request, actor, meeting_id)
    form = await read_form(request)
    values = {
        "outcome": str(form.get("outcome") or ""),
        "note": str(form.get("note") or "").replace("\r\n", "\n"),
    }
    try:
        await outcomes.record_outcome(actor, meeting_id, parse(OutcomeIn, values))
    except DomainError as exc:
        if not _shown(exc):
            raise
        return await _outcome_page(request, actor, meeting_id, values=values, error=exc)
    return redirect(f"/meetings/{meeting_id}/outcome", "What came of the meeting is recorded.")


# --- an offer after the meeting --------------------------------------------------------------


def _offer_context(
    request: Request, actor: Actor, meeting_id: str, listing: Listing, values: dict[str, Any]
) -> dict[str, Any]:
    currency = str((values.get("upfront_fee") or {}).get("currency") or "")
    return {
        **OFFER_HELPERS,
        "listing": listing,
        "values": values,
        "offered_types": list(listing.license_types or []) or list(LICENSE_TYPES),
        "currencies": listing_forms.currency_options(language(request, actor), currency.upper()),
        "action": f"/meetings/{meeting_id}/offer",
        "origin": {"meeting_id": meeting_id, "listing_id": str(listing.id)},
    }


async def offer(request: Request) -> Response:
    """The buyer's "make an offer" form after a meeting, prefilled from the listing it was
    about and the rights still free; sending it names the meeting as the offer's origin."""
    actor = await require_login(request)
    meeting_id = _meeting_id(request)
    if request.method == "GET":
        chosen = request.query_params.get("listing_id") or ""
        prefill = await outcomes.offer_prefill(actor, meeting_id, chosen)
        listing = await Listing.get(id=prefill["listing_id"])
        values = offer_forms.values_from_prefill(prefill)
        context = _offer_context(request, actor, meeting_id, listing, values)
        return await render_form(request, "offers/form.html", context)
    form = await read_form(request)
    values = offer_forms.values_of(form)
    listing_id = str(form.get("listing_id") or "")
    prefill = await outcomes.offer_prefill(actor, meeting_id, listing_id)  # the same checks first
    listing = await Listing.get(id=prefill["listing_id"])
    context = _offer_context(request, actor, meeting_id, listing, values)
    try:
        terms = offer_forms.parse_terms(OfferIn, values)
        data = FromMeetingIn.model_validate(
            {"listing_id": str(listing.id), **terms.model_dump(mode="json")}
        )
        made = await outcomes.offer_from_meeting(actor, meeting_id, data)
    except DomainError as exc:
        if not _shown(exc):
            raise
        return await render_form(request, "offers/form.html", context, error=exc)
    return redirect(f"/offers/{made.id}", "Your offer is sent to the institute.")


# --- the organiser's figures -----------------------------------------------------------------


async def _stats_page(
    request: Request, actor: Actor, event_id: str, error: DomainError | None = None
) -> Response:
    figures = await stats.event_stats(actor, event_id)
    context = {"figures": figures, "event": figures.event, **OFFER_HELPERS}
    return await render_form(request, "hall/organiser/stats.html", context, error=error)


async def event_stats(request: Request) -> Response:
    actor = await require_login(request)
    return await _stats_page(request, actor, _event_id(request))


async def event_stats_csv(request: Request) -> Response:
    actor = await require_login(request)
    return csv_response(await stats.event_stats(actor, _event_id(request)))


async def remind(request: Request) -> Response:
    actor = await require_login(request)
    event_id = _event_id(request)
    form = await read_form(request)
    chosen = [str(v) for v in form.getlist("participant_ids") if isinstance(v, str) and v]
    try:
        reminded = await stats.remind_unmatched(
            actor, event_id, parse(RemindIn, {"participant_ids": chosen})
        )
    except (ValidationFailed, DomainError) as exc:
        if not _shown(exc):
            raise
        return await _stats_page(request, actor, event_id, error=exc)
    return redirect(
        f"/events/{event_id}/stats",
        Msg("Participants reminded: %(count)s.", count=reminded),
    )


routes: list[BaseRoute] = [
    Route("/meetings/{meeting_id:uuid}/outcome", outcome, methods=["GET", "POST"]),
    Route("/meetings/{meeting_id:uuid}/offer", offer, methods=["GET", "POST"]),
    Route("/events/{event_id:uuid}/stats", event_stats),
    Route("/events/{event_id:uuid}/stats.csv", event_stats_csv),
    Route("/events/{event_id:uuid}/reminders", remind, methods=["POST"]),
]
