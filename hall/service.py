"""The hall's use cases for events, their meeting blocks, pavilions and booths. Each takes the
acting party first and owns one unit of work.

Who runs an event: a platform administrator, or a member of an organisation an administrator
granted the organiser role (`Organization.organises_events`, `grant_organiser`) whose
membership may publish for it (`Permission.LIST`: running an event puts things in public in the
organisation's name, as listing does). Who exhibits: a verified organisation applies for a
booth, showing a selection of its own published listings and open needs, and the organiser
approves or rejects it.

Blocks are the meeting grid (hall/models.py): slots of the event's meeting length from each
block's start. So a block must lie within the event's days, never overlap another, hold at
least one slot, and it cannot shrink, move or lose tables while a scheduled meeting sits in a
slot it would lose; nor can the meeting length change once a meeting is booked. A block edit
locks the event, then the block: a booking that locks the block too (hall.meetings) waits for
it, and sees the block as it is after the edit.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import Enum
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.functions import Count

from docking.models import Need, NeedState, Visibility
from hall import states
from hall.models import (
    Booth,
    BoothState,
    BoothVisit,
    Event,
    EventState,
    Meeting,
    MeetingBlock,
    MeetingState,
    Participant,
    Pavilion,
)
from hall.schemas import EVENT_FIELDS, BlockIn, BoothIn, EventIn, EventPatch, PavilionIn
from listings.models import Listing
from listings.service import PUBLIC_STATES as LISTING_PUBLIC
from market import audit, files, outbox, rows
from market.accounts import roles
from market.accounts.models import Membership, Organization, OrganizationKind, User
from market.accounts.roles import Permission, may
from market.accounts.service import require_admin, require_verified
from market.actor import Actor
from market.clock import utcnow
from market.db import unit_of_work
from market.errors import (
    Conflict,
    Forbidden,
    NotAuthenticated,
    NotFound,
    ValidationFailed,
    validation_error,
)
from market.i18n import Msg
from market.locks import lock, lock_existing
from market.transitions import Lifecycle, allowed_actions, apply, events_of
from market.validation import object_id, parse

EVENTS = outbox.declare(*events_of(states.EVENT), *events_of(states.BOOTH))
PUBLIC_STATES = {EventState(s) for s in states.PUBLIC}
# Words of a search, at most.
MAX_WORDS = 8


# --- who is who ----------------------------------------------------------------------------


def organises(actor: Actor, organiser_id: Any) -> bool:
    """A member of the organising organisation whose role lets them publish for it."""
    return (
        actor.user is not None
        and actor.organization_id == str(organiser_id)
        and actor.organization is not None
        and actor.organization.organises_events
        and may(actor, Permission.LIST)
    )


def event_roles(actor: Actor, event: Event) -> set[str]:
    held = actor.standing()
    if organises(actor, event.organiser_id):  # type: ignore[attr-defined]
        held.add("organiser")
    return held


def _event_announced(event: Event, actor: Actor) -> dict[str, Any]:
    return {"event_id": str(event.id), "state": str(event.state), "actor_id": actor.user_id}


EVENTING = Lifecycle(
    "event",
    Event,
    states.EVENT,
    roles=event_roles,
    payload=_event_announced,
    organization=lambda event, actor: event.organiser_id,  # type: ignore[attr-defined]
)


def booth_roles_with(actor: Actor, booth: Booth, organiser_id: Any) -> set[str]:
    """The actor's roles on a booth, given its event's organiser: "organiser" as on the event,
    "exhibitor" for a member of the booth's organisation who may list for it."""
    held = actor.standing()
    if organises(actor, organiser_id):
        held.add("organiser")
    if actor.organization_id == str(booth.organization_id) and may(  # type: ignore[attr-defined]
        actor, Permission.LIST
    ):
        held.add("exhibitor")
    return held


async def booth_roles(actor: Actor, booth: Booth) -> set[str]:
    organiser_id = await Event.filter(id=booth.event_id).values_list("organiser_id", flat=True)  # type: ignore[attr-defined]
    return booth_roles_with(actor, booth, organiser_id[0] if organiser_id else None)


def _booth_announced(booth: Booth, actor: Actor) -> dict[str, Any]:
    return {
        "booth_id": str(booth.id),
        "event_id": str(booth.event_id),  # type: ignore[attr-defined]
        "state": str(booth.state),
        "actor_id": actor.user_id,
    }


BOOTHING = Lifecycle(
    "booth",
    Booth,
    states.BOOTH,
    roles=booth_roles,
    payload=_booth_announced,
    organization=lambda booth, actor: booth.organization_id,  # type: ignore[attr-defined]
)


def event_actions(actor: Actor, event: Event) -> list[str]:
    """The buttons a page shows come from the table the services apply."""
    return EVENTING.actions(actor, event)


def booth_actions(actor: Actor, booth: Booth, event: Event) -> list[str]:
    return allowed_actions(
        states.BOOTH,
        str(booth.state),
        booth_roles_with(actor, booth, event.organiser_id),  # type: ignore[attr-defined]
    )


def is_organiser(actor: Actor, event: Event) -> bool:
    """The event's organisers and the administrators: who see and change all of it."""
    return bool(event_roles(actor, event) & {"organiser", "admin"})


def can_see_event(actor: Actor, event: Event) -> bool:
    return str(event.state) in states.PUBLIC or is_organiser(actor, event)


def _require_user(actor: Actor) -> None:
    if actor.user is None:
        raise NotAuthenticated("Log in first.")


def _require_organiser(actor: Actor, event: Event, refusal: str) -> None:
    """Refuse with `refusal` (a whole sentence, so it translates whole) anyone but the event's
    organisers and the administrators."""
    _require_user(actor)
    if not is_organiser(actor, event):
        raise Forbidden(refusal)


# --- the organiser role --------------------------------------------------------------------


