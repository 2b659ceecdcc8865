"""The exhibition hall, end to end, in a real headless Chromium against the served app and the
run's PostgreSQL (issue 19's "Done when").

An enterprise visits an institute's booth in the hall, takes part in the event's meetings with
its availability and time zone, and asks the institute's participant for a meeting about a
listing on show; the institute accepts, picking a slot among those it shares; the enterprise
finds the meeting in its agenda in its own time with the institute's beside it, and downloads
its `.ics` agenda (parsed back with icalendar). After the meeting, an offer follows from the
meeting's card, prefilled from the listing, and the offer says it came from the meeting.

"After the meeting": the served app runs on the real clock and books only slots still to come,
so once booked, the meeting is moved into the past by writing its rows directly (its start,
end and slot holds), as tests/hall/deal_builders.py writes meetings that took place; the
clock of another process cannot be moved from here.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from icalendar import Calendar
from playwright.async_api import Browser, BrowserContext, expect

from contracts.offers.models import Offer
from hall.models import Meeting, MeetingOutcome, MeetingRequest, Participant, SlotHold
from market.clock import utcnow
from tests.browser.test_docking import UUID, a_page, flash, log_in
from tests.builders import a_published_listing, a_verified_enterprise, a_verified_institute
from tests.hall.builders import DAY, a_booth, a_participant, a_pavilion, an_event, at

pytestmark = pytest.mark.browser

INSTITUTE_NAME = "Qingdao Institute of Membrane Science"
ENTERPRISE_NAME = "Rhine Water Works"
LISTING_TITLE = "Reverse osmosis membrane with high salt rejection"


async def test_an_enterprise_meets_an_institute_at_its_booth_and_an_offer_follows(
    browser: Browser, live_server: str, settings: Any, tmp_path: Path
) -> None:
    owner, institute_org = await a_verified_institute(
        email="zhao.min@membranes.example.org",
        name="Zhao Min",
        organization={"name": INSTITUTE_NAME},
    )
    listing = await a_published_listing(owner, title=LISTING_TITLE)
    buyer, enterprise_org = await a_verified_enterprise(
        email="anna.weber@rhine.example.com",
        name="Anna Weber",
        organization={"name": ENTERPRISE_NAME, "country": "DE"},
    )
    # Open for booking; one on-site block 09:00-11:00 UTC and one online 13:00-14:00 UTC.
    event = await an_event(name="Qingdao brokerage days")
    pavilion = await a_pavilion(event, name="Water")
    booth = await a_booth(
        event,
        institute_org,
        pavilion=pavilion,
        headline="Membranes that hold at high flux",
        listing_ids=[str(listing.id)],
        attendee_ids=[str(owner.id)],
    )
    host = await a_participant(event, owner, timezone="Asia/Shanghai")

    contexts: list[BrowserContext] = []
    try:
        enterprise_context, enterprise = await a_page(browser, live_server)
        institute_context, institute = await a_page(browser, live_server)
        contexts += [enterprise_context, institute_context]

        # 1. The enterprise walks from the event into the hall and to the institute's booth.
        await log_in(enterprise, buyer.email)
        await enterprise.goto(f"/events/{event.id}")
        await enterprise.get_by_role("link", name="Visit 1 booth").click()
        await enterprise.get_by_role("link", name=INSTITUTE_NAME).click()
        await expect(enterprise).to_have_url(re.compile(rf"/booths/{booth.id}$"))
        await expect(enterprise.get_by_role("link", name=LISTING_TITLE)).to_be_visible()
        await expect(enterprise.locator("main")).to_contain_text("Zhao Min")

        # 2. It takes part in the meetings: every block, from Berlin.
        await enterprise.get_by_role(
            "link", name="Take part in the meetings first: choose your blocks and time zone."
        ).click()
        await expect(enterprise).to_have_url(re.compile(rf"/events/{event.id}/join$"))
        blocks = enterprise.locator('input[name="block_ids"]')
        await expect(blocks).to_have_count(2)
        for n in range(2):
            await blocks.nth(n).check()
        await enterprise.get_by_label("Your time zone").select_option("Europe/Berlin")
        await enterprise.get_by_label("About you and what you look for").fill(
            "Membranes for our brackish water plants on the Rhine."
        )
        await enterprise.get_by_role("button", name="Save my availability").click()
        await expect(flash(enterprise)).to_have_text("You take part in the event's meetings.")
        me = await Participant.get(event_id=event.id, user_id=buyer.id)
        assert me.timezone == "Europe/Berlin"

        # 3. Back at the booth, it asks the institute's participant for a meeting about the
        # listing on show.
        await enterprise.goto(f"/booths/{booth.id}")
        await enterprise.get_by_role("link", name="Ask Zhao Min for a meeting").click()
        await expect(enterprise).to_have_url(
            re.compile(rf"/events/{event.id}/participants/{host.id}/request$")
        )
        # The blocks both share, in Berlin's time (summer: UTC+2) with Shanghai's beside it.
        await expect(enterprise.locator("main")).to_contain_text(
            f"{DAY} 15:00 – {DAY} 16:00 (their time: {DAY} 21:00)"
        )
        await enterprise.get_by_label("Your message").fill(
            "Does your membrane keep its rejection on the Rhine's brackish water?"
        )
        await enterprise.get_by_label(LISTING_TITLE).check()
        await enterprise.get_by_role("button", name="Send the request").click()
        await expect(flash(enterprise)).to_have_text("Your request is sent.")
        request = await MeetingRequest.get(event_id=event.id, requester_id=me.id)
        assert str(request.state) == "pending" and request.listing_ids == [str(listing.id)]

        # 4. The institute finds the request from its event page and accepts it into the
        # online slot at 13:00 UTC, which it reads in Shanghai's time with Berlin's beside it.
        await log_in(institute, owner.email)
        await institute.goto(f"/events/{event.id}")
        await institute.get_by_role("link", name="Meeting requests").click()
        card = institute.locator(f"#request-{request.id}")
        await expect(card).to_contain_text(f"Anna Weber ({ENTERPRISE_NAME})")
        await expect(card).to_contain_text("Rhine's brackish water")
        await card.get_by_label("Slot").select_option(
            label=f"{DAY} 21:00 (their time: {DAY} 15:00)"
        )
        await card.get_by_role("button", name="Accept into this slot").click()
        await expect(flash(institute)).to_have_text("The meeting is booked.")
        await expect(institute).to_have_url(re.compile(rf"/events/{event.id}/meetings$"))
        meeting = await Meeting.get(request_id=request.id)
        assert meeting.starts_at == at(13) and meeting.video_url

        # 5. The enterprise sees it in its agenda, in its own time with the institute's beside.
        await enterprise.goto(f"/events/{event.id}")
        await enterprise.get_by_role("link", name="My meetings").click()
        booked = enterprise.locator(f"#meeting-{meeting.id}")
        await expect(booked).to_contain_text(f"With Zhao Min ({INSTITUTE_NAME})")
        await expect(booked).to_contain_text(f"{DAY} 15:00–15:30 (Europe/Berlin)")
        await expect(booked).to_contain_text(f"their time: {DAY} 21:00 (Asia/Shanghai)")
        await expect(booked.get_by_role("link", name="Video room")).to_have_attribute(
            "href", meeting.video_url
        )

        # 6. It downloads its agenda: one event, in UTC, with the institute's name.
        async with enterprise.expect_download() as downloading:
            await enterprise.get_by_role("link", name="Download my agenda (.ics)").click()
        download = await downloading.value
        assert download.suggested_filename == f"agenda-{event.id}.ics"
        saved = tmp_path / download.suggested_filename
        await download.save_as(saved)
        calendar = Calendar.from_ical(saved.read_bytes())
        (entry,) = calendar.walk("VEVENT")
        assert entry.decoded("dtstart") == at(13)
        assert entry.decoded("dtend") == at(13, 30)
        assert "Zhao Min" in str(entry.get("summary"))

        # 7. The meeting takes place: moved into the past (see the module's docstring).
        held = (utcnow() - timedelta(hours=3)).replace(minute=0, second=0, microsecond=0)
        await Meeting.filter(id=meeting.id).update(
            starts_at=held, ends_at=held + timedelta(minutes=30)
        )
        await SlotHold.filter(meeting_id=meeting.id).update(starts_at=held)

        # 8. From the meeting's card, an offer on the listing it was about, prefilled.
        await enterprise.reload()
        await (
            enterprise.locator(f"#meeting-{meeting.id}")
            .get_by_role("link", name="What the meeting is about, and what came of it")
            .click()
        )
        await expect(enterprise).to_have_url(re.compile(rf"/meetings/{meeting.id}/outcome$"))
        await expect(enterprise.get_by_role("heading", level=1)).to_have_text(
            "Your meeting with Zhao Min"
        )
        await enterprise.get_by_role("link", name=f"Make an offer on “{LISTING_TITLE}”").click()
        await expect(enterprise).to_have_url(
            re.compile(rf"/meetings/{meeting.id}/offer\?listing_id={listing.id}$")
        )
        await expect(enterprise.locator("main")).to_contain_text(
            "The form starts from the listing your meeting was about"
        )
        await expect(enterprise.get_by_label("Licence type")).to_have_value("exclusive")
        await expect(enterprise.get_by_label("Territories")).to_have_value("WORLD")
        await expect(enterprise.get_by_label("Upfront fee")).to_have_value("150000.00")
        await expect(enterprise.get_by_label("Currency")).to_have_value("USD")
        await expect(enterprise.get_by_label("Term in months")).to_have_value("60")
        await enterprise.get_by_label("Upfront fee").fill("120,000")
        await enterprise.get_by_label("A message to the institute").fill(
            "As discussed at the fair: an exclusive licence for our plants."
        )
        await enterprise.get_by_role("button", name="Send the offer").click()
        await expect(flash(enterprise)).to_have_text("Your offer is sent to the institute.")
        await expect(enterprise).to_have_url(re.compile(rf"/offers/{UUID}$"))
        offer_id = enterprise.url.rsplit("/", 1)[1]
        origin = enterprise.get_by_role("link", name="Made after a meeting at an exhibition")
        await expect(origin).to_have_attribute("href", f"/meetings/{meeting.id}/outcome")
        offer = await Offer.get(id=offer_id)
        assert offer.meeting_id == meeting.id  # type: ignore[attr-defined]
        assert offer.listing_id == listing.id  # type: ignore[attr-defined]
        assert (offer.buyer_id, offer.seller_id) == (enterprise_org.id, institute_org.id)  # type: ignore[attr-defined]
        recorded = await MeetingOutcome.get(meeting_id=meeting.id, participant_id=me.id)
        assert str(recorded.outcome) == "offer"

        # 9. The institute's card of the meeting lists the offer, and what the enterprise said.
        await institute.goto(f"/meetings/{meeting.id}/outcome")
        await expect(institute.locator(f'a[href="/offers/{offer_id}"]')).to_have_text(LISTING_TITLE)
        await expect(institute.locator("main")).to_contain_text("An offer follows")
    finally:
        for context in contexts:
            await context.close()
