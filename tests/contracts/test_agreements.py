"""Contracts against PostgreSQL, Redis and a real arq worker: generation exactly once (even when
the job runs twice or dies half-way), the rendered agreement and its PDF, the state table,
approval, signatures and every refusal, the timers, and what a signed contract does to the
listing's rights and to search."""

from __future__ import annotations

import asyncio
import hashlib
import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

import pytest

from contracts.agreements import documents, states
from contracts.agreements import service as agreements
from contracts.agreements.models import Contract, ContractDocument, ContractState, Signature
from contracts.offers import service as offers
from contracts.offers.models import Grant, Offer
from contracts.offers.schemas import MessageIn
from contracts.payments import service as payments
from listings import search
from listings.models import Listing
from listings.search import SearchQuery
from market import outbox
from market.accounts.models import Organization, User
from market.audit import AuditEntry
from market.db import unit_of_work
from market.errors import Conflict, Forbidden, NotFound, ValidationFailed
from market.notify import Notification
from market.outbox import OutboxEvent
from market.transitions import check
from tests.builders import (
    PASSWORD,
    a_colleague,
    a_contract,
    a_published_listing,
    a_user,
    a_verified_enterprise,
    a_verified_institute,
    actor_of,
    an_accepted_offer,
    an_admin,
    log_in,
    run_crons,
    run_worker,
    signatories,
)
from tests.waiting import eventually


def now() -> datetime:
    return datetime.now(UTC)


async def admin_actor():
    return await actor_of(await an_admin())


async def snapshot(contract_id: Any) -> dict[str, Any]:
    """Everything a refused call must leave as it was."""
    row = await Contract.filter(id=contract_id).values()
    return {
        "contract": row,
        "documents": await ContractDocument.filter(contract_id=contract_id)
        .order_by("number")
        .values_list("number", "sha256"),
        "signatures": await Signature.filter(contract_id=contract_id).values_list(
            "side", "user_id", "document_sha256"
        ),
        "grants": await Grant.all().order_by("created_at").values_list("offer_id", "basis"),
        "audit": await AuditEntry.all().count(),
        "events": await OutboxEvent.all().count(),
    }


async def refused(
    error: type[Exception], call: Any, contract_id: Any, match: str | None = None
) -> Exception:
    before = await snapshot(contract_id)
    with pytest.raises(error, match=match) as caught:
        await call
    assert await snapshot(contract_id) == before
    return caught.value


async def accepted_event(offer: Offer) -> OutboxEvent:
    [event] = [
        e
        for e in await OutboxEvent.filter(event_type="offer.accepted")
        if e.payload["offer_id"] == str(offer.id)
    ]
    return event


# --- generation ------------------------------------------------------------------------------


async def test_an_accepted_offer_becomes_one_contract_through_the_worker(
    settings, redis_client
) -> None:
    offer = await an_accepted_offer(
        license_type="exclusive",
        territories=["CN", "DE"],
        fields_of_use=["water treatment"],
        upfront_fee={"amount": 12_345_600, "currency": "USD"},
        royalty_percent="4.25",
        conditions="The licensor trains two engineers of the licensee.",
    )
    assert not await Contract.exists(offer_id=offer.id)  # only the worker draws it up
    await run_worker(settings)

    contract = await Contract.get(offer_id=offer.id).select_related("listing", "seller", "buyer")
    assert contract.state == ContractState.PENDING_APPROVAL
    assert contract.amount_due == 12_345_600 and contract.currency == "USD"
    assert contract.reference == agreements.reference_for(offer.id)
    [doc] = await ContractDocument.filter(contract_id=contract.id)
    assert doc.number == 1 == contract.document_number
    # The hash is of the exact stored text.
    assert doc.sha256 == hashlib.sha256(doc.html.encode("utf-8")).hexdigest()
    assert contract.document_sha256 == doc.sha256
    assert bytes(doc.pdf).startswith(b"%PDF")

    text = " ".join(documents.pdf_text(bytes(doc.pdf)).split())
    for expected in (
        contract.seller.name,
        contract.buyer.name,
        contract.listing.title,
        contract.reference,
        "123,456.00 USD",
        "4.25%",
        "water treatment",
        "First commercial sale",
        "10,000.00 USD",
        "The licensor trains two engineers of the licensee.",
        "60 months",
    ):
        assert expected in text, expected

    trail = await AuditEntry.filter(object_id=str(contract.id)).order_by("id")
    assert [(e.action, e.state_after["state"]) for e in trail] == [
        ("contract.draft", "drafted"),
        ("contract.submit", "pending_approval"),
    ]
    [submitted] = await OutboxEvent.filter(event_type="contract.submitted")
    assert submitted.payload["contract_id"] == str(contract.id)
    # The administrators hear that a trade awaits their approval.
    admin = await an_admin()
    notes = await Notification.filter(user_id=admin.id, subject__startswith="Contract")
    assert [n.subject for n in notes] == [f"Contract {contract.reference} awaits approval"]
    assert notes[0].link == f"http://testserver/contracts/{contract.id}"