async def grant_organiser(actor: Actor, org_id: str, grant: bool = True) -> Organization:
    """An administrator lets an organisation run events (or stops it running new ones: the
    events it runs stay its own)."""
    require_admin(actor)
    async with unit_of_work():
        org = await lock(Organization, object_id(org_id, "organisation"))
        if org is None or org.kind == OrganizationKind.PLATFORM:
            raise NotFound("No such organisation.")
        if grant and not org.is_verified:
            raise Conflict(
                "Verify the organisation before it runs events.", state=str(org.verification)
            )
        if org.organises_events != grant:
            await Organization.filter(id=org.id).update(organises_events=grant)
            await audit.record(
                actor,
                "organization.organiser_granted" if grant else "organization.organiser_revoked",
                "organization",
                org.id,
                before={"organises_events": not grant},
                after={"organises_events": grant},
                organization_id=org.id,
            )
    return await Organization.get(id=org.id)


async def organisers(actor: Actor) -> list[Organization]:
    require_admin(actor)
    return list(await Organization.filter(organises_events=True).order_by("name"))


# --- events --------------------------------------------------------------------------------


def zone_of(event: Event) -> ZoneInfo:
    return ZoneInfo(event.timezone)


def local_day(event: Event, moment: datetime) -> date:
    return moment.astimezone(zone_of(event)).date()


def day_bounds(event: Event) -> tuple[datetime, datetime]:
    """The event's first instant and the instant after its last day, in UTC."""
    return _bounds(event.timezone, event.starts_on, event.ends_on)


def _bounds(zone_name: str, first_day: date, last_day: date) -> tuple[datetime, datetime]:
    zone = ZoneInfo(zone_name)
    first = datetime.combine(first_day, time(0), tzinfo=zone)
    after = datetime.combine(last_day + timedelta(days=1), time(0), tzinfo=zone)
    return first.astimezone(UTC), after.astimezone(UTC)


def as_input(event: Event) -> dict[str, Any]:
    """The stored event in EventIn's shape (what an edit is laid over)."""
    return {name: _plain_value(getattr(event, name)) for name in EVENT_FIELDS}


def _plain_value(value: Any) -> Any:
    return str(value) if isinstance(value, Enum) else value


async def _organiser_for(actor: Actor, wanted: str | None) -> Organization:
    _require_user(actor)
    if actor.is_admin:
        if not wanted or wanted == actor.organization_id:
            return actor.organization  # type: ignore[return-value]
        org = await Organization.get_or_none(id=object_id(wanted, "organisation"))
        if org is None or not org.organises_events:
            raise validation_error(
                "organiser_id", "That organisation has not been granted the organiser role."
            )
        return org
    if wanted and wanted != actor.organization_id:
        raise Forbidden("You can run events only for your own organisation.")
    org = actor.organization
    if org is None or not org.organises_events:
        raise Forbidden(
            "Your organisation has not been granted the organiser role: ask an administrator."
        )
    roles.require(actor, Permission.LIST, "run events")
    require_verified(actor, "run events")
    return org


async def create_event(actor: Actor, data: EventIn) -> Event:
    organiser = await _organiser_for(actor, data.organiser_id)
    async with unit_of_work():
        event = await Event.create(
            organiser_id=organiser.id,
            created_by_id=actor.user_id,
            **data.model_dump(exclude={"organiser_id"}),
        )
        await audit.record(
            actor,
            "event.created",
            "event",
            event.id,
            after={"state": EventState.DRAFT.value, "name": event.name},
            organization_id=organiser.id,
        )
    return await _load_event(event.id)


async def _load_event(event_id: Any) -> Event:
    event = await Event.get_or_none(id=object_id(str(event_id), "event")).select_related(
        "organiser"
    )
    if event is None:
        raise NotFound("No such event.")
    return event


async def get_event(actor: Actor, event_id: str) -> Event:
    """The event, with its organiser, if the actor may see it: a draft only to its organisers
    and the administrators; anyone else gets the 404 of an event that does not exist."""
    event = await _load_event(event_id)
    if not can_see_event(actor, event):
        raise NotFound("No such event.")
    return event


async def _meetings_booked(event_id: Any) -> bool:
    return await Meeting.filter(event_id=event_id, state=MeetingState.SCHEDULED).exists()


async def update_event(actor: Actor, event_id: str, patch: EventPatch) -> Event:
    """Change an event that has not closed. The fields sent are laid over the stored event and
    checked whole; the meeting length stays once a meeting is booked (the slots would move
    under it), and the days and zone must still hold every block."""
    event = await get_event(actor, event_id)
    _require_organiser(actor, event, Msg("Only the event's organisers can edit it."))
    sent = patch.model_dump(exclude_unset=True)
    if not sent:
        raise ValidationFailed("Nothing to change.", fields={"body": "Send at least one field."})
    async with unit_of_work():
        current = await lock_existing(Event, event.id)
        if current.state == EventState.CLOSED:
            raise Conflict("A closed event cannot be changed.", state=str(current.state))
        before = as_input(current)
        merged = parse(EventIn, {**before, **sent})
        after = merged.model_dump(exclude={"organiser_id"})
        changed = {name for name, value in after.items() if before[name] != value}
        if "meeting_minutes" in changed and await _meetings_booked(current.id):
            raise Conflict(
                "Meetings are booked: the meeting length can no longer change.",
                fields={"meeting_minutes": "Meetings are booked on the current length."},
                state=str(current.state),
            )
        if "meeting_minutes" in changed:
            slot = timedelta(minutes=after["meeting_minutes"])
            blocks = await MeetingBlock.filter(event_id=current.id)
            if any(b.ends_at - b.starts_at < slot for b in blocks):
                raise validation_error(
                    "meeting_minutes",
                    "A meeting block is shorter than one meeting of that length: "
                    "lengthen it first.",
                )
        if changed & {"timezone", "starts_on", "ends_on"}:
            first, after_last = _bounds(after["timezone"], after["starts_on"], after["ends_on"])
            outside = await MeetingBlock.filter(event_id=current.id).filter(
                Q(starts_at__lt=first) | Q(ends_at__gt=after_last)
            )
            if outside:
                why = "A meeting block would fall outside the event's days: move it first."
                raise validation_error("ends_on" if "ends_on" in changed else "starts_on", why)
        if changed:
            await Event.filter(id=current.id).update(
                **{k: after[k] for k in changed}, updated_at=utcnow()
            )
            await audit.record(
                actor,
                "event.edited",
                "event",
                current.id,
                before=audit.plain({k: before[k] for k in changed}),
                after=audit.plain({k: after[k] for k in changed}),
                organization_id=current.organiser_id,  # type: ignore[attr-defined]
            )
    return await _load_event(event.id)


