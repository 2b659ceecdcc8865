"""Builders of what the deal tests start from: a meeting that has taken place, about a
listing of the institute that met an enterprise."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from hall.models import Event, Meeting, Participant
from listings.models import Listing
from market.accounts.models import User
from market.clock import utcnow
from tests.builders import a_published_listing, a_verified_enterprise, a_verified_institute
from tests.hall.builders import a_meeting, a_participant, an_event


@dataclass
class Met:
    event: Event
    meeting: Meeting
    buyer: User  # the enterprise's participant, who asked for the meeting
    seller: User  # the institute's participant, whose listing it was about
    requester: Participant
    guest: Participant
    listing: Listing


async def a_past_event(hours_ago: int = 26, **overrides: Any) -> Event:
    """A running event whose one online block started `hours_ago` hours ago (on the hour)."""
    start = (utcnow() - timedelta(hours=hours_ago)).replace(minute=0, second=0, microsecond=0)
    block = {"starts_at": start, "ends_at": start + timedelta(hours=2), "mode": "online"}
    fields = {
        "state": "running",
        "booking_opens_at": start - timedelta(days=10),
        # Days around the block in any zone: a block must start within its event's days.
        "starts_on": (start - timedelta(days=1)).date(),
        "ends_on": (start + timedelta(days=1)).date(),
    }
    fields.update(overrides)
    return await an_event(blocks=[block], **fields)


async def a_held_meeting(
    event: Event | None = None, *, buyer: User | None = None, **listing: Any
) -> Met:
    """An enterprise met an institute about one of its published listings, in the past."""
    event = event or await a_past_event()
    if buyer is None:
        buyer, _ = await a_verified_enterprise()
    seller, _ = await a_verified_institute()
    published = await a_published_listing(seller, **listing)
    requester = await a_participant(event, buyer, timezone="Europe/Berlin")
    guest = await a_participant(event, seller, timezone="Asia/Shanghai")
    meeting = await a_meeting(requester, guest, listing_ids=[str(published.id)])
    return Met(event, meeting, buyer, seller, requester, guest, published)