async def test_the_generation_job_running_twice_makes_one_contract(settings, redis_client) -> None:
    offer = await an_accepted_offer()
    event = await accepted_event(offer)
    assert await outbox.process(str(event.id)) == "processed"
    assert await outbox.process(str(event.id)) == "already processed"
    first = await Contract.get(offer_id=offer.id)

    # The same event delivered again as a new one (a replay), and the use case called
    # directly, alone and many times at once: still the one contract.
    async with unit_of_work():
        replay = await outbox.emit("offer.accepted", event.payload)
    assert await outbox.process(str(replay.id)) == "processed"
    again = await agreements.generate_contract(str(offer.id))
    racing = await asyncio.gather(*(agreements.generate_contract(str(offer.id)) for _ in range(6)))
    assert {str(c.id) for c in [again, *racing]} == {str(first.id)}
    await run_worker(settings)  # whatever the relay enqueued runs too
    assert await Contract.filter(offer_id=offer.id).count() == 1
    assert await ContractDocument.filter(contract_id=first.id).count() == 1
    assert await OutboxEvent.filter(event_type="contract.submitted").count() == 1


async def test_concurrent_first_generations_make_one_contract() -> None:
    offer = await an_accepted_offer()
    made = await asyncio.gather(*(agreements.generate_contract(str(offer.id)) for _ in range(8)))
    assert len({str(c.id) for c in made}) == 1
    assert await Contract.filter(offer_id=offer.id).count() == 1
    assert await ContractDocument.all().count() == 1
    assert await AuditEntry.filter(action="contract.draft").count() == 1


async def test_the_database_refuses_a_second_contract_for_an_offer() -> None:
    from tortoise.exceptions import IntegrityError

    contract = await a_contract()
    with pytest.raises(IntegrityError):
        async with unit_of_work():
            await Contract.create(
                offer_id=contract.offer_id,
                reference="TM-OTHER",
                listing_id=contract.listing_id,
                seller_id=contract.seller_id,
                buyer_id=contract.buyer_id,
                terms_number=1,
                license_type="non_exclusive",
                amount_due=1,
                currency="USD",
            )


async def test_a_slow_render_holds_no_lock_that_other_writes_wait_for(
    settings, database_kind
) -> None:
    # The render is made to wait for this test; if anything the worker holds while rendering
    # (a transaction, a row lock, SQLite's one connection) stood in the way of the writes
    # below, they would wait for the render, the render for them, and the bound would fail
    # the test: no clock decides it.
    offer = await an_accepted_offer()
    other = await an_accepted_offer()
    event, other_event = await accepted_event(offer), await accepted_event(other)
    rendering, finish = threading.Event(), threading.Event()
    real_to_pdf = documents.to_pdf
    slow_ones: list[str] = []

    def slow_to_pdf(html: str) -> bytes:
        if not slow_ones:  # the first render (this offer's agreement) is the slow one
            slow_ones.append(html)
            rendering.set()
            if not finish.wait(120):
                raise AssertionError("the test never let the slow render finish")
        return real_to_pdf(html)

    with mock.patch.object(documents, "to_pdf", autospec=True, side_effect=slow_to_pdf):
        job = asyncio.create_task(outbox.process(str(event.id)))
        try:
            await eventually(
                lambda: asyncio.to_thread(rendering.wait, 0.1), what="the slow render to start"
            )
            async with asyncio.timeout(60):
                user, _ = await a_user()  # unrelated rows
                seller = await actor_of(
                    await User.get(id=(await Listing.get(id=offer.listing_id)).created_by_id)
                )
                await offers.post_message(seller, str(offer.id), MessageIn(body="Drafting now"))
                # Another event's handlers, contract and all, while this one renders.
                assert await outbox.process(str(other_event.id)) == "processed"
            assert not job.done()  # still rendering: the writes did not wait for it
        finally:
            finish.set()
        assert await job == "processed"
    assert len(slow_ones) == 1
    assert await Contract.filter(offer_id=offer.id).count() == 1
    assert await Contract.filter(offer_id=other.id).count() == 1


