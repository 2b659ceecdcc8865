"""Builders of the hall's rows. They write rows directly until the hall's use cases exist;
whoever lands a use case makes its builder go through it, keeping the signature. Events,
their blocks, pavilions and booths go through hall.service (as an administrator for the
organiser, or as the exhibiting organisation's first member).

`a_participant` joins through `hall.meetings.join` and `a_meeting` books through
`request_meeting` and `accept`, wherever the use cases would: a participant available
nowhere, or a meeting the service would refuse (a slot already begun, a chosen table) is
written directly, for the tests of what follows a meeting."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from typing import Any

from hall import meetings, service
from hall.meeting_schemas import JoinIn, RequestIn
from hall.models import (
    Availability,
    Booth,
    Event,
    Meeting,
    MeetingBlock,
    MeetingRequest,
    Participant,
    Pavilion,
    RequestState,
    SlotHold,
)
from hall.schemas import BlockIn, BoothIn, EventIn, PavilionIn
from market.accounts.models import Membership, Organization, User
from market.clock import utcnow
from market.validation import parse
from tests.builders import a_verified_enterprise, a_verified_institute, actor_of, an_admin

_seq = itertools.count(1)

# The first meeting day of events built here: far enough ahead that booking is open.
DAY = date(2031, 5, 20)


def at(hour: int, minute: int = 0, day: date = DAY) -> datetime:
    """A UTC time on the events' first day."""
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


async def an_organiser() -> tuple[User, Organization]:
    """A verified organisation an administrator lets run events, and its owner."""
    user, org = await a_verified_institute(organization={"name": f"Fair Office {next(_seq)}"})
    org.organises_events = True
    await org.save(update_fields=["organises_events"])
    return user, org


async def an_event(
    organiser: Organization | None = None,
    *,
    blocks: list[dict[str, Any]] | None = None,
    **overrides: Any,
) -> Event:
    """An event open for booking with, unless told, one on-site block 09:00-11:00 UTC with 2
    tables and one online block 13:00-14:00 UTC, 30-minute meetings."""
    if organiser is None:
        _, organiser = await an_organiser()
    now = utcnow()
    fields = {
        "name": f"Tech Fair {next(_seq)}",
        "name_zh": "科技交易会",
        "description": "Brokerage meetings between institutes and enterprises.",
        "timezone": "Asia/Shanghai",
        "starts_on": DAY,
        "ends_on": DAY + timedelta(days=1),
        "booking_opens_at": now - timedelta(days=1),
        "booking_closes_at": at(0, day=DAY + timedelta(days=2)),
        "meeting_minutes": 30,
        "state": "booking_open",
    }
    fields.update(overrides)
    state = str(fields.pop("state"))
    admin = await actor_of(await an_admin())
    if not organiser.organises_events and organiser.kind != "platform":
        organiser = await service.grant_organiser(admin, str(organiser.id))
    event = await service.create_event(
        admin, parse(EventIn, {**fields, "organiser_id": str(organiser.id)})
    )
    if blocks is None:
        blocks = [
            {"starts_at": at(9), "ends_at": at(11), "mode": "onsite", "tables": 2},
            {"starts_at": at(13), "ends_at": at(14), "mode": "online"},
        ]
    for block in blocks:
        await service.add_block(admin, str(event.id), BlockIn(**block))
    for action in WALK[state]:
        await MOVES[action](admin, str(event.id))
    return await Event.get(id=event.id)


# The moves that take a new (draft) event to each state.
WALK = {
    "draft": (),
    "published": ("publish",),
    "booking_open": ("publish", "open_booking"),
    "running": ("publish", "start"),
    "closed": ("publish", "close"),
}
MOVES = {
    "publish": service.publish_event,
    "open_booking": service.open_booking,
    "start": service.start_event,
    "close": service.close_event,
}


async def a_pavilion(event: Event, **overrides: Any) -> Pavilion:
    fields = {"name": f"New Materials {next(_seq)}", "name_zh": "新材料"}
    fields.update(overrides)
    admin = await actor_of(await an_admin())
    return await service.add_pavilion(admin, str(event.id), PavilionIn(**fields))


