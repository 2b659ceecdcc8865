"""The hall's one-to-one meetings: who takes part, who asks whom, and the slots they book.

A participant joins an event's meetings for their organisation, naming the blocks they are
available in and their own time zone. A request goes from one participant to another of
another organisation with whom they share a block, while the event takes bookings, within
the requester's quota (pending and accepted requests count; a declined, cancelled or expired
one frees its place). The guest accepts it into a slot of a block both share; an event whose
requests need no acceptance books the first slot both have free at once. On site, the meeting
gets the lowest table free in that slot; online, a video room.

No participant and no table is ever booked twice in a slot: each booked meeting inserts one
`SlotHold` per participant and per table, unique per (event, holder, start), with
`INSERT ... ON CONFLICT DO NOTHING RETURNING`. Of bookings racing for a slot the database
lets one insert, the others find the row taken (PostgreSQL makes them wait for the first to
commit) and are refused with a 409 that says who is busy, their unit of work rolled back whole.
A cancelled meeting deletes its holds (the slot is free again); a moved one swaps them in the
unit of work that moves it.

Every change of a request goes through the REQUEST table (hall/states.py) with
`transitions.apply`; a pending request lapses on the worker's clock (`expire_due`).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from tortoise import Tortoise
from tortoise.expressions import Q

from docking.models import Need, NeedState
from hall import service, states
from hall.meeting_schemas import JoinIn, RequestIn, slot_of
from hall.models import (
    Availability,
    BlockMode,
    Event,
    Meeting,
    MeetingBlock,
    MeetingRequest,
    MeetingState,
    Participant,
    RequestState,
    SlotHold,
)
from listings.models import Listing, ListingState
from market import audit, outbox
from market.accounts.service import require_verified
from market.actor import Actor
from market.clock import utcnow
from market.db import unit_of_work
from market.errors import Conflict, Forbidden, NotAuthenticated, NotFound, validation_error
from market.i18n import Msg
from market.locks import lock
from market.transitions import Lifecycle, apply, events_of
from market.validation import object_id

EVENTS = outbox.declare(states.REQUESTED, *events_of(states.REQUEST))
# The video rooms of online meetings: one unguessable room per meeting.
VIDEO_ROOMS = "https://meet.jit.si/techmarket-"
# Requests that take a place in the requester's quota, and that keep a pair from asking again.
OPEN = (RequestState.PENDING, RequestState.ACCEPTED)
# Events whose meetings one may join (and name one's blocks in) before and while booking.
JOINABLE = {"published", "booking_open", "running"}
MAX_WORDS = 8


# --- who is who ------------------------------------------------------------------------------


def organises(actor: Actor, event: Event) -> bool:
    """The event's organisers and the administrators: the hall's one rule (hall.service)."""
    return service.is_organiser(actor, event)


async def roles_on(actor: Actor, request: MeetingRequest) -> set[str]:
    """ "requester" and "guest" are the two participants' own users; "organiser" a manager of
    the event's organising organisation."""
    held = actor.standing()
    if actor.user is None:
        return held
    sides = [request.requester_id, request.guest_id]  # type: ignore[attr-defined]
    users = {
        str(p): str(u)
        for p, u in await Participant.filter(id__in=sides).values_list("id", "user_id")
    }
    me = str(actor.user.id)
    if users.get(str(sides[0])) == me:
        held.add("requester")
    if users.get(str(sides[1])) == me:
        held.add("guest")
    event = await Event.get(id=request.event_id)  # type: ignore[attr-defined]
    if organises(actor, event):
        held.add("organiser")
    return held


def _announced(request: MeetingRequest, actor: Actor) -> dict[str, Any]:
    return {
        "request_id": str(request.id),
        "event_id": str(request.event_id),  # type: ignore[attr-defined]
        "state": str(request.state),
        "actor_id": actor.user_id,
    }


async def _trail(request: MeetingRequest, actor: Actor) -> Any:
    # The acting side's trail; the system's moves (expiry, auto-acceptance) the requester's.
    if actor.organization_id:
        return actor.organization_id
    found = await Participant.filter(id=request.requester_id).values_list(  # type: ignore[attr-defined]
        "organization_id", flat=True
    )
    return found[0] if found else None


REQUESTING = Lifecycle(
    "meeting_request",
    MeetingRequest,
    states.REQUEST,
    roles=roles_on,
    payload=_announced,
    organization=_trail,
)