async def _move(
    actor: Actor, event_id: Any, action: str, *, changes: dict[str, Any] | None = None
) -> Event:
    if actor.user is None and not actor.is_system:
        raise NotAuthenticated("Log in first.")
    event = await _load_event(event_id)
    if not actor.is_system and not can_see_event(actor, event):
        raise NotFound("No such event.")
    async with unit_of_work():
        await apply(
            EVENTING, event.id, action, actor, changes={"updated_at": utcnow(), **(changes or {})}
        )
    return await _load_event(event.id)


async def publish_event(actor: Actor, event_id: str) -> Event:
    return await _move(actor, event_id, "publish")


async def open_booking(actor: Actor, event_id: str) -> Event:
    """Open the event for booking: it needs a block to book into."""
    event = await get_event(actor, event_id)
    if (
        str(event.state) == EventState.PUBLISHED
        and not await MeetingBlock.filter(event_id=event.id).exists()
    ):
        raise Conflict(
            "Add a meeting block before booking opens: there is nothing to book yet.",
            state=str(event.state),
        )
    return await _move(actor, event_id, "open_booking")


async def start_event(actor: Actor, event_id: str) -> Event:
    return await _move(actor, event_id, "start")


async def close_event(actor: Actor, event_id: str) -> Event:
    return await _move(actor, event_id, "close")


async def advance_due(now: datetime | None = None) -> int:
    """The event clock, as the system (the worker's cron): booking opens when its window
    does, an event runs from its first day and closes after its last, each in its own zone.
    Returns how many moves it made; an event moved meanwhile by its organiser is left be."""
    now = now or utcnow()
    moved = 0
    candidates = await Event.filter(
        state__in=[EventState.PUBLISHED, EventState.BOOKING_OPEN, EventState.RUNNING]
    )
    for event in candidates:
        first, after_last = day_bounds(event)
        state = str(event.state)
        if now >= after_last:
            action = "close"
        elif now >= first and state != EventState.RUNNING:
            action = "start"
        elif (
            state == EventState.PUBLISHED
            and event.booking_opens_at <= now < event.booking_closes_at
            and await MeetingBlock.filter(event_id=event.id).exists()
        ):
            action = "open_booking"
        else:
            continue
        try:
            await _move(Actor.system(), event.id, action)
        except Conflict:
            continue
        moved += 1
    return moved


async def list_events(
    actor: Actor,
    *,
    q: str = "",
    mine: bool = False,
    state: str | None = None,
    page: int = 1,
    per_page: int = 20,
) -> tuple[list[Event], int]:
    """The public events (every public state, or one), soonest first; with `mine` the events
    the actor's organisation runs, in every state. A search matches the names and
    descriptions in both languages."""
    if state and state not in {s.value for s in EventState}:
        raise validation_error("state", "Unknown state.")
    query = Event.all()
    if mine:
        _require_user(actor)
        if actor.organization_id is None:
            return [], 0
        query = query.filter(organiser_id=actor.organization_id)
        if state:
            query = query.filter(state=state)
    else:
        if state and state not in states.PUBLIC:
            return [], 0
        query = query.filter(state__in=[state] if state else list(states.PUBLIC))
    for word in _words(q):
        query = query.filter(
            Q(name__icontains=word)
            | Q(name_zh__icontains=word)
            | Q(description__icontains=word)
            | Q(description_zh__icontains=word)
        )
    total = await query.count()
    items = (
        await query.order_by("starts_on", "id")
        .offset((page - 1) * per_page)
        .limit(per_page)
        .select_related("organiser")
    )
    return list(items), total


def _words(q: str) -> list[str]:
    words = q.split()
    if len(words) > MAX_WORDS:
        raise validation_error(
            "q", Msg("Search with at most %(max_words)s words.", max_words=MAX_WORDS)
        )
    return words


async def events_of_organization(org_id: Any, limit: int = 50) -> list[Event]:
    """The public events an organisation runs or exhibits at (an approved booth), for its
    profile, soonest first."""
    exhibits = Booth.filter(organization_id=org_id, state=BoothState.APPROVED).values_list(
        "event_id", flat=True
    )
    return list(
        await Event.filter(
            Q(organiser_id=org_id) | Q(id__in=list(await exhibits)),
            state__in=list(states.PUBLIC),
        )
        .order_by("starts_on", "id")
        .limit(limit)
        .select_related("organiser")
    )


# --- blocks --------------------------------------------------------------------------------


async def blocks_of(event: Event) -> list[MeetingBlock]:
    return list(await MeetingBlock.filter(event_id=event.id).order_by("starts_at"))


