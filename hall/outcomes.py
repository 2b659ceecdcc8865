"""From meeting to deal: what each side says came of a meeting, the offer made after it, the
rights still free of the listings it was about, and the follow-up reminder when nothing was
recorded.

A side of a meeting is one of its two participants: the person who met, and the members of
their organisation who may negotiate for it (an offer is theirs to make, so its outcome is
theirs to record). Each side keeps one record (`MeetingOutcome`, unique per meeting and
participant) and may change it; an offer made from the meeting records "offer" for its side
in the same unit of work. Organisers and administrators see a meeting's card but record
nothing.

The offer is made by `contracts.offers.service.make_offer`, with its checks (the rights
already granted, the buyer's permission and verification, the listing still published); the
hall is above contracts in the flow, so the offer's origin (`Offer.meeting`) is written here,
in make_offer's unit of work, as `offer_from_proposal` does for proposals.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from tortoise.expressions import Subquery

from contracts.offers import rights
from contracts.offers import service as offers
from contracts.offers.models import Offer
from contracts.offers.schemas import OfferIn
from hall import service
from hall.deal_schemas import FromMeetingIn, OutcomeIn
from hall.models import Meeting, MeetingOutcome, MeetingState, Outcome, Participant
from listings.models import Listing, ListingState
from market import audit, notify
from market.accounts.models import User
from market.accounts.roles import Permission, may
from market.actor import Actor
from market.clock import utcnow
from market.config import get_settings
from market.db import unit_of_work
from market.errors import Conflict, Forbidden, NotAuthenticated, NotFound, validation_error
from market.i18n import Msg
from market.mail import locale_of
from market.validation import object_id, parse

# How long an offer made from a meeting stays open, and its term, unless the buyer says.
OFFER_EXPIRY = timedelta(days=14)
OFFER_TERM_MONTHS = 60
# Licence types that exclude others: a request about one already granted is warned.
EXCLUSIVE_TYPES = rights.EXCLUSIVE | {rights.ASSIGNMENT}


# --- who is who ------------------------------------------------------------------------------


async def _load(meeting_id: str) -> Meeting:
    meeting = (
        await Meeting.filter(id=object_id(meeting_id, "meeting"))
        .select_related(
            "event",
            "request__requester__user",
            "request__requester__organization",
            "request__guest__user",
            "request__guest__organization",
        )
        .first()
    )
    if meeting is None:
        raise NotFound(Msg("No such %(what)s.", what="meeting"))
    return meeting


def sides(meeting: Meeting) -> tuple[Participant, Participant]:
    """The requester and the guest."""
    return meeting.request.requester, meeting.request.guest  # type: ignore[attr-defined]


def side_of(actor: Actor, meeting: Meeting) -> Participant | None:
    """The participant the actor acts for: themselves, or a participant of their organisation
    when their role lets them negotiate for it."""
    for participant in sides(meeting):
        if actor.user_id == str(participant.user_id):  # type: ignore[attr-defined]
            return participant
    for participant in sides(meeting):
        if actor.organization_id == str(participant.organization_id) and may(  # type: ignore[attr-defined]
            actor, Permission.NEGOTIATE
        ):
            return participant
    return None


def other_side(meeting: Meeting, participant: Participant) -> Participant:
    requester, guest = sides(meeting)
    return guest if participant.id == requester.id else requester


def organises(actor: Actor, meeting_or_event: Any) -> bool:
    """The event's organisers and the administrators: the hall's one rule (hall.service)."""
    return service.is_organiser(actor, getattr(meeting_or_event, "event", meeting_or_event))


async def get_meeting(actor: Actor, meeting_id: str) -> Meeting:
    """The meeting, for its two sides, the event's organisers and administrators; a 404 to
    anyone else, as for an id that names nothing."""
    if actor.user is None:
        raise NotAuthenticated("Log in first.")
    meeting = await _load(meeting_id)
    if side_of(actor, meeting) is None and not organises(actor, meeting):
        raise NotFound(Msg("No such %(what)s.", what="meeting"))
    return meeting


def _require_side(actor: Actor, meeting: Meeting) -> Participant:
    side = side_of(actor, meeting)
    if side is None:
        raise Forbidden("Only the two sides of the meeting record what came of it.")
    return side


def _require_held(meeting: Meeting, now: datetime | None = None) -> None:
    if meeting.state != MeetingState.SCHEDULED:
        raise Conflict(
            "The meeting was cancelled: nothing came of it to record.", state=str(meeting.state)
        )
    if meeting.starts_at > (now or utcnow()):
        raise Conflict(
            "The meeting has not taken place yet: come back after it.", state=str(meeting.state)
        )


def took_place(meeting: Meeting, now: datetime | None = None) -> bool:
    return meeting.state == MeetingState.SCHEDULED and meeting.starts_at <= (now or utcnow())


# --- outcomes --------------------------------------------------------------------------------


async def _upsert(meeting: Meeting, side: Participant, outcome: str, note: str | None) -> None:
    """One statement, so two members of one side recording at once leave one row: the last."""
    update = ["outcome", "recorded_at"] + (["note"] if note is not None else [])
    await MeetingOutcome.bulk_create(
        [
            MeetingOutcome(
                meeting_id=meeting.id,
                participant_id=side.id,
                outcome=outcome,
                note=note or "",
                recorded_at=utcnow(),
            )
        ],
        on_conflict=["meeting_id", "participant_id"],
        update_fields=update,
    )


async def record_outcome(actor: Actor, meeting_id: str, data: OutcomeIn) -> MeetingOutcome:
    """Record (or change) what came of the meeting for the actor's side."""
    meeting = await get_meeting(actor, meeting_id)
    side = _require_side(actor, meeting)
    _require_held(meeting)
    before = await MeetingOutcome.get_or_none(meeting_id=meeting.id, participant_id=side.id)
    async with unit_of_work():
        await _upsert(meeting, side, data.outcome, data.note)
        await audit.record(
            actor,
            "meeting.outcome",
            "meeting",
            meeting.id,
            before={"outcome": str(before.outcome)} if before else None,
            after={"outcome": data.outcome, "participant_id": str(side.id)},
        )
        # Recording is what the follow-up reminder asked for.
        await notify.settle(notify.about("meeting", meeting.id), actor)
    return await MeetingOutcome.get(meeting_id=meeting.id, participant_id=side.id)