# --- reading ---------------------------------------------------------------------------------


async def get_event(actor: Actor, event_id: str) -> Event:
    """The event if anyone may see it (or the actor organises it); else the 404 of none."""
    event = await Event.get_or_none(id=object_id(str(event_id), "event"))
    if event is None or (str(event.state) not in states.PUBLIC and not organises(actor, event)):
        raise NotFound("No such event.")
    return event


def _require_user(actor: Actor) -> None:
    if actor.user is None:
        raise NotAuthenticated("Log in first.")


async def participant_of(actor: Actor, event: Event) -> Participant | None:
    """The actor's own participation in the event, if they joined."""
    if actor.user is None:
        return None
    return await Participant.get_or_none(event_id=event.id, user_id=actor.user.id).select_related(
        "user", "organization"
    )


async def participants_from(event: Event, organization_id: Any) -> list[Participant]:
    """The organisation's people taking part in the event's meetings: whom a visitor of its
    booth may ask for one."""
    return list(
        await Participant.filter(event_id=event.id, organization_id=organization_id)
        .order_by("created_at")
        .select_related("user", "organization")
    )


async def _me(actor: Actor, event: Event) -> Participant:
    _require_user(actor)
    me = await participant_of(actor, event)
    if me is None:
        raise Forbidden("Join the event's meetings first: choose your blocks and time zone.")
    return me


async def blocks_of(participant_ids: list[Any]) -> dict[str, list[str]]:
    """Each participant's blocks (ids as text), in one query."""
    found: dict[str, list[str]] = {str(p): [] for p in participant_ids}
    rows = await Availability.filter(participant_id__in=participant_ids).values_list(
        "participant_id", "block_id"
    )
    for participant_id, block_id in rows:
        found[str(participant_id)].append(str(block_id))
    return found


async def directory(
    actor: Actor, event_id: str, *, q: str = "", page: int = 1, per_page: int = 20
) -> tuple[Event, list[Participant], int]:
    """The event's participants, found by words of their name, organisation or about text;
    for logged-in users (it names people)."""
    _require_user(actor)
    event = await get_event(actor, event_id)
    words = q.split()
    if len(words) > MAX_WORDS:
        raise validation_error(
            "q", Msg("Search with at most %(max_words)s words.", max_words=MAX_WORDS)
        )
    query = Participant.filter(event_id=event.id)
    for word in words:
        query = query.filter(
            Q(user__name__icontains=word)
            | Q(organization__name__icontains=word)
            | Q(about__icontains=word)
        )
    total = await query.count()
    items = (
        await query.order_by("organization__name", "user__name", "id")
        .offset((page - 1) * per_page)
        .limit(per_page)
        .select_related("user", "organization")
    )
    return event, list(items), total


async def get_participant(actor: Actor, event: Event, participant_id: str) -> Participant:
    _require_user(actor)
    found = await Participant.get_or_none(
        id=object_id(str(participant_id), "participant"), event_id=event.id
    ).select_related("user", "organization")
    if found is None:
        raise NotFound("No such participant.")
    return found


# --- joining ---------------------------------------------------------------------------------


async def join(actor: Actor, event_id: str, data: JoinIn) -> Participant:
    """Take part in the event's meetings as the actor, for their organisation; joining again
    changes one's blocks, time zone and about text. A block with one's scheduled meetings in it
    cannot be left while they stand."""
    _require_user(actor)
    require_verified(actor, "take part in an event's meetings")
    event = await get_event(actor, event_id)
    if str(event.state) not in JOINABLE:
        raise Conflict(
            Msg("The event is %(state)s: its meetings can no longer be joined.", state=event.state),
            state=str(event.state),
        )
    wanted = set(data.block_ids)
    known = {
        str(b)
        for b in await MeetingBlock.filter(event_id=event.id, id__in=list(wanted)).values_list(
            "id", flat=True
        )
    }
    if known != wanted:
        raise validation_error("block_ids", "Choose blocks of this event.")
    async with unit_of_work():
        existing = await Participant.get_or_none(event_id=event.id, user_id=actor.user.id)  # type: ignore[union-attr]
        if existing is None:
            participant = await Participant.create(
                event=event,
                user_id=actor.user.id,  # type: ignore[union-attr]
                organization_id=actor.organization_id,
                timezone=data.timezone,
                about=data.about,
            )
            had: set[str] = set()
            action = "participant.joined"
        else:
            participant = await lock(Participant, existing.id)  # type: ignore[assignment]
            had = set((await blocks_of([participant.id]))[str(participant.id)])
            left = had - wanted
            if (
                left
                and await Meeting.filter(
                    Q(request__requester_id=participant.id) | Q(request__guest_id=participant.id),
                    block_id__in=list(left),
                    state=MeetingState.SCHEDULED,
                ).exists()
            ):
                raise validation_error(
                    "block_ids",
                    "You have meetings in a block you left out: cancel or move them first.",
                )
            await Participant.filter(id=participant.id).update(
                timezone=data.timezone, about=data.about
            )
            await Availability.filter(
                participant_id=participant.id, block_id__in=list(left)
            ).delete()
            action = "participant.changed"
        for block_id in sorted(wanted - had):
            await Availability.create(participant_id=participant.id, block_id=block_id)
        await audit.record(
            actor,
            action,
            "participant",
            participant.id,
            before={"blocks": sorted(had)} if had else None,
            after={"blocks": sorted(wanted), "timezone": data.timezone},
        )
    return await Participant.get(id=participant.id).select_related("user", "organization")


