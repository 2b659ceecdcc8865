"""The organiser's view of an event: requests by state, meetings held and no-shows, what the
sides recorded, participants with no meeting (and the reminder to them), booth visits, and
the offers and contracts that came from the event (through `Offer.meeting`) with their value.

Read from the live rows at each request, in a fixed number of aggregate queries whatever the
event's size; nothing is stored. A value is the upfront fee of an offer's current terms and a
contract's amount due, summed per currency (amounts in different currencies are never added).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from tortoise.expressions import Q
from tortoise.functions import Count

from contracts.agreements.models import Contract, ContractState
from contracts.offers.models import Offer, OfferState, OfferTerms
from hall import states
from hall.deal_schemas import RemindIn
from hall.models import (
    Booth,
    BoothVisit,
    Event,
    Meeting,
    MeetingOutcome,
    MeetingState,
    Outcome,
    Participant,
    RequestState,
)
from hall.outcomes import event_name, organises
from market import audit, notify
from market.actor import Actor
from market.clock import utcnow
from market.config import get_settings
from market.db import unit_of_work
from market.errors import Conflict, Forbidden, NotAuthenticated, NotFound, validation_error
from market.i18n import Msg
from market.money import Money
from market.validation import object_id

# A participant reminded of having no meeting is not reminded again sooner than this.
REMIND_EVERY = timedelta(hours=24)
# Contracts that fell through count in their state but add nothing to the value.
FELL_THROUGH = (ContractState.REJECTED, ContractState.CANCELLED)
# Offers whose fee counts as accepted value.
ACCEPTED = (OfferState.ACCEPTED,)


async def get_event_for_organiser(actor: Actor, event_id: str) -> Event:
    """The event, for its organisers and the administrators: a 403 to anyone else who may see
    the event, a 404 to whoever may not (a draft stays unknown)."""
    if actor.user is None:
        raise NotAuthenticated("Log in first.")
    event = await Event.get_or_none(id=object_id(event_id, "event"))
    if event is None:
        raise NotFound(Msg("No such %(what)s.", what="event"))
    if not organises(actor, event):
        if str(event.state) not in states.PUBLIC:
            raise NotFound(Msg("No such %(what)s.", what="event"))
        raise Forbidden("Only the event's organisers see its figures.")
    return event


@dataclass
class Value:
    """Amounts summed per currency, in minor units."""

    by_currency: dict[str, int] = field(default_factory=dict)

    def add(self, amount: int, currency: str) -> None:
        self.by_currency[currency] = self.by_currency.get(currency, 0) + amount

    def money(self) -> list[Money]:
        return [Money(amount=a, currency=c) for c, a in sorted(self.by_currency.items())]

    def json(self) -> list[dict[str, Any]]:
        return [{"amount": a, "currency": c} for c, a in sorted(self.by_currency.items())]


@dataclass
class BoothFigure:
    booth_id: str
    organization: str
    visits: int
    visitors: int


@dataclass
class EventStats:
    event: Event
    requests: dict[str, int]
    # scheduled (all booked), held, no_show, upcoming, cancelled
    meetings: dict[str, int]
    outcomes: dict[str, int]
    participants: int
    unmatched: list[Participant]
    visits: int
    visitors: int
    booths: list[BoothFigure]
    offers: dict[str, int]
    offers_value: Value
    accepted_value: Value
    contracts: dict[str, int]
    contracts_value: Value

    @property
    def offers_total(self) -> int:
        return sum(self.offers.values())

    @property
    def contracts_total(self) -> int:
        return sum(self.contracts.values())


def _counts(rows: Iterable[dict[str, Any]], key: str, keys: Iterable[str]) -> dict[str, int]:
    found = dict.fromkeys(keys, 0)
    for row in rows:
        found[str(row[key])] = int(row["n"])
    return found


async def _meetings(event: Event, now: datetime) -> dict[str, int]:
    no_show = MeetingOutcome.filter(
        meeting__event_id=event.id, outcome=Outcome.NO_SHOW
    ).values_list("meeting_id", flat=True)
    no_shows = set(await no_show)
    rows = await Meeting.filter(event_id=event.id).values("id", "state", "ends_at")
    figures = dict.fromkeys(("scheduled", "held", "no_show", "upcoming", "cancelled"), 0)
    for row in rows:
        if row["state"] == MeetingState.CANCELLED:
            figures["cancelled"] += 1
            continue
        figures["scheduled"] += 1
        if row["ends_at"] > now:
            figures["upcoming"] += 1
        elif row["id"] in no_shows:
            figures["no_show"] += 1
        else:
            figures["held"] += 1
    return figures


async def unmatched_participants(event: Event) -> list[Participant]:
    """The event's participants with no scheduled meeting, with their user and organisation."""
    booked = await Meeting.filter(event_id=event.id, state=MeetingState.SCHEDULED).values_list(
        "request__requester_id", "request__guest_id"
    )
    matched = {pid for pair in booked for pid in pair}
    return (
        await Participant.filter(event_id=event.id)
        .exclude(id__in=list(matched))
        .select_related("user", "organization")
        .order_by("created_at")
    )