# --- the meeting's card: its listings' rights, outcomes and offers ---------------------------


@dataclass
class ListingRights:
    listing: Listing
    availability: list[rights.Availability]

    @property
    def exclusive_taken(self) -> list[rights.Availability]:
        """The exclusive kinds of licence (and assignment) no longer free in full."""
        return [
            a
            for a in self.availability
            if a.license_type in EXCLUSIVE_TYPES and a.status != "available"
        ]


@dataclass
class MeetingCard:
    meeting: Meeting
    # The actor's side, None for an organiser or administrator.
    me: Participant | None
    other: Participant | None
    outcomes: dict[str, MeetingOutcome]
    listings: list[ListingRights]
    offers: list[Offer] = field(default_factory=list)
    # The listings of the other side the actor may make an offer on, after the meeting.
    offerable: list[Listing] = field(default_factory=list)

    def outcome_of(self, participant: Participant | None) -> MeetingOutcome | None:
        return self.outcomes.get(str(participant.id)) if participant is not None else None


async def listing_rights(listing_ids: Iterable[str]) -> list[ListingRights]:
    """The live rights availability of each listing (in the order given), in two queries
    however many: what a meeting card shows and what a request form warns about."""
    wanted = [str(i) for i in listing_ids]
    if not wanted:
        return []
    found = {str(x.id): x for x in await Listing.filter(id__in=wanted)}
    listings = [found[i] for i in wanted if i in found]
    by_id = await offers.listing_rights_for(listings)
    return [ListingRights(x, by_id[str(x.id)][1]) for x in listings]


