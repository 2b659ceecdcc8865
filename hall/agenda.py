"""A participant's agenda as an iCalendar file (RFC 5545), for their own calendar.

One VEVENT per meeting, in UTC: its UID is the meeting's (stable across downloads) and its
SEQUENCE is bumped on each move, so a calendar that imported the file before replaces the
event; a cancelled meeting stays in the file as STATUS:CANCELLED, so a calendar that holds it
drops it. The summary and description are in the reader's language; the other side's local
time is in the description, as on the agenda page."""

from __future__ import annotations

from datetime import datetime

from icalendar import Calendar
from icalendar import Event as CalendarEvent

from hall.meetings import other_side, times
from hall.models import Event, Meeting, MeetingState, Participant
from market import i18n
from market.clock import utcnow

PRODUCT = "-//techmarket//exhibition hall agenda//EN"


def uid_of(meeting: Meeting) -> str:
    return f"meeting-{meeting.id}@techmarket"


def agenda(
    event: Event,
    me: Participant,
    meetings: list[Meeting],
    *,
    lang: str,
    base_url: str,
    stamp: datetime | None = None,
) -> bytes:
    """The calendar file of `me`'s meetings at `event`."""
    _ = i18n.translations(lang).gettext
    stamp = stamp or utcnow()
    name = event.name_zh if lang == "zh" and event.name_zh else event.name
    calendar = Calendar()
    calendar.add("prodid", PRODUCT)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", name)
    for meeting in meetings:
        other = other_side(meeting.request, me)
        seen = times(meeting.starts_at, me.timezone, other.timezone)
        entry = CalendarEvent()
        entry.add("uid", uid_of(meeting))
        entry.add("dtstamp", stamp)
        entry.add("dtstart", meeting.starts_at)
        entry.add("dtend", meeting.ends_at)
        entry.add("sequence", meeting.sequence)
        entry.add(
            "summary",
            _("Meeting with %(person)s (%(organisation)s)")
            % {"person": other.user.name, "organisation": other.organization.name},
        )
        if meeting.table_no is not None:
            entry.add("location", _("Table %(table)s, on site") % {"table": meeting.table_no})
        elif meeting.video_url:
            entry.add("location", meeting.video_url)
            entry.add("url", meeting.video_url)
        lines = [
            name,
            _("Their local time: %(time)s (%(zone)s)")
            % {"time": f"{seen.theirs:%Y-%m-%d %H:%M}", "zone": seen.their_zone},
        ]
        if meeting.request.message:
            lines.append(meeting.request.message)
        lines.append(f"{base_url.rstrip('/')}/events/{event.id}/meetings")
        entry.add("description", "\n".join(lines))
        cancelled = meeting.state == MeetingState.CANCELLED
        entry.add("status", "CANCELLED" if cancelled else "CONFIRMED")
        calendar.add_component(entry)
    return calendar.to_ical()
