"""The pages render the demo listings drawn from the real records, in English and Chinese, and
the deals the demo logins find waiting."""

import re

import pytest

from alerts.models import SavedSearch
from contracts.agreements.models import Contract, Signature
from contracts.offers.models import Offer, OfferMessage, OfferTerms
from contracts.payments import ledger
from contracts.payments.models import LedgerTransaction, Payment
from docking.models import Match, Need, NeedQuestion, Proposal, ProposalMessage
from listings.models import Listing, ListingState
from market.accounts.models import Organization
from market.app import seed
from market.app.seed import seed_demo
from market.clock import utcnow
from market.db import unit_of_work
from market.money import Money
from tests.builders import log_in
from tests.html import Page
from tests.listings.test_pages import assert_well_formed

DEMO_PASSWORD = "demo-password-2026"


async def test_the_pages_render_the_demo_listings(client) -> None:
    await seed_demo(DEMO_PASSWORD, match=False)
    index = await client.get("/listings")
    assert index.status_code == 200
    ids = re.findall(r'href="/listings/([0-9a-f-]{36})"', index.text)
    assert len(set(ids)) >= 10

    published = await Listing.filter(state=ListingState.PUBLISHED).all()
    for listing in published[:: max(1, len(published) // 25)]:  # a spread of every source
        page = await client.get(f"/listings/{listing.id}")
        assert page.status_code == 200, (listing.id, page.status_code)
        assert listing.summary[:40].replace("&", "&amp;").replace("<", "&lt;")[:20] in page.text

    chinese = await Listing.filter(state=ListingState.PUBLISHED, language="zh").first()
    assert chinese is not None
    page = await client.get(f"/listings/{chinese.id}", headers={"Accept-Language": "zh-CN"})
    assert page.status_code == 200 and chinese.title in page.text


async def test_the_demo_logins_see_their_dashboards(client) -> None:
    await seed_demo(DEMO_PASSWORD, match=False)
    await log_in(client, "institute@techmarket.example", DEMO_PASSWORD)
    mine = await client.get("/listings/mine")
    assert mine.status_code == 200
    assert len(set(re.findall(r'href="/listings/([0-9a-f-]{36})"', mine.text))) >= 10
    client.cookies.clear()
    await log_in(client, "admin@techmarket.example", DEMO_PASSWORD)
    for path in ["/admin/listings", "/admin/organizations", "/admin/audit"]:
        assert (await client.get(path)).status_code == 200, path


# --- the deals the demo logins find waiting -----------------------------------------------------

ENTERPRISE = "enterprise@techmarket.example"
INSTITUTE = "institute@techmarket.example"
ADMIN = "admin@techmarket.example"


async def deal_rows() -> dict[str, int]:
    """How many rows the deals and the demand side are made of: a rerun must add none."""
    return {
        model.__name__: await model.all().count()
        for model in (
            Offer,
            OfferTerms,
            OfferMessage,
            Contract,
            Signature,
            Payment,
            LedgerTransaction,
            Need,
            Proposal,
            ProposalMessage,
            NeedQuestion,
            SavedSearch,
            Match,
        )
    }


def sign_form(html: str, contract_id: object) -> dict | None:
    action = f"/contracts/{contract_id}/sign"
    return next((f for f in Page(html).forms if f.get("action") == action), None)


async def test_the_enterprise_finds_a_negotiation_and_a_contract_waiting(client) -> None:
    assert await seed_demo(DEMO_PASSWORD, match=False) is True
    aquaflow = await Organization.get(name="Aquaflow Water Systems")
    membranes = await Organization.get(name="Institute of Advanced Membranes")

    # The institute countered the enterprise's offer once: the enterprise's turn.
    [negotiation] = await Offer.filter(buyer_id=aquaflow.id, state="countered")
    assert negotiation.seller_id == membranes.id and negotiation.terms_number == 2
    assert await OfferMessage.filter(offer_id=negotiation.id, side="buyer").exists()
    await log_in(client, ENTERPRISE, DEMO_PASSWORD)
    offers = await client.get("/offers")
    assert offers.status_code == 200
    assert_well_formed(offers.text)
    row = re.search(rf'href="/offers/{negotiation.id}">.*?</tr>', offers.text, flags=re.DOTALL)
    assert row and "Your turn" in row.group(0)
    page = await client.get(f"/offers/{negotiation.id}")
    assert page.status_code == 200
    assert "after our board meets" in page.text  # the enterprise's message
    assert f'action="/offers/{negotiation.id}/accept"' in page.text

    # An approved contract waits for both signatures; the enterprise's page offers the form.
    [contract] = await Contract.filter(buyer_id=aquaflow.id, state="awaiting_signatures")
    assert contract.seller_id == membranes.id and contract.license_type == "non_exclusive"
    assert not await Signature.filter(contract_id=contract.id).exists()
    contracts = await client.get("/contracts")
    assert contracts.status_code == 200
    assert f'href="/contracts/{contract.id}"' in contracts.text
    assert re.search(r"Awaiting signatures <span class=\"count\">\(1\)</span>", contracts.text)
    html = (await client.get(f"/contracts/{contract.id}")).text
    form = sign_form(html, contract.id)
    assert form is not None
    inputs = {i["name"]: i for i in form["inputs"]}
    assert inputs["document_sha256"]["value"] == contract.document_sha256

    # ... and it is a real one: the enterprise signs it through that form.
    signed = await client.post(
        f"/contracts/{contract.id}/sign",
        data={
            "csrf_token": inputs["csrf_token"]["value"],
            "full_name": "Maria Rossi",
            "confirm": "yes",
            "document_sha256": contract.document_sha256,
        },
    )
    assert signed.status_code == 303, signed.text
    assert await Signature.filter(contract_id=contract.id, side="buyer").exists()

    # The institute sees the same contract, still waiting for its own signature.
    client.cookies.clear()
    await log_in(client, INSTITUTE, DEMO_PASSWORD)
    assert f'href="/contracts/{contract.id}"' in (await client.get("/contracts")).text
    html = (await client.get(f"/contracts/{contract.id}")).text
    assert sign_form(html, contract.id) is not None
    offers = await client.get("/offers")
    assert f'href="/offers/{negotiation.id}"' in offers.text
    # The licences are non-exclusive: their listings stay on the market.
    for deal in await Offer.filter(buyer_id=aquaflow.id, state="accepted"):
        assert (await Listing.get(id=deal.listing_id)).state == ListingState.PUBLISHED


async def test_the_admin_ledger_owes_the_institute_the_paid_contract(client) -> None:
    await seed_demo(DEMO_PASSWORD, match=False)
    [payment] = await Payment.all()
    assert payment.state == "succeeded" and payment.method == "bank_transfer"
    assert payment.bank_reference == "DEMO-BANK-0001"
    contract = await Contract.get(id=payment.contract_id)
    assert contract.state == "active"
    membranes = await Organization.get(name="Institute of Advanced Membranes")
    owed = payment.amount - payment.amount * 5 // 100  # less the platform's 5%
    assert await ledger.owed_to(membranes.id, payment.currency) == owed > 0

    await log_in(client, ADMIN, DEMO_PASSWORD)
    page = await client.get("/admin/ledger")
    assert page.status_code == 200
    row = re.search(
        rf"<th scope=\"row\">{re.escape(membranes.name)}</th>\s*"
        r"<td class=\"owed-amount\">([^<]+)<",
        page.text,
    )
    assert row and row.group(1) == Money(amount=owed, currency=payment.currency).format()


async def test_a_second_seed_creates_nothing(client) -> None:
    assert await seed_demo(DEMO_PASSWORD, match=False) is True
    before = await deal_rows()
    assert before["Offer"] == 3 and before["Contract"] == 2 and before["Payment"] == 1
    assert (before["Need"], before["Proposal"], before["SavedSearch"]) == (3, 1, 1)
    assert await seed_demo(DEMO_PASSWORD, match=False) is False
    assert await deal_rows() == before


async def test_the_seed_adds_the_deals_to_a_database_seeded_before_them(client) -> None:
    # What the seed made before it made deals: the logins, organisations and listings.
    async with unit_of_work():
        await seed._create(DEMO_PASSWORD)
        await seed._publish_sample()
    assert await Offer.all().count() == 0
    assert await seed_demo(DEMO_PASSWORD, match=False) is True
    rows = await deal_rows()
    assert (rows["Offer"], rows["Contract"], rows["Payment"]) == (3, 2, 1)
    assert await seed_demo(DEMO_PASSWORD, match=False) is False
    assert await deal_rows() == rows


async def test_a_deal_the_use_cases_refuse_is_skipped_whole(client, monkeypatch) -> None:
    """On a database people have used, a deal may be refused half-way (here: its messages);
    it leaves nothing behind, the other deals are made, and a later run makes it."""
    from contracts.offers import service as offers
    from market.errors import Conflict

    async def refuse(*args: object, **kwargs: object) -> None:
        raise Conflict("The thread is closed.")

    with monkeypatch.context() as patch:
        patch.setattr(offers, "post_message", refuse)
        assert await seed_demo(DEMO_PASSWORD, match=False) is True
    negotiated = await Listing.get(source_ref="EP-3347121-A1")
    assert not await Offer.filter(listing_id=negotiated.id).exists()  # rolled back: no offer
    assert await OfferTerms.all().count() == 2  # the two other deals' offers, one version each
    rows = await deal_rows()
    assert (rows["Offer"], rows["Contract"], rows["Payment"]) == (2, 2, 1)

    assert await seed_demo(DEMO_PASSWORD, match=False) is True
    [offer] = await Offer.filter(listing_id=negotiated.id)
    assert offer.state == "countered"
    assert await seed_demo(DEMO_PASSWORD, match=False) is False


# --- the demand side: needs, a proposal, matches ------------------------------------------------


# --- the demand side: the enterprise's needs, a proposal, matches -------------------------------


async def demo_needs() -> dict[str, Need]:
    aquaflow = await Organization.get(name="Aquaflow Water Systems")
    return {n.title: n for n in await Need.filter(seeker_id=aquaflow.id)}


async def test_the_demo_enterprise_seeks_and_the_institute_answers(client) -> None:
    assert await seed_demo(DEMO_PASSWORD) is True
    needs = await demo_needs()
    membranes = await Organization.get(name="Institute of Advanced Membranes")
    today = utcnow().date()
    assert len(needs) == 3
    assert {n.state for n in needs.values()} == {"published"}
    assert all(n.deadline > today and n.must_have and n.ipc_codes for n in needs.values())
    assert {(n.visibility, n.language) for n in needs.values()} == {
        ("public", "en"),
        ("anonymous", "en"),
        ("public", "zh"),
    }
    ro = needs[seed.RO_NEED]
    [anonymous] = [n for n in needs.values() if n.visibility == "anonymous"]
    [chinese] = [n for n in needs.values() if n.language == "zh"]

    # Everyone sees the three needs; the anonymous one names no seeker.
    index = await client.get("/needs")
    assert index.status_code == 200
    assert_well_formed(index.text)
    for need in needs.values():
        assert f'href="/needs/{need.id}"' in index.text
    page = await client.get(f"/needs/{anonymous.id}")
    assert page.status_code == 200 and "Aquaflow" not in page.text
    page = await client.get(f"/needs/{chinese.id}", headers={"Accept-Language": "zh-CN"})
    assert page.status_code == 200 and chinese.title in page.text
    page = await client.get(f"/needs/{ro.id}")
    assert "silt density index stays below 3" in page.text  # the public question's answer

    # The institute's proposal to the RO need, shortlisted, its thread under way.
    [proposal] = await Proposal.filter(need_id=ro.id)
    assert proposal.proposer_id == membranes.id and proposal.stage == "shortlisted"
    assert len(proposal.requirements) == len(ro.must_have) and proposal.listing_ids
    sides = await ProposalMessage.filter(proposal_id=proposal.id).values_list("side", flat=True)
    assert sides == ["seeker", "proposer"]
    assert await NeedQuestion.filter(need_id=ro.id, answered_at__not_isnull=True).exists()

    # Every need is matched, each to listings of the membrane institute among others.
    for need in needs.values():
        matched = await Match.filter(need_id=need.id).select_related("listing")
        assert any(m.listing.institute_id == membranes.id for m in matched), need.title
    best = await Match.filter(need_id=ro.id).order_by("-score").first()
    assert best is not None and best.score >= 60

    await log_in(client, ENTERPRISE, DEMO_PASSWORD)
    page = await client.get(f"/needs/{ro.id}")
    assert page.status_code == 200
    assert_well_formed(page.text)
    assert f'href="/listings/{best.listing_id}"' in page.text  # the need's matches
    inbox = await client.get(f"/needs/{ro.id}/proposals")
    assert inbox.status_code == 200 and f'href="/proposals/{proposal.id}"' in inbox.text
    saved = await client.get("/saved-searches")
    assert saved.status_code == 200 and "Membranes for desalination" in saved.text

    client.cookies.clear()
    await log_in(client, INSTITUTE, DEMO_PASSWORD)
    matches = await client.get("/matches")
    assert matches.status_code == 200
    assert_well_formed(matches.text)
    for need in needs.values():
        assert f'href="/needs/{need.id}"' in matches.text
    mine = await client.get("/proposals")
    assert f'href="/proposals/{proposal.id}"' in mine.text
    thread = await client.get(f"/proposals/{proposal.id}")
    assert thread.status_code == 200 and "feed-water analyses" in thread.text


@pytest.mark.parametrize("database_kind", ["sqlite"], indirect=True)
async def test_the_demo_needs_are_matched_on_sqlite_as_market_dev_has_it(database_kind) -> None:
    assert await seed_demo(DEMO_PASSWORD) is True
    needs = await demo_needs()
    assert len(needs) == 3
    for need in needs.values():
        assert await Match.filter(need_id=need.id).exists(), need.title
    assert await seed_demo(DEMO_PASSWORD) is False


async def test_without_meilisearch_the_seed_loads_and_matches_later(settings, monkeypatch) -> None:
    """Meilisearch down: the demand side is loaded all the same, unmatched; the next run (the
    next `market dev`) matches what is still unmatched."""
    monkeypatch.setattr(settings, "meili_url", "http://127.0.0.1:9")  # nothing listens there
    assert await seed_demo(DEMO_PASSWORD) is True
    assert len(await demo_needs()) == 3 and not await Match.exists()
    monkeypatch.undo()
    assert await seed_demo(DEMO_PASSWORD) is False
    for need in (await demo_needs()).values():
        assert await Match.filter(need_id=need.id).exists(), need.title