async def exclusive_warnings(listing_ids: Iterable[str]) -> list[ListingRights]:
    """The listings among these whose exclusive scope is already (partly) granted: a request
    about them is warned before it asks (hall.meetings' request form and answer use it).
    Published listings only: anyone may ask, and a draft's title is its institute's."""
    return [
        x
        for x in await listing_rights(listing_ids)
        if x.exclusive_taken and x.listing.state == ListingState.PUBLISHED
    ]


async def meeting_card(actor: Actor, meeting_id: str) -> MeetingCard:
    meeting = await get_meeting(actor, meeting_id)
    me = side_of(actor, meeting)
    other = other_side(meeting, me) if me is not None else None
    outcomes = {
        str(o.participant_id): o  # type: ignore[attr-defined]
        for o in await MeetingOutcome.filter(meeting_id=meeting.id)
    }
    listings = await listing_rights(meeting.request.listing_ids)  # type: ignore[attr-defined]
    card = MeetingCard(meeting, me, other, outcomes, listings)
    if me is not None and other is not None:
        # The offers are the two sides' business, not the organiser's (who sees counts).
        card.offers = (
            await Offer.filter(meeting_id=meeting.id)
            .order_by("created_at")
            .select_related("listing")
        )
        if took_place(meeting):
            card.offerable = [
                x.listing
                for x in listings
                if str(x.listing.institute_id) == str(other.organization_id)  # type: ignore[attr-defined]
                and x.listing.state == ListingState.PUBLISHED
            ]
    return card


# --- the offer made after a meeting ----------------------------------------------------------


def prefill_from_listing(listing: Listing, availability: list[rights.Availability]) -> dict:
    """The terms of an offer on `listing`, in OfferIn's shape: the first licence type it offers
    that is still free in full (else its first), its whole territories and fields of use (the
    scope the meeting was about), and its asking price as the upfront fee."""
    offered = list(listing.license_types or []) or ["non_exclusive"]
    free = [a.license_type for a in availability if a.status == "available"]
    license_type = next((t for t in offered if t in free), offered[0])
    return {
        "license_type": license_type,
        "territories": list(listing.territories or ["WORLD"]),
        "fields_of_use": list(listing.fields_of_use or ["all"]),
        "term_months": OFFER_TERM_MONTHS,
        "upfront_fee": {
            "amount": listing.asking_amount or 0,
            "currency": listing.asking_currency or "USD",
        },
        "royalty_percent": None,
        "milestones": [],
        "conditions": "",
        "expires_at": (utcnow() + OFFER_EXPIRY).isoformat(),
        "message": "",
    }


async def _offer_listing(actor: Actor, meeting: Meeting, listing_id: str) -> Listing:
    """The listing an offer after this meeting may be made on, after the meeting's checks."""
    side = _require_side(actor, meeting)
    _require_held(meeting)
    other = other_side(meeting, side)
    if listing_id not in [str(i) for i in meeting.request.listing_ids]:  # type: ignore[attr-defined]
        raise validation_error("listing_id", "Choose one of the listings the meeting was about.")
    listing = await Listing.get(id=listing_id)
    if str(listing.institute_id) != str(other.organization_id):  # type: ignore[attr-defined]
        raise validation_error(
            "listing_id", "An offer goes to the other side: this listing is not theirs."
        )
    return listing


async def offer_prefill(actor: Actor, meeting_id: str, listing_id: str = "") -> dict[str, Any]:
    """What the "make an offer" form of a meeting starts with (its first listing of the other
    side unless one is named), after the same checks as the offer itself."""
    meeting = await get_meeting(actor, meeting_id)
    if not listing_id:
        card = await meeting_card(actor, meeting_id)
        if not card.offerable:
            _require_side(actor, meeting)
            _require_held(meeting)
            raise validation_error(
                "listing_id", "The meeting was about none of the other side's published listings."
            )
        listing_id = str(card.offerable[0].id)
    listing = await _offer_listing(actor, meeting, listing_id)
    (found,) = await listing_rights([str(listing.id)])
    return {"listing_id": str(listing.id), **prefill_from_listing(listing, found.availability)}


