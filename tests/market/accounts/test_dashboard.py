"""The dashboard's "needs your action" cards (market/actions.py, one provider per room) and
GET /api/v1/me/actions: each card for the right people only, gone once handled, at a constant
number of queries; and the notices of a thing settled once someone on their side handles it."""

from __future__ import annotations

from typing import Any

import httpx

from contracts.agreements import service as agreements
from contracts.offers import service as offers
from contracts.offers.schemas import OfferTermsIn
from docking import service as needs
from listings import service as listings
from market.accounts import service as accounts
from market.accounts.models import User
from market.notify import Notification
from tests.builders import (
    PASSWORD,
    a_colleague,
    a_contract,
    a_draft_listing,
    a_draft_need,
    a_user,
    a_verified_enterprise,
    actor_of,
    an_admin,
    an_offer,
    log_in,
    offer_terms,
    offers_like,
    run_worker,
    signatories,
    the_parties,
)
from tests.market.accounts.test_pages import page_login
from tests.queries import counting


async def cards_of(client: httpx.AsyncClient, user: User | str) -> list[dict[str, Any]]:
    client.cookies.clear()
    await log_in(client, user if isinstance(user, str) else user.email)
    answer = await client.get("/api/v1/me/actions")
    assert answer.status_code == 200, answer.text
    return answer.json()["items"]


def kinds(items: list[dict[str, Any]]) -> list[str]:
    return [item["kind"] for item in items]


async def a_second_admin() -> User:
    admin = await an_admin()
    actor = await actor_of(admin)
    return await a_colleague(
        actor.organization, role="owner", email="admin2@example.org", password=PASSWORD
    )


async def test_an_offer_waits_for_the_seller_then_the_counter_offer_for_the_buyer(client) -> None:
    parties = await the_parties()
    offer = await an_offer(parties.listing, parties.buyer)
    seller_cards = await cards_of(client, parties.seller)
    assert seller_cards == [
        {
            "kind": "offer.answer",
            "text": f"Answer the offer on “{parties.listing.title}”",
            "link": f"/offers/{offer.id}",
            "subject_id": str(offer.id),
        }
    ]
    assert "offer.answer" not in kinds(await cards_of(client, parties.buyer))
    assert "offer.answer" not in kinds(await cards_of(client, parties.stranger))

    seller = await actor_of(parties.seller)
    terms = OfferTermsIn.model_validate(
        {
            k: v
            for k, v in offer_terms(royalty_percent="4").items()
            if k in OfferTermsIn.model_fields
        }
    )
    await offers.counter_offer(seller, str(offer.id), terms)
    assert "offer.answer" not in kinds(await cards_of(client, parties.seller))
    buyer_cards = await cards_of(client, parties.buyer)
    assert [c["text"] for c in buyer_cards] == [
        f"Answer the counter-offer on “{parties.listing.title}”"
    ]

    # The page shows the same card, first, with its link.
    client.cookies.clear()
    await page_login(client, parties.buyer.email)
    page = (await client.get("/dashboard")).text
    assert page.index("Needs your action") < page.index("Your organisation")
    assert f'href="/offers/{offer.id}"' in page and "Answer the counter-offer on" in page


async def test_the_cards_speak_chinese(client) -> None:
    parties = await the_parties()
    await an_offer(parties.listing, parties.buyer)
    await log_in(client, parties.seller.email)
    client.cookies.set("tm_lang", "zh")
    (card,) = (await client.get("/api/v1/me/actions")).json()["items"]
    assert card["text"].startswith("答复") and parties.listing.title in card["text"]


