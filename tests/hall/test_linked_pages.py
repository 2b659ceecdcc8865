"""The hall's pages lead to one another: the event page to the meetings' pages (and, for its
organisers, to the figures), a booth to a meeting with its people (or to joining first), the
agenda to each meeting's card, the card to the offer, the offer back to the meeting; the
request form warns of an exclusive scope already granted before it is sent."""

from __future__ import annotations

from contracts.offers.models import Offer
from hall import outcomes
from hall.deal_schemas import FromMeetingIn
from tests.builders import (
    a_published_listing,
    a_verified_enterprise,
    a_verified_institute,
    actor_of,
    an_accepted_offer,
)
from tests.hall.builders import a_booth, a_participant, an_event, an_organiser
from tests.hall.deal_builders import a_held_meeting
from tests.listings.test_pages import page_login


async def test_the_event_page_leads_to_the_meetings_and_the_organiser_to_the_figures(
    client,
) -> None:
    organiser, org = await an_organiser()
    event = await an_event(org)
    eid = event.id
    anonymous = (await client.get(f"/events/{eid}")).text
    assert f'href="/events/{eid}/join"' in anonymous
    assert f'href="/events/{eid}/participants"' in anonymous
    assert f'href="/events/{eid}/meetings"' not in anonymous
    assert f'href="/events/{eid}/stats"' not in anonymous

    user, _ = await a_verified_enterprise()
    await a_participant(event, user)
    await page_login(client, user.email)
    joined = (await client.get(f"/events/{eid}")).text
    for path in ("meetings", "requests", "join", "participants"):
        assert f'href="/events/{eid}/{path}"' in joined, path
    assert f'href="/events/{eid}/stats"' not in joined

    await page_login(client, organiser.email)
    own = (await client.get(f"/events/{eid}")).text
    assert f'href="/events/{eid}/stats"' in own
    assert (await client.get(f"/events/{eid}/stats")).status_code == 200


async def test_a_booth_offers_a_meeting_with_its_people_or_joining_first(client) -> None:
    event = await an_event()
    host, institute = await a_verified_institute(name="Li Wei")
    booth = await a_booth(event, institute)
    guest = await a_participant(event, host, timezone="Asia/Shanghai")
    ask = f'href="/events/{event.id}/participants/{guest.id}/request"'
    join = f'href="/events/{event.id}/join"'

    visitor, _ = await a_verified_enterprise()
    await page_login(client, visitor.email)
    first = (await client.get(f"/booths/{booth.id}")).text
    assert join in first and ask not in first

    await a_participant(event, visitor)
    then = (await client.get(f"/booths/{booth.id}")).text
    assert ask in then and "Ask Li Wei for a meeting" in then
    assert (
        await client.get(f"/events/{event.id}/participants/{guest.id}/request")
    ).status_code == 200

    # Its own people are not asked to meet themselves.
    await page_login(client, host.email)
    own = (await client.get(f"/booths/{booth.id}")).text
    assert ask not in own and "Ask Li Wei for a meeting" not in own


async def test_the_agenda_leads_to_the_card_the_card_to_an_offer_and_back(client) -> None:
    met = await a_held_meeting()
    mid = met.meeting.id
    await page_login(client, met.buyer.email)
    agenda = (await client.get(f"/events/{met.event.id}/meetings")).text
    assert f'href="/meetings/{mid}/outcome"' in agenda
    card = (await client.get(f"/meetings/{mid}/outcome")).text
    assert f'href="/events/{met.event.id}/meetings"' in card
    assert f'href="/meetings/{mid}/offer?listing_id={met.listing.id}"' in card

    offer = await outcomes.offer_from_meeting(
        await actor_of(met.buyer), str(mid), FromMeetingIn(listing_id=str(met.listing.id))
    )
    shown = (await client.get(f"/offers/{offer.id}")).text
    assert f'href="/meetings/{mid}/outcome"' in shown
    assert "Made after a meeting at an exhibition" in shown
    assert (await Offer.get(id=offer.id)).meeting_id == mid  # type: ignore[attr-defined]


async def test_the_request_form_warns_of_an_exclusive_scope_already_granted(client) -> None:
    event = await an_event()
    seller, _ = await a_verified_institute()
    taken = await a_published_listing(
        seller, title="Granted membrane", license_types=["exclusive", "non_exclusive"]
    )
    await a_published_listing(seller, title="Free membrane")
    rival, _ = await a_verified_enterprise()
    await an_accepted_offer(taken, rival, license_type="exclusive")
    guest = await a_participant(event, seller)
    buyer, _ = await a_verified_enterprise()
    await a_participant(event, buyer)
    await page_login(client, buyer.email)
    form = (await client.get(f"/events/{event.id}/participants/{guest.id}/request")).text
    assert "Free membrane" in form
    warned = "“Granted membrane” has already granted rights"
    assert warned in form
    assert "“Free membrane” has already granted rights" not in form
    assert form.index(warned) < form.index("Send the request")