async def _check_block(event: Event, data: BlockIn, *, other_than: Any = None) -> None:
    """What a block needs of its event: inside its days, a slot long at least, no overlap."""
    first, after_last = day_bounds(event)
    if data.starts_at < first or data.starts_at >= after_last:
        raise validation_error(
            "starts_at",
            Msg(
                "The block must start within the event's days (%(first)s to %(last)s, %(zone)s).",
                first=event.starts_on.isoformat(),
                last=event.ends_on.isoformat(),
                zone=event.timezone,
            ),
        )
    if data.ends_at > after_last:
        raise validation_error("ends_at", "The block must end within the event's last day.")
    if data.ends_at - data.starts_at < timedelta(minutes=event.meeting_minutes):
        raise validation_error(
            "ends_at",
            Msg(
                "The block must hold at least one %(minutes)s-minute meeting.",
                minutes=event.meeting_minutes,
            ),
        )
    overlapping = MeetingBlock.filter(
        event_id=event.id, starts_at__lt=data.ends_at, ends_at__gt=data.starts_at
    )
    if other_than is not None:
        overlapping = overlapping.exclude(id=other_than)
    clash = await overlapping.first()
    if clash is not None:
        zone = zone_of(event)
        raise validation_error(
            "starts_at",
            Msg(
                "The block overlaps another (%(start)s to %(end)s); blocks never overlap.",
                start=clash.starts_at.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
                end=clash.ends_at.astimezone(zone).strftime("%H:%M"),
            ),
        )


async def _editable_event(actor: Actor, event_id: str, refusal: str) -> Event:
    event = await get_event(actor, event_id)
    _require_organiser(actor, event, refusal)
    return event


async def add_block(actor: Actor, event_id: str, data: BlockIn) -> MeetingBlock:
    event = await _editable_event(
        actor, event_id, Msg("Only the event's organisers can add meeting blocks.")
    )
    async with unit_of_work():
        current = await lock_existing(Event, event.id)
        if current.state == EventState.CLOSED:
            raise Conflict("The event is closed.", state=str(current.state))
        await _check_block(current, data)
        block = await MeetingBlock.create(event_id=current.id, **data.model_dump())
        await audit.record(
            actor,
            "event.block_added",
            "event",
            current.id,
            after=_block_facts(block),
            organization_id=current.organiser_id,  # type: ignore[attr-defined]
        )
    return block


def _block_facts(block: MeetingBlock) -> dict[str, Any]:
    return {
        "block_id": str(block.id),
        "starts_at": block.starts_at.isoformat(),
        "ends_at": block.ends_at.isoformat(),
        "mode": str(block.mode),
        "tables": block.tables,
    }


async def block_of(actor: Actor, block_id: str) -> tuple[Event, MeetingBlock]:
    block = await MeetingBlock.get_or_none(id=object_id(block_id, "block"))
    if block is None:
        raise NotFound("No such block.")
    event = await get_event(actor, str(block.event_id))  # type: ignore[attr-defined]
    return event, block


def _slot_lost(meeting: Meeting, data: BlockIn, minutes: int) -> str | None:
    """The field of `data` that would take this meeting's slot away, or None."""
    if meeting.starts_at < data.starts_at:
        return "starts_at"
    if meeting.ends_at > data.ends_at:
        return "ends_at"
    offset = (meeting.starts_at - data.starts_at).total_seconds()
    if offset % (minutes * 60):
        return "starts_at"  # the grid would move: no slot would start where it does
    if data.mode != "onsite" and meeting.table_no is not None:
        return "mode"
    if data.mode == "onsite" and (
        meeting.table_no is None or (data.tables or 0) < meeting.table_no
    ):
        return "tables" if meeting.table_no is not None else "mode"
    return None


async def _lock_block(event: Event, block: MeetingBlock) -> tuple[Event, MeetingBlock]:
    """The event, then the block, locked (the lock order) for a change of the block: refused
    once the event is closed or the block is gone."""
    current = await lock_existing(Event, event.id)
    if current.state == EventState.CLOSED:
        raise Conflict("The event is closed.", state=str(current.state))
    locked = await lock(MeetingBlock, block.id)
    if locked is None:
        raise NotFound("No such block.")
    return current, locked


async def update_block(actor: Actor, block_id: str, data: BlockIn) -> MeetingBlock:
    """Move, grow, shrink or re-seat a block; refused while a scheduled meeting sits in a slot
    (or at a table) the change would take away, naming the field and the meeting's time."""
    event, block = await block_of(actor, block_id)
    _require_organiser(actor, event, Msg("Only the event's organisers can change meeting blocks."))
    async with unit_of_work():
        current, locked = await _lock_block(event, block)
        await _check_block(current, data, other_than=locked.id)
        booked = await Meeting.filter(block_id=locked.id, state=MeetingState.SCHEDULED).order_by(
            "starts_at"
        )
        for meeting in booked:
            field = _slot_lost(meeting, data, current.meeting_minutes)
            if field is not None:
                when = meeting.starts_at.astimezone(zone_of(current)).strftime("%Y-%m-%d %H:%M")
                why = Msg(
                    "A meeting is booked at %(when)s in a slot this change removes: "
                    "move or cancel it first.",
                    when=when,
                )
                raise Conflict(why, fields={field: why}, state="booked")
        before = _block_facts(locked)
        await MeetingBlock.filter(id=locked.id).update(**data.model_dump())
        updated = await MeetingBlock.get(id=locked.id)
        await audit.record(
            actor,
            "event.block_changed",
            "event",
            current.id,
            before=before,
            after=_block_facts(updated),
            organization_id=current.organiser_id,  # type: ignore[attr-defined]
        )
    return updated


async def remove_block(actor: Actor, block_id: str) -> None:
    """Remove a block nobody has booked in (a cancelled meeting keeps its block as history)."""
    event, block = await block_of(actor, block_id)
    _require_organiser(actor, event, Msg("Only the event's organisers can remove meeting blocks."))
    async with unit_of_work():
        current, locked = await _lock_block(event, block)
        if await Meeting.filter(block_id=locked.id, state=MeetingState.SCHEDULED).exists():
            raise Conflict(
                "Meetings are booked in this block: move or cancel them first.", state="booked"
            )
        if await Meeting.filter(block_id=locked.id).exists():
            raise Conflict(
                "Meetings were booked in this block once; shrink it instead of removing it.",
                state="booked",
            )
        facts = _block_facts(locked)
        await MeetingBlock.filter(id=locked.id).delete()
        await audit.record(
            actor,
            "event.block_removed",
            "event",
            current.id,
            before=facts,
            organization_id=current.organiser_id,  # type: ignore[attr-defined]
        )