async def test_a_contract_to_sign_waits_for_those_who_may_sign_until_their_side_signs(
    client,
) -> None:
    contract = await a_contract("awaiting_signatures")
    seller, buyer = await signatories(contract)
    assert seller.user is not None and buyer.user is not None
    assert kinds(await cards_of(client, seller.user)) == ["contract.sign"]
    assert kinds(await cards_of(client, buyer.user)) == ["contract.sign"]
    # A member who may not sign sees no card to sign.
    mate = await a_colleague(seller.organization, password=PASSWORD)
    assert "contract.sign" not in kinds(await cards_of(client, mate))

    await agreements.sign_contract(
        seller, str(contract.id), seller.user.name, contract.document_sha256, user_agent="t"
    )
    assert "contract.sign" not in kinds(await cards_of(client, seller.user))
    assert kinds(await cards_of(client, buyer.user)) == ["contract.sign"]


async def test_a_contract_awaiting_payment_waits_for_the_buyer(client) -> None:
    contract = await a_contract("awaiting_payment")
    seller, buyer = await signatories(contract)
    assert buyer.user is not None and seller.user is not None
    (card,) = await cards_of(client, buyer.user)
    assert card["kind"] == "contract.pay" and card["link"] == f"/contracts/{contract.id}"
    assert "contract.pay" not in kinds(await cards_of(client, seller.user))


async def test_administrators_see_their_queues_counted_and_others_do_not(client) -> None:
    newcomer, org = await a_user()
    await a_user()
    parties = await the_parties()
    draft = await a_draft_listing(parties.seller)
    await listings.submit_listing(await actor_of(parties.seller), str(draft.id))
    enterprise_user, _ = await a_verified_enterprise()
    need = await a_draft_need(enterprise_user)
    await needs.submit_need(await actor_of(enterprise_user), str(need.id))
    await a_contract("pending_approval")

    admin_cards = {c["kind"]: c for c in await cards_of(client, "admin@example.org")}
    assert admin_cards["admin.organizations"]["count"] == 2
    assert admin_cards["admin.organizations"]["link"] == "/admin/organizations"
    assert admin_cards["admin.listings"]["count"] == 1
    assert admin_cards["admin.needs"]["count"] == 1
    assert admin_cards["admin.contracts"]["count"] == 1
    for user in (newcomer, parties.seller, enterprise_user):
        assert not any(k.startswith("admin.") for k in kinds(await cards_of(client, user)))

    admin = await actor_of(await an_admin())
    await accounts.verify_organization(admin, str(org.id))
    await listings.approve_listing(admin, str(draft.id))
    after = {c["kind"]: c for c in await cards_of(client, "admin@example.org")}
    assert after["admin.organizations"]["count"] == 1 and "admin.listings" not in after


async def test_what_moderation_returned_waits_for_its_authors(client) -> None:
    parties = await the_parties()
    draft = await a_draft_listing(parties.seller, title="Returned alloy")
    seller = await actor_of(parties.seller)
    admin = await actor_of(await an_admin())
    await listings.submit_listing(seller, str(draft.id))
    await listings.reject_listing(admin, str(draft.id), "Name the patent.")
    (card,) = await cards_of(client, parties.seller)
    assert card["kind"] == "listing.returned" and card["link"] == f"/listings/{draft.id}/edit"
    assert "Returned alloy" in card["text"]
    assert "listing.returned" not in kinds(await cards_of(client, parties.buyer))
    await listings.submit_listing(seller, str(draft.id))
    assert await cards_of(client, parties.seller) == []

    enterprise_user, _ = await a_verified_enterprise()
    need = await a_draft_need(enterprise_user)
    seeker = await actor_of(enterprise_user)
    await needs.submit_need(seeker, str(need.id))
    await needs.reject_need(admin, str(need.id), "Say the budget.")
    assert kinds(await cards_of(client, enterprise_user)) == ["need.returned"]


async def test_no_cards_before_the_address_is_confirmed(client) -> None:
    user, _ = await a_user(confirmed=False, email="unconfirmed@example.org")
    assert await cards_of(client, user) == []


