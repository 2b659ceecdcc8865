"""The `.ics` agenda, parsed back with the icalendar library: one event per meeting with a
stable UID, UTC times, the table or the video room, the other side's local time, a SEQUENCE
that grows when the meeting moves and a cancelled meeting kept as CANCELLED."""

from __future__ import annotations

from datetime import timedelta

from icalendar import Calendar

from hall import meetings
from tests.builders import actor_of, log_in
from tests.hall.builders import a_meeting, a_participant, an_event, at


async def _agenda(client, event) -> Calendar:
    response = await client.get(f"/api/v1/events/{event.id}/agenda.ics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/calendar")
    assert "attachment" in response.headers["content-disposition"]
    return Calendar.from_ical(response.content)


async def test_the_agenda_file_holds_each_meeting_of_the_participant(client):
    event = await an_event()
    me = await a_participant(event, timezone="Europe/Berlin")
    onsite_guest = await a_participant(event, kind="institute", timezone="Asia/Shanghai")
    online_guest = await a_participant(event, kind="institute", timezone="America/New_York")
    stranger = await a_participant(event, kind="institute")
    first = await a_meeting(me, onsite_guest, starts_at=at(10))
    second = await a_meeting(online_guest, me, starts_at=at(13, 30))
    await a_meeting(stranger, await a_participant(event), starts_at=at(9))
    user = await me.user
    await log_in(client, user.email)

    calendar = await _agenda(client, event)

    assert str(calendar["version"]) == "2.0"
    found = {str(e["uid"]): e for e in calendar.walk("VEVENT")}
    assert set(found) == {f"meeting-{first.id}@techmarket", f"meeting-{second.id}@techmarket"}
    onsite = found[f"meeting-{first.id}@techmarket"]
    assert onsite.decoded("dtstart") == at(10)
    assert onsite.decoded("dtend") == at(10, 30)
    assert str(onsite["location"]) == "Table 1, on site"
    assert str(onsite["status"]) == "CONFIRMED"
    assert (await onsite_guest.user).name in str(onsite["summary"])
    assert "2031-05-20 18:00 (Asia/Shanghai)" in str(onsite["description"])
    online = found[f"meeting-{second.id}@techmarket"]
    assert str(online["location"]).startswith(meetings.VIDEO_ROOMS)
    assert "2031-05-20 09:30 (America/New_York)" in str(online["description"])


async def test_a_moved_meeting_has_a_higher_sequence_and_a_cancelled_one_stays_cancelled(client):
    event = await an_event()
    a, b = await a_participant(event), await a_participant(event, kind="institute")
    meeting = await a_meeting(a, b, starts_at=at(9))
    actor = await actor_of(await a.user)
    await log_in(client, (await a.user).email)
    before = next(iter((await _agenda(client, event)).walk("VEVENT")))
    assert int(before["sequence"]) == 0

    await meetings.reschedule(actor, str(meeting.id), at(9) + timedelta(hours=1))
    moved = next(iter((await _agenda(client, event)).walk("VEVENT")))
    assert str(moved["uid"]) == str(before["uid"])
    assert int(moved["sequence"]) == 1
    assert moved.decoded("dtstart") == at(10)

    await meetings.cancel(actor, str(meeting.request_id))
    cancelled = next(iter((await _agenda(client, event)).walk("VEVENT")))
    assert str(cancelled["status"]) == "CANCELLED"
    assert int(cancelled["sequence"]) == 2


async def test_the_agenda_is_written_in_the_readers_language(client):
    event = await an_event()
    a, b = await a_participant(event), await a_participant(event, kind="institute")
    await a_meeting(a, b, starts_at=at(9))
    user = await a.user
    await log_in(client, user.email)
    client.cookies.set("tm_lang", "zh")
    response = await client.get(f"/api/v1/events/{event.id}/agenda.ics")
    calendar = Calendar.from_ical(response.content)
    assert str(calendar["x-wr-calname"]) == "科技交易会"
    entry = next(iter(calendar.walk("VEVENT")))
    assert str(entry["summary"]).startswith("与") and "会谈" in str(entry["summary"])
    assert str(entry["location"]) == "现场第 1 号桌"