async def test_a_worker_killed_mid_job_leaves_nothing_and_the_rerun_makes_one(
    settings, redis_client
) -> None:
    class Killed(Exception):
        """Stands for the worker dying after the contract row, before the commit."""

    offer = await an_accepted_offer()
    event = await accepted_event(offer)

    # Dies after writing the contract, its document and its events, before the commit.
    with pytest.raises(Killed):
        async with unit_of_work():
            made = await agreements.generate_contract(str(offer.id))
            assert made is not None and await Contract.filter(offer_id=offer.id).count() == 1
            raise Killed
    assert not await Contract.exists(offer_id=offer.id)
    assert not await ContractDocument.exists()
    assert not await OutboxEvent.filter(event_type="contract.submitted").exists()

    # The job's task cancelled at ever later moments (rendering, inserting, notifying...): each
    # attempt commits all of it or nothing.
    finished = False
    for step in range(30):
        try:
            await asyncio.wait_for(outbox.process(str(event.id)), timeout=0.005 * 1.4**step)
            finished = True
            break
        except TimeoutError:
            count = await Contract.filter(offer_id=offer.id).count()
            assert count in (0, 1)
            if count:
                assert await ContractDocument.all().count() == 1
    assert finished
    await run_worker(settings)  # and the real worker re-runs whatever was left
    assert await Contract.filter(offer_id=offer.id).count() == 1
    assert await ContractDocument.all().count() == 1
    assert await OutboxEvent.filter(event_type="contract.submitted").count() == 1
    assert (await OutboxEvent.get(id=event.id)).processed_at is not None


async def test_no_contract_for_an_offer_that_is_not_accepted() -> None:
    from tests.builders import an_offer

    offer = await an_offer()
    assert await agreements.generate_contract(str(offer.id)) is None
    assert not await Contract.exists()


async def test_the_offer_api_names_its_contract(settings, client, redis_client) -> None:
    offer = await an_accepted_offer()
    buyer = await offer.created_by
    await log_in(client, buyer.email, PASSWORD)
    before = (await client.get(f"/api/v1/offers/{offer.id}")).json()
    assert before["contract_id"] is None
    await run_worker(settings)
    contract = await Contract.get(offer_id=offer.id)
    after = (await client.get(f"/api/v1/offers/{offer.id}")).json()
    assert after["contract_id"] == str(contract.id)


# --- approval and versions ---------------------------------------------------------------------


async def test_changes_make_a_new_version_and_older_ones_stay_readable(
    settings, redis_client
) -> None:
    contract = await a_contract("pending_approval")
    admin = await admin_actor()
    seller, buyer = await signatories(contract)
    first_sha = contract.document_sha256

    sent_back = await agreements.request_changes(admin, str(contract.id), "Add the governing law.")
    assert sent_back.state == "drafted" and sent_back.reason == "Add the governing law."
    await run_worker(settings)  # the worker draws up version 2 and submits it again

    current = await Contract.get(id=contract.id)
    assert current.state == "pending_approval" and current.document_number == 2
    assert current.document_sha256 != first_sha
    versions = await ContractDocument.filter(contract_id=contract.id).order_by("number")
    assert [(v.number, v.reason) for v in versions] == [(1, ""), (2, "Add the governing law.")]
    name, pdf = await agreements.download_document(seller, str(contract.id), 1)
    assert name == f"{contract.reference}-v1.pdf" and pdf == bytes(versions[0].pdf)
    name, pdf = await agreements.download_document(buyer, str(contract.id))
    assert name == f"{contract.reference}-v2.pdf" and pdf == bytes(versions[1].pdf)
    assert await agreements.document_html(buyer, str(contract.id), 1) == versions[0].html
    # Both sides heard why; the administrators heard of both submissions.
    for side in (seller, buyer):
        notes = await Notification.filter(user_id=side.user_id)
        assert any("Changes asked for" in n.subject for n in notes)
        assert any("Add the governing law." in n.body for n in notes)

    await agreements.approve_contract(admin, str(contract.id))
    await run_worker(settings)  # opens signing
    assert (await Contract.get(id=contract.id)).state == "awaiting_signatures"
    # The first version's hash is stale now.
    error = await refused(
        Conflict,
        agreements.sign_contract(seller, str(contract.id), "Li Wei", first_sha),
        contract.id,
        "document changed",
    )
    assert error.state == "awaiting_signatures"
    await agreements.sign_contract(seller, str(contract.id), "Li Wei", current.document_sha256)
    assert await Signature.filter(contract_id=contract.id).values_list(
        "document_number", flat=True
    ) == [2]