async def test_the_cards_cost_as_many_queries_for_one_offer_as_for_many(client) -> None:
    parties = await the_parties()
    offer = await an_offer(parties.listing, parties.buyer)
    await log_in(client, parties.seller.email)
    await client.get("/api/v1/me/actions")
    async with counting() as one:
        assert len((await client.get("/api/v1/me/actions")).json()["items"]) == 1
    await offers_like(offer, 8)
    async with counting() as many:
        assert len((await client.get("/api/v1/me/actions")).json()["items"]) == 9
    assert len(many) == len(one), many.summary()
    async with counting() as page:
        await client.get("/dashboard")
    await offers_like(offer, 5)
    async with counting() as bigger:
        await client.get("/dashboard")
    assert len(bigger) == len(page), bigger.summary()


# --- notices settle once handled -------------------------------------------------------------


async def unread(user: User, about: str | None = None) -> list[Notification]:
    query = Notification.filter(user_id=user.id, read_at=None)
    return await (query.filter(about=about) if about is not None else query)


async def test_an_administrators_decision_settles_the_other_administrators_notices(
    client, settings
) -> None:
    first = await an_admin()
    second = await a_second_admin()
    _, org = await a_user(email="newcomer@example.org")
    await run_worker(settings)
    for admin in (first, second):
        (note,) = await unread(admin)
        assert note.about == f"organization:{org.id}"
        assert note.link.endswith("/admin/organizations")

    client.cookies.clear()
    await page_login(client, second.email)
    page = (await client.get("/dashboard")).text
    assert "/admin/organizations" in page and "Organisations waiting for verification" in page

    await accounts.verify_organization(await actor_of(first), str(org.id))
    assert await unread(first) == [] and await unread(second) == []
    page = (await client.get("/dashboard")).text
    assert "Organisations waiting for verification" not in page
    assert "No unread notifications." in page


async def test_answering_an_offer_settles_its_notices_on_the_side_that_answered(
    settings,
) -> None:
    parties = await the_parties()
    offer = await an_offer(parties.listing, parties.buyer)
    await run_worker(settings)
    (note,) = await unread(parties.seller_mate)
    assert note.about == f"offer:{offer.id}" and note.link.endswith(f"/offers/{offer.id}")

    await offers.accept_offer(await actor_of(parties.seller), str(offer.id))
    assert await unread(parties.seller_mate) == []
    await run_worker(settings)  # the news of the acceptance comes after, unread
    assert [n.about for n in await unread(parties.buyer_mate)] == [f"offer:{offer.id}"]


async def test_a_signature_settles_its_sides_notices_only(settings) -> None:
    contract = await a_contract("awaiting_signatures")
    seller, buyer = await signatories(contract)
    assert seller.organization is not None and buyer.organization is not None
    seller_mate = await a_colleague(seller.organization)
    buyer_mate = await a_colleague(buyer.organization)
    await run_worker(settings)
    about = f"contract:{contract.id}"
    assert await unread(seller_mate, about) and await unread(buyer_mate, about)

    await agreements.sign_contract(
        seller, str(contract.id), "Seller Signer", contract.document_sha256, user_agent="t"
    )
    assert await unread(seller_mate, about) == []
    assert await unread(buyer_mate, about)  # their turn to sign is not over


async def test_moderating_settles_the_notices_about_the_listing(settings) -> None:
    """Moderation tells nobody by mail yet; a notice about a listing (as a later handler may
    write) is settled by the administrators' decision all the same."""
    parties = await the_parties()
    draft = await a_draft_listing(parties.seller)
    await listings.submit_listing(await actor_of(parties.seller), str(draft.id))
    admin = await an_admin()
    second = await a_second_admin()
    await Notification.create(
        user=second,
        subject="A listing to moderate",
        body="",
        dedup_key="t:1",
        about=f"listing:{draft.id}",
    )
    await listings.approve_listing(await actor_of(admin), str(draft.id))
    assert await unread(second) == []


async def test_the_actions_are_for_a_logged_in_user(client) -> None:
    answer = await client.get("/api/v1/me/actions")
    assert answer.status_code == 401 and answer.json()["error"]["code"] == "not_authenticated"
    assert (await client.get("/dashboard", follow_redirects=False)).status_code in {302, 303, 307}