# --- pavilions -----------------------------------------------------------------------------


async def pavilions_of(event: Event) -> list[Pavilion]:
    return list(await Pavilion.filter(event_id=event.id).order_by("position", "name"))


async def add_pavilion(actor: Actor, event_id: str, data: PavilionIn) -> Pavilion:
    event = await _editable_event(
        actor, event_id, Msg("Only the event's organisers can add pavilions.")
    )
    if event.state == EventState.CLOSED:
        raise Conflict("The event is closed.", state=str(event.state))
    async with unit_of_work():
        pavilion = await Pavilion.create(event_id=event.id, **data.model_dump())
        await audit.record(
            actor,
            "event.pavilion_added",
            "event",
            event.id,
            after={"pavilion_id": str(pavilion.id), "name": pavilion.name},
            organization_id=event.organiser_id,  # type: ignore[attr-defined]
        )
    return pavilion


async def update_pavilion(actor: Actor, pavilion_id: str, data: PavilionIn) -> Pavilion:
    pavilion = await Pavilion.get_or_none(id=object_id(pavilion_id, "pavilion"))
    if pavilion is None:
        raise NotFound("No such pavilion.")
    event = await _editable_event(
        actor, str(pavilion.event_id), Msg("Only the event's organisers can rename pavilions.")
    )  # type: ignore[attr-defined]
    async with unit_of_work():
        await Pavilion.filter(id=pavilion.id).update(**data.model_dump())
        await audit.record(
            actor,
            "event.pavilion_changed",
            "event",
            event.id,
            before={"name": pavilion.name, "name_zh": pavilion.name_zh},
            after={"pavilion_id": str(pavilion.id), "name": data.name, "name_zh": data.name_zh},
            organization_id=event.organiser_id,  # type: ignore[attr-defined]
        )
    return await Pavilion.get(id=pavilion.id)


# --- booths --------------------------------------------------------------------------------


async def _checked_showcase(org_id: Any, event: Event, data: BoothIn) -> dict[str, Any]:
    """The booth's columns from `data`, each id checked: a pavilion of this event, the
    organisation's own published listings and open needs (never an anonymous one: the booth
    names its organisation), and its own members as attendees."""
    pavilion = await Pavilion.get_or_none(id=_uuid_or_none(data.pavilion_id), event_id=event.id)
    if pavilion is None:
        raise validation_error("pavilion_id", "Choose one of the event's pavilions.")
    listing_ids = [_uuid_or_none(x) for x in data.listing_ids]
    found = set(
        str(x)
        for x in await Listing.filter(
            id__in=[x for x in listing_ids if x],
            institute_id=org_id,
            state__in=list(LISTING_PUBLIC),
        ).values_list("id", flat=True)
    )
    for i, raw in enumerate(listing_ids):
        if raw not in found:
            raise validation_error(
                f"listing_ids.{i}", "Choose among your organisation's published listings."
            )
    need_ids = [_uuid_or_none(x) for x in data.need_ids]
    open_needs = set(
        str(x)
        for x in await Need.filter(
            id__in=[x for x in need_ids if x], seeker_id=org_id, state=NeedState.PUBLISHED
        )
        .exclude(visibility=Visibility.ANONYMOUS)
        .values_list("id", flat=True)
    )
    for i, raw in enumerate(need_ids):
        if raw not in open_needs:
            raise validation_error(
                f"need_ids.{i}",
                "Choose among your organisation's open needs (an anonymous need would name you).",
            )
    attendee_ids = [_uuid_or_none(x) for x in data.attendee_ids]
    members = set(
        str(x)
        for x in await Membership.filter(
            organization_id=org_id, user_id__in=[x for x in attendee_ids if x]
        ).values_list("user_id", flat=True)
    )
    for i, raw in enumerate(attendee_ids):
        if raw not in members:
            raise validation_error(f"attendee_ids.{i}", "Choose among your organisation's members.")
    return {
        "pavilion_id": pavilion.id,
        "listing_ids": listing_ids,
        "need_ids": need_ids,
        "attendee_ids": attendee_ids,
        "headline": data.headline,
        "headline_zh": data.headline_zh,
        "video_url": data.video_url,
    }


def _uuid_or_none(value: str) -> str | None:
    try:
        return object_id(value)
    except NotFound:
        return None


def _require_exhibitor(actor: Actor, doing: str) -> Organization:
    _require_user(actor)
    org = actor.organization
    if org is None or org.kind == OrganizationKind.PLATFORM:
        raise Forbidden("Only institutes and enterprises take booths.")
    roles.require(actor, Permission.LIST, doing)
    return require_verified(actor, doing)


async def apply_for_booth(actor: Actor, event_id: str, data: BoothIn) -> Booth:
    """The actor's organisation applies for a booth at a public event that has not closed; one
    rejected or withdrawn before applies again with what it sends now."""
    event = await get_event(actor, event_id)
    org = _require_exhibitor(actor, "apply for a booth")
    if str(event.state) not in states.PUBLIC or event.state == EventState.CLOSED:
        raise Conflict("The event takes no booth applications now.", state=str(event.state))
    columns = await _checked_showcase(org.id, event, data)
    existing = await Booth.get_or_none(event_id=event.id, organization_id=org.id)
    if existing is not None:
        if str(existing.state) in {BoothState.PENDING, BoothState.APPROVED}:
            raise Conflict(
                "Your organisation has a booth at this event already: change it instead.",
                state=str(existing.state),
            )
        async with unit_of_work():
            await apply(
                BOOTHING,
                existing.id,
                "reapply",
                actor,
                changes={**columns, "rejection_reason": "", "decided_at": None},
            )
        return await _load_booth(existing.id)
    try:
        async with unit_of_work():
            booth = await Booth.create(
                event_id=event.id, organization_id=org.id, created_by_id=actor.user_id, **columns
            )
            await audit.record(
                actor,
                "booth.applied",
                "booth",
                booth.id,
                after={"state": BoothState.PENDING.value, "event_id": str(event.id)},
                organization_id=org.id,
            )
            await outbox.emit(states.BOOTH_CHANGED, _booth_announced(booth, actor))
    except IntegrityError:
        raise Conflict(
            "Your organisation has a booth at this event already: change it instead.",
            state=BoothState.PENDING.value,
        ) from None
    return await _load_booth(booth.id)