async def test_rejecting_needs_a_reason_and_frees_the_reserved_rights() -> None:
    contract = await a_contract("pending_approval", license_type="exclusive")
    admin = await admin_actor()
    await refused(
        ValidationFailed, agreements.reject_contract(admin, str(contract.id), " "), contract.id
    )
    assert await Grant.filter(offer_id=contract.offer_id, basis="accepted").count() == 1
    rejected = await agreements.reject_contract(admin, str(contract.id), "Export controls apply.")
    assert rejected.state == "rejected" and rejected.reason == "Export controls apply."
    assert not await Grant.filter(offer_id=contract.offer_id).exists()
    [event] = await OutboxEvent.filter(event_type="contract.rejected")
    assert event.payload["reason"] == "Export controls apply."


# --- the state table -----------------------------------------------------------------------

USER_ACTIONS = {"approve", "reject", "request_changes", "cancel", "sign"}
ALL_ACTIONS = sorted({action for (_, action) in states.CONTRACT})
REACHABLE = (
    "drafted",
    "pending_approval",
    "approved",
    "awaiting_signatures",
    "signed",
    "awaiting_payment",
    "rejected",
    "cancelled",
)


async def act(action: str, contract: Contract) -> Contract:
    """Do `action` to the contract as whoever does it: the administrator, the institute's
    owner, both owners (signing), or the worker."""
    cid = str(contract.id)
    admin = await admin_actor()
    seller, buyer = await signatories(contract)
    if action == "approve":
        await agreements.approve_contract(admin, cid)
    elif action == "reject":
        await agreements.reject_contract(admin, cid, "Not in the public interest.")
    elif action == "request_changes":
        await agreements.request_changes(admin, cid, "Spell out the royalty base.")
    elif action == "cancel":
        await agreements.cancel_contract(seller, cid, "No longer needed.")
    elif action == "sign":
        sha = contract.document_sha256
        await agreements.sign_contract(seller, cid, "Li Wei", sha)
        assert (await Contract.get(id=cid)).state == contract.state  # one signature: no move
        await agreements.sign_contract(buyer, cid, "Anna Schmidt", sha)
    elif action == "submit":
        await agreements.regenerate_contract(cid)
    elif action == "open_signing":
        await agreements.open_signing(cid)
    elif action == "request_payment":
        await agreements.finalize_signed(cid)
    elif action == "lapse":
        await agreements.cancel_unsigned(now() + timedelta(days=400))
    elif action == "activate":
        # Receiving the upfront fee activates it (a bank transfer here); nothing else does.
        if contract.state == ContractState.AWAITING_PAYMENT:
            started = await payments.start_payment(buyer, cid, "bank_transfer")
            await payments.confirm_transfer(admin, str(started.payment.id), "BANK-REF-1")
        else:
            await agreements.activate_if_nothing_owed(cid)
    else:
        raise AssertionError(action)
    return await Contract.get(id=cid)


