"""The organiser's figures on a seeded event: requests by state, meetings held and no-shows,
participants with no meeting (and the reminder to them), booth visits, and the offers and
contracts that came from the event with their value; as CSV too; only for organisers."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from typing import Any

import pytest

from contracts.agreements import service as agreements
from contracts.offers import service as offers
from hall import outcomes, stats
from hall.deal_schemas import FromMeetingIn, OutcomeIn, RemindIn
from hall.models import Booth, BoothVisit, Event, MeetingRequest, MeetingState, Participant
from market.accounts.models import Organization
from market.errors import Conflict, Forbidden, NotFound, ValidationFailed
from market.notify import Notification
from tests.builders import a_verified_enterprise, a_verified_institute, actor_of, an_admin
from tests.hall.builders import a_booth, a_meeting, a_participant
from tests.hall.deal_builders import a_held_meeting, a_past_event
from tests.queries import counting

HOSTILE = '=HYPERLINK("http://evil")'


async def organiser_of(event: Event) -> Any:
    org = await event.organiser
    membership = await org.memberships.all().first().prefetch_related("user")
    return await actor_of(membership.user)


async def a_seeded_event() -> dict[str, Any]:
    event = await a_past_event()
    block = await event.blocks.all().first()
    first = await a_held_meeting(
        event, asking_price={"amount": 7_000_000, "currency": "EUR"}, license_types=["exclusive"]
    )
    # A second enterprise met the same institute half an hour later, and did not come.
    late, _ = await a_verified_enterprise()
    c = await a_participant(event, late)
    second = await a_meeting(
        c, first.guest, starts_at=block.starts_at + timedelta(minutes=30), listing_ids=[]
    )
    await outcomes.record_outcome(
        await actor_of(first.seller), str(second.id), OutcomeIn(outcome="no_show")
    )
    # One whose meeting was cancelled, and one who never booked: both have no meeting.
    d_user, _ = await a_verified_institute(organization={"name": HOSTILE})
    d = await a_participant(event, d_user)
    cancelled = await a_meeting(c, d, starts_at=block.starts_at + timedelta(minutes=60))
    cancelled.state = MeetingState.CANCELLED
    await cancelled.save(update_fields=["state"])
    e = await a_participant(event)
    for state in ("pending", "declined", "declined"):
        await MeetingRequest.create(event=event, requester=e, guest=d, state=state)
    # The buyer's offer after the first meeting was accepted and became a contract.
    offer = await outcomes.offer_from_meeting(
        await actor_of(first.buyer),
        str(first.meeting.id),
        FromMeetingIn(listing_id=str(first.listing.id)),
    )
    await offers.accept_offer(await actor_of(first.seller), str(offer.id))
    await agreements.generate_contract(str(offer.id))
    # The booth of the institute: two visitors on the first day, one of them again the next.
    booth = await a_booth(event, await Organization.get(id=first.guest.organization_id))
    for day, visitor in (
        (date(2031, 5, 20), "u1"),
        (date(2031, 5, 20), "u2"),
        (date(2031, 5, 21), "u1"),
    ):
        await BoothVisit.create(booth=booth, day=day, visitor=visitor)
    await a_booth(event, await Organization.get(id=d.organization_id))
    return {"event": event, "first": first, "unmatched": [d, e], "booth": booth}


async def test_the_figures_of_a_seeded_event(database):
    seeded = await a_seeded_event()
    event = seeded["event"]
    figures = await stats.event_stats(await organiser_of(event), str(event.id))
    # Three made by hand, and the three a_meeting accepted.
    assert figures.requests == {
        "pending": 1,
        "accepted": 3,
        "declined": 2,
        "cancelled": 0,
        "expired": 0,
    }
    assert figures.meetings == {
        "scheduled": 2,
        "held": 1,
        "no_show": 1,
        "upcoming": 0,
        "cancelled": 1,
    }
    assert figures.outcomes["no_show"] == 1 and figures.outcomes["offer"] == 1
    assert figures.participants == 5
    assert {p.id for p in figures.unmatched} == {p.id for p in seeded["unmatched"]}
    assert (figures.visits, figures.visitors) == (3, 2)
    assert [(b.visits, b.visitors) for b in figures.booths] == [(3, 2), (0, 0)]
    assert figures.offers["accepted"] == 1 and figures.offers_total == 1
    assert figures.offers_value.json() == [{"amount": 7_000_000, "currency": "EUR"}]
    assert figures.accepted_value.json() == [{"amount": 7_000_000, "currency": "EUR"}]
    assert figures.contracts_total == 1 and figures.contracts["pending_approval"] == 1
    assert figures.contracts_value.json() == [{"amount": 7_000_000, "currency": "EUR"}]
    data = stats.stats_json(figures)
    assert data["participants"]["without_meeting"] == 2
    assert data["offers"]["value"] == [{"amount": 7_000_000, "currency": "EUR"}]


async def test_the_csv_has_every_figure_and_keeps_hostile_names_as_text(database):
    seeded = await a_seeded_event()
    event = seeded["event"]
    figures = await stats.event_stats(await organiser_of(event), str(event.id))
    rows = list(csv.reader(io.StringIO(stats.stats_csv(figures))))
    assert rows[0] == list(stats.CSV_HEADER)
    table = {(r[0], r[1]): r[2:] for r in rows[1:]}
    assert table[("requests", "declined")][0] == "2"
    assert table[("meetings", "no_show")][0] == "1"
    assert table[("booth_visits", "total")][0] == "3"
    assert table[("contracts_value", "live")] == ["", "7000000", "EUR"]
    hostile = [r for r in rows if HOSTILE in r[1]]
    assert len(hostile) == 2
    # No cell a spreadsheet would run as a formula.
    assert not [c for r in rows for c in r if c.startswith(("=", "+", "-", "@"))]


async def test_only_organisers_and_administrators_see_the_figures(database):
    seeded = await a_seeded_event()
    event = seeded["event"]
    stranger, _ = await a_verified_enterprise()
    with pytest.raises(Forbidden):
        await stats.event_stats(await actor_of(stranger), str(event.id))
    # A participant is no organiser either.
    with pytest.raises(Forbidden):
        await stats.event_stats(await actor_of(seeded["first"].buyer), str(event.id))
    assert await stats.event_stats(await actor_of(await an_admin()), str(event.id))
    event.state = "draft"
    await event.save(update_fields=["state"])
    with pytest.raises(NotFound):
        await stats.event_stats(await actor_of(stranger), str(event.id))


async def test_reminding_participants_with_no_meeting(database):
    seeded = await a_seeded_event()
    event = seeded["event"]
    organiser = await organiser_of(event)
    matched = seeded["first"].requester
    with pytest.raises(ValidationFailed) as refused:
        await stats.remind_unmatched(
            organiser, str(event.id), RemindIn(participant_ids=[str(matched.id)])
        )
    assert "participant_ids" in refused.value.fields
    assert await Participant.filter(reminded_at__isnull=False).count() == 0
    with pytest.raises(Forbidden):
        await stats.remind_unmatched(
            await actor_of(seeded["first"].buyer), str(event.id), RemindIn()
        )
    assert await stats.remind_unmatched(organiser, str(event.id), RemindIn()) == 2
    for participant in seeded["unmatched"]:
        user = await participant.user
        (note,) = await Notification.filter(user_id=user.id)
        assert "no meeting yet" in note.subject and str(event.id) in note.link
    # Once a day at most.
    assert await stats.remind_unmatched(organiser, str(event.id), RemindIn()) == 0
    event.state = "closed"
    await event.save(update_fields=["state"])
    with pytest.raises(Conflict) as closed:
        await stats.remind_unmatched(organiser, str(event.id), RemindIn())
    assert closed.value.state == "closed"
    assert await Booth.filter(event_id=event.id).count() == 2


async def test_the_figures_cost_as_many_statements_for_many_as_for_few(database):
    """Aggregates and a fixed number of reads: no statement per participant, meeting, booth
    or offer."""
    small = await a_seeded_event()
    big = await a_seeded_event()
    event = big["event"]
    for _ in range(6):
        more = await a_held_meeting(event)
        await outcomes.record_outcome(
            await actor_of(more.buyer), str(more.meeting.id), OutcomeIn(outcome="no_fit")
        )
        await a_booth(event, await Organization.get(id=more.guest.organization_id))
        await a_participant(event)
    counts = []
    for seeded in (small, big):
        actor = await organiser_of(seeded["event"])
        async with counting() as sent:
            figures = await stats.event_stats(actor, str(seeded["event"].id))
            stats.stats_csv(figures)
        counts.append(len(sent))
    assert counts[0] == counts[1], sent.summary()
