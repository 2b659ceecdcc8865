"""No hostage rights: an acceptance puts the offers it conflicts with on hold, and the contract it
becomes decides their fate. Cancelled, rejected or lapsed (SIGNING_DAYS), it gives them back as
they were (expired if their time ran out) and their buyers are told; active, it declines them.
Against PostgreSQL, with a real arq worker on Redis and a real SMTP server."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from contracts.agreements import service as agreements
from contracts.agreements.models import Contract
from contracts.offers import service as offers
from contracts.offers.models import Grant, Offer, OfferTerms
from contracts.offers.schemas import OfferTermsIn
from contracts.payments import service as payments
from market.accounts import service as accounts
from market.accounts.models import User
from market.accounts.schemas import TokenIn
from market.actor import Actor
from market.audit import AuditEntry
from market.errors import Conflict
from market.notify import Notification
from market.outbox import OutboxEvent
from tests.builders import (
    a_contract,
    a_published_listing,
    a_verified_enterprise,
    a_verified_institute,
    actor_of,
    an_admin,
    an_offer,
    log_in,
    offer_terms,
    run_worker,
    signatories,
)
from tests.waiting import WITHIN_S


def now() -> datetime:
    return datetime.now(UTC)


def terms(**overrides: Any) -> OfferTermsIn:
    return OfferTermsIn.model_validate(offer_terms(**overrides))


@dataclass
class Hold:
    """A listing with an accepted exclusive offer for CN (`holder`) and, on hold behind it, an
    offer that was open, one the institute had countered and one that will be stale by the
    time the hold ends; an offer for DE collides with none of them and stays open."""

    listing: Any
    seller: Actor
    seller_user: User
    offers: dict[str, Offer] = field(default_factory=dict)
    buyers: dict[str, User] = field(default_factory=dict)

    @property
    def holder(self) -> Offer:
        return self.offers["holder"]

    def held(self) -> list[str]:
        return ["open", "countered", "stale"]

    async def states(self) -> dict[str, str]:
        return {
            name: str((await Offer.get(id=o.id)).state)
            for name, o in self.offers.items()
            if name != "holder"
        }


async def a_hold() -> Hold:
    seller_user, _ = await a_verified_institute()
    listing = await a_published_listing(seller_user)
    hold = Hold(listing, await actor_of(seller_user), seller_user)

    async def make(name: str, **overrides: Any) -> Offer:
        buyer, _ = await a_verified_enterprise()
        hold.buyers[name] = buyer
        hold.offers[name] = await an_offer(listing, buyer, license_type="exclusive", **overrides)
        return hold.offers[name]

    await make("open", territories=["CN"])
    countered = await make("countered", territories=["WORLD"])
    await offers.counter_offer(
        hold.seller, str(countered.id), terms(license_type="exclusive", territories=["WORLD"])
    )
    await make("stale", territories=["CN", "JP"])
    await make("free", territories=["DE"])
    holder = await make("holder", territories=["CN"])
    await offers.accept_offer(hold.seller, str(holder.id))
    assert await hold.states() == {
        "open": "on_hold",
        "countered": "on_hold",
        "stale": "on_hold",
        "free": "open",
    }
    return hold


async def notes_of(event_type: str) -> list[Notification]:
    events = {str(e.id): e for e in await OutboxEvent.filter(event_type=event_type)}
    notes = await Notification.all().select_related("user")
    return [n for n in notes if n.dedup_key.split(":")[0] in events]


async def told(event_type: str) -> dict[str, set[str]]:
    """Who was told of each offer: offer link -> the e-mail addresses."""
    found: dict[str, set[str]] = {}
    for note in await notes_of(event_type):
        assert note.emailed_at is not None
        found.setdefault(note.link, set()).add(note.user.email)
    return found


def link(offer: Offer) -> str:
    return f"http://testserver/offers/{offer.id}"


async def trail(offer: Offer) -> list[str]:
    return list(
        await AuditEntry.filter(object_id=str(offer.id))
        .order_by("id")
        .values_list("action", flat=True)
    )


@pytest.fixture
def worker(settings, redis_client, mailbox):
    return mailbox


# --- acceptance ------------------------------------------------------------------------------


async def test_the_buyers_of_held_offers_are_told_and_nobody_is_declined(settings, worker) -> None:
    mailbox = worker
    hold = await a_hold()
    await run_worker(settings)
    assert await told("offer.held") == {
        link(hold.offers[name]): {hold.buyers[name].email} for name in hold.held()
    }
    for name in hold.held():
        subjects = [m["Subject"] for m in mailbox.to(hold.buyers[name].email)]
        assert sum("is on hold" in s for s in subjects) == 1, subjects
    assert not any("on hold" in m["Subject"] for m in mailbox.to(hold.buyers["free"].email))
    assert not await OutboxEvent.filter(event_type="offer.declined").exists()


# --- the contract falls through: the offers come back ------------------------------------------


async def cancel_by_seller(contract: Contract) -> None:
    seller, _ = await signatories(contract)
    await agreements.cancel_contract(seller, str(contract.id), "We changed our minds.")


async def reject_by_admin(contract: Contract) -> None:
    admin = await actor_of(await an_admin())
    await agreements.reject_contract(admin, str(contract.id), "The licensee is under sanctions.")


@pytest.mark.parametrize("end", [cancel_by_seller, reject_by_admin], ids=["cancel", "reject"])
async def test_a_contract_that_falls_through_gives_the_held_offers_back_as_they_were(
    settings, worker, end
) -> None:
    mailbox = worker
    hold = await a_hold()
    contract = await a_contract("pending_approval", offer=hold.holder)
    await run_worker(settings)
    mailbox.messages.clear()
    stale = hold.offers["stale"]
    await Offer.filter(id=stale.id).update(expires_at=now() - timedelta(minutes=1))

    await end(contract)

    assert await hold.states() == {
        "open": "open",
        "countered": "countered",
        "stale": "expired",
        "free": "open",
    }
    assert (await Offer.get(id=hold.offers["countered"].id)).terms_number == 2
    assert not await Grant.filter(offer_id=hold.holder.id).exists()
    assert (await trail(hold.offers["open"]))[-2:] == ["offer.hold", "offer.resume_open"]
    assert (await trail(hold.offers["countered"]))[-1] == "offer.resume_countered"
    assert (await trail(stale))[-1] == "offer.expire"

    await run_worker(settings)
    seller_mail = hold.seller_user.email
    assert await told("offer.resumed") == {
        link(hold.offers["open"]): {hold.buyers["open"].email, seller_mail},
        link(hold.offers["countered"]): {hold.buyers["countered"].email, seller_mail},
    }
    assert await told("offer.expired") == {link(stale): {hold.buyers["stale"].email, seller_mail}}
    [back] = mailbox.to(hold.buyers["open"].email)
    assert "is back" in back["Subject"]
    text = back.get_body(preferencelist=("plain",)).get_content()
    assert "accepted before yours was" in text
    assert "changed our minds" not in text and "sanctions" not in text  # the parties' own words
    [countered_back] = mailbox.to(hold.buyers["countered"].email)
    assert "It is your turn" in countered_back.get_body(preferencelist=("plain",)).get_content()

    # The rights are free again: the institute may accept a returned offer.
    accepted = await offers.accept_offer(hold.seller, str(hold.offers["open"].id))
    assert accepted.state == "accepted"


async def test_an_offer_released_into_another_pending_grant_is_held_by_that_one(worker) -> None:
    hold = await a_hold()
    world = hold.offers["countered"]  # WORLD: collides with the CN holder and with DE
    await offers.accept_offer(hold.seller, str(hold.offers["free"].id))  # DE, not held
    contract = await a_contract("pending_approval", offer=hold.holder)

    await cancel_by_seller(contract)

    moved = await Offer.get(id=world.id)
    assert (moved.state, moved.held_from) == ("on_hold", "countered")
    assert moved.held_by_id == hold.offers["free"].id
    assert await hold.states() == {
        "open": "open",
        "countered": "on_hold",
        "stale": "open",
        "free": "accepted",
    }


# --- the contract goes active: the held offers are declined ---------------------------------


async def test_an_active_contract_declines_the_held_offers_and_tells_their_buyers(
    settings, worker
) -> None:
    hold = await a_hold()
    contract = await a_contract("awaiting_payment", offer=hold.holder)
    await run_worker(settings)
    cid = str(contract.id)
    _, buyer = await signatories(contract)
    admin = await actor_of(await an_admin())
    started = await payments.start_payment(buyer, cid, "bank_transfer")
    await payments.confirm_transfer(admin, str(started.payment.id), "BANK-REF-7")
    assert (await Contract.get(id=cid)).state == "active"
    # The decline is the `contract.active` event's work, done by the worker.
    assert set((await hold.states()).values()) == {"on_hold", "open"}

    await run_worker(settings)

    assert await hold.states() == {
        "open": "declined",
        "countered": "declined",
        "stale": "declined",
        "free": "open",
    }
    declined = await Offer.get(id=hold.offers["open"].id)
    assert "concluded" in declined.closed_reason
    assert await told("offer.declined") == {
        link(hold.offers[name]): {hold.buyers[name].email} for name in hold.held()
    }
    assert await agreements.decline_held_offers(cid) == 0  # the handler run again: nothing


# --- not signed within SIGNING_DAYS ----------------------------------------------------------


async def test_a_contract_unsigned_within_signing_days_loses_the_reservation(
    settings, worker
) -> None:
    hold = await a_hold()
    reserving = await a_contract("awaiting_signatures", offer=hold.holder)
    # A non-exclusive licence holding nobody keeps the longer, general deadline.
    plain = await a_contract("awaiting_signatures", license_type="non_exclusive")
    days, outer = settings.signing_days, settings.contract_cancel_days
    assert settings.contract_reminder_days < days < outer
    opened = reserving.signing_opened_at
    stale = hold.offers["stale"]
    # Still running now, but past its expiry by the time the reservation is lost.
    await Offer.filter(id=stale.id).update(expires_at=now() + timedelta(days=2))

    assert await agreements.remind_unsigned(opened + timedelta(days=days - 1)) == 2
    reminders = {
        e.payload["contract_id"]: e.payload["cancel_at"]
        for e in await OutboxEvent.filter(event_type="contract.signing_reminder")
    }
    assert datetime.fromisoformat(reminders[str(reserving.id)]) == opened + timedelta(days=days)
    plain_opened = plain.signing_opened_at
    assert datetime.fromisoformat(reminders[str(plain.id)]) == plain_opened + timedelta(days=outer)

    assert await agreements.cancel_unsigned(opened + timedelta(days=days, minutes=-5)) == 0
    assert (await hold.states())["open"] == "on_hold"

    assert await agreements.cancel_unsigned(opened + timedelta(days=days, minutes=5)) == 1
    lapsed = await Contract.get(id=reserving.id)
    assert lapsed.state == "cancelled" and f"within {days} days" in lapsed.reason
    assert await hold.states() == {
        "open": "open",
        "countered": "countered",
        "stale": "expired",  # by the sweep's clock
        "free": "open",
    }
    assert (await Contract.get(id=plain.id)).state == "awaiting_signatures"
    assert await agreements.cancel_unsigned(plain_opened + timedelta(days=outer, minutes=5)) == 1
    assert (await Contract.get(id=plain.id)).state == "cancelled"

    await run_worker(settings)
    assert set(await told("offer.resumed")) == {
        link(hold.offers["open"]),
        link(hold.offers["countered"]),
    }


# --- races -----------------------------------------------------------------------------------


async def keep_accepting(seller: Actor, contract: Contract, offer: Offer) -> Offer | Conflict:
    """The institute accepting a held offer again and again (polling, with a deadline) until
    it is accepted, or refused as held once the contract holding it is gone."""
    deadline = time.monotonic() + WITHIN_S
    while True:
        try:
            return await offers.accept_offer(seller, str(offer.id))
        except Conflict as refused:
            cancelled = (await Contract.get(id=contract.id)).state == "cancelled"
            if cancelled and refused.state == "on_hold":
                return refused  # held again, now behind the other contender
            assert time.monotonic() < deadline, refused
            await asyncio.sleep(0.01)


async def test_the_seller_accepting_held_offers_while_the_contract_is_cancelled(worker) -> None:
    """Two offers held by one contract; its cancellation and the institute's acceptances of
    both run together. The acceptances are refused while the hold stands; once it is gone
    exactly one wins and the other is held behind the winner, never both, never lost."""
    for _ in range(3):
        hold = await a_hold()
        contract = await a_contract("pending_approval", offer=hold.holder)
        contenders = [hold.offers["open"], hold.offers["stale"]]  # both CN, both exclusive
        results = await asyncio.gather(
            cancel_by_seller(contract),
            *(keep_accepting(hold.seller, contract, o) for o in contenders),
        )
        won = [r for r in results[1:] if isinstance(r, Offer)]
        assert len(won) == 1, results
        [winner] = won
        [loser] = [o for o in contenders if o.id != winner.id]
        lost = await Offer.get(id=loser.id)
        assert (lost.state, lost.held_from, lost.held_by_id) == ("on_hold", "open", winner.id)
        assert (await Contract.get(id=contract.id)).state == "cancelled"
        grants = await Grant.filter(listing_id=hold.listing.id).values_list("offer_id", flat=True)
        assert grants == [winner.id]
        assert (await trail(lost))[-3:] == ["offer.hold", "offer.resume_open", "offer.hold"]
        assert await OfferTerms.filter(offer_id=loser.id).count() == 1


# --- pages and API ---------------------------------------------------------------------------


async def test_pages_and_api_show_the_hold_and_refuse_answers_with_409(client) -> None:
    hold = await a_hold()
    held = hold.offers["countered"]
    buyer = hold.buyers["countered"]
    await log_in(client, buyer.email)
    page = await client.get(f"/offers/{held.id}")
    assert page.status_code == 200
    assert "On hold" in page.text and "comes back as it was" in page.text
    assert "Accept these terms" not in page.text and "Make a counter-offer" not in page.text
    assert "Withdraw the offer" in page.text
    client.cookies.clear()

    _, raw = await accounts.create_api_token(await actor_of(buyer), TokenIn(name="tests"))
    headers = {"Authorization": f"Bearer {raw}"}
    shown = (await client.get(f"/api/v1/offers/{held.id}", headers=headers)).json()
    assert (shown["state"], shown["offer"]["held_from"]) == ("on_hold", "countered")
    assert shown["turn"] is None and set(shown["actions"]) == {"reject", "withdraw", "message"}
    before = await AuditEntry.all().count()
    for path, body in (("accept", None), ("counter", offer_terms(license_type="exclusive"))):
        refused = await client.post(f"/api/v1/offers/{held.id}/{path}", json=body, headers=headers)
        assert refused.status_code == 409, refused.text
        error = refused.json()["error"]
        assert error["code"] == "conflict" and error["state"] == "on_hold"
        assert "on hold" in error["message"]
    assert await AuditEntry.all().count() == before
    assert (await Offer.get(id=held.id)).state == "on_hold"