async def offer_from_meeting(actor: Actor, meeting_id: str, data: FromMeetingIn) -> Offer:
    """Make an offer on one of the other side's listings the meeting was about: the terms left
    out come from the listing, the offer names the meeting as its origin, and the actor's side
    records "offer" as the meeting's outcome, in one unit of work."""
    meeting = await get_meeting(actor, meeting_id)
    listing = await _offer_listing(actor, meeting, data.listing_id)
    side = _require_side(actor, meeting)
    (found,) = await listing_rights([str(listing.id)])
    sent = data.model_dump(exclude={"listing_id"}, exclude_none=True, mode="json")
    terms = parse(OfferIn, {**prefill_from_listing(listing, found.availability), **sent})
    async with unit_of_work():
        offer = await offers.make_offer(actor, str(listing.id), terms)
        await Offer.filter(id=offer.id).update(meeting_id=meeting.id)
        offer.meeting_id = meeting.id  # type: ignore[attr-defined]
        await _upsert(meeting, side, Outcome.OFFER.value, None)
        await audit.record(
            actor,
            "meeting.offer_made",
            "meeting",
            meeting.id,
            after={"offer_id": str(offer.id), "listing_id": str(listing.id)},
        )
        await notify.settle(notify.about("meeting", meeting.id), actor)
    return offer


# --- the follow-up reminder ------------------------------------------------------------------


def local_time(moment: datetime, zone: str) -> str:
    """A time as a person in `zone` reads it, with the zone's name."""
    try:
        tz = ZoneInfo(zone)
    except (KeyError, ValueError):
        tz = ZoneInfo("UTC")
    return f"{moment.astimezone(tz):%Y-%m-%d %H:%M} ({zone})"


def event_name(event: Any, user: User) -> str:
    """The event's name in the language a mail to `user` is written in."""
    return event.name_zh if locale_of(user) == "zh" and event.name_zh else event.name


def meeting_link(meeting_id: Any) -> str:
    return f"{get_settings().base_url.rstrip('/')}/meetings/{meeting_id}/outcome"


async def _silent_candidates(now: datetime) -> list[Meeting]:
    """Scheduled meetings over, not reminded yet, with no outcome and no offer from them."""
    recorded = MeetingOutcome.all().values("meeting_id")
    offered = Offer.filter(meeting_id__isnull=False).values("meeting_id")
    return (
        await Meeting.filter(
            state=MeetingState.SCHEDULED, follow_up_sent_at__isnull=True, ends_at__lte=now
        )
        .exclude(id__in=Subquery(recorded))
        .exclude(id__in=Subquery(offered))
        .select_related("event", "request__requester__user", "request__guest__user")
        .order_by("ends_at")
    )


async def remind_follow_ups(now: datetime | None = None) -> int:
    """Remind both sides of each meeting that ended its event's `follow_up_days` ago with
    nothing recorded and no offer made; once per meeting (the worker's cron runs this, and a
    racing run marks nothing twice). Returns how many meetings were reminded of."""
    now = now or utcnow()
    reminded = 0
    for meeting in await _silent_candidates(now):
        event = meeting.event
        if meeting.ends_at + timedelta(days=event.follow_up_days) > now:
            continue
        async with unit_of_work():
            marked = await Meeting.filter(id=meeting.id, follow_up_sent_at__isnull=True).update(
                follow_up_sent_at=now
            )
            if not marked:
                continue
            for participant in sides(meeting):
                other = other_side(meeting, participant)
                user: User = participant.user  # type: ignore[assignment]
                await notify.tell(
                    user,
                    "meeting_follow_up",
                    dedup_key=f"meeting.follow_up:{meeting.id}:{user.id}",
                    link=meeting_link(meeting.id),
                    about=notify.about("meeting", meeting.id),
                    event_name=event_name(event, user),
                    other=other.user.name,  # type: ignore[attr-defined]
                    when=local_time(meeting.starts_at, participant.timezone),
                )
        reminded += 1
    return reminded
