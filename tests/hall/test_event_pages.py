"""The hall's pages end to end: the event form gives bad input back escaped with each field's
error and saves good input in the event's zone; the event page shows the blocks in the event's
clock and the viewer's; the hall is browsed by pavilion and searched; a booth page shows the
organisation, what it shows and who attends, and counts a visitor once a day; the booth form
refuses by field; events reach the organisation's profile; both languages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from hall.models import (
    Booth,
    BoothVisit,
    Event,
    Meeting,
    MeetingBlock,
    MeetingRequest,
    Participant,
)
from listings.models import Listing
from market.app.seed import (
    DEMO_PASSWORD,
    ENTERPRISE_EMAIL,
    HALL_EVENT,
    INSTITUTE_EMAIL,
    seed_demo,
)
from tests.builders import a_published_listing, a_verified_institute, an_admin
from tests.files import pdf_bytes
from tests.hall.builders import DAY, a_booth, a_pavilion, an_event, an_organiser
from tests.listings.test_pages import ESCAPED, HOSTILE, csrf_of, page_login


def event_form(**overrides: Any) -> dict[str, Any]:
    form = {
        "name": "Shenzhen brokerage days",
        "name_zh": "深圳技术对接日",
        "description": "Meet the institutes.",
        "description_zh": "与研究院见面。",
        "timezone": "Asia/Shanghai",
        "starts_on": DAY.isoformat(),
        "ends_on": (DAY + timedelta(days=1)).isoformat(),
        "booking_opens_at": "2031-04-01T09:00",
        "booking_closes_at": "2031-05-19T18:00",
        "meeting_minutes": "20",
        "requests_need_acceptance": "1",
        "request_expiry_hours": "24",
        "max_requests_per_participant": "12",
        "follow_up_days": "7",
        "agenda": "preliminary",
    }
    form.update(overrides)
    return form


async def test_the_event_form_gives_bad_input_back_then_saves_in_the_events_zone(client) -> None:
    user, org = await an_organiser()
    await page_login(client, user.email)
    token = csrf_of((await client.get("/events/new")).text)
    bad = event_form(
        name=HOSTILE,
        timezone="Nowhere/Land",
        ends_on="2031-05-01",
        booking_closes_at="2031-03-01T09:00",
        request_expiry_hours="many",
        csrf_token=token,
    )
    response = await client.post("/events/new", data=bad)
    assert response.status_code == 422
    html = response.text
    assert HOSTILE not in html and ESCAPED in html
    for control in ("timezone", "ends_on", "request_expiry_hours"):
        assert f'id="{control}-error"' in html, control
    assert "Nowhere/Land" in html and 'value="many"' in html
    assert await Event.all().count() == 0

    saved = await client.post("/events/new", data=event_form(csrf_token=token))
    assert saved.status_code == 303, saved.text
    event = await Event.get()
    assert saved.headers["location"] == f"/events/{event.id}"
    # 09:00 in Shanghai is 01:00 UTC.
    assert event.booking_opens_at == datetime(2031, 4, 1, 1, tzinfo=UTC)
    assert (event.meeting_minutes, event.request_expiry_hours, event.agenda) == (
        20,
        24,
        "preliminary",
    )
    assert event.organiser_id == org.id and event.state == "draft"

    # A block from the page, in the event's zone; an overlapping one comes back refused.
    page = f"/events/{event.id}/blocks/new"
    added = await client.post(
        page,
        data={
            "starts_at": f"{DAY}T09:00",
            "ends_at": f"{DAY}T12:00",
            "mode": "onsite",
            "tables": "5",
            "csrf_token": token,
        },
    )
    assert added.status_code == 303, added.text
    block = await MeetingBlock.get(event_id=event.id)
    assert block.starts_at == datetime(DAY.year, DAY.month, DAY.day, 1, tzinfo=UTC)
    overlap = await client.post(
        page,
        data={
            "starts_at": f"{DAY}T11:00",
            "ends_at": f"{DAY}T13:00",
            "mode": "online",
            "csrf_token": token,
        },
    )
    assert overlap.status_code == 422 and 'id="starts_at-error"' in overlap.text
    assert f"{DAY}T11:00" in overlap.text
    backwards = await client.post(
        page,
        data={
            "starts_at": f"{DAY}T15:00",
            "ends_at": f"{DAY}T14:00",
            "mode": "online",
            "csrf_token": token,
        },
    )
    assert backwards.status_code == 422 and 'id="ends_at-error"' in backwards.text
    assert await MeetingBlock.filter(event_id=event.id).count() == 1

    publish = await client.post(f"/events/{event.id}/publish", data={"csrf_token": token})
    assert publish.status_code == 303
    assert (await Event.get(id=event.id)).state == "published"


async def test_the_event_page_shows_both_clocks_and_both_languages(client) -> None:
    _, org = await an_organiser()
    event = await an_event(org, name="Harbour fair", name_zh="港口交易会")
    pavilion = await a_pavilion(event, name="Optics", name_zh="光学")
    await a_booth(event, pavilion=pavilion, headline="Lenses")
    page = await client.get(f"/events/{event.id}?tz=Europe/Berlin")
    assert page.status_code == 200
    html = page.text
    # The on-site block runs 09:00-11:00 UTC: 17:00 in Shanghai, 11:00 in Berlin (summer).
    assert f"{DAY} 17:00 – 19:00" in html and f"{DAY} 11:00 – 13:00" in html
    assert "Harbour fair" in html and "Optics" in html
    # The choice is remembered for the next page.
    again = await client.get(f"/events/{event.id}")
    assert f"{DAY} 11:00 – 13:00" in again.text
    client.cookies.set("tm_lang", "zh")
    zh = await client.get(f"/events/{event.id}")
    assert "港口交易会" in zh.text and "光学" in zh.text
    client.cookies.delete("tm_lang")
    # A draft is nobody's business but its organisers'.
    draft = await an_event(org, state="draft")
    assert (await client.get(f"/events/{draft.id}")).status_code == 404
    listed = await client.get("/events?q=harbour")
    assert "Harbour fair" in listed.text and str(draft.id) not in listed.text


async def test_the_hall_is_browsed_by_pavilion_and_searched(client) -> None:
    _, org = await an_organiser()
    event = await an_event(org)
    optics = await a_pavilion(event, name="Optics")
    energy = await a_pavilion(event, name="Energy")
    _, lens = await a_verified_institute(organization={"name": "Lens Institute"})
    _, cell = await a_verified_institute(organization={"name": "Cell Institute"})
    _, hidden = await a_verified_institute(organization={"name": "Pending Institute"})
    await a_booth(event, lens, pavilion=optics, headline=HOSTILE)
    await a_booth(event, cell, pavilion=energy, headline="Solar cells")
    await a_booth(event, hidden, state="pending", pavilion=energy)
    everything = (await client.get(f"/events/{event.id}/hall")).text
    assert "Lens Institute" in everything and "Cell Institute" in everything
    assert "Pending Institute" not in everything
    assert HOSTILE not in everything and ESCAPED in everything
    by_pavilion = (await client.get(f"/events/{event.id}/hall?pavilion={energy.id}")).text
    assert "Cell Institute" in by_pavilion and "Lens Institute" not in by_pavilion
    found = (await client.get(f"/events/{event.id}/hall?q=solar")).text
    assert "Cell Institute" in found and "Lens Institute" not in found


async def test_a_booth_page_shows_its_organisation_and_counts_a_visitor_once(client) -> None:
    _, org = await an_organiser()
    event = await an_event(org)
    seller, institute = await a_verified_institute(organization={"name": "Lens Institute"})
    listing = await a_published_listing(seller, title="Freeform lens moulding")
    booth = await a_booth(
        event,
        institute,
        listing_ids=[str(listing.id)],
        attendee_ids=[str(seller.id)],
        video_url="https://video.example.org/lens",
    )
    for _ in range(3):
        page = await client.get(f"/booths/{booth.id}")
        assert page.status_code == 200
    html = page.text
    assert "Lens Institute" in html and "Freeform lens moulding" in html
    assert seller.name in html and "https://video.example.org/lens" in html
    # The same browser three times: one visit; another browser: a second.
    assert await BoothVisit.filter(booth_id=booth.id).count() == 1
    client.cookies.clear()
    await client.get(f"/booths/{booth.id}")
    assert await BoothVisit.filter(booth_id=booth.id).count() == 2
    # The exhibitor sees the count; its own visits count nothing.
    await page_login(client, seller.email)
    own = await client.get(f"/booths/{booth.id}")
    assert "Visitors per day" in own.text
    assert await BoothVisit.filter(booth_id=booth.id).count() == 2


async def test_the_booth_form_refuses_by_field_and_the_organiser_decides(client) -> None:
    organiser, org = await an_organiser()
    event = await an_event(org)
    pavilion = await a_pavilion(event)
    seller, _ = await a_verified_institute()
    listing = await a_published_listing(seller)
    other = await a_published_listing()
    await page_login(client, seller.email)
    form_page = await client.get(f"/events/{event.id}/booths/apply")
    assert form_page.status_code == 200 and listing.title in form_page.text
    token = csrf_of(form_page.text)
    refused = await client.post(
        f"/events/{event.id}/booths/apply",
        data={
            "pavilion_id": str(pavilion.id),
            "listing_ids": [str(other.id)],
            "headline": HOSTILE,
            "csrf_token": token,
        },
    )
    assert refused.status_code == 422
    assert HOSTILE not in refused.text and ESCAPED in refused.text
    assert "published listings" in refused.text
    assert await Booth.all().count() == 0
    sent = await client.post(
        f"/events/{event.id}/booths/apply",
        data={
            "pavilion_id": str(pavilion.id),
            "listing_ids": [str(listing.id)],
            "csrf_token": token,
        },
    )
    assert sent.status_code == 303, sent.text
    booth = await Booth.get()
    assert booth.state == "pending"

    await page_login(client, organiser.email)
    event_page = await client.get(f"/events/{event.id}")
    assert (
        "Booth applications" in event_page.text and f"/booths/{booth.id}/approve" in event_page.text
    )
    token = csrf_of(event_page.text)
    no_reason = await client.post(
        f"/booths/{booth.id}/reject", data={"reason": "", "csrf_token": token}
    )
    assert no_reason.status_code == 303
    assert (await Booth.get(id=booth.id)).state == "pending"
    approved = await client.post(
        f"/booths/{booth.id}/approve", data={"back": "event", "csrf_token": token}
    )
    assert approved.status_code == 303 and approved.headers["location"] == f"/events/{event.id}"
    assert (await Booth.get(id=booth.id)).state == "approved"


async def test_events_reach_the_organisations_profile(client) -> None:
    _, org = await an_organiser()
    event = await an_event(org, name="Harbour fair")
    await an_event(org, name="Secret draft", state="draft")
    _, exhibitor = await a_verified_institute()
    await a_booth(event, exhibitor)
    for slug in (org.slug, exhibitor.slug):
        page = await client.get(f"/organizations/{slug}")
        assert "Harbour fair" in page.text and "Secret draft" not in page.text
        data = (await client.get(f"/api/v1/organizations/{slug}")).json()
        assert [e["name"] for e in data["events"]] == ["Harbour fair"]


async def test_the_administrator_grants_the_role_from_a_page(client) -> None:
    _, org = await a_verified_institute(organization={"name": "Fair Office"})
    await an_admin("admin@example.org")
    await page_login(client, "admin@example.org")
    page = await client.get("/admin/organisers")
    token = csrf_of(page.text)
    granted = await client.post(
        "/admin/organisers",
        data={"organization_id": str(org.id), "grant": "1", "csrf_token": token},
    )
    assert granted.status_code == 303
    assert "Fair Office" in (await client.get("/admin/organisers")).text


async def test_an_exhibitor_puts_brochures_on_its_booth(client) -> None:
    _, org = await an_organiser()
    event = await an_event(org)
    seller, institute = await a_verified_institute()
    booth = await a_booth(event, institute)
    await page_login(client, seller.email)
    token = csrf_of((await client.get(f"/booths/{booth.id}")).text)
    html_file = await client.post(
        f"/booths/{booth.id}/brochures",
        data={"title": "Catalogue", "csrf_token": token},
        files={"file": ("catalogue.pdf", b"<html><script>x</script></html>", "application/pdf")},
    )
    assert html_file.status_code == 303
    assert (await Booth.get(id=booth.id)).brochures == []
    sent = await client.post(
        f"/booths/{booth.id}/brochures",
        data={"title": HOSTILE, "csrf_token": token},
        files={"file": ("catalogue.pdf", pdf_bytes(), "application/pdf")},
    )
    assert sent.status_code == 303
    (stored,) = (await Booth.get(id=booth.id)).brochures
    assert stored["type"] == "application/pdf" and stored["title"] == HOSTILE

    client.cookies.clear()
    page = (await client.get(f"/booths/{booth.id}")).text
    assert HOSTILE not in page and ESCAPED in page
    download = await client.get(f"/booths/{booth.id}/brochures/0")
    assert download.status_code == 200 and download.content == pdf_bytes()
    assert download.headers["content-type"] == "application/pdf"
    assert download.headers["content-disposition"].startswith("attachment")
    assert (await client.get(f"/booths/{booth.id}/brochures/1")).status_code == 404
    # The exhibitor removes it.
    await page_login(client, seller.email)
    token = csrf_of((await client.get(f"/booths/{booth.id}")).text)
    removed = await client.post(
        f"/booths/{booth.id}/brochures/0/remove", data={"csrf_token": token}
    )
    assert removed.status_code == 303
    assert (await Booth.get(id=booth.id)).brochures == []


async def test_the_demo_has_an_event_with_booths_and_booked_meetings(client) -> None:
    assert await seed_demo(DEMO_PASSWORD, match=False) is True
    event = await Event.get(name=HALL_EVENT)
    assert event.state == "booking_open" and event.meeting_minutes == 20
    booths = await Booth.filter(event_id=event.id, state="approved").count()
    assert booths == 4
    assert await MeetingBlock.filter(event_id=event.id).count() == 4
    hall = await client.get(f"/events/{event.id}/hall")
    assert hall.status_code == 200 and "4 booths" in hall.text
    await the_demo_meetings_are_booked(event)
    # The enterprise finds its meeting in its agenda, in Rome's time beside Shanghai's.
    await page_login(client, ENTERPRISE_EMAIL, DEMO_PASSWORD)
    agenda = await client.get(f"/events/{event.id}/meetings")
    meeting = await Meeting.get(event_id=event.id)
    rome = meeting.starts_at.astimezone(ZoneInfo("Europe/Rome"))
    shanghai = meeting.starts_at.astimezone(ZoneInfo("Asia/Shanghai"))
    assert f"{rome:%Y-%m-%d %H:%M}" in agenda.text
    assert f"their time: {shanghai:%Y-%m-%d %H:%M} (Asia/Shanghai)" in agenda.text
    assert "Institute of Advanced Membranes" in agenda.text
    assert f"/meetings/{meeting.id}/outcome" in agenda.text
    # The institute finds the request waiting for its answer, with the slots it may choose.
    await page_login(client, INSTITUTE_EMAIL, DEMO_PASSWORD)
    inbox = await client.get(f"/events/{event.id}/requests")
    assert "Pacific Institute of Computing" in inbox.text
    assert "Accept into this slot" in inbox.text
    assert await seed_demo(DEMO_PASSWORD, match=False) is False
    assert await Participant.filter(event_id=event.id).count() == 4


async def the_demo_meetings_are_booked(event: Event) -> None:
    """The demo logins take part; the enterprise and the membrane institute have a meeting
    about one of its listings; a request waits for the institute's answer."""
    people = await Participant.filter(event_id=event.id).values_list("user__email", flat=True)
    assert set(people) == {
        INSTITUTE_EMAIL,
        ENTERPRISE_EMAIL,
        "computing@techmarket.example",
        "aerospace@techmarket.example",
    }
    (meeting,) = await Meeting.filter(event_id=event.id).select_related(
        "request__requester__user", "request__guest__user", "block"
    )
    assert meeting.request.requester.user.email == ENTERPRISE_EMAIL
    assert meeting.request.guest.user.email == INSTITUTE_EMAIL
    assert str(meeting.state) == "scheduled" and meeting.block.mode == "online"
    assert meeting.video_url
    (about,) = meeting.request.listing_ids
    listing = await Listing.get(id=about)
    assert listing.state == "published"
    assert listing.institute_id == meeting.request.guest.organization_id
    (pending,) = await MeetingRequest.filter(event_id=event.id, state="pending").select_related(
        "requester__user", "guest__user"
    )
    assert pending.guest.user.email == INSTITUTE_EMAIL
    assert pending.requester.user.email == "computing@techmarket.example"


@pytest.mark.parametrize("database_kind", ["sqlite"], indirect=True)
async def test_the_demo_meetings_are_booked_on_sqlite_as_market_dev_has_it(database_kind) -> None:
    assert await seed_demo(DEMO_PASSWORD, match=False) is True
    await the_demo_meetings_are_booked(await Event.get(name=HALL_EVENT))
    assert await seed_demo(DEMO_PASSWORD, match=False) is False
