"""Offer events tell the right people, in the app and by e-mail through a real SMTP server
(aiosmtpd in this process), with a link back to the offer; a handler that runs twice notifies
once. The worker is a real arq worker on Redis; the database is PostgreSQL."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import pytest

from contracts.offers import events as offer_events
from contracts.offers import service as offers
from contracts.offers.models import Offer
from contracts.offers.schemas import MessageIn, OfferIn, OfferTermsIn
from market import notify, outbox
from market.app.processes import free_port
from market.config import get_settings
from market.db import unit_of_work
from market.notify import Notification
from market.outbox import OutboxEvent
from tests.builders import (
    Parties,
    a_verified_enterprise,
    actor_of,
    offer_terms,
    run_worker,
    the_parties,
)

HOSTILE = "<script>alert(1)</script>"
SELLERS = {"seller", "seller_mate"}
BUYERS = {"buyer", "buyer_mate"}


def terms(**overrides) -> OfferTermsIn:
    return OfferTermsIn.model_validate(offer_terms(**overrides))


def link_of(offer: Offer) -> str:
    return f"http://testserver/offers/{offer.id}"


async def make(p: Parties, **overrides) -> Offer:
    data = OfferIn.model_validate(offer_terms(**overrides))
    return await offers.make_offer(await actor_of(p.buyer), str(p.listing.id), data)


async def notes_of(event_type: str) -> list[Notification]:
    events = {str(e.id) for e in await OutboxEvent.filter(event_type=event_type)}
    notes = await Notification.all().select_related("user")
    return [n for n in notes if n.dedup_key.split(":")[0] in events]


async def mail_events_of(notes: list[Notification]) -> list[OutboxEvent]:
    """The outbox events that mail these notifications."""
    ids = {str(n.id) for n in notes}
    events = await OutboxEvent.filter(event_type=notify.MAIL_EVENT).order_by("created_at")
    return [e for e in events if e.payload["notification_id"] in ids]


def parts(message: EmailMessage) -> tuple[str, str]:
    """The plain text and the HTML alternative of a mail (SMTP's CRLF read as newlines)."""
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert text is not None and html is not None, message
    return (
        text.get_content().replace("\r\n", "\n"),
        html.get_content().replace("\r\n", "\n"),
    )


@pytest.fixture
async def parties(settings, mailbox, redis_client) -> Parties:
    """The people, with the mail of their organisations' verification already delivered."""
    p = await the_parties()
    await run_worker(settings)
    mailbox.messages.clear()
    return p


@pytest.fixture
async def offer(settings, mailbox, parties) -> Offer:
    """An open offer whose own notifications are already delivered."""
    made = await make(parties, message="We would like to license this.")
    await run_worker(settings)
    mailbox.messages.clear()
    return made


async def assert_told(
    p: Parties, mailbox, event_type: str, offer: Offer, expected: set[str]
) -> list[Notification]:
    """Exactly `expected` were told of the event, once each, in the app and by e-mail, with
    the link back to the offer."""
    notes = await notes_of(event_type)
    assert sorted(p.names(n.user for n in notes)) == sorted(expected)
    assert len(notes) == len(expected)  # once each
    for note in notes:
        assert note.link == link_of(offer)
        assert note.emailed_at is not None
        assert note.read_at is None
    assert sorted(p.by_email(mailbox.recipients)) == sorted(expected)
    for note in notes:
        [mail] = mailbox.to(note.user.email)
        assert mail["Subject"] == note.subject
        assert mail["From"] == "techmarket <no-reply@techmarket.invalid>"
        text, html = parts(mail)
        assert link_of(offer) in text
        assert f'<a href="{link_of(offer)}">' in html
        assert note.body.strip() in text
        assert note.user.name in text  # the greeting
    return notes


# --- each event, its recipients --------------------------------------------------------------


async def test_a_new_offer_tells_the_institute_not_the_buyer_nor_strangers(
    settings, mailbox, parties
) -> None:
    made = await make(parties, message="We would like to license this.")
    await run_worker(settings)
    notes = await assert_told(parties, mailbox, "offer.made", made, SELLERS)
    note = notes[0]
    assert parties.listing.title in note.subject
    assert "We would like to license this." in note.body
    assert "Licence: Non-exclusive licence" in note.body
    assert "Upfront fee: 50,000.00 USD" in note.body
    assert "Royalty: 3.5 %" in note.body
    assert "Milestone: First commercial sale: 10,000.00 USD" in note.body
    assert "your turn" in note.body


Action = Callable[[Parties, Offer], Awaitable[object]]


async def counter_by_seller(p: Parties, offer: Offer) -> None:
    await offers.counter_offer(await actor_of(p.seller), str(offer.id), terms(royalty_percent="5"))


async def message_by_buyer(p: Parties, offer: Offer) -> None:
    body = MessageIn(body="Could you include the pilot data? " + HOSTILE)
    await offers.post_message(await actor_of(p.buyer), str(offer.id), body)


async def message_by_seller_mate(p: Parties, offer: Offer) -> None:
    body = MessageIn(body="Yes, the pilot data is included.")
    await offers.post_message(await actor_of(p.seller_mate), str(offer.id), body)


async def accept_by_seller(p: Parties, offer: Offer) -> None:
    await offers.accept_offer(await actor_of(p.seller), str(offer.id))


async def reject_by_seller(p: Parties, offer: Offer) -> None:
    await offers.reject_offer(await actor_of(p.seller), str(offer.id), "The fee is too low.")


async def reject_by_buyer_mate(p: Parties, offer: Offer) -> None:
    await offers.reject_offer(await actor_of(p.buyer_mate), str(offer.id))


async def withdraw_by_buyer(p: Parties, offer: Offer) -> None:
    await offers.withdraw_offer(await actor_of(p.buyer), str(offer.id))


@pytest.mark.parametrize(
    ("action", "event_type", "expected", "says"),
    [
        pytest.param(counter_by_seller, "offer.countered", BUYERS, "Royalty: 5 %", id="countered"),
        pytest.param(
            message_by_buyer, "offer.message", SELLERS, "pilot data", id="message by the buyer"
        ),
        pytest.param(
            message_by_seller_mate,
            "offer.message",
            BUYERS,  # not the author, nor the author's own side
            "pilot data is included",
            id="message by a colleague of the seller",
        ),
        pytest.param(
            accept_by_seller,
            "offer.accepted",
            {"seller_mate"} | BUYERS,
            "accepted",
            id="accepted",
        ),
        pytest.param(
            reject_by_seller, "offer.rejected", BUYERS, "The fee is too low.", id="rejected"
        ),
        pytest.param(
            reject_by_buyer_mate,
            "offer.rejected",
            SELLERS,
            "rejected",
            id="rejected by the buyer's colleague",
        ),
        pytest.param(withdraw_by_buyer, "offer.withdrawn", SELLERS, "withdrew", id="withdrawn"),
    ],
)
async def test_each_answer_tells_the_other_side(
    settings, mailbox, parties, offer, action: Action, event_type, expected, says
) -> None:
    await action(parties, offer)
    await run_worker(settings)
    if event_type == "offer.accepted":
        # The accepted offer became a contract, which the administrator is asked to approve.
        [approval] = mailbox.to(parties.admin.email)
        assert approval["Subject"].endswith("awaits approval")
        mailbox.messages.remove(approval)
    notes = await assert_told(parties, mailbox, event_type, offer, expected)
    assert all(says in n.body for n in notes)
    assert all(parties.listing.title in n.subject for n in notes)


async def test_user_text_is_plain_in_the_text_mail_and_escaped_in_the_html_one(
    settings, mailbox, parties, offer
) -> None:
    await message_by_buyer(parties, offer)
    await run_worker(settings)
    [mail] = mailbox.to(parties.seller.email)
    text, html = parts(mail)
    assert HOSTILE in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script" not in html


async def test_an_exclusive_acceptance_tells_the_held_buyer(settings, mailbox, parties) -> None:
    other_buyer, _ = await a_verified_enterprise()
    others = await offers.make_offer(
        await actor_of(other_buyer), str(parties.listing.id), OfferIn.model_validate(offer_terms())
    )
    exclusive = await make(parties, license_type="exclusive")
    await run_worker(settings)
    mailbox.messages.clear()

    await offers.accept_offer(await actor_of(parties.seller), str(exclusive.id))
    await run_worker(settings)

    [held] = await notes_of("offer.held")
    assert held.user_id == other_buyer.id
    assert held.link == link_of(others)
    assert "accepted another offer" in held.body and "on hold, not closed" in held.body
    assert not await notes_of("offer.declined")  # (tests/contracts/test_holds.py: when it is)
    [mail] = mailbox.to(other_buyer.email)
    assert link_of(others) in parts(mail)[0]
    accepted = await notes_of("offer.accepted")
    assert parties.names(n.user for n in accepted) == {"seller_mate"} | BUYERS
    # Nobody but the held buyer and the accepted offer's parties heard anything, besides
    # the administrator asked to approve the contract the acceptance became.
    assert sorted(mailbox.recipients) == sorted(
        [
            other_buyer.email,
            parties.admin.email,
            *(parties.people[n].email for n in {"seller_mate"} | BUYERS),
        ]
    )
    [approval] = mailbox.to(parties.admin.email)
    assert approval["Subject"].endswith("awaits approval")


# --- idempotency and failures ------------------------------------------------------------------


async def test_a_handler_that_runs_twice_notifies_once(settings, mailbox, parties) -> None:
    made = await make(parties)
    await run_worker(settings)
    event = await OutboxEvent.get(event_type="offer.made")
    assert len(await notes_of("offer.made")) == 2 and len(mailbox.messages) == 2

    # arq may run a job again, e.g. when a worker dies before it records the result.
    async with unit_of_work():
        await offer_events.tell_the_parties(event)
    await OutboxEvent.filter(id=event.id).update(processed_at=None)
    assert await outbox.process(str(event.id)) == "processed"
    await run_worker(settings)

    notes = await notes_of("offer.made")
    assert len(notes) == 2
    assert len(await mail_events_of(notes)) == 2
    assert len(mailbox.messages) == 2
    assert await Offer.get(id=made.id)


async def test_mail_waits_out_an_smtp_outage_and_is_sent_once(
    settings, mailbox, parties, monkeypatch
) -> None:
    made = await make(parties)
    event = await OutboxEvent.get(event_type="offer.made")
    assert await outbox.process(str(event.id)) == "processed"
    mails = await mail_events_of(await notes_of("offer.made"))
    assert len(mails) == 2

    # Nothing listens on this port: the SMTP server is down.
    current = get_settings()
    up = current.smtp_port
    monkeypatch.setattr(current, "smtp_port", free_port())
    with pytest.raises(outbox.DeliveryFailed) as failure:
        await outbox.process(str(mails[0].id))
    assert isinstance(failure.value.__cause__, OSError)
    failed = await OutboxEvent.get(id=mails[0].id)
    assert failed.processed_at is None and failed.attempts == 1
    # The in-app notifications stand; only the mail waits.
    notes = await notes_of("offer.made")
    assert len(notes) == 2 and all(n.emailed_at is None for n in notes)

    monkeypatch.setattr(current, "smtp_port", up)
    for mail_event in mails:
        assert await outbox.process(str(mail_event.id)) == "processed"
        assert await outbox.process(str(mail_event.id)) == "already processed"
    assert sorted(parties.by_email(mailbox.recipients)) == sorted(SELLERS)
    assert all(n.emailed_at for n in await notes_of("offer.made"))
    assert link_of(made) in parts(mailbox.messages[0])[0]


async def test_a_deactivated_member_gets_nothing(settings, mailbox, parties) -> None:
    await make(parties)
    await run_worker(settings)
    told = parties.names(n.user for n in await notes_of("offer.made"))
    assert "seller_gone" not in told
    assert parties.seller_gone.email not in mailbox.recipients


async def test_the_reminder_names_the_expiry(settings, mailbox, parties, offer) -> None:
    """(The cron that sends it is tested in tests/workers; here, what it says.)"""
    soon = datetime.now(UTC) + timedelta(hours=5)
    await Offer.filter(id=offer.id).update(expires_at=soon)
    assert await offers.remind_due() == 1
    await run_worker(settings)
    notes = await assert_told(parties, mailbox, "offer.expiring", offer, SELLERS)
    assert soon.strftime("%Y-%m-%d %H:%M UTC") in notes[0].subject