def test_the_table_refuses_every_pair_it_does_not_hold() -> None:
    roles = {"admin", "seller", "buyer", "system"}
    for state in ContractState:
        for action in ALL_ACTIONS:
            rule = states.CONTRACT.get((state.value, action))
            if rule is None:
                with pytest.raises(Conflict, match=f"it is {state.value.replace('_', ' ')}"):
                    check(states.CONTRACT, state.value, action, roles)
            else:
                assert check(states.CONTRACT, state.value, action, rule.who) is rule
                others = roles - rule.who
                if others:
                    with pytest.raises(Forbidden):
                        check(states.CONTRACT, state.value, action, others)


@pytest.mark.parametrize("state", REACHABLE)
async def test_every_pair_from_each_state(state: str) -> None:
    """Each allowed (state, action) moves the contract where the table says; each other action
    from that state is refused (users get a 409 naming the state, the worker leaves it be)
    and changes nothing."""
    listing = await a_published_listing(license_types=["non_exclusive", "exclusive"])
    contract = await a_contract(state, offer=await an_accepted_offer(listing))
    for action in ALL_ACTIONS:
        if (state, action) in states.CONTRACT:
            continue
        if action in USER_ACTIONS:
            error = await refused(Conflict, act(action, contract), contract.id)
            assert error.state == state and state.replace("_", " ") in str(error)
        else:
            before = await snapshot(contract.id)
            assert (await act(action, contract)).state == state
            assert await snapshot(contract.id) == before
    for (src, action), rule in states.CONTRACT.items():
        if src != state:
            continue
        fresh = await a_contract(state, offer=await an_accepted_offer(listing))
        moved = await act(action, fresh)
        assert moved.state == rule.to, (state, action)
        entry = (
            await AuditEntry.filter(object_id=str(fresh.id), action=f"contract.{action}")
            .order_by("-id")
            .first()
        )
        assert entry is not None
        assert entry.state_before == {"state": state}
        assert entry.state_after["state"] == rule.to


# --- refusals ----------------------------------------------------------------------------------


async def test_signing_refusals_change_nothing() -> None:
    contract = await a_contract("awaiting_signatures")
    cid = str(contract.id)
    sha = contract.document_sha256
    seller, buyer = await signatories(contract)
    stranger = await actor_of((await a_verified_enterprise())[0])
    plain_member = await actor_of(await a_colleague(await Organization.get(id=contract.seller_id)))
    admin = await admin_actor()

    await refused(NotFound, agreements.sign_contract(stranger, cid, "Eve", sha), cid, "No such")
    await refused(
        Forbidden,
        agreements.sign_contract(plain_member, cid, "Plain", sha),
        cid,
        "Only members who may sign for",
    )
    await refused(Forbidden, agreements.sign_contract(admin, cid, "Admin", sha), cid, "parties")
    await refused(
        Conflict, agreements.sign_contract(seller, cid, "Li Wei", "0" * 64), cid, "changed"
    )
    await refused(ValidationFailed, agreements.sign_contract(seller, cid, " ", sha), cid)
    await refused(
        NotFound, agreements.sign_contract(seller, "not-an-id", "Li Wei", sha), cid, "No such"
    )

    signature = await agreements.sign_contract(
        seller, cid, "  Li   Wei ", sha.upper(), ip="192.0.2.9", user_agent="Firefox/130"
    )
    assert (signature.full_name, signature.ip, signature.user_agent) == (
        "Li Wei",
        "192.0.2.9",
        "Firefox/130",
    )
    assert signature.document_sha256 == sha and str(signature.user_id) == seller.user_id
    assert signature.email == seller.user.email and signature.side == "seller"
    await refused(
        Conflict, agreements.sign_contract(seller, cid, "Li Wei", sha), cid, "signed this contract"
    )
    assert (await Contract.get(id=cid)).state == "awaiting_signatures"
    [event] = await OutboxEvent.filter(event_type="contract.signature_added")
    assert event.payload["by"] == "seller"


async def test_signing_before_approval_is_refused() -> None:
    for state in ("pending_approval", "approved"):
        contract = await a_contract(state)
        seller, _ = await signatories(contract)
        error = await refused(
            Conflict,
            agreements.sign_contract(seller, str(contract.id), "Li Wei", contract.document_sha256),
            contract.id,
            f"Cannot sign: it is {state.replace('_', ' ')}",
        )
        assert error.state == state


