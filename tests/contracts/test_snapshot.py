"""A contract keeps the parties and the listing as its agreement names them: renaming an
organisation or changing the listing after signing changes neither the signed PDF, nor the
contract page, nor the API answer. Real PostgreSQL, WeasyPrint and the app through httpx."""

from __future__ import annotations

import importlib
from typing import Any

from contracts.agreements import documents
from contracts.agreements import service as agreements
from contracts.agreements.models import Contract, ContractDocument
from listings import service as listings
from listings.models import Listing
from listings.schemas import ListingPatch
from market.accounts import service as accounts
from market.accounts.models import Organization
from market.accounts.schemas import OrganizationUpdate
from market.actor import Actor
from tests.builders import (
    a_contract,
    a_published_listing,
    a_verified_enterprise,
    a_verified_institute,
    actor_of,
    an_accepted_offer,
    an_admin,
    signatories,
)
from tests.contracts.test_contract_api import bearer
from tests.listings.test_pages import page_login

SELLER = "Institute of Membrane Science"
BUYER = "Aqua Filtration GmbH"
TITLE = "Graphene oxide membrane for brackish water desalination"
PATENT = "CN 112345678 A"


async def a_deal(state: str) -> Contract:
    seller, _ = await a_verified_institute(organization={"name": SELLER})
    listing = await a_published_listing(seller, title=TITLE, patent_numbers=[PATENT])
    buyer, _ = await a_verified_enterprise(
        organization={"name": BUYER, "country": "DE", "region": "Bavaria"}
    )
    offer = await an_accepted_offer(listing, buyer)
    return await a_contract(state, offer=offer)


async def rename(actor: Actor, name: str, country: str = "US", region: str = "Texas") -> None:
    """The organisation's new name and country, as an administrator approves them (a verified
    organisation's change waits for one)."""
    await accounts.update_organization(
        actor, OrganizationUpdate(name=name, country=country, region=region)
    )
    admin = await actor_of(await an_admin())
    await accounts.decide_identity(admin, str(actor.organization_id), approve=True)


async def change_the_listing(contract: Contract) -> None:
    """A new title through an approved revision (the title is not fixed by a deal), and new
    facts written to the row: the use cases refuse them while the contract relies on them, so
    the test writes them itself to show the contract does not read the listing again."""
    listing = await Listing.get(id=contract.listing_id)
    owner = await actor_of(await listing.created_by)
    _, revision = await listings.update_listing(
        owner, str(listing.id), ListingPatch(title="Renamed technology")
    )
    assert revision is not None
    await listings.approve_revision(await actor_of(await an_admin()), str(revision.id))
    await Listing.filter(id=listing.id).update(
        patent_numbers=["US 99999999 B2"], inventors=["Someone Else"], trl=9
    )


def words(pdf: bytes) -> str:
    return " ".join(documents.pdf_text(pdf).split())


async def test_a_signed_contract_keeps_the_names_and_facts_it_was_signed_with(client) -> None:
    contract = await a_deal("signed")
    seller, buyer = await signatories(contract)
    # Renamed between the second signature and the worker finishing the signed document.
    await rename(seller, "Renamed Institute")
    await rename(buyer, "Renamed Buyer Inc")
    await change_the_listing(contract)
    await agreements.finalize_signed(str(contract.id))
    contract = await Contract.get(id=contract.id)
    assert contract.signed_number is not None

    signed = words(bytes((await ContractDocument.get(contract_id=contract.id, kind="signed")).pdf))
    first = words(bytes((await ContractDocument.get(contract_id=contract.id, number=1)).pdf))
    for text in (signed, first):
        for kept in (SELLER, BUYER, TITLE, PATENT, "Bavaria"):
            assert kept in text, kept
        for changed in ("Renamed", "US 99999999 B2", "Texas"):
            assert changed not in text, changed
    # The signature page, made after the renaming, names the parties as they signed.
    assert f"between {SELLER} and {BUYER}" in signed

    headers = await bearer(buyer.user)
    body = (await client.get(f"/api/v1/contracts/{contract.id}", headers=headers)).json()
    shown = body["contract"]
    assert shown["seller"]["name"] == SELLER and shown["buyer"]["name"] == BUYER
    assert shown["listing"]["title"] == TITLE
    assert shown["parties"]["buyer"] == {
        "name": BUYER,
        "country": "DE",
        "region": "Bavaria",
        "kind": "enterprise",
    }
    facts = shown["listing_facts"]
    assert facts["patent_numbers"] == [PATENT] and facts["trl"] == 5
    assert facts["inventors"] == ["Li Wei", "Zhang Min"]
    [listed] = (await client.get("/api/v1/contracts", headers=headers)).json()["items"]
    assert listed["seller"]["name"] == SELLER and listed["listing"]["title"] == TITLE
    pdf = await client.get(f"/api/v1/contracts/{contract.id}/document.pdf", headers=headers)
    assert f"between {SELLER} and {BUYER}" in words(pdf.content)

    await page_login(client, buyer.user.email)
    page = (await client.get(f"/contracts/{contract.id}")).text
    assert SELLER in page and BUYER in page and TITLE in page
    assert "Renamed" not in page
    index = (await client.get("/contracts")).text
    assert SELLER in index and TITLE in index and "Renamed" not in index
    # What the organisations and the listing say now is where they show it themselves.
    assert (await Organization.get(id=contract.buyer_id)).name == "Renamed Buyer Inc"


async def test_a_new_version_names_the_parties_as_they_are_when_it_is_drawn() -> None:
    """The snapshot is taken with each version: a party renamed before signing is named as it
    is in the version the parties then read and sign; the earlier version stays as drawn."""
    contract = await a_deal("drafted")
    _, buyer = await signatories(contract)
    await rename(buyer, "Aqua Filtration AG", country="CH", region="Zurich")
    redrawn = await agreements.regenerate_contract(str(contract.id))
    assert redrawn is not None and redrawn.document_number == 2
    assert redrawn.buyer_name == "Aqua Filtration AG"
    assert redrawn.snapshot["buyer"]["country"] == "CH"
    second = words(bytes((await ContractDocument.get(contract_id=contract.id, number=2)).pdf))
    first = words(bytes((await ContractDocument.get(contract_id=contract.id, number=1)).pdf))
    assert "Aqua Filtration AG" in second and "Zurich" in second
    assert BUYER in first and "Aqua Filtration AG" not in first


async def test_contracts_drawn_before_the_snapshot_take_one_when_migrated() -> None:
    contract = await a_deal("pending_approval")
    expected = contract.snapshot
    assert expected["seller"]["name"] == SELLER and expected["listing"]["title"] == TITLE
    await Contract.filter(id=contract.id).update(snapshot={})
    untouched = await a_deal("pending_approval")

    migration = importlib.import_module("migrations.0010_contract_snapshot")
    await migration.snapshot_drawn_contracts(_Apps(), None)
    assert (await Contract.get(id=contract.id)).snapshot == expected
    assert (await Contract.get(id=untouched.id)).snapshot == untouched.snapshot


class _Apps:
    """The migration's historical models are today's for the columns it reads."""

    models: dict[str, Any] = {
        "Contract": Contract,
        "Organization": Organization,
        "Listing": Listing,
    }

    def get_model(self, app_label: str, name: str) -> Any:
        assert app_label == "models"
        return self.models[name]