async def update_booth(actor: Actor, booth_id: str, data: BoothIn) -> Booth:
    """Change what a pending or approved booth shows (its exhibitor)."""
    booth, event = await get_booth(actor, booth_id)
    if "exhibitor" not in booth_roles_with(actor, booth, event.organiser_id):  # type: ignore[attr-defined]
        raise Forbidden("Only the exhibiting organisation can change its booth.")
    columns = await _checked_showcase(booth.organization_id, event, data)  # type: ignore[attr-defined]
    async with unit_of_work():
        locked = await lock_existing(Booth, booth.id)
        if str(locked.state) not in {BoothState.PENDING, BoothState.APPROVED}:
            raise Conflict(
                Msg("A %(state)s booth cannot be changed; apply again.", state=locked.state),
                state=str(locked.state),
            )
        await Booth.filter(id=locked.id).update(**columns)
        await audit.record(
            actor,
            "booth.edited",
            "booth",
            locked.id,
            after={"listing_ids": columns["listing_ids"], "need_ids": columns["need_ids"]},
            organization_id=locked.organization_id,  # type: ignore[attr-defined]
        )
    return await _load_booth(booth.id)


async def _load_booth(booth_id: Any) -> Booth:
    booth = await Booth.get_or_none(id=object_id(str(booth_id), "booth")).select_related(
        "organization", "pavilion", "event"
    )
    if booth is None:
        raise NotFound("No such booth.")
    return booth


def can_see_booth(actor: Actor, booth: Booth, event: Event) -> bool:
    held = booth_roles_with(actor, booth, event.organiser_id)  # type: ignore[attr-defined]
    if held & {"organiser", "admin", "exhibitor"}:
        return True
    return booth.state == BoothState.APPROVED and str(event.state) in states.PUBLIC


async def get_booth(actor: Actor, booth_id: str) -> tuple[Booth, Event]:
    """The booth and its event: an approved booth of a public event to anyone, any other to
    its exhibitor, the organisers and the administrators (a 404 to anyone else)."""
    booth = await _load_booth(booth_id)
    event = booth.event
    if not can_see_booth(actor, booth, event):
        raise NotFound("No such booth.")
    return booth, event


async def _decide(
    actor: Actor, booth_id: str, action: str, changes: dict[str, Any], noted: dict | None = None
) -> Booth:
    _require_user(actor)
    booth, _ = await get_booth(actor, booth_id)
    async with unit_of_work():
        await apply(BOOTHING, booth.id, action, actor, changes=changes, noted=noted)
    return await _load_booth(booth.id)


async def approve_booth(actor: Actor, booth_id: str) -> Booth:
    return await _decide(actor, booth_id, "approve", {"decided_at": utcnow()})


async def reject_booth(actor: Actor, booth_id: str, reason: str) -> Booth:
    reason = reason.strip()
    if len(reason) < 3:
        raise validation_error("reason", "Say why, so the organisation can put it right.")
    if len(reason) > 2000:
        raise validation_error("reason", "Keep the reason within 2000 characters.")
    return await _decide(
        actor,
        booth_id,
        "reject",
        {"decided_at": utcnow(), "rejection_reason": reason},
        {"reason": reason},
    )


async def withdraw_booth(actor: Actor, booth_id: str) -> Booth:
    return await _decide(actor, booth_id, "withdraw", {"decided_at": utcnow()})


async def list_booths(
    actor: Actor,
    event: Event,
    *,
    q: str = "",
    pavilion_id: str | None = None,
    state: str | None = None,
    page: int = 1,
    per_page: int = 20,
) -> tuple[list[Booth], int]:
    """The event's approved booths (organisers may ask for another state, the applications),
    by pavilion, found by the organisation's name or the booth's headline."""
    query = Booth.filter(event_id=event.id)
    if state and state != BoothState.APPROVED:
        if state not in {s.value for s in BoothState}:
            raise validation_error("state", "Unknown state.")
        _require_organiser(
            actor, event, Msg("Only the event's organisers can see booth applications.")
        )
        query = query.filter(state=state)
    else:
        query = query.filter(state=BoothState.APPROVED)
    if pavilion_id:
        query = query.filter(pavilion_id=object_id(pavilion_id, "pavilion"))
    for word in _words(q):
        query = query.filter(
            Q(organization__name__icontains=word)
            | Q(headline__icontains=word)
            | Q(headline_zh__icontains=word)
        )
    total = await query.count()
    items = (
        await query.order_by("organization__name", "id")
        .offset((page - 1) * per_page)
        .limit(per_page)
        .select_related("organization", "pavilion")
    )
    return list(items), total


async def booth_counts(event: Event) -> dict[str, int]:
    """The approved booths of each pavilion (by pavilion id), in one query."""
    rows = (
        await Booth.filter(event_id=event.id, state=BoothState.APPROVED)
        .annotate(n=Count("id"))
        .group_by("pavilion_id")
        .values_list("pavilion_id", "n")
    )
    return {str(pavilion_id): n for pavilion_id, n in rows}