# --- asking ----------------------------------------------------------------------------------


def _require_booking(event: Event, now: datetime) -> None:
    """Requests and bookings only while the event takes them and its window is open."""
    state = str(event.state)
    if state not in states.BOOKING:
        raise Conflict(
            Msg(
                "The event is %(state)s: it takes no meeting requests.",
                state=state.replace("_", " "),
            ),
            state=state,
        )
    if now < event.booking_opens_at:
        raise Conflict(
            Msg(
                "Booking opens at %(time)s UTC.",
                time=event.booking_opens_at.strftime("%Y-%m-%d %H:%M"),
            ),
            state=state,
        )
    if now >= event.booking_closes_at:
        raise Conflict(
            Msg(
                "Booking closed at %(time)s UTC.",
                time=event.booking_closes_at.strftime("%Y-%m-%d %H:%M"),
            ),
            state=state,
        )


async def shared_blocks(a: Participant, b: Participant) -> list[MeetingBlock]:
    """The blocks both are available in, earliest first."""
    mine = Availability.filter(participant_id=a.id).values_list("block_id", flat=True)
    theirs = Availability.filter(participant_id=b.id).values_list("block_id", flat=True)
    both = set(await mine) & set(await theirs)
    return list(await MeetingBlock.filter(id__in=list(both)).order_by("starts_at"))


async def _check_topics(me: Participant, guest: Participant, data: RequestIn) -> None:
    """A request may be about the published listings and open needs of either side."""
    sides = [me.organization_id, guest.organization_id]  # type: ignore[attr-defined]
    if data.listing_ids:
        found = await Listing.filter(
            id__in=data.listing_ids, institute_id__in=sides, state=ListingState.PUBLISHED
        ).count()
        if found != len(data.listing_ids):
            raise validation_error(
                "listing_ids", "Choose published listings of your organisation or theirs."
            )
    if data.need_ids:
        found = await Need.filter(
            id__in=data.need_ids, seeker_id__in=sides, state=NeedState.PUBLISHED
        ).count()
        if found != len(data.need_ids):
            raise validation_error("need_ids", "Choose open needs of your organisation or theirs.")