async def test_approval_is_for_administrators_only() -> None:
    contract = await a_contract("pending_approval")
    seller, buyer = await signatories(contract)
    cid = str(contract.id)
    for party in (seller, buyer):
        await refused(Forbidden, agreements.approve_contract(party, cid), cid, "administrators")
        await refused(Forbidden, agreements.reject_contract(party, cid, "no no"), cid)
        await refused(Forbidden, agreements.request_changes(party, cid, "more"), cid)
    approved = await agreements.approve_contract(await admin_actor(), cid)
    assert approved.state == "approved"
    error = await refused(
        Conflict, agreements.approve_contract(await admin_actor(), cid), cid, "it is approved"
    )
    assert error.state == "approved"


async def test_cancelling_needs_a_party_with_authority_before_signing() -> None:
    contract = await a_contract("awaiting_signatures", license_type="exclusive")
    cid = str(contract.id)
    seller, buyer = await signatories(contract)
    plain = await actor_of(await a_colleague(await Organization.get(id=contract.buyer_id)))
    stranger = await actor_of((await a_verified_institute())[0])
    await refused(NotFound, agreements.cancel_contract(stranger, cid), cid)
    await refused(Forbidden, agreements.cancel_contract(plain, cid), cid, "may cancel contracts")
    await refused(Forbidden, agreements.cancel_contract(await admin_actor(), cid), cid)
    cancelled = await agreements.cancel_contract(buyer, cid, "Budget cut.")
    assert cancelled.state == "cancelled" and cancelled.reason == "Budget cut."
    assert not await Grant.filter(offer_id=contract.offer_id).exists()  # rights free again

    signed = await a_contract("awaiting_payment")
    s_seller, _ = await signatories(signed)
    error = await refused(
        Conflict, agreements.cancel_contract(s_seller, str(signed.id)), signed.id, "awaiting"
    )
    assert error.state == "awaiting_payment"


async def test_only_parties_and_administrators_see_and_download() -> None:
    contract = await a_contract("pending_approval")
    cid = str(contract.id)
    seller, buyer = await signatories(contract)
    plain = await actor_of(await a_colleague(await Organization.get(id=contract.seller_id)))
    stranger = await actor_of((await a_verified_enterprise())[0])
    other_institute = await actor_of((await a_verified_institute())[0])
    for outsider in (stranger, other_institute):
        await refused(NotFound, agreements.get_contract(outsider, cid), cid, "No such contract")
        await refused(NotFound, agreements.download_document(outsider, cid), cid, "No such")
        await refused(NotFound, agreements.document_html(outsider, cid), cid, "No such")
        items, total = await agreements.list_contracts(outsider)
        assert (items, total) == ([], 0)
    for insider in (seller, buyer, plain, await admin_actor()):
        view = await agreements.get_contract(insider, cid)
        assert view.contract.id == contract.id
        name, pdf = await agreements.download_document(insider, cid)
        assert name.endswith("-v1.pdf") and pdf.startswith(b"%PDF")
        items, total = await agreements.list_contracts(insider)
        assert total == 1 and items[0].id == contract.id
    assert (await agreements.get_contract(plain, cid)).actions == []  # no authority
    assert (await agreements.get_contract(seller, cid)).actions == ["cancel"]
    assert set((await agreements.get_contract(await admin_actor(), cid)).actions) == {
        "approve",
        "reject",
        "request_changes",
    }
    await refused(NotFound, agreements.download_document(seller, cid, 7), cid, "version")
    await refused(ValidationFailed, agreements.list_contracts(seller, state="bogus"), cid)
    items, total = await agreements.list_contracts(seller, state="signed")
    assert total == 0


# --- signing, finishing, and concurrency --------------------------------------------------------