async def booth_of(actor: Actor, event: Event) -> Booth | None:
    """The actor's organisation's booth at the event, whatever its state."""
    if actor.organization_id is None:
        return None
    return (
        await Booth.filter(event_id=event.id, organization_id=actor.organization_id)
        .select_related("organization", "pavilion")
        .first()
    )


@dataclass
class EventPage:
    """What the event page reads for its viewer, as `get_event`, `blocks_of`, `pavilions_of`,
    `booth_counts`, `booth_of` and `hall.meetings.participant_of` would read it."""

    event: Event
    blocks: list[MeetingBlock]
    pavilions: list[Pavilion]
    # Approved booths by pavilion id (0 for a pavilion without any), and all of the event's.
    booth_counts: dict[str, int]
    booth_total: int
    # The viewer's organisation's booth, whatever its state, with its pavilion and organisation.
    own_booth: Booth | None
    # The viewer's own participation in the meetings, with its user and organisation.
    participant: Participant | None


# The event page's reads, written out (market/rows.py): the event with its organiser, the
# viewer's organisation's booth and the viewer's participation (each unique per event: one row
# at most) and the count of approved booths, in one statement; the pavilions with their
# approved booths, and the blocks, one each. 7 statements to 4 with the session.
_EVENT_PAGE = rows.Statement(
    "SELECT {e}, {o}, {b}, {bp}, {bo}, {p}, {pu}, {po},"
    " (SELECT count(*) FROM hall_booth c WHERE c.event_id = e.id AND c.state = 'approved')"
    " AS booth_total"
    " FROM hall_event e LEFT JOIN organization o ON o.id = e.organiser_id"
    " LEFT JOIN hall_booth b ON b.event_id = e.id AND b.organization_id = $1"
    " LEFT JOIN hall_pavilion bp ON bp.id = b.pavilion_id"
    " LEFT JOIN organization bo ON bo.id = b.organization_id"
    " LEFT JOIN hall_participant p ON p.event_id = e.id AND p.user_id = $2"
    ' LEFT JOIN "user" pu ON pu.id = p.user_id'
    " LEFT JOIN organization po ON po.id = p.organization_id"
    " WHERE e.id = $3",
    e=Event,
    o=Organization,
    b=Booth,
    bp=Pavilion,
    bo=Organization,
    p=Participant,
    pu=User,
    po=Organization,
)
_PAVILIONS_COUNTED = rows.Statement(
    "SELECT {p}, (SELECT count(*) FROM hall_booth b WHERE b.event_id = $1"
    " AND b.pavilion_id = p.id AND b.state = 'approved') AS booths"
    " FROM hall_pavilion p WHERE p.event_id = $2 ORDER BY p.position, p.name",
    p=Pavilion,
)
_BLOCKS = rows.Statement(
    "SELECT {k} FROM hall_block k WHERE k.event_id = $1 ORDER BY k.starts_at", k=MeetingBlock
)


async def event_page(actor: Actor, event_id: str) -> EventPage:
    """The event page's reads for the actor: the same 404 as `get_event` for an event the actor
    may not see (and then nothing more is read)."""
    org = actor.organization_id if actor.is_authenticated else None
    found = await _EVENT_PAGE.fetch([org, actor.user_id, object_id(str(event_id), "event")])
    event = rows.build(Event, found[0], "e") if found else None
    if event is None:
        raise NotFound("No such event.")
    row = found[0]
    event.organiser = rows.build(Organization, row, "o")
    if not can_see_event(actor, event):
        raise NotFound("No such event.")
    booth = rows.build(Booth, row, "b")
    if booth is not None:
        booth.pavilion = rows.build(Pavilion, row, "bp")
        booth.organization = rows.build(Organization, row, "bo")
    participant = rows.build(Participant, row, "p")
    if participant is not None:
        participant.user = rows.build(User, row, "pu")
        participant.organization = rows.build(Organization, row, "po")
    pavilions, counts = [], {}
    for found_row in await _PAVILIONS_COUNTED.fetch([event.id, event.id]):
        pavilion = rows.build(Pavilion, found_row, "p")
        assert pavilion is not None
        pavilions.append(pavilion)
        counts[str(pavilion.id)] = int(found_row["booths"])
    blocks = [rows.build(MeetingBlock, r, "k") for r in await _BLOCKS.fetch([event.id])]
    return EventPage(
        event=event,
        blocks=blocks,  # type: ignore[arg-type]
        pavilions=pavilions,
        booth_counts=counts,
        booth_total=int(row["booth_total"]),
        own_booth=booth,
        participant=participant,
    )


async def own_choices(actor: Actor) -> dict[str, Any]:
    """What the actor's organisation may show at a booth (the booth form's choices): its
    published listings, its open needs that name it, its active members."""
    org_id = actor.organization_id
    return {
        "own_listings": await Listing.filter(
            institute_id=org_id, state__in=list(LISTING_PUBLIC)
        ).order_by("title"),
        "own_needs": await Need.filter(seeker_id=org_id, state=NeedState.PUBLISHED)
        .exclude(visibility=Visibility.ANONYMOUS)
        .order_by("title"),
        "members": [
            m.user
            for m in await Membership.filter(organization_id=org_id, user__is_active=True)
            .order_by("created_at")
            .select_related("user")
        ],
    }


@dataclass
class Showcase:
    """What a booth shows, as it is now: what is no longer public is left out."""

    listings: list[Listing]
    needs: list[Need]
    attendees: list[User]