async def request_meeting(actor: Actor, event_id: str, data: RequestIn) -> MeetingRequest:
    """Ask another participant for a meeting. When the event needs no acceptance, the request
    is accepted at once into the first slot both have free (or refused, whole, if none is)."""
    event = await get_event(actor, event_id)
    me = await _me(actor, event)
    now = utcnow()
    _require_booking(event, now)
    field = "guest_participant_id"
    guest = await Participant.get_or_none(
        id=str(data.guest_participant_id), event_id=event.id
    ).select_related("user", "organization")
    if guest is None:
        raise validation_error(field, "Choose a participant of this event.")
    if guest.id == me.id:
        raise validation_error(field, "You cannot ask yourself for a meeting.")
    if guest.organization_id == me.organization_id:  # type: ignore[attr-defined]
        raise validation_error(
            field, "They are of your own organisation: meet them without booking."
        )
    shared = await shared_blocks(me, guest)
    if not shared:
        raise validation_error(
            field, "You share no meeting block with them: add one of their blocks to yours."
        )
    await _check_topics(me, guest, data)
    async with unit_of_work():
        if not event.requests_need_acceptance:
            await _lock_blocks(shared)  # booked at once, below
        # Each participant's requests queue on its row: the quota counted next stays true
        # until this one is written.
        await lock(Participant, me.id)
        pair = Q(requester_id=me.id, guest_id=guest.id) | Q(requester_id=guest.id, guest_id=me.id)
        if await MeetingRequest.filter(pair, event_id=event.id, state__in=OPEN).exists():
            raise Conflict("You already have a meeting or a request open with them.")
        sent = await MeetingRequest.filter(
            event_id=event.id, requester_id=me.id, state__in=OPEN
        ).count()
        if sent >= event.max_requests_per_participant:
            raise Conflict(
                Msg(
                    "You have %(count)s requests open, as many as this event allows: wait for "
                    "answers or cancel one.",
                    count=sent,
                )
            )
        request = await MeetingRequest.create(
            event=event,
            requester=me,
            guest=guest,
            message=data.message,
            listing_ids=data.listing_ids,
            need_ids=data.need_ids,
            expires_at=now + timedelta(hours=event.request_expiry_hours)
            if event.requests_need_acceptance
            else None,
        )
        await audit.record(
            actor,
            "meeting_request.created",
            "meeting_request",
            request.id,
            after={"state": RequestState.PENDING.value, "guest_id": str(guest.id)},
        )
        if event.requests_need_acceptance:
            await outbox.emit(
                states.REQUESTED,
                {
                    "request_id": str(request.id),
                    "event_id": str(event.id),
                    "actor_id": actor.user_id,
                },
            )
        else:
            await _accept_at_once(event, request, me, guest, shared, now)
    return await load_request(request.id)


async def _accept_at_once(
    event: Event,
    request: MeetingRequest,
    me: Participant,
    guest: Participant,
    shared: list[MeetingBlock],
    now: datetime,
) -> None:
    await apply(REQUESTING, request.id, "accept", Actor.system(), changes={"decided_at": now})
    await _book_first_free(event, request, me, guest, shared, now)


async def _book_first_free(
    event: Event,
    request: MeetingRequest,
    requester: Participant,
    guest: Participant,
    shared: list[MeetingBlock],
    now: datetime,
) -> Meeting:
    """Book the first slot of the shared blocks in which both (and, on site, a table) are
    free; a 409 when none is."""
    for block, slot in _slots(event, shared, after=now):
        meeting = await _meeting_row(event, request, block, slot)
        if await _take_slot(event, meeting, block, slot, requester, guest, refuse=False):
            return meeting
        await meeting.delete()
    raise Conflict("You and they have no free slot in common left: none was booked.")


async def schedule_pending(actor: Actor, event_id: str) -> tuple[int, int]:
    """The organiser's scheduler: each pending request of the event, oldest first, accepted
    by the organiser into the first slot both sides have free (a free table on site), each in
    a unit of work of its own; a request with no free slot left stays pending. Returns how
    many were booked and how many are left."""
    _require_user(actor)
    event = await get_event(actor, event_id)
    if not organises(actor, event):
        raise Forbidden("Only the event's organisers schedule its meetings.")
    now = utcnow()
    _require_booking(event, now)
    pending = (
        await MeetingRequest.filter(event_id=event.id, state=RequestState.PENDING)
        .order_by("created_at", "id")
        .values_list("id", flat=True)
    )
    booked = 0
    for request_id in pending:
        request = await load_request(request_id)
        shared = await shared_blocks(request.requester, request.guest)
        try:
            async with unit_of_work():
                await _lock_blocks(shared)
                await apply(
                    REQUESTING,
                    request.id,
                    "accept",
                    actor,
                    changes={"decided_at": now, "expires_at": None},
                    noted={"scheduled": True},
                )
                await _book_first_free(
                    event, request, request.requester, request.guest, shared, now
                )
        except Conflict:
            continue  # answered meanwhile, or no slot left for the two: it stays as it is
        booked += 1
    return booked, len(pending) - booked


# --- slots -----------------------------------------------------------------------------------


def _slots(
    event: Event, blocks: list[MeetingBlock], *, after: datetime
) -> list[tuple[MeetingBlock, datetime]]:
    length = timedelta(minutes=event.meeting_minutes)
    found = []
    for block in blocks:
        start = block.starts_at
        while start + length <= block.ends_at:
            if start > after:
                found.append((block, start))
            start += length
    return found