async def test_both_sign_at_once_recorded_once_and_finished_once(settings, redis_client) -> None:
    contract = await a_contract("awaiting_signatures")
    cid = str(contract.id)
    seller, buyer = await signatories(contract)
    sha = contract.document_sha256

    results = await asyncio.gather(
        agreements.sign_contract(seller, cid, "Li Wei", sha),
        agreements.sign_contract(buyer, cid, "Anna Schmidt", sha),
        agreements.sign_contract(seller, cid, "Li Wei", sha),
        agreements.sign_contract(buyer, cid, "Anna Schmidt", sha),
        return_exceptions=True,
    )
    signed = [r for r in results if isinstance(r, Signature)]
    lost = [r for r in results if isinstance(r, Exception)]
    assert sorted(s.side for s in signed) == ["buyer", "seller"], results
    assert len(lost) == 2 and all(isinstance(e, Conflict) for e in lost), lost
    assert await Signature.filter(contract_id=cid).count() == 2
    assert (await Contract.get(id=cid)).state == "signed"
    assert await OutboxEvent.filter(event_type="contract.signed").count() == 1

    # The worker's finishing job racing itself: one signed document, one move.
    await asyncio.gather(*(agreements.finalize_signed(cid) for _ in range(4)))
    await run_worker(settings)
    done = await Contract.get(id=cid)
    assert done.state == "awaiting_payment" and done.signed_number == 2
    assert await ContractDocument.filter(contract_id=cid, kind="signed").count() == 1
    assert await AuditEntry.filter(object_id=cid, action="contract.request_payment").count() == 1
    assert await OutboxEvent.filter(event_type="contract.awaiting_payment").count() == 1

    # The signed document: the agreement as signed and a page naming both signatures.
    name, pdf = await agreements.download_document(buyer, cid)
    assert name == f"{done.reference}-signed.pdf"
    text = " ".join(documents.pdf_text(pdf).split())
    for expected in ("Li Wei", "Anna Schmidt", seller.organization.name, buyer.organization.name):
        assert expected in text, expected
    signed_html = await agreements.document_html(buyer, cid, 2)
    assert sha in signed_html
    # Both sides are told it is signed and what is due.
    for party in (seller, buyer):
        subjects = [n.subject for n in await Notification.filter(user_id=party.user_id)]
        assert f"Contract {done.reference} is signed" in subjects


# --- the timers, from a real worker ---------------------------------------------------------


@pytest.fixture
def crons_ready(settings, redis_client, mailbox):
    return mailbox


async def test_reminder_then_cancellation_from_the_worker(settings, crons_ready) -> None:
    mailbox = crons_ready
    contract = await a_contract("awaiting_signatures", license_type="exclusive")
    seller, buyer = await signatories(contract)
    cid = str(contract.id)
    await run_worker(settings)
    mailbox.messages.clear()

    # Not yet due: nothing.
    await run_crons(settings, "remind_contracts", "cancel_unsigned_contracts")
    assert not await OutboxEvent.filter(event_type="contract.signing_reminder").exists()

    await agreements.sign_contract(buyer, cid, "Anna Schmidt", contract.document_sha256)
    await run_worker(settings)
    mailbox.messages.clear()
    days = settings.contract_reminder_days
    await Contract.filter(id=cid).update(signing_opened_at=now() - timedelta(days=days, hours=1))
    await run_crons(settings, "remind_contracts")
    [reminder] = await OutboxEvent.filter(event_type="contract.signing_reminder")
    assert reminder.payload["sides"] == ["seller"]  # the buyer signed already
    assert mailbox.recipients == [seller.user.email]
    assert "waits for your signature" in mailbox.messages[0]["Subject"]
    await run_crons(settings, "remind_contracts")  # once only
    assert await OutboxEvent.filter(event_type="contract.signing_reminder").count() == 1
    assert (await Contract.get(id=cid)).state == "awaiting_signatures"

    await Contract.filter(id=cid).update(
        signing_opened_at=now() - timedelta(days=settings.contract_cancel_days, hours=1)
    )
    mailbox.messages.clear()
    await run_crons(settings, "cancel_unsigned_contracts")
    cancelled = await Contract.get(id=cid)
    assert cancelled.state == "cancelled" and "Not signed" in cancelled.reason
    assert not await Grant.filter(offer_id=contract.offer_id).exists()
    assert sorted(mailbox.recipients) == sorted([seller.user.email, buyer.user.email])
    assert all("cancelled" in m["Subject"] for m in mailbox.messages)
    await run_crons(settings, "cancel_unsigned_contracts")
    assert await OutboxEvent.filter(event_type="contract.cancelled").count() == 1