async def showcase(booth: Booth) -> Showcase:
    org_id = booth.organization_id  # type: ignore[attr-defined]
    listings = {
        str(x.id): x
        for x in await Listing.filter(
            id__in=list(booth.listing_ids) or [None],
            institute_id=org_id,
            state__in=list(LISTING_PUBLIC),
        )
    }
    needs = {
        str(x.id): x
        for x in await Need.filter(
            id__in=list(booth.need_ids) or [None], seeker_id=org_id, state=NeedState.PUBLISHED
        ).exclude(visibility=Visibility.ANONYMOUS)
    }
    members = set(
        str(x)
        for x in await Membership.filter(
            organization_id=org_id, user_id__in=list(booth.attendee_ids) or [None]
        ).values_list("user_id", flat=True)
    )
    people = {
        str(u.id): u for u in await User.filter(id__in=list(members) or [None], is_active=True)
    }
    return Showcase(
        listings=[listings[i] for i in booth.listing_ids if i in listings],
        needs=[needs[i] for i in booth.need_ids if i in needs],
        attendees=[people[i] for i in booth.attendee_ids if i in people],
    )


# --- brochures ------------------------------------------------------------------------------

BROCHURE_FIELD = "file"
MAX_BROCHURE_BYTES = 10 * 1024 * 1024
MAX_BROCHURES = 10


def brochure_dir() -> Path:
    return files.media_dir("brochures")


async def _exhibitors_booth(actor: Actor, booth_id: str) -> tuple[Booth, Event]:
    booth, event = await get_booth(actor, booth_id)
    if "exhibitor" not in booth_roles_with(actor, booth, event.organiser_id):  # type: ignore[attr-defined]
        raise Forbidden("Only the exhibiting organisation can change its booth.")
    return booth, event


async def add_brochure(actor: Actor, booth_id: str, title: str, data: bytes) -> Booth:
    """Put a PDF brochure on the booth (at most MAX_BROCHURES). The bytes decide the type;
    the file is stored before the row changes and removed again if the change fails."""
    booth, _ = await _exhibitors_booth(actor, booth_id)
    title = title.strip()
    if not 1 <= len(title) <= 120:
        raise validation_error("title", "Give the brochure a title of at most 120 characters.")
    content_type = files.accepted(
        data,
        accepts={files.PDF},
        limit=MAX_BROCHURE_BYTES,
        accepts_text="PDF files",
        field=BROCHURE_FIELD,
    )
    name, path = await files.store(brochure_dir(), data)
    try:
        async with unit_of_work():
            locked = await lock_existing(Booth, booth.id)
            if str(locked.state) not in {BoothState.PENDING, BoothState.APPROVED}:
                raise Conflict(
                    Msg("A %(state)s booth cannot be changed; apply again.", state=locked.state),
                    state=str(locked.state),
                )
            if len(locked.brochures) >= MAX_BROCHURES:
                raise validation_error(
                    BROCHURE_FIELD,
                    Msg("A booth shows at most %(n)s brochures.", n=MAX_BROCHURES),
                )
            brochures = [*locked.brochures, {"title": title, "name": name, "type": content_type}]
            await Booth.filter(id=locked.id).update(brochures=brochures)
            await audit.record(
                actor,
                "booth.brochure_added",
                "booth",
                locked.id,
                after={"title": title},
                organization_id=locked.organization_id,  # type: ignore[attr-defined]
            )
    except BaseException:
        files.unlink(path)
        raise
    return await _load_booth(booth.id)


async def remove_brochure(actor: Actor, booth_id: str, index: int) -> Booth:
    booth, _ = await _exhibitors_booth(actor, booth_id)
    async with unit_of_work():
        locked = await lock_existing(Booth, booth.id)
        if not 0 <= index < len(locked.brochures):
            raise NotFound("No such brochure.")
        gone = locked.brochures[index]
        kept = [b for i, b in enumerate(locked.brochures) if i != index]
        await Booth.filter(id=locked.id).update(brochures=kept)
        await audit.record(
            actor,
            "booth.brochure_removed",
            "booth",
            locked.id,
            before={"title": gone.get("title", "")},
            organization_id=locked.organization_id,  # type: ignore[attr-defined]
        )
        files.unlink_after_commit(files.path_of(brochure_dir(), str(gone.get("name", ""))))
    return await _load_booth(booth.id)


async def brochure(actor: Actor, booth_id: str, index: int) -> tuple[Path, str, str]:
    """A brochure's file, type and download name, to whoever may see the booth."""
    booth, _ = await get_booth(actor, booth_id)
    if not 0 <= index < len(booth.brochures):
        raise NotFound("No such brochure.")
    entry = booth.brochures[index]
    path = files.path_of(brochure_dir(), str(entry.get("name", "")))
    if not await files.existing(path):
        raise NotFound("No such brochure.")
    return path, str(entry.get("type", files.PDF)), str(entry.get("title", "brochure"))


# --- visits --------------------------------------------------------------------------------


def visitor_key(actor: Actor, anonymous_token: str, secret: str) -> str:
    """Who a visit counts as: the user, or for a visitor not logged in a keyed hash of their
    browser's anonymous token (never the token itself: the table is read by the organisers'
    figures)."""
    if actor.user_id:
        return actor.user_id
    digest = hmac.new(secret.encode(), anonymous_token.encode(), hashlib.sha256).hexdigest()
    return "a:" + digest[:60]


async def record_visit(
    booth: Booth, event: Event, visitor: str, at: datetime | None = None
) -> None:
    """Count a visit: one row per booth, day (in the event's zone) and visitor, so coming back
    the same day counts nothing. An insert that ignores the duplicate: nothing is locked, two
    racing views of one visitor leave one row."""
    day = local_day(event, at or utcnow())
    await BoothVisit.bulk_create(
        [BoothVisit(booth_id=booth.id, day=day, visitor=visitor)], ignore_conflicts=True
    )


async def visits_by_day(booth: Booth) -> dict[date, int]:
    """A booth's visitors per day (each counted once a day)."""
    rows = (
        await BoothVisit.filter(booth_id=booth.id)
        .annotate(n=Count("id"))
        .group_by("day")
        .order_by("day")
        .values_list("day", "n")
    )
    return {day: n for day, n in rows}
