"""The facts a contract relies on (patent numbers, inventors, TRL, territories, fields of use):
on a published listing a change waits for an administrator's review, and once an offer on the
listing is accepted it is refused, naming the field, while the rest stays editable. Real
PostgreSQL, the use cases and the app through httpx."""

from __future__ import annotations

from typing import Any

import pytest

from contracts.agreements import service as agreements
from listings import service, states
from listings.models import Listing, ListingRevision
from listings.schemas import ListingPatch
from market.errors import Conflict
from tests.builders import (
    a_contract,
    a_published_listing,
    a_verified_institute,
    actor_of,
    an_accepted_offer,
    an_admin,
    log_in,
    signatories,
)
from tests.listings.test_pages import (
    an_institute_logged_in,
    csrf_of,
    field_error,
    listing_form,
    page_login,
    textarea_value,
)

NEW_FACTS: dict[str, Any] = {
    "patent_numbers": ["CN 119999999 A"],
    "inventors": ["Wang Fang"],
    "territories": ["CN", "DE"],
    "fields_of_use": ["water treatment"],
    "trl": 7,
}


def facts_of(listing: Listing) -> dict[str, Any]:
    return {name: getattr(listing, name) for name in states.FACTS}


async def _owner_and_listing() -> tuple[Any, Listing]:
    user, _ = await a_verified_institute()
    return await actor_of(user), await a_published_listing(user)


def test_every_fact_is_reviewed() -> None:
    assert set(NEW_FACTS) == set(states.FACTS)
    assert set(states.FACTS) <= set(states.SUBSTANCE)
    assert not {"contact_name", "contact_email"} & set(states.SUBSTANCE)


# --- review --------------------------------------------------------------------------------


async def test_fact_changes_wait_for_review_and_approval_applies_them(client) -> None:
    owner, listing = await _owner_and_listing()
    before = facts_of(listing)
    visible, revision = await service.update_listing(
        owner, str(listing.id), ListingPatch(**NEW_FACTS, keywords=["graphene"])
    )
    assert revision is not None and revision.changes == NEW_FACTS
    assert facts_of(visible) == before and visible.keywords == ["graphene"]

    public = (await client.get(f"/api/v1/listings/{listing.id}")).json()["listing"]
    assert {name: public[name] for name in states.FACTS} == before
    page = (await client.get(f"/listings/{listing.id}")).text
    assert "Wang Fang" not in page and "Li Wei" in page

    approved = await service.approve_revision(await actor_of(await an_admin()), str(revision.id))
    assert facts_of(approved) == NEW_FACTS
    public = (await client.get(f"/api/v1/listings/{listing.id}")).json()["listing"]
    assert {name: public[name] for name in states.FACTS} == NEW_FACTS
    assert "Wang Fang" in (await client.get(f"/listings/{listing.id}")).text


async def test_the_contact_address_changes_at_once() -> None:
    owner, listing = await _owner_and_listing()
    edited, revision = await service.update_listing(
        owner, str(listing.id), ListingPatch(contact_email="tto@example.org")
    )
    assert revision is None and edited.contact_email == "tto@example.org"


# --- fixed once an offer is accepted ---------------------------------------------------------


@pytest.mark.parametrize("name", sorted(NEW_FACTS))
async def test_a_fact_is_refused_once_an_offer_is_accepted(name: str) -> None:
    owner, listing = await _owner_and_listing()
    await an_accepted_offer(listing)
    assert await service.relied_on(listing.id)
    version = (await Listing.get(id=listing.id)).version
    with pytest.raises(Conflict) as refused:
        await service.update_listing(
            owner,
            str(listing.id),
            ListingPatch(**{name: NEW_FACTS[name]}, description="A new description."),
        )
    assert set(refused.value.fields) == {name}
    assert service.FACT_LABELS[name] in refused.value.message
    after = await Listing.get(id=listing.id)
    assert facts_of(after) == facts_of(listing) and after.version == version
    assert await ListingRevision.all().count() == 0  # nothing changed, not even the description


async def test_the_rest_stays_editable_once_an_offer_is_accepted() -> None:
    owner, listing = await _owner_and_listing()
    await an_accepted_offer(listing)
    same_facts = ListingPatch(**facts_of(listing), description="A new description.")
    visible, revision = await service.update_listing(owner, str(listing.id), same_facts)
    assert revision is not None and revision.changes == {"description": "A new description."}
    edited, _ = await service.update_listing(
        owner, str(listing.id), ListingPatch(keywords=["graphene"])
    )
    assert edited.keywords == ["graphene"]
    approved = await service.approve_revision(await actor_of(await an_admin()), str(revision.id))
    assert approved.description == "A new description."


async def test_a_withdrawn_listing_keeps_its_facts_while_a_deal_relies_on_them() -> None:
    owner, listing = await _owner_and_listing()
    await an_accepted_offer(listing)
    await service.withdraw_listing(owner, str(listing.id))
    with pytest.raises(Conflict) as refused:
        await service.update_listing(owner, str(listing.id), ListingPatch(trl=9))
    assert set(refused.value.fields) == {"trl"}
    assert (await Listing.get(id=listing.id)).trl == listing.trl