async def _booths(event: Event) -> tuple[int, int, list[BoothFigure]]:
    visits = BoothVisit.filter(booth__event_id=event.id)
    total = await visits.count()
    visitors = len(set(await visits.values_list("visitor", flat=True)))
    per_booth = {
        str(row["booth_id"]): row
        for row in await BoothVisit.filter(booth__event_id=event.id)
        .annotate(n=Count("id"), people=Count("visitor", distinct=True))
        .group_by("booth_id")
        .values("booth_id", "n", "people")
    }
    figures = []
    for booth in (
        await Booth.filter(event_id=event.id).select_related("organization").order_by("created_at")
    ):
        row = per_booth.get(str(booth.id), {"n": 0, "people": 0})
        figures.append(
            BoothFigure(str(booth.id), booth.organization.name, int(row["n"]), int(row["people"]))
        )
    figures.sort(key=lambda b: (-b.visits, b.organization))
    return total, visitors, figures


async def _offers(event: Event) -> tuple[dict[str, int], Value, Value]:
    made = await Offer.filter(meeting__event_id=event.id).values("id", "state", "terms_number")
    counts = dict.fromkeys((s.value for s in OfferState), 0)
    offered, accepted = Value(), Value()
    current = {str(o["id"]): o["terms_number"] for o in made}
    terms = (
        await OfferTerms.filter(offer_id__in=list(current)).values(
            "offer_id", "number", "upfront_amount", "currency"
        )
        if current
        else []
    )
    fee = {
        str(t["offer_id"]): (t["upfront_amount"], t["currency"])
        for t in terms
        if current[str(t["offer_id"])] == t["number"]
    }
    for o in made:
        counts[str(o["state"])] += 1
        amount, currency = fee[str(o["id"])]
        offered.add(amount, currency)
        if o["state"] in ACCEPTED:
            accepted.add(amount, currency)
    return counts, offered, accepted


async def _contracts(event: Event) -> tuple[dict[str, int], Value]:
    rows = await Contract.filter(offer__meeting__event_id=event.id).values(
        "state", "amount_due", "currency"
    )
    counts = dict.fromkeys((s.value for s in ContractState), 0)
    value = Value()
    for row in rows:
        counts[str(row["state"])] += 1
        if row["state"] not in FELL_THROUGH:
            value.add(row["amount_due"], row["currency"])
    return counts, value


async def event_stats(actor: Actor, event_id: str, now: datetime | None = None) -> EventStats:
    event = await get_event_for_organiser(actor, event_id)
    now = now or utcnow()
    requests = _counts(
        await event.requests.all().annotate(n=Count("id")).group_by("state").values("state", "n"),
        "state",
        (s.value for s in RequestState),
    )
    outcomes = _counts(
        await MeetingOutcome.filter(meeting__event_id=event.id)
        .annotate(n=Count("id"))
        .group_by("outcome")
        .values("outcome", "n"),
        "outcome",
        (o.value for o in Outcome),
    )
    visits, visitors, booths = await _booths(event)
    offers, offers_value, accepted_value = await _offers(event)
    contracts, contracts_value = await _contracts(event)
    return EventStats(
        event=event,
        requests=requests,
        meetings=await _meetings(event, now),
        outcomes=outcomes,
        participants=await Participant.filter(event_id=event.id).count(),
        unmatched=await unmatched_participants(event),
        visits=visits,
        visitors=visitors,
        booths=booths,
        offers=offers,
        offers_value=offers_value,
        accepted_value=accepted_value,
        contracts=contracts,
        contracts_value=contracts_value,
    )


# --- as JSON and as CSV ----------------------------------------------------------------------