def test_the_contract_crons_are_scheduled() -> None:
    from workers.settings import worker_settings

    crons = {job.name: job for job in worker_settings()["cron_jobs"]}
    assert crons["cron:remind_contracts"].minute == 7
    assert crons["cron:cancel_unsigned_contracts"].minute == 37


# --- rights and search ---------------------------------------------------------------------


@pytest.fixture
async def index(settings):
    """A fresh search index for this test."""
    saved = settings.meili_index
    settings.meili_index = f"test_{uuid.uuid4().hex[:12]}"
    await search.apply_settings(settings)
    try:
        yield settings.meili_index
    finally:
        async with search.Meili(settings) as meili:
            body = await meili.call("GET", "/indexes", params={"limit": 1000})
            for item in body["results"]:
                if item["uid"].startswith(settings.meili_index):
                    await meili.call("DELETE", f"/indexes/{item['uid']}")
        settings.meili_index = saved


async def settle(settings) -> None:
    async with search.Meili(settings) as meili:
        tasks = await meili.call("GET", "/tasks", params={"limit": 1})
        if tasks["results"]:
            await meili.wait(tasks["results"][0]["uid"])


async def found(settings, word: str) -> list[str]:
    await settle(settings)
    result = await search.search(SearchQuery(q=word))
    assert not result.degraded, result.message
    return [hit.id for hit in result.hits]


async def sign_through(settings, contract: Contract) -> Contract:
    """Approve, open, sign by both and let the worker finish, as in life."""
    cid = str(contract.id)
    await agreements.approve_contract(await admin_actor(), cid)
    await run_worker(settings)
    seller, buyer = await signatories(contract)
    sha = (await Contract.get(id=cid)).document_sha256
    await agreements.sign_contract(seller, cid, "Li Wei", sha)
    await agreements.sign_contract(buyer, cid, "Anna Schmidt", sha)
    await run_worker(settings)
    return await Contract.get(id=cid)


@pytest.mark.parametrize(
    ("license_type", "territories", "fields", "closes"),
    [
        ("exclusive", ["WORLD"], ["all"], True),
        ("assignment", ["WORLD"], ["all"], True),
        ("exclusive", ["CN"], ["all"], False),
        ("sole", ["WORLD"], ["all"], False),
    ],
)
async def test_a_signed_contract_fixes_the_grant_and_may_close_the_listing(
    settings, redis_client, index, license_type, territories, fields, closes
) -> None:
    word = f"zeolite{uuid.uuid4().hex[:6]}"
    listing = await a_published_listing(
        title=f"Hierarchical {word} catalyst for methanol to olefins",
        license_types=["exclusive", "sole", "assignment", "non_exclusive"],
    )
    offer = await an_accepted_offer(
        listing, license_type=license_type, territories=territories, fields_of_use=fields
    )
    await run_worker(settings)
    assert await found(settings, word) == [str(listing.id)]
    contract = await Contract.get(offer_id=offer.id)
    [grant] = await Grant.filter(listing_id=listing.id)
    assert grant.basis == "accepted"

    done = await sign_through(settings, contract)
    assert done.state == "awaiting_payment"
    [grant] = await Grant.filter(listing_id=listing.id)
    assert (grant.basis, grant.license_type, str(grant.offer_id)) == (
        "signed",
        license_type,
        str(offer.id),
    )
    state = (await Listing.get(id=listing.id)).state
    assert state == ("licensed" if closes else "published")
    assert await found(settings, word) == ([] if closes else [str(listing.id)])
    [event] = await OutboxEvent.filter(event_type="contract.awaiting_payment")
    assert event.payload["listing_licensed"] is closes
    if closes:
        entry = await AuditEntry.get(object_id=str(listing.id), action="listing.license")
        assert entry.actor_id is None and entry.state_after == {"state": "licensed"}


async def test_a_signed_non_exclusive_licence_leaves_rights_and_listing_as_they_were(
    settings, redis_client
) -> None:
    contract = await a_contract("pending_approval", license_type="non_exclusive")
    done = await sign_through(settings, contract)
    assert done.state == "awaiting_payment"
    [grant] = await Grant.filter(offer_id=contract.offer_id)
    assert grant.basis == "accepted"
    assert (await Listing.get(id=contract.listing_id)).state == "published"
