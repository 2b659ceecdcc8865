"""The meetings' pages: joining, the directory and its search, the request form, the inbox
with its free slots, the agenda with each side's time; a refusal comes back on the page with
what was typed and why; hostile text comes back escaped."""

from __future__ import annotations

from hall.models import Meeting, MeetingBlock, MeetingRequest, Participant
from tests.builders import a_verified_enterprise, a_verified_institute
from tests.hall.builders import a_meeting, a_participant, an_event, at
from tests.listings.test_pages import ESCAPED, HOSTILE, csrf_of, page_login


async def test_joining_and_asking_through_the_pages(client):
    event = await an_event()
    institute_user, _ = await a_verified_institute(name=HOSTILE)
    guest = await a_participant(event, institute_user, timezone="Asia/Shanghai")
    await Participant.filter(id=guest.id).update(about=f"Membranes {HOSTILE}")
    user, _ = await a_verified_enterprise()
    await page_login(client, user.email)

    form = await client.get(f"/events/{event.id}/join")
    assert form.status_code == 200
    blocks = [str(b.id) for b in await MeetingBlock.filter(event_id=event.id)]
    token = csrf_of(form.text)
    refused = await client.post(
        f"/events/{event.id}/join",
        data={"csrf_token": token, "timezone": "Atlantis/Capital", "block_ids": blocks},
    )
    assert refused.status_code == 422
    assert "Choose a time zone from the list" in refused.text
    assert await Participant.filter(user_id=user.id).count() == 0
    joined = await client.post(
        f"/events/{event.id}/join",
        data={"csrf_token": token, "timezone": "Europe/Berlin", "block_ids": blocks},
    )
    assert joined.status_code == 303

    directory = await client.get(f"/events/{event.id}/participants", params={"q": "Membranes"})
    assert directory.status_code == 200
    assert ESCAPED in directory.text and HOSTILE not in directory.text
    assert f"/participants/{guest.id}/request" in directory.text
    nobody = await client.get(f"/events/{event.id}/participants", params={"q": "zzzz"})
    assert "No participant matches your search." in nobody.text

    ask = await client.get(f"/events/{event.id}/participants/{guest.id}/request")
    assert ask.status_code == 200
    # The shared on-site block in the viewer's zone (Berlin) and the guest's (Shanghai).
    assert "2031-05-20 11:00" in ask.text and "2031-05-20 17:00" in ask.text
    sent = await client.post(
        f"/events/{event.id}/participants/{guest.id}/request",
        data={"csrf_token": token, "message": HOSTILE},
    )
    assert sent.status_code == 303
    again = await client.post(
        f"/events/{event.id}/participants/{guest.id}/request",
        data={"csrf_token": token, "message": "Once more"},
    )
    assert again.status_code == 409
    assert "Once more" in again.text
    assert "already have a meeting or a request open" in again.text
    assert await MeetingRequest.all().count() == 1


async def test_the_guest_accepts_from_the_inbox_and_sees_both_times(client):
    event = await an_event()
    requester = await a_participant(event, timezone="Europe/Berlin")
    institute_user, _ = await a_verified_institute()
    guest = await a_participant(event, institute_user, timezone="Asia/Shanghai")
    request = await MeetingRequest.create(
        event=event, requester=requester, guest=guest, message=HOSTILE
    )
    await page_login(client, institute_user.email)

    inbox = await client.get(f"/events/{event.id}/requests")
    assert inbox.status_code == 200
    assert ESCAPED in inbox.text and HOSTILE not in inbox.text
    # Each free slot in the guest's time with the requester's beside it.
    assert "2031-05-20 17:00 (their time: 2031-05-20 11:00)" in inbox.text
    token = csrf_of(inbox.text)

    off_grid = await client.post(
        f"/meeting-requests/{request.id}/accept",
        data={"csrf_token": token, "slot_start": at(9, 10).isoformat()},
    )
    assert off_grid.status_code == 422
    assert "Slots start every 30 minutes" in off_grid.text
    assert await Meeting.all().count() == 0

    accepted = await client.post(
        f"/meeting-requests/{request.id}/accept",
        data={"csrf_token": token, "slot_start": at(9, 30).isoformat()},
    )
    assert accepted.status_code == 303
    assert accepted.headers["location"] == f"/events/{event.id}/meetings"

    agenda = await client.get(f"/events/{event.id}/meetings")
    assert agenda.status_code == 200
    assert "2031-05-20 17:30" in agenda.text  # the guest's own time
    assert "their time: 2031-05-20 11:30 (Europe/Berlin)" in agenda.text
    assert "Table 1, on site" in agenda.text
    assert f"/api/v1/events/{event.id}/agenda.ics" in agenda.text


async def test_a_meeting_is_moved_and_cancelled_from_the_agenda(client):
    event = await an_event()
    a, b = await a_participant(event), await a_participant(event, kind="institute")
    c = await a_participant(event, kind="institute")
    meeting = await a_meeting(a, b, starts_at=at(9))
    await a_meeting(c, b, starts_at=at(13))
    await page_login(client, (await a.user).email)
    agenda = await client.get(f"/events/{event.id}/meetings")
    token = csrf_of(agenda.text)

    busy = await client.post(
        f"/meetings/{meeting.id}/reschedule",
        data={"csrf_token": token, "slot_start": at(13).isoformat()},
    )
    assert busy.status_code == 409
    assert "has a meeting at that time already" in busy.text
    moved = await client.post(
        f"/meetings/{meeting.id}/reschedule",
        data={"csrf_token": token, "slot_start": at(10).isoformat()},
    )
    assert moved.status_code == 303
    assert (await Meeting.get(id=meeting.id)).starts_at == at(10)

    cancelled = await client.post(
        f"/meeting-requests/{meeting.request_id}/cancel?from=agenda",
        data={"csrf_token": token, "reason": "Ill"},
    )
    assert cancelled.status_code == 303
    assert str((await Meeting.get(id=meeting.id)).state) == "cancelled"
    assert "Cancelled" in (await client.get(f"/events/{event.id}/meetings")).text


async def test_the_meeting_pages_ask_to_log_in_and_hide_a_request_from_strangers(client):
    event = await an_event()
    a, b = await a_participant(event), await a_participant(event, kind="institute")
    request = await MeetingRequest.create(event=event, requester=a, guest=b)
    assert (await client.get(f"/events/{event.id}/participants")).status_code in (303, 401)
    stranger, _ = await a_verified_enterprise()
    await page_login(client, stranger.email)
    token = csrf_of((await client.get(f"/events/{event.id}/participants")).text)
    declined = await client.post(
        f"/meeting-requests/{request.id}/decline", data={"csrf_token": token}
    )
    assert declined.status_code == 404
    assert str((await MeetingRequest.get(id=request.id)).state) == "pending"
