"""The meetings' JSON API (API.md, wave 2): join, find, ask, accept, decline, cancel, move;
refusals as 4xx JSON naming the field or the state, hostile text kept as text."""

from __future__ import annotations

from hall.models import Meeting, MeetingBlock, MeetingRequest
from tests.builders import a_verified_enterprise, a_verified_institute, log_in
from tests.hall.builders import a_participant, an_event, at

HOSTILE = "<script>alert(1)</script>"


async def test_a_meeting_booked_through_the_api(client):
    event = await an_event()
    institute_user, _ = await a_verified_institute()
    guest = await a_participant(event, institute_user, timezone="Asia/Shanghai")
    user, _ = await a_verified_enterprise()
    csrf = await log_in(client, user.email)
    headers = {"X-CSRF-Token": csrf}
    blocks = [str(b.id) for b in await MeetingBlock.filter(event_id=event.id)]

    joined = await client.post(
        f"/api/v1/events/{event.id}/participants",
        json={"block_ids": blocks, "timezone": "Europe/Berlin", "about": HOSTILE},
        headers=headers,
    )
    assert joined.status_code == 201, joined.text
    me = joined.json()["participant"]
    assert me["timezone"] == "Europe/Berlin" and me["about"] == HOSTILE

    found = await client.get(
        f"/api/v1/events/{event.id}/participants", params={"q": institute_user.name}
    )
    assert found.status_code == 200
    assert [p["id"] for p in found.json()["items"]] == [str(guest.id)]

    asked = await client.post(
        f"/api/v1/events/{event.id}/meeting-requests",
        json={"guest_participant_id": str(guest.id), "message": "About membranes"},
        headers=headers,
    )
    assert asked.status_code == 201, asked.text
    assert asked.json()["state"] == "pending"
    request_id = asked.json()["request"]["id"]

    # Accepting is the guest's: the requester gets a 403.
    mine = await client.post(
        f"/api/v1/meeting-requests/{request_id}/accept",
        json={"slot_start": at(9).isoformat()},
        headers=headers,
    )
    assert mine.status_code == 403

    await client.post("/api/v1/auth/logout", headers=headers)
    guest_csrf = await log_in(client, institute_user.email)
    accepted = await client.post(
        f"/api/v1/meeting-requests/{request_id}/accept",
        json={"slot_start": "2031-05-20T17:30:00+08:00"},
        headers={"X-CSRF-Token": guest_csrf},
    )
    assert accepted.status_code == 200, accepted.text
    meeting = accepted.json()["meeting"]
    assert meeting["starts_at"] == "2031-05-20T09:30:00+00:00"
    assert meeting["local_start"] == "2031-05-20T17:30:00+08:00"
    assert meeting["their_local_start"] == "2031-05-20T11:30:00+02:00"
    assert meeting["table"] == 1 and meeting["video_url"] is None

    moved = await client.post(
        f"/api/v1/meetings/{meeting['id']}/reschedule",
        json={"slot_start": at(13).isoformat()},
        headers={"X-CSRF-Token": guest_csrf},
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["meeting"]["video_url"].startswith("https://")
    assert moved.json()["meeting"]["sequence"] == 1

    listed = await client.get(f"/api/v1/events/{event.id}/meetings")
    assert [m["id"] for m in listed.json()["items"]] == [meeting["id"]]

    cancelled = await client.post(
        f"/api/v1/meeting-requests/{request_id}/cancel",
        json={"reason": "Sorry"},
        headers={"X-CSRF-Token": guest_csrf},
    )
    assert cancelled.status_code == 200
    assert cancelled.json()["state"] == "cancelled"
    assert cancelled.json()["meeting"]["state"] == "cancelled"


async def test_refusals_name_the_field_or_the_state(client):
    event = await an_event()
    onsite = await MeetingBlock.filter(event_id=event.id, mode="onsite").first()
    guest = await a_participant(event, kind="institute", blocks=[onsite])
    user, _ = await a_verified_enterprise()
    me = await a_participant(event, user)
    csrf = await log_in(client, user.email)
    headers = {"X-CSRF-Token": csrf}

    bad_zone = await client.post(
        f"/api/v1/events/{event.id}/participants",
        json={"block_ids": [str(onsite.id)], "timezone": "Nowhere/Land"},
        headers=headers,
    )
    assert bad_zone.status_code == 422
    assert "timezone" in bad_zone.json()["error"]["fields"]

    to_self = await client.post(
        f"/api/v1/events/{event.id}/meeting-requests",
        json={"guest_participant_id": str(me.id)},
        headers=headers,
    )
    assert to_self.status_code == 422
    assert "guest_participant_id" in to_self.json()["error"]["fields"]

    asked = await client.post(
        f"/api/v1/events/{event.id}/meeting-requests",
        json={"guest_participant_id": str(guest.id), "listing_ids": ["not-an-id"]},
        headers=headers,
    )
    assert asked.status_code == 422
    assert any(f.startswith("listing_ids") for f in asked.json()["error"]["fields"])

    await event.__class__.filter(id=event.id).update(state="closed")
    closed = await client.post(
        f"/api/v1/events/{event.id}/meeting-requests",
        json={"guest_participant_id": str(guest.id)},
        headers=headers,
    )
    assert closed.status_code == 409
    assert closed.json()["error"]["state"] == "closed"
    assert await MeetingRequest.all().count() == 0
    assert await Meeting.all().count() == 0


async def test_a_stranger_gets_a_404_for_a_request(client):
    event = await an_event()
    a, b = await a_participant(event), await a_participant(event, kind="institute")
    a_user = await a.user
    csrf = await log_in(client, a_user.email)
    asked = await client.post(
        f"/api/v1/events/{event.id}/meeting-requests",
        json={"guest_participant_id": str(b.id)},
        headers={"X-CSRF-Token": csrf},
    )
    request_id = asked.json()["request"]["id"]
    await client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf})
    stranger, _ = await a_verified_enterprise()
    csrf = await log_in(client, stranger.email)
    assert (await client.get(f"/api/v1/meeting-requests/{request_id}")).status_code == 404
    declined = await client.post(
        f"/api/v1/meeting-requests/{request_id}/decline",
        json={},
        headers={"X-CSRF-Token": csrf},
    )
    assert declined.status_code == 404


async def test_the_guest_sees_a_card_for_the_requests_waiting_for_them(client):
    event = await an_event()
    institute_user, _ = await a_verified_institute()
    guest = await a_participant(event, institute_user)
    for _ in range(2):
        await MeetingRequest.create(event=event, requester=await a_participant(event), guest=guest)
    await log_in(client, institute_user.email)
    cards = (await client.get("/api/v1/me/actions")).json()["items"]
    card = next(c for c in cards if c["kind"] == "meeting.answer")
    assert card["count"] == 2 and card["link"] == f"/events/{event.id}/requests"
    assert event.name in card["text"]
