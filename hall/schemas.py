"""The hall's input shapes (events, blocks, pavilions, booths), shared by the forms and the API.

Every rule of an event's input is here, so the form and the API refuse the same things with the
same field names: a known IANA time zone, an end day not before the start day, a booking window
that closes after it opens, a meeting length of 15, 20 or 30 minutes, bounded expiry hours and
quotas; a block that ends after it starts, on-site with its tables, online without. What needs
the stored event (a block inside its days, no overlap with the other blocks) is the service's.
"""

from __future__ import annotations

from datetime import date, datetime
from functools import cache
from typing import Annotated, Any, Literal
from zoneinfo import available_timezones

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    ValidationInfo,
    field_validator,
)

from listings.schemas import refuse_null, unique
from market.i18n import Msg

AGENDA_STATES = ("none", "preliminary", "final")
MODES = ("onsite", "online")
MeetingMinutes = Literal[15, 20, 30]
# A block seats at most this many meetings at once; a fair hall has tens of tables, not more.
MAX_TABLES = 500
# What a booth shows, at most.
MAX_SHOWN = 30
MAX_ATTENDEES = 20


@cache
def zones() -> frozenset[str]:
    return frozenset(available_timezones())


def _zone(value: str) -> str:
    name = value.strip()
    if name not in zones():
        raise ValueError(Msg("%(zone)s is not a known time zone (like Asia/Shanghai).", zone=name))
    return name


def _a_date_as_text(value: Any) -> Any:
    # Pydantic would read a number as a Unix time; the document promises YYYY-MM-DD only.
    if isinstance(value, int | float):
        raise ValueError(Msg("Give the date as YYYY-MM-DD."))
    return value


def _http_url(value: str) -> str:
    if value and not value.lower().startswith(("https://", "http://")):
        raise ValueError(Msg("Give a web address starting with https://."))
    return value


Zone = Annotated[str, Field(max_length=64), AfterValidator(_zone)]
Day = Annotated[date, BeforeValidator(_a_date_as_text)]
Name = Annotated[str, Field(min_length=3, max_length=200)]
OptionalName = Annotated[str, Field(max_length=200)]
Description = Annotated[str, Field(max_length=20_000)]
Url = Annotated[str, Field(max_length=300), AfterValidator(_http_url)]
Ids = Annotated[list[Annotated[str, Field(max_length=64)]], Field(max_length=MAX_SHOWN)]


class EventIn(BaseModel):
    """A whole event. Each cross-field check runs on the later field of its pair and names
    it."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: Name
    name_zh: OptionalName = ""
    description: Description = ""
    description_zh: Description = ""
    timezone: Zone
    starts_on: Day
    ends_on: Day
    booking_opens_at: AwareDatetime
    booking_closes_at: AwareDatetime
    meeting_minutes: MeetingMinutes = 30
    requests_need_acceptance: StrictBool = True
    request_expiry_hours: Annotated[StrictInt, Field(ge=1, le=720)] = 48
    max_requests_per_participant: Annotated[StrictInt, Field(ge=1, le=100)] = 10
    agenda: Literal["none", "preliminary", "final"] = "none"
    follow_up_days: Annotated[StrictInt, Field(ge=1, le=60)] = 7
    # An administrator may run it for an organisation granted the organiser role; anyone else
    # runs it for their own.
    organiser_id: Annotated[str, Field(max_length=64)] | None = None

    @field_validator("ends_on")
    @classmethod
    def _days_in_order(cls, value: date, info: ValidationInfo) -> date:
        start = info.data.get("starts_on")
        if start is not None and value < start:
            raise ValueError(Msg("The last day cannot come before the first."))
        if start is not None and (value - start).days > 31:
            raise ValueError(Msg("An event lasts at most 31 days."))
        return value

    @field_validator("booking_closes_at")
    @classmethod
    def _window_in_order(cls, value: datetime, info: ValidationInfo) -> datetime:
        opens = info.data.get("booking_opens_at")
        if opens is not None and value <= opens:
            raise ValueError(Msg("Booking must close after it opens."))
        return value


EVENT_FIELDS = tuple(name for name in EventIn.model_fields if name != "organiser_id")


class EventPatch(BaseModel):
    """A partial change of an event: the fields sent are laid over the stored event and the
    result is checked whole, as EventIn (hall.service.update_event)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: Name | None = None
    name_zh: OptionalName | None = None
    description: Description | None = None
    description_zh: Description | None = None
    timezone: Zone | None = None
    starts_on: Day | None = None
    ends_on: Day | None = None
    booking_opens_at: AwareDatetime | None = None
    booking_closes_at: AwareDatetime | None = None
    meeting_minutes: MeetingMinutes | None = None
    requests_need_acceptance: StrictBool | None = None
    request_expiry_hours: Annotated[StrictInt, Field(ge=1, le=720)] | None = None
    max_requests_per_participant: Annotated[StrictInt, Field(ge=1, le=100)] | None = None
    agenda: Literal["none", "preliminary", "final"] | None = None
    follow_up_days: Annotated[StrictInt, Field(ge=1, le=60)] | None = None

    _no_null = refuse_null()


class BlockIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    starts_at: AwareDatetime
    ends_at: AwareDatetime
    mode: Literal["onsite", "online"]
    # Checked when left out too: an on-site block must say its tables.
    tables: Annotated[StrictInt, Field(ge=1, le=MAX_TABLES)] | None = Field(
        default=None, validate_default=True
    )

    @field_validator("ends_at")
    @classmethod
    def _ends_after_start(cls, value: datetime, info: ValidationInfo) -> datetime:
        start = info.data.get("starts_at")
        if start is not None and value <= start:
            raise ValueError(Msg("A block must end after it starts."))
        return value

    @field_validator("tables")
    @classmethod
    def _tables_for_onsite(cls, value: int | None, info: ValidationInfo) -> int | None:
        mode = info.data.get("mode")
        if mode == "onsite" and value is None:
            raise ValueError(Msg("Say how many tables the on-site block has."))
        if mode == "online" and value is not None:
            raise ValueError(Msg("An online block has no tables: leave this empty."))
        return value


class PavilionIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: Annotated[str, Field(min_length=2, max_length=120)]
    name_zh: Annotated[str, Field(max_length=120)] = ""
    position: Annotated[StrictInt, Field(ge=0, le=1000)] = 0


class BoothIn(BaseModel):
    """An application for a booth, or a change of what it shows."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    pavilion_id: Annotated[str, Field(max_length=64)]
    listing_ids: Ids = Field(default_factory=list)
    need_ids: Ids = Field(default_factory=list)
    headline: Annotated[str, Field(max_length=200)] = ""
    headline_zh: Annotated[str, Field(max_length=200)] = ""
    video_url: Url = ""
    attendee_ids: Annotated[
        list[Annotated[str, Field(max_length=64)]], Field(max_length=MAX_ATTENDEES)
    ] = Field(default_factory=list)

    @field_validator("listing_ids", "need_ids", "attendee_ids")
    @classmethod
    def _dedupe(cls, values: list[str]) -> list[str]:
        return unique([v.strip() for v in values])


class GrantIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    organises_events: StrictBool = True
