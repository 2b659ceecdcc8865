"""The hall's HTML forms turned into the schemas' input, and stored rows into form values.

A form's times are wall-clock times in the event's zone (`datetime-local` inputs): they are
given the zone here, so the schema sees the aware times the API sends. Numbers and ticks become
numbers and booleans; what is not a number is passed on as typed, for the schema to refuse by
name."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from starlette.datastructures import FormData

from hall.models import Event, MeetingBlock
from hall.schemas import zones
from market.web import CSRF_FIELD

EVENT_TEXT = (
    "name",
    "name_zh",
    "description",
    "description_zh",
    "timezone",
    "starts_on",
    "ends_on",
    "agenda",
)
EVENT_NUMBERS = (
    "meeting_minutes",
    "request_expiry_hours",
    "max_requests_per_participant",
    "follow_up_days",
)
EVENT_TIMES = ("booking_opens_at", "booking_closes_at")
LOCAL = "%Y-%m-%dT%H:%M"


def _number(value: str) -> Any:
    text = value.strip()
    return int(text) if text.isascii() and text.isdigit() else text


def zone_or_utc(name: str) -> ZoneInfo:
    return ZoneInfo(name if name in zones() else "UTC")


def aware(value: str, zone: ZoneInfo) -> Any:
    """A `datetime-local` value in `zone`, as ISO 8601 with its offset; anything else as typed
    (the schema refuses it by name)."""
    text = value.strip()
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return text
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.isoformat()


def local(moment: datetime | None, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).strftime(LOCAL) if moment else ""


def event_values(form: FormData) -> dict[str, Any]:
    """What the event form sent, as typed (for showing it again)."""
    values = {name: str(form.get(name, "")) for name in (*EVENT_TEXT, *EVENT_NUMBERS)}
    values.update({name: str(form.get(name, "")) for name in EVENT_TIMES})
    values["requests_need_acceptance"] = form.get("requests_need_acceptance") == "1"
    return values


def event_input(values: dict[str, Any]) -> dict[str, Any]:
    """The form's values in EventIn's shape."""
    zone = zone_or_utc(values["timezone"].strip())
    data: dict[str, Any] = {name: values[name] for name in EVENT_TEXT}
    data.update({name: _number(values[name]) for name in EVENT_NUMBERS})
    data.update({name: aware(values[name], zone) for name in EVENT_TIMES})
    data["requests_need_acceptance"] = bool(values["requests_need_acceptance"])
    return data


def event_form_values(event: Event) -> dict[str, Any]:
    zone = ZoneInfo(event.timezone)
    values: dict[str, Any] = {name: str(getattr(event, name)) for name in EVENT_TEXT}
    values.update({name: str(getattr(event, name)) for name in EVENT_NUMBERS})
    values.update({name: local(getattr(event, name), zone) for name in EVENT_TIMES})
    values["requests_need_acceptance"] = event.requests_need_acceptance
    return values


def new_event_values() -> dict[str, Any]:
    return {
        "timezone": "Asia/Shanghai",
        "meeting_minutes": "30",
        "request_expiry_hours": "48",
        "max_requests_per_participant": "10",
        "follow_up_days": "7",
        "agenda": "none",
        "requests_need_acceptance": True,
    }


def block_input(form: FormData, event: Event) -> tuple[dict[str, Any], dict[str, Any]]:
    """The block form as typed, and in BlockIn's shape (times in the event's zone)."""
    zone = ZoneInfo(event.timezone)
    typed = {name: str(form.get(name, "")).strip() for name in ("starts_at", "ends_at", "mode")}
    typed["tables"] = str(form.get("tables", "")).strip()
    data: dict[str, Any] = {
        "starts_at": aware(typed["starts_at"], zone),
        "ends_at": aware(typed["ends_at"], zone),
        "mode": typed["mode"],
    }
    if typed["tables"] and typed["mode"] != "online":
        data["tables"] = _number(typed["tables"])
    return typed, data


def block_values(block: MeetingBlock, event: Event) -> dict[str, Any]:
    zone = ZoneInfo(event.timezone)
    return {
        "starts_at": local(block.starts_at, zone),
        "ends_at": local(block.ends_at, zone),
        "mode": str(block.mode),
        "tables": str(block.tables or ""),
    }


def booth_input(form: FormData) -> dict[str, Any]:
    """The booth form in BoothIn's shape: ticked listings, needs and attendees as lists."""
    data: dict[str, Any] = {
        name: str(form.get(name, "")).strip()
        for name in ("pavilion_id", "headline", "headline_zh", "video_url")
    }
    for name in ("listing_ids", "need_ids", "attendee_ids"):
        data[name] = [str(v) for v in form.getlist(name) if isinstance(v, str)]
    return data


def fields_of(form: FormData) -> set[str]:
    return {key for key in form.keys() if key != CSRF_FIELD}
