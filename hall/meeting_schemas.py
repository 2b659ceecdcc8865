"""Input shapes of the hall's meetings, shared by the pages' forms and the JSON API: joining an
event's meetings (blocks and time zone), asking for a meeting, accepting it into a slot,
declining, cancelling and moving it.

A slot is named by its start, an aware time (UTC on the wire): a time without its offset is
refused rather than guessed in some zone."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from uuid import UUID
from zoneinfo import available_timezones

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

from listings.schemas import unique

# Sets are built once: available_timezones() reads the tz database from disk.
ZONES = frozenset(available_timezones())
MAX_TOPICS = 10


def _zone(value: str) -> str:
    if value not in ZONES:
        raise ValueError("Choose a time zone from the list (for example Europe/Berlin).")
    return value


def _ids(values: list[UUID]) -> list[str]:
    return unique([str(v) for v in values])


Zone = Annotated[str, Field(max_length=64), AfterValidator(_zone)]
Ids = Annotated[list[UUID], AfterValidator(_ids)]
Message = Annotated[str, Field(max_length=2000)]
Reason = Annotated[str, Field(max_length=2000)]


class JoinIn(BaseModel):
    """Joining an event's meetings as the current user, for their organisation."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    block_ids: Annotated[list[UUID], Field(min_length=1, max_length=100), AfterValidator(_ids)]
    timezone: Zone
    about: Annotated[str, Field(max_length=2000)] = ""


class RequestIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    guest_participant_id: UUID
    message: Message = ""
    listing_ids: Annotated[Ids, Field(max_length=MAX_TOPICS)] = Field(default_factory=list)
    need_ids: Annotated[Ids, Field(max_length=MAX_TOPICS)] = Field(default_factory=list)


class SlotIn(BaseModel):
    """Accepting a request into a slot, or moving a meeting to another."""

    model_config = ConfigDict(extra="forbid")

    slot_start: AwareDatetime


class DeclineIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    reason: Reason = ""


class CancelIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    reason: Reason = ""


def slot_of(value: datetime) -> datetime:
    """A slot's start as stored: UTC (the grid check refuses one off its minutes)."""
    return value.astimezone(UTC)