async def free_slots(
    event: Event, me: Participant, other: Participant
) -> list[tuple[MeetingBlock, datetime]]:
    """The slots of the blocks both share in which neither is booked (and, on site, a table
    is free): what the accept form offers."""
    shared = await shared_blocks(me, other)
    slots = _slots(event, shared, after=utcnow())
    if not slots:
        return []
    holds = await SlotHold.filter(
        event_id=event.id, starts_at__in=[s for _, s in slots]
    ).values_list("holder", "starts_at")
    busy = {(h, s) for h, s in holds}
    free = []
    for block, slot in slots:
        if (f"p:{me.id}", slot) in busy or (f"p:{other.id}", slot) in busy:
            continue
        if block.mode == BlockMode.ONSITE:
            taken = sum(1 for h, s in busy if s == slot and h.startswith(f"t:{block.id}:"))
            if taken >= (block.tables or 0):
                continue
        free.append((block, slot))
    return free


async def _lock_blocks(blocks: list[MeetingBlock]) -> None:
    """A booking locks the blocks it books in, as a block's change or removal does
    (hall.service, after the event): the change then either waits for the booking and sees
    its meeting, or goes first and the booking sees the block as changed. Rows of one kind are
    locked by id, so two bookings never wait on each other in a circle."""
    if not blocks:
        return
    # The meeting and holds this booking inserts reference the event, which takes a key-share
    # lock on it; a block's change holds the event (FOR UPDATE) before its block. Taking that
    # key-share first, before the block, keeps the two from waiting on each other in a circle.
    conn = Tortoise.get_connection("default")
    if conn.capabilities.dialect == "postgres":
        await conn.execute_query(
            "SELECT id FROM hall_event WHERE id = $1 FOR KEY SHARE", [blocks[0].event_id]
        )
    for block in sorted(blocks, key=lambda b: str(b.id)):
        await lock(MeetingBlock, block.id)


async def _lock_block_at(event: Event, slot: datetime) -> None:
    """Lock the block a slot lies in, if any (`_block_for` then reads it, locked)."""
    length = timedelta(minutes=event.meeting_minutes)
    found = await MeetingBlock.filter(
        event_id=event.id, starts_at__lte=slot, ends_at__gte=slot + length
    ).first()
    if found is not None:
        await _lock_blocks([found])


async def _block_for(event: Event, slot: datetime, a: Participant, b: Participant) -> MeetingBlock:
    """The block a slot start lies in, on its grid, both sides available: else a 422 naming
    `slot_start`."""
    field = "slot_start"
    length = timedelta(minutes=event.meeting_minutes)
    block = await MeetingBlock.filter(
        event_id=event.id, starts_at__lte=slot, ends_at__gte=slot + length
    ).first()
    if block is None:
        raise validation_error(field, "Choose a slot inside one of the event's meeting blocks.")
    offset = (slot - block.starts_at).total_seconds()
    if offset % length.total_seconds():
        raise validation_error(
            field,
            Msg(
                "Slots start every %(minutes)s minutes from the block's start.",
                minutes=event.meeting_minutes,
            ),
        )
    if slot <= utcnow():
        raise validation_error(field, "Choose a slot that has not begun.")
    both = await Availability.filter(block_id=block.id, participant_id__in=[a.id, b.id]).count()
    if both != 2:
        raise validation_error(field, "Choose a slot in a block both of you are available in.")
    return block


async def _meeting_row(
    event: Event, request: MeetingRequest, block: MeetingBlock, slot: datetime
) -> Meeting:
    return await Meeting.create(
        event=event,
        request=request,
        block=block,
        starts_at=slot,
        ends_at=slot + timedelta(minutes=event.meeting_minutes),
        table_no=None,
        video_url=_video_room() if block.mode == BlockMode.ONLINE else "",
    )


def _video_room() -> str:
    return VIDEO_ROOMS + secrets.token_urlsafe(12)


_HOLD = (
    "INSERT INTO hall_slot_hold (event_id, meeting_id, holder, starts_at) VALUES (?, ?, ?, ?) "
    "ON CONFLICT DO NOTHING RETURNING id"
)


def _sql(statement: str, dialect: str) -> str:
    """Written with `?` (SQLite's style); asyncpg numbers its parameters."""
    if dialect != "postgres":
        return statement
    parts = statement.split("?")
    return "".join(f"{part}${n}" for n, part in enumerate(parts[:-1], 1)) + parts[-1]