async def a_booth(
    event: Event, organization: Organization | None = None, state: str = "approved", **overrides
) -> Booth:
    """A booth applied for by the organisation's first member (any other field of BoothIn in
    `overrides`), then decided by an administrator as `state` says."""
    if organization is None:
        _, organization = await a_verified_institute()
    pavilion = overrides.pop("pavilion", None) or await a_pavilion(event)
    membership = (
        await Membership.filter(organization_id=organization.id).order_by("created_at").first()
    )
    exhibitor = await actor_of(await User.get(id=membership.user_id))
    booth = await service.apply_for_booth(
        exhibitor, str(event.id), BoothIn(pavilion_id=str(pavilion.id), **overrides)
    )
    admin = await actor_of(await an_admin())
    if state == "approved":
        booth = await service.approve_booth(admin, str(booth.id))
    elif state == "rejected":
        booth = await service.reject_booth(admin, str(booth.id), "Not a fit for this fair")
    elif state == "withdrawn":
        booth = await service.withdraw_booth(exhibitor, str(booth.id))
    return booth


async def a_participant(
    event: Event,
    user: User | None = None,
    *,
    kind: str = "enterprise",
    blocks: list[MeetingBlock] | None = None,
    timezone: str = "Europe/Berlin",
) -> Participant:
    """A participant available in every block of the event unless told which."""
    if user is None:
        maker = a_verified_enterprise if kind == "enterprise" else a_verified_institute
        user, _ = await maker()
    chosen = blocks if blocks is not None else list(await event.blocks.all())
    if chosen and str(event.state) in meetings.JOINABLE:
        data = JoinIn(block_ids=[b.id for b in chosen], timezone=timezone)
        return await meetings.join(await actor_of(user), str(event.id), data)
    membership = await user.memberships.all().first()  # type: ignore[attr-defined]
    participant = await Participant.create(
        event=event, user=user, organization_id=membership.organization_id, timezone=timezone
    )
    for block in chosen:
        await Availability.create(participant=participant, block=block)
    return participant


async def a_meeting(
    requester: Participant,
    guest: Participant,
    *,
    block: MeetingBlock | None = None,
    starts_at: datetime | None = None,
    table_no: int | None = None,
    listing_ids: list[str] | None = None,
) -> Meeting:
    """An accepted request and its scheduled meeting, with its slot holds."""
    event = await requester.event
    if block is None:
        block = await MeetingBlock.filter(event=event).order_by("starts_at").first()
    starts_at = starts_at or block.starts_at
    if (
        table_no is None
        and starts_at > utcnow()
        and str(event.state) in {"booking_open", "running"}
    ):
        requester_user = await requester.user
        guest_user = await guest.user
        request = await meetings.request_meeting(
            await actor_of(requester_user),
            str(event.id),
            RequestIn(
                guest_participant_id=guest.id, message="Let us talk", listing_ids=listing_ids or []
            ),
        )
        if str(request.state) == "accepted":
            return await Meeting.get(request_id=request.id)
        return await meetings.accept(await actor_of(guest_user), str(request.id), starts_at)
    if block.mode == "onsite" and table_no is None:
        table_no = 1
    request = await MeetingRequest.create(
        event=event,
        requester=requester,
        guest=guest,
        message="Let us talk",
        listing_ids=listing_ids or [],
        state=RequestState.ACCEPTED,
        decided_at=utcnow(),
    )
    meeting = await Meeting.create(
        event=event,
        request=request,
        block=block,
        starts_at=starts_at,
        ends_at=starts_at + timedelta(minutes=event.meeting_minutes),
        table_no=table_no,
        video_url="" if block.mode == "onsite" else f"https://meet.example.org/{request.id}",
    )
    holders = [f"p:{requester.id}", f"p:{guest.id}"]
    if table_no is not None:
        holders.append(f"t:{block.id}:{table_no}")
    for holder in holders:
        await SlotHold.create(event=event, meeting=meeting, holder=holder, starts_at=starts_at)
    return meeting