def stats_json(stats: EventStats) -> dict[str, Any]:
    return {
        "event_id": str(stats.event.id),
        "state": str(stats.event.state),
        "requests": stats.requests,
        "meetings": stats.meetings,
        "outcomes": stats.outcomes,
        "participants": {
            "total": stats.participants,
            "without_meeting": len(stats.unmatched),
            "unmatched": [
                {
                    "id": str(p.id),
                    "name": p.user.name,  # type: ignore[attr-defined]
                    "organization": p.organization.name,  # type: ignore[attr-defined]
                    "reminded_at": p.reminded_at.isoformat() if p.reminded_at else None,
                }
                for p in stats.unmatched
            ],
        },
        "booth_visits": {
            "total": stats.visits,
            "visitors": stats.visitors,
            "booths": [
                {
                    "booth_id": b.booth_id,
                    "organization": b.organization,
                    "visits": b.visits,
                    "visitors": b.visitors,
                }
                for b in stats.booths
            ],
        },
        "offers": {
            "total": stats.offers_total,
            "by_state": stats.offers,
            "value": stats.offers_value.json(),
            "accepted_value": stats.accepted_value.json(),
        },
        "contracts": {
            "total": stats.contracts_total,
            "by_state": stats.contracts,
            "value": stats.contracts_value.json(),
        },
    }


CSV_HEADER = ("section", "item", "count", "amount", "currency")


def _cell(value: Any) -> str:
    """A spreadsheet runs a cell that starts with = + - @ (or a tab or CR) as a formula: names
    typed by users are kept as text."""
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def stats_csv(stats: EventStats) -> str:
    """One row per figure: (section, item, count, amount in minor units, currency)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    rows: list[tuple[Any, ...]] = []
    rows += [("requests", state, n, "", "") for state, n in stats.requests.items()]
    rows += [("meetings", kind, n, "", "") for kind, n in stats.meetings.items()]
    rows += [("outcomes", kind, n, "", "") for kind, n in stats.outcomes.items()]
    rows.append(("participants", "total", stats.participants, "", ""))
    rows.append(("participants", "without_meeting", len(stats.unmatched), "", ""))
    rows += [
        (
            "participant_without_meeting",
            f"{p.user.name} ({p.organization.name})",  # type: ignore[attr-defined]
            "",
            "",
            "",
        )
        for p in stats.unmatched
    ]
    rows.append(("booth_visits", "total", stats.visits, "", ""))
    rows.append(("booth_visits", "visitors", stats.visitors, "", ""))
    rows += [("booth_visits", b.organization, b.visits, "", "") for b in stats.booths]
    rows += [("offers", state, n, "", "") for state, n in stats.offers.items()]
    rows += [("offers_value", "all", "", a, c) for c, a in stats.offers_value.by_currency.items()]
    rows += [
        ("offers_value", "accepted", "", a, c) for c, a in stats.accepted_value.by_currency.items()
    ]
    rows += [("contracts", state, n, "", "") for state, n in stats.contracts.items()]
    rows += [
        ("contracts_value", "live", "", a, c) for c, a in stats.contracts_value.by_currency.items()
    ]
    for row in rows:
        writer.writerow([_cell(v) for v in row])
    return out.getvalue()


# --- reminding participants with no meeting --------------------------------------------------


def _event_link(event: Event) -> str:
    return f"{get_settings().base_url.rstrip('/')}/events/{event.id}"


async def remind_unmatched(
    actor: Actor, event_id: str, data: RemindIn, now: datetime | None = None
) -> int:
    """Tell the participants with no meeting (all, or those named) that they have none yet,
    while booking is open; one not reminded within REMIND_EVERY. Returns how many were."""
    event = await get_event_for_organiser(actor, event_id)
    if str(event.state) not in states.BOOKING:
        raise Conflict(
            "Booking is not open: there is nothing to remind participants of.",
            state=str(event.state),
        )
    now = now or utcnow()
    unmatched = {str(p.id): p for p in await unmatched_participants(event)}
    if data.participant_ids:
        named = [str(i) for i in data.participant_ids]
        strangers = [i for i in named if i not in unmatched]
        if strangers:
            raise validation_error(
                "participant_ids",
                "Name only participants of this event who have no meeting yet.",
            )
        chosen = [unmatched[i] for i in dict.fromkeys(named)]
    else:
        chosen = list(unmatched.values())
    due = [p for p in chosen if p.reminded_at is None or p.reminded_at <= now - REMIND_EVERY]
    reminded = 0
    async with unit_of_work():
        for participant in due:
            # Conditional, so two organisers pressing at once remind each person once.
            marked = await Participant.filter(
                Q(reminded_at__isnull=True) | Q(reminded_at__lte=now - REMIND_EVERY),
                id=participant.id,
            ).update(reminded_at=now)
            if not marked:
                continue
            user = participant.user
            await notify.tell(
                user,  # type: ignore[arg-type]
                "hall_no_meeting",
                dedup_key=f"hall.no_meeting:{participant.id}:{now:%Y%m%d%H%M}",
                link=_event_link(event),
                event_name=event_name(event, user),  # type: ignore[arg-type]
            )
            reminded += 1
        await audit.record(
            actor,
            "event.reminded_unmatched",
            "event",
            event.id,
            after={"reminded": reminded},
        )
    return reminded