async def _hold(event: Event, meeting: Meeting, holder: str, slot: datetime) -> bool:
    """Insert one hold; False when the holder is taken in that slot. DO NOTHING rather than an
    IntegrityError: a failed insert would abort the whole PostgreSQL transaction, where the
    booking may still try another table or another slot."""
    conn = Tortoise.get_connection("default")
    starts_at = SlotHold._meta.fields_map["starts_at"].to_db_value(slot, SlotHold)
    rows = await conn.execute_query_dict(
        _sql(_HOLD, conn.capabilities.dialect),
        [str(event.id), str(meeting.id), holder, starts_at],
    )
    return bool(rows)


async def _take_slot(
    event: Event,
    meeting: Meeting,
    block: MeetingBlock,
    slot: datetime,
    requester: Participant,
    guest: Participant,
    *,
    refuse: bool = True,
) -> bool:
    """Hold both participants and, on site, the lowest free table for the meeting. With
    `refuse`, a taken slot is a 409 saying who is busy (the caller's unit of work rolls back);
    without, False after undoing this attempt's holds."""
    # Always in the same order (by id), so that bookings of three or more people across each
    # other (a with b, b with c, c with a) queue instead of waiting on each other in a circle.
    for person in sorted((requester, guest), key=lambda p: str(p.id)):
        if not await _hold(event, meeting, f"p:{person.id}", slot):
            if refuse:
                raise Conflict(
                    Msg(
                        "%(name)s has a meeting at that time already: choose another slot.",
                        name=person.user.name,
                    )
                )
            await SlotHold.filter(meeting_id=meeting.id).delete()
            return False
    if block.mode != BlockMode.ONSITE:
        return True
    prefix = f"t:{block.id}:"
    taken = set(
        await SlotHold.filter(
            event_id=event.id, starts_at=slot, holder__startswith=prefix
        ).values_list("holder", flat=True)
    )
    for table in range(1, (block.tables or 0) + 1):
        holder = f"{prefix}{table}"
        # Another booking may take a table between the read above and the insert: the insert
        # decides, and the next table is tried.
        if holder not in taken and await _hold(event, meeting, holder, slot):
            await Meeting.filter(id=meeting.id).update(table_no=table)
            meeting.table_no = table
            return True
    if refuse:
        raise Conflict("No table is free at that time: choose another slot.")
    await SlotHold.filter(meeting_id=meeting.id).delete()
    return False


# --- deciding --------------------------------------------------------------------------------


async def load_request(request_id: Any) -> MeetingRequest:
    found = await MeetingRequest.get_or_none(id=request_id).select_related(
        "event",
        "requester__user",
        "requester__organization",
        "guest__user",
        "guest__organization",
    )
    if found is None:
        raise NotFound("No such meeting request.")
    return found


async def get_request(actor: Actor, request_id: str) -> MeetingRequest:
    """A request, to its two sides, the event's organisers and the administrators; anyone else
    gets the 404 of none."""
    _require_user(actor)
    request = await load_request(object_id(str(request_id), "meeting request"))
    if not await REQUESTING.roles_of(actor, request) & {"requester", "guest", "organiser", "admin"}:
        raise NotFound("No such meeting request.")
    return request


async def accept(actor: Actor, request_id: str, slot_start: datetime) -> Meeting:
    """The guest (or an organiser) accepts a pending request into a slot."""
    request = await get_request(actor, request_id)
    event = request.event
    now = utcnow()
    slot = slot_of(slot_start)
    async with unit_of_work():
        await _lock_block_at(event, slot)
        # The state and the actor's right first (409/403), then the slot (422), then the
        # holds (409): whichever refuses, nothing is written.
        await apply(
            REQUESTING,
            request.id,
            "accept",
            actor,
            changes={"decided_at": now, "expires_at": None},
            noted={"slot_start": slot.isoformat()},
        )
        _require_booking(event, now)
        block = await _block_for(event, slot, request.requester, request.guest)
        meeting = await _meeting_row(event, request, block, slot)
        await _take_slot(event, meeting, block, slot, request.requester, request.guest)
    return await load_meeting(meeting.id)


async def decline(actor: Actor, request_id: str, reason: str = "") -> MeetingRequest:
    request = await get_request(actor, request_id)
    async with unit_of_work():
        await apply(
            REQUESTING,
            request.id,
            "decline",
            actor,
            changes={"decided_at": utcnow(), "expires_at": None, "decline_reason": reason},
            noted={"reason": reason},
            announced={"reason": reason},
        )
    return await load_request(request.id)