async def test_a_fact_revision_proposed_before_acceptance_is_not_approved_after() -> None:
    owner, listing = await _owner_and_listing()
    _, revision = await service.update_listing(
        owner, str(listing.id), ListingPatch(trl=8, title="A title for the review")
    )
    await an_accepted_offer(listing)
    with pytest.raises(Conflict) as refused:
        await service.approve_revision(await actor_of(await an_admin()), str(revision.id))
    assert set(refused.value.fields) == {"trl"}
    after = await Listing.get(id=listing.id)
    assert after.trl == listing.trl and after.title == listing.title
    assert (await ListingRevision.get(id=revision.id)).state == "pending"


@pytest.mark.parametrize("ended", ["cancelled", "rejected"])
async def test_facts_are_free_again_when_the_contract_ends(ended: str) -> None:
    owner, listing = await _owner_and_listing()
    offer = await an_accepted_offer(listing)
    contract = await a_contract("pending_approval", offer=offer)
    assert await service.relied_on(listing.id)
    await a_contract_ended(contract, ended)
    assert not await service.relied_on(listing.id)
    _, revision = await service.update_listing(owner, str(listing.id), ListingPatch(trl=8))
    assert revision is not None and revision.changes == {"trl": 8}


async def a_contract_ended(contract: Any, how: str) -> None:
    if how == "rejected":
        admin = await actor_of(await an_admin())
        await agreements.reject_contract(admin, str(contract.id), "Not this time.")
    else:
        seller, _ = await signatories(contract)
        await agreements.cancel_contract(seller, str(contract.id), "We changed our minds.")


async def test_an_active_deal_keeps_the_facts_fixed() -> None:
    owner, listing = await _owner_and_listing()
    offer = await an_accepted_offer(listing)
    await a_contract("awaiting_payment", offer=offer)
    assert await service.relied_on(listing.id)
    # Another listing's accepted offer does not fix this one's facts, nor the reverse.
    other_owner, other = await _owner_and_listing()
    assert not await service.relied_on(other.id)
    _, revision = await service.update_listing(other_owner, str(other.id), ListingPatch(trl=8))
    assert revision is not None


# --- the API and the page ------------------------------------------------------------------


async def test_the_api_refuses_a_fixed_fact_naming_the_field(client) -> None:
    user, _ = await a_verified_institute(email="api-owner@example.org")
    listing = await a_published_listing(user)
    await an_accepted_offer(listing)
    headers = {"X-CSRF-Token": await log_in(client, "api-owner@example.org")}
    refused = await client.patch(
        f"/api/v1/listings/{listing.id}",
        json={"territories": ["CN"], "inventors": ["Someone Else"]},
        headers=headers,
    )
    assert refused.status_code == 409, refused.text
    error = refused.json()["error"]
    assert error["code"] == "conflict" and set(error["fields"]) == {"territories", "inventors"}
    assert "territories" in error["message"] and "inventors" in error["message"]
    shown = (await client.get(f"/api/v1/listings/{listing.id}")).json()["listing"]
    assert shown["territories"] == ["WORLD"] and shown["inventors"] == ["Li Wei", "Zhang Min"]

    allowed = await client.patch(
        f"/api/v1/listings/{listing.id}", json={"description": "Better."}, headers=headers
    )
    assert allowed.status_code == 200 and allowed.json()["revision"]["changes"] == {
        "description": "Better."
    }


async def test_the_page_shows_the_form_again_with_the_input_and_the_field(client) -> None:
    owner = await an_institute_logged_in(client, "page-owner@example.org")
    listing = await a_published_listing(owner)
    await an_accepted_offer(listing)
    edit = (await client.get(f"/listings/{listing.id}/edit")).text
    assert "An accepted offer relies on this listing" in edit
    typed = "CN 119999999 A\nEP 3456789 B1"
    response = await client.post(
        f"/listings/{listing.id}/edit",
        data={
            **listing_form(patent_numbers=typed, description="Typed description."),
            "csrf_token": csrf_of(edit),
        },
    )
    assert response.status_code == 409
    assert "patent numbers" in field_error(response.text, "patent_numbers")
    assert textarea_value(response.text, "patent_numbers").strip() == typed
    assert textarea_value(response.text, "description").strip() == "Typed description."
    assert (await Listing.get(id=listing.id)).patent_numbers == listing.patent_numbers
    assert await ListingRevision.all().count() == 0


async def test_the_admin_is_told_which_fact_blocks_a_revision(client) -> None:
    user, _ = await a_verified_institute()
    listing = await a_published_listing(user)
    _, revision = await service.update_listing(
        await actor_of(user), str(listing.id), ListingPatch(inventors=["Someone Else"])
    )
    await an_accepted_offer(listing)
    await an_admin("admin@example.org")
    await page_login(client, "admin@example.org")
    queue = (await client.get("/admin/listings")).text
    response = await client.post(
        f"/admin/revisions/{revision.id}/approve", data={"csrf_token": csrf_of(queue)}
    )
    assert response.status_code == 303
    notice = (await client.get(response.headers["location"])).text
    assert "inventors cannot change" in notice
    assert (await Listing.get(id=listing.id)).inventors == listing.inventors