async def cancel(actor: Actor, request_id: str, reason: str = "") -> MeetingRequest:
    """The requester withdraws a pending request; either side (or an organiser) cancels an
    accepted one's meeting, which frees its slot and table."""
    request = await get_request(actor, request_id)
    async with unit_of_work():
        moved = await apply(
            REQUESTING,
            request.id,
            "cancel",
            actor,
            changes={"decided_at": utcnow(), "expires_at": None},
            noted={"reason": reason},
            announced={"reason": reason, "change": "cancelled"},
        )
        booked = await Meeting.get_or_none(request_id=request.id)
        if moved.before == RequestState.ACCEPTED and booked is not None:
            meeting = await lock(Meeting, booked.id)
            assert meeting is not None
            await Meeting.filter(id=meeting.id).update(
                state=MeetingState.CANCELLED, sequence=meeting.sequence + 1
            )
            await SlotHold.filter(meeting_id=meeting.id).delete()
    return await load_request(request.id)


async def reschedule(actor: Actor, meeting_id: str, slot_start: datetime) -> Meeting:
    """Move a scheduled meeting to another slot both sides share; either side or an organiser
    may. The old slot is freed and the new one held in one unit of work."""
    meeting = await get_meeting(actor, meeting_id)
    request = meeting.request
    event = meeting.event
    slot = slot_of(slot_start)
    now = utcnow()
    async with unit_of_work():
        await _lock_block_at(event, slot)
        await apply(
            REQUESTING,
            request.id,
            "reschedule",
            actor,
            was={"slot_start": meeting.starts_at.isoformat()},
            noted={"slot_start": slot.isoformat()},
            announced={
                "change": "rescheduled",
                "meeting_id": str(meeting.id),
                "previous_start": meeting.starts_at.isoformat(),
            },
        )
        current = await lock(Meeting, meeting.id)
        assert current is not None
        if current.state != MeetingState.SCHEDULED:
            raise Conflict("The meeting is cancelled.", state=str(current.state))
        _require_booking(event, now)
        block = await _block_for(event, slot, request.requester, request.guest)
        await SlotHold.filter(meeting_id=meeting.id).delete()
        video = current.video_url if block.mode == BlockMode.ONLINE else ""
        await Meeting.filter(id=meeting.id).update(
            block_id=block.id,
            starts_at=slot,
            ends_at=slot + timedelta(minutes=event.meeting_minutes),
            table_no=None,
            video_url=video or (_video_room() if block.mode == BlockMode.ONLINE else ""),
            sequence=current.sequence + 1,
        )
        await _take_slot(event, current, block, slot, request.requester, request.guest)
    return await load_meeting(meeting.id)


# --- the clock -------------------------------------------------------------------------------


async def expire_request(request_id: Any, now: datetime | None = None) -> bool:
    """Let one pending request lapse, as the system; False when it is not due."""
    now = now or utcnow()
    async with unit_of_work():
        current = await lock(MeetingRequest, request_id)
        if current is None or current.expires_at is None or current.expires_at > now:
            return False
        await apply(
            REQUESTING,
            request_id,
            "expire",
            Actor.system(),
            changes={"decided_at": now, "expires_at": None},
        )
    return True


async def expire_due(now: datetime | None = None) -> int:
    """Every pending request past its time lapses, freeing its place in the requester's
    quota; the worker's cron runs this. Returns how many lapsed."""
    now = now or utcnow()
    due = await MeetingRequest.filter(state=RequestState.PENDING, expires_at__lte=now).values_list(
        "id", flat=True
    )
    lapsed = 0
    for request_id in due:
        try:
            lapsed += await expire_request(request_id, now)
        except Conflict:
            continue  # decided meanwhile
    return lapsed


# --- meetings --------------------------------------------------------------------------------


async def load_meeting(meeting_id: Any) -> Meeting:
    found = await Meeting.get_or_none(id=meeting_id).select_related(
        "event",
        "block",
        "request__requester__user",
        "request__requester__organization",
        "request__guest__user",
        "request__guest__organization",
    )
    if found is None:
        raise NotFound("No such meeting.")
    return found


async def get_meeting(actor: Actor, meeting_id: str) -> Meeting:
    _require_user(actor)
    meeting = await load_meeting(object_id(str(meeting_id), "meeting"))
    roles = await REQUESTING.roles_of(actor, meeting.request)
    if not roles & {"requester", "guest", "organiser", "admin"}:
        raise NotFound("No such meeting.")
    return meeting


async def meetings_of(participant: Participant, *, scheduled_only: bool = False) -> list[Meeting]:
    """A participant's meetings, earliest first."""
    query = Meeting.filter(
        Q(request__requester_id=participant.id) | Q(request__guest_id=participant.id)
    )
    if scheduled_only:
        query = query.filter(state=MeetingState.SCHEDULED)
    return list(
        await query.order_by("starts_at", "id").select_related(
            "event",
            "block",
            "request__requester__user",
            "request__requester__organization",
            "request__guest__user",
            "request__guest__organization",
        )
    )


async def requests_of(
    participant: Participant,
) -> tuple[list[MeetingRequest], list[MeetingRequest]]:
    """The requests a participant received and sent, newest first."""
    related = (
        "requester__user",
        "requester__organization",
        "guest__user",
        "guest__organization",
    )
    received = (
        await MeetingRequest.filter(guest_id=participant.id)
        .order_by("-created_at", "id")
        .select_related(*related)
    )
    sent = (
        await MeetingRequest.filter(requester_id=participant.id)
        .order_by("-created_at", "id")
        .select_related(*related)
    )
    return list(received), list(sent)


async def my_agenda(actor: Actor, event_id: str) -> tuple[Event, Participant, list[Meeting]]:
    event = await get_event(actor, event_id)
    me = await _me(actor, event)
    return event, me, await meetings_of(me)


# --- what each side sees ---------------------------------------------------------------------


@dataclass(frozen=True)
class Times:
    """A moment in the viewer's zone, with the other side's local time beside it."""

    utc: datetime
    mine: datetime
    theirs: datetime
    my_zone: str
    their_zone: str


def times(moment: datetime, my_zone: str, their_zone: str) -> Times:
    return Times(
        utc=moment,
        mine=moment.astimezone(ZoneInfo(my_zone)),
        theirs=moment.astimezone(ZoneInfo(their_zone)),
        my_zone=my_zone,
        their_zone=their_zone,
    )


def other_side(request: MeetingRequest, me: Participant | None) -> Participant:
    """The participant across the table from `me` (the guest for an onlooker)."""
    if me is not None and request.guest_id == me.id:  # type: ignore[attr-defined]
        return request.requester
    return request.guest


def person_json(p: Participant) -> dict[str, Any]:
    return {
        "id": str(p.id),
        "name": p.user.name,
        "organization": {
            "id": str(p.organization.id),
            "name": p.organization.name,
            "slug": p.organization.slug,
        },
        "timezone": p.timezone,
    }


def participant_json(p: Participant, blocks: list[str]) -> dict[str, Any]:
    return {**person_json(p), "about": p.about, "block_ids": blocks}


def request_json(request: MeetingRequest) -> dict[str, Any]:
    return {
        "id": str(request.id),
        "event_id": str(request.event_id),  # type: ignore[attr-defined]
        "state": str(request.state),
        "requester": person_json(request.requester),
        "guest": person_json(request.guest),
        "message": request.message,
        "listing_ids": list(request.listing_ids),
        "need_ids": list(request.need_ids),
        "expires_at": _iso(request.expires_at),
        "decline_reason": request.decline_reason,
        "created_at": _iso(request.created_at),
        "decided_at": _iso(request.decided_at),
    }


def meeting_json(meeting: Meeting, viewer: Participant | None = None) -> dict[str, Any]:
    """A meeting in UTC, with each side's local start (the viewer's as `local_start`)."""
    request = meeting.request
    other = other_side(request, viewer)
    data: dict[str, Any] = {
        "id": str(meeting.id),
        "request_id": str(request.id),
        "event_id": str(meeting.event_id),  # type: ignore[attr-defined]
        "state": str(meeting.state),
        "starts_at": _iso(meeting.starts_at),
        "ends_at": _iso(meeting.ends_at),
        "mode": str(meeting.block.mode),
        "table": meeting.table_no,
        "video_url": meeting.video_url or None,
        "requester": person_json(request.requester),
        "guest": person_json(request.guest),
        "listing_ids": list(request.listing_ids),
        "need_ids": list(request.need_ids),
        "sequence": meeting.sequence,
    }
    if viewer is not None:
        seen = times(meeting.starts_at, viewer.timezone, other.timezone)
        data["local_start"] = seen.mine.isoformat()
        data["their_local_start"] = seen.theirs.isoformat()
    return data


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
