"""Enquiries (issue 18, point 5): a verified enterprise asks about a published listing, the
institute answers, both are told of every message in their own language, either side closes,
and an offer made from the enquiry names it as its origin. Every refusal with its reason,
strangers kept out with a 404, hostile text escaped, the daily limit under a burst, and the
listing page's cost for an anonymous visitor unchanged."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta

import pytest

from contracts.offers import service as offers
from contracts.offers.models import Offer
from contracts.offers.schemas import OfferIn
from listings import enquiries, enquiry_events
from listings.models import Enquiry, EnquiryMessage, Listing
from listings.schemas import ENQUIRY_BODY_MAX, EnquiryIn
from market.accounts import service as accounts
from market.accounts.models import Organization
from market.audit import AuditEntry
from market.clock import utcnow
from market.config import get_settings
from market.errors import DomainError
from market.notify import Notification
from market.outbox import OutboxEvent
from tests.builders import (
    a_colleague,
    a_published_listing,
    a_user,
    a_verified_enterprise,
    a_verified_institute,
    actor_of,
    an_admin,
    an_enquiry,
    log_in,
    offer_terms,
    run_worker,
)
from tests.listings.test_pages import ESCAPED, HOSTILE, csrf_of, page_login
from tests.queries import counting

# How a statement reading the enquiry table names it.
QUESTION = "Does the membrane hold at 80 °C?"


class Thread:
    """A published listing, the enterprise that asks about it and a stranger."""

    def __init__(self, seller, buyer, stranger, listing) -> None:
        self.seller, self.buyer, self.stranger, self.listing = seller, buyer, stranger, listing


async def a_thread() -> Thread:
    seller, _ = await a_verified_institute(email="seller@example.org")
    buyer, _ = await a_verified_enterprise(email="buyer@example.org")
    stranger, _ = await a_verified_enterprise(email="stranger@example.org")
    return Thread(seller, buyer, stranger, await a_published_listing(seller))


async def as_(client, email: str) -> dict[str, str]:
    client.cookies.clear()
    return {"X-CSRF-Token": await log_in(client, email)}


def error_of(response) -> dict:
    return response.json()["error"]


# --- the API ---------------------------------------------------------------------------------


async def test_ask_answer_list_and_close_through_the_api(client) -> None:
    t = await a_thread()
    buyer = await as_(client, t.buyer.email)
    asked = await client.post(
        f"/api/v1/listings/{t.listing.id}/enquiries", json={"body": QUESTION}, headers=buyer
    )
    assert asked.status_code == 201, asked.text
    enquiry = asked.json()["enquiry"]
    assert asked.json()["state"] == "open" and enquiry["listing"]["title"] == t.listing.title
    eid = enquiry["id"]
    mine = (await client.get("/api/v1/enquiries?side=buyer")).json()
    assert [e["id"] for e in mine["items"]] == [eid] and mine["total"] == 1

    seller = await as_(client, t.seller.email)
    received = (await client.get("/api/v1/enquiries?side=seller")).json()
    assert [e["id"] for e in received["items"]] == [eid]
    assert (await client.get("/api/v1/enquiries")).json()["items"][0]["id"] == eid  # default
    thread = (await client.get(f"/api/v1/enquiries/{eid}")).json()
    assert [m["body"] for m in thread["messages"]] == [QUESTION]
    assert thread["side"] == "seller" and thread["actions"] == ["close", "message"]
    answered = await client.post(
        f"/api/v1/enquiries/{eid}/messages", json={"body": "Up to 95 °C."}, headers=seller
    )
    assert answered.status_code == 201 and answered.json()["message"]["side"] == "seller"

    buyer = await as_(client, t.buyer.email)
    thread = (await client.get(f"/api/v1/enquiries/{eid}")).json()
    assert [m["side"] for m in thread["messages"]] == ["buyer", "seller"]
    assert thread["actions"] == ["close", "message", "offer"]
    closed = await client.post(f"/api/v1/enquiries/{eid}/close", headers=buyer)
    assert closed.status_code == 200 and closed.json()["enquiry"]["closed_by"] == "buyer"
    after = await client.post(
        f"/api/v1/enquiries/{eid}/messages", json={"body": "One more"}, headers=buyer
    )
    assert after.status_code == 409 and error_of(after)["state"] == "closed"
    again = await client.post(f"/api/v1/enquiries/{eid}/close", headers=buyer)
    assert again.status_code == 409
    seller = await as_(client, t.seller.email)
    late = await client.post(
        f"/api/v1/enquiries/{eid}/messages", json={"body": "Late"}, headers=seller
    )
    assert late.status_code == 409
    assert await EnquiryMessage.filter(enquiry_id=eid).count() == 2
    assert await AuditEntry.filter(action="enquiry.close").count() == 1


async def test_the_seller_may_close_too(client) -> None:
    t = await a_thread()
    enquiry = await an_enquiry(t.listing, t.buyer)
    seller = await as_(client, t.seller.email)
    closed = await client.post(f"/api/v1/enquiries/{enquiry.id}/close", headers=seller)
    assert closed.json()["enquiry"]["closed_by"] == "seller"


@pytest.mark.parametrize(
    ("body", "why"),
    [("", "empty"), ("   \n ", "blank"), ("x" * (ENQUIRY_BODY_MAX + 1), "too long")],
    ids=["empty", "blank", "too long"],
)
async def test_an_empty_or_oversized_body_is_refused_naming_the_field(client, body, why) -> None:
    t = await a_thread()
    buyer = await as_(client, t.buyer.email)
    refused = await client.post(
        f"/api/v1/listings/{t.listing.id}/enquiries", json={"body": body}, headers=buyer
    )
    assert refused.status_code == 422, why
    assert "body" in error_of(refused)["fields"]
    enquiry = await an_enquiry(t.listing, t.buyer)
    reply = await client.post(
        f"/api/v1/enquiries/{enquiry.id}/messages", json={"body": body}, headers=buyer
    )
    assert reply.status_code == 422 and "body" in error_of(reply)["fields"]
    assert await Enquiry.all().count() == 1 and await EnquiryMessage.all().count() == 1


async def test_the_longest_body_is_taken() -> None:
    t = await a_thread()
    enquiry = await an_enquiry(t.listing, t.buyer, body="y" * ENQUIRY_BODY_MAX)
    assert len((await EnquiryMessage.get(enquiry_id=enquiry.id)).body) == ENQUIRY_BODY_MAX


async def test_who_may_not_ask_is_told_why(client) -> None:
    t = await a_thread()
    path = f"/api/v1/listings/{t.listing.id}/enquiries"

    async def ask_as(email: str):
        return await client.post(path, json={"body": QUESTION}, headers=await as_(client, email))

    own = await ask_as(t.seller.email)
    assert own.status_code == 403 and "own organisation" in error_of(own)["message"]
    colleague = await a_colleague(
        await Organization.get(id=t.listing.institute_id), password="correct horse battery staple"
    )
    assert (await ask_as(colleague.email)).status_code == 403
    other_institute, _ = await a_verified_institute(email="other@example.org")
    institute = await ask_as(other_institute.email)
    assert institute.status_code == 403 and "Only enterprises" in error_of(institute)["message"]

    await a_user(email="pending@example.org", organization={"kind": "enterprise"})
    pending = await ask_as("pending@example.org")
    assert pending.status_code == 403 and "not verified" in error_of(pending)["message"]

    unconfirmed, org = await a_user(
        confirmed=False, email="new@example.org", organization={"kind": "enterprise"}
    )
    await accounts.verify_organization(await actor_of(await an_admin()), str(org.id))
    refused = await ask_as("new@example.org")
    assert refused.status_code == 403 and "Confirm your e-mail" in error_of(refused)["message"]

    admin = await ask_as("admin@example.org")
    assert admin.status_code == 403

    client.cookies.clear()
    anonymous = await client.post(path, json={"body": QUESTION})
    assert anonymous.status_code in {401, 403}
    assert await Enquiry.all().count() == 0


async def test_a_listing_not_published_takes_no_question(client) -> None:
    t = await a_thread()
    await Listing.filter(id=t.listing.id).update(state="licensed")  # public, but not for sale
    buyer = await as_(client, t.buyer.email)
    licensed = await client.post(
        f"/api/v1/listings/{t.listing.id}/enquiries", json={"body": QUESTION}, headers=buyer
    )
    assert licensed.status_code == 409 and error_of(licensed)["state"] == "licensed"
    await Listing.filter(id=t.listing.id).update(state="withdrawn")  # not even visible
    withdrawn = await client.post(
        f"/api/v1/listings/{t.listing.id}/enquiries", json={"body": QUESTION}, headers=buyer
    )
    assert withdrawn.status_code == 404
    assert await Enquiry.all().count() == 0


async def test_strangers_get_a_404_for_everything_in_a_thread(client) -> None:
    t = await a_thread()
    enquiry = await an_enquiry(t.listing, t.buyer)
    await an_admin()
    for email in (t.stranger.email, "admin@example.org"):
        headers = await as_(client, email)
        base = f"/api/v1/enquiries/{enquiry.id}"
        assert (await client.get(base)).status_code == 404
        posted = await client.post(f"{base}/messages", json={"body": "Hi"}, headers=headers)
        assert posted.status_code == 404
        assert (await client.post(f"{base}/close", headers=headers)).status_code == 404
        offered = await client.post(f"{base}/offer", json=offer_terms(), headers=headers)
        assert offered.status_code == 404
        assert (await client.get(f"/enquiries/{enquiry.id}")).status_code == 404
        assert (await client.get("/api/v1/enquiries?side=buyer")).json()["items"] == []
        assert (await client.get("/api/v1/enquiries?side=seller")).json()["items"] == []
    assert (await client.get("/api/v1/enquiries/not-an-id")).status_code in {404, 422}
    assert await EnquiryMessage.all().count() == 1
    assert (await Enquiry.get(id=enquiry.id)).state == "open"


async def test_a_message_racing_the_close_is_written_before_it_or_refused() -> None:
    t = await a_thread()
    enquiry = await an_enquiry(t.listing, t.buyer)
    seller, buyer = await actor_of(t.seller), await actor_of(t.buyer)
    results = await asyncio.gather(
        *(
            enquiries.post_message(seller, str(enquiry.id), EnquiryIn(body=f"Answer {n}"))
            for n in range(6)
        ),
        enquiries.close_enquiry(buyer, str(enquiry.id)),
        return_exceptions=True,
    )
    assert not [r for r in results if isinstance(r, Exception) and not isinstance(r, DomainError)]
    refused = [r for r in results if isinstance(r, DomainError)]
    assert all(r.status == 409 for r in refused)
    assert (await Enquiry.get(id=enquiry.id)).state == "closed"
    closed_at = (await AuditEntry.get(action="enquiry.close")).created_at
    written = await EnquiryMessage.filter(enquiry_id=enquiry.id, side="seller")
    assert len(written) == 6 - len(refused)
    assert all(m.created_at <= closed_at for m in written)


# --- an offer from an enquiry ------------------------------------------------------------------


async def test_an_offer_from_an_enquiry_names_its_origin(client) -> None:
    t = await a_thread()
    enquiry = await an_enquiry(t.listing, t.buyer)
    seller = await as_(client, t.seller.email)
    by_seller = await client.post(
        f"/api/v1/enquiries/{enquiry.id}/offer", json=offer_terms(), headers=seller
    )
    assert by_seller.status_code == 403  # the institute answers; it makes no offer to itself

    buyer = await as_(client, t.buyer.email)
    bad = await client.post(
        f"/api/v1/enquiries/{enquiry.id}/offer",
        json=offer_terms(license_type="nonsense"),
        headers=buyer,
    )
    assert bad.status_code == 422 and "license_type" in error_of(bad)["fields"]  # its checks
    made = await client.post(
        f"/api/v1/enquiries/{enquiry.id}/offer", json=offer_terms(), headers=buyer
    )
    assert made.status_code == 201, made.text
    offer = made.json()["offer"]
    assert offer["enquiry_id"] == str(enquiry.id) and offer["listing_id"] == str(t.listing.id)
    assert (await Offer.get(id=offer["id"])).enquiry_id == enquiry.id
    shown = (await client.get(f"/api/v1/offers/{offer['id']}")).json()
    assert shown["offer"]["enquiry_id"] == str(enquiry.id)
    entry = await AuditEntry.get(action="offer.made")
    assert entry.state_after["enquiry_id"] == str(enquiry.id)
    await an_admin()
    await as_(client, "admin@example.org")  # oversees the offer, not the two sides' enquiry
    overseen = (await client.get(f"/offers/{offer['id']}")).text
    assert "An enquiry about this listing" in overseen
    assert f"/enquiries/{enquiry.id}" not in overseen
    buyer = await as_(client, t.buyer.email)

    await client.post(f"/api/v1/enquiries/{enquiry.id}/close", headers=buyer)
    closed = await client.post(
        f"/api/v1/enquiries/{enquiry.id}/offer", json=offer_terms(), headers=buyer
    )
    assert closed.status_code == 409 and error_of(closed)["state"] == "closed"
    assert await Offer.all().count() == 1


async def test_an_offer_names_no_enquiry_of_another_listing(client) -> None:
    t = await a_thread()
    other = await a_published_listing(t.seller)
    enquiry = await an_enquiry(other, t.buyer)
    with pytest.raises(DomainError) as refused:
        await offers.make_offer(
            await actor_of(t.buyer),
            str(t.listing.id),
            OfferIn.model_validate(offer_terms()),
            enquiry_id=str(enquiry.id),
        )
    assert refused.value.status == 422 and "enquiry_id" in refused.value.fields
    assert await Offer.all().count() == 0


# --- notifications -----------------------------------------------------------------------------


async def test_both_sides_hear_of_every_message_in_their_own_language(
    settings, redis_client, mailbox
) -> None:
    t = await a_thread()
    seller_org = await Organization.get(id=t.listing.institute_id)
    buyer_org = await Organization.get(id=(await t.buyer.memberships.all().first()).organization_id)
    seller_zh = await a_colleague(seller_org, locale="zh")
    buyer_zh = await a_colleague(buyer_org, locale="zh")
    await a_colleague(seller_org, active=False)  # gone: told nothing
    await run_worker(settings)
    mailbox.messages.clear()

    enquiry = await an_enquiry(t.listing, t.buyer, body=QUESTION)
    await run_worker(settings)
    asked = {n.user_id: n for n in await Notification.filter(link__endswith=str(enquiry.id))}
    assert set(asked) == {t.seller.id, seller_zh.id, buyer_zh.id}  # not the one who asked
    assert "A question on" in asked[t.seller.id].subject
    assert QUESTION in asked[t.seller.id].body
    assert "提问" in asked[seller_zh.id].subject and QUESTION in asked[seller_zh.id].body
    assert sorted(mailbox.recipients) == sorted([t.seller.email, seller_zh.email, buyer_zh.email])

    await enquiries.post_message(
        await actor_of(t.seller), str(enquiry.id), EnquiryIn(body="Up to 95 °C.")
    )
    await run_worker(settings)
    replies = await Notification.filter(link__endswith=str(enquiry.id), body__contains="95 °C")
    assert {n.user_id for n in replies} == {t.buyer.id, buyer_zh.id, seller_zh.id}
    zh = next(n for n in replies if n.user_id == buyer_zh.id)
    assert "询问" in zh.subject

    # A retried delivery finds every notification made.
    event = await OutboxEvent.filter(event_type="enquiry.message").first()
    assert event is not None
    await enquiry_events.tell_both_sides(event)
    assert await Notification.filter(link__endswith=str(enquiry.id)).count() == 6

    await enquiries.close_enquiry(await actor_of(t.buyer), str(enquiry.id))
    await run_worker(settings)
    closed = await Notification.filter(link__endswith=str(enquiry.id), subject__contains="closed")
    assert {n.user_id for n in closed} == {t.seller.id}  # the others read it in Chinese
    assert await Notification.filter(link__endswith=str(enquiry.id)).count() == 9


# --- the daily limit ---------------------------------------------------------------------------


async def test_a_burst_of_questions_passes_exactly_the_daily_limit(client, monkeypatch) -> None:
    monkeypatch.setattr(get_settings(), "enquiry_limit_per_day", 3)
    t = await a_thread()
    colleague = await a_colleague(
        await Organization.get(id=(await t.buyer.memberships.all().first()).organization_id)
    )
    path = f"/api/v1/listings/{t.listing.id}/enquiries"
    buyer = await as_(client, t.buyer.email)
    answers = await asyncio.gather(
        *(client.post(path, json={"body": f"Question {n}"}, headers=buyer) for n in range(20))
    )
    assert Counter(a.status_code for a in answers) == {201: 3, 429: 17}
    refused = next(a for a in answers if a.status_code == 429)
    assert int(refused.headers["retry-after"]) > 0 and "3 new questions today" in refused.text
    # Per organisation: a colleague is refused too, another enterprise is not.
    with pytest.raises(DomainError) as same_org:
        await enquiries.ask(await actor_of(colleague), str(t.listing.id), EnquiryIn(body="Q"))
    assert same_org.value.status == 429
    await an_enquiry(t.listing, t.stranger)
    assert await Enquiry.filter(created_by_id=t.buyer.id).count() == 3
    # Replies in an open thread are not new questions.
    first = await Enquiry.filter(created_by_id=t.buyer.id).first()
    assert first is not None
    await enquiries.post_message(await actor_of(t.buyer), str(first.id), EnquiryIn(body="More"))


# --- pages ------------------------------------------------------------------------------------


async def test_ask_from_the_listing_page_answer_and_offer_from_the_enquiry(client) -> None:
    t = await a_thread()
    client.cookies.clear()
    anonymous = (await client.get(f"/listings/{t.listing.id}")).text
    assert "enquiry-form" not in anonymous

    await page_login(client, t.buyer.email)
    page = (await client.get(f"/listings/{t.listing.id}")).text
    assert "enquiry-form" in page and f'action="/listings/{t.listing.id}/enquiries"' in page
    token = csrf_of(page)
    empty = await client.post(
        f"/listings/{t.listing.id}/enquiries", data={"body": "  ", "csrf_token": token}
    )
    assert empty.status_code == 422 and "enquiry-form" in empty.text
    long = "z" * (ENQUIRY_BODY_MAX + 1)
    too_long = await client.post(
        f"/listings/{t.listing.id}/enquiries", data={"body": long, "csrf_token": token}
    )
    assert too_long.status_code == 422 and long in too_long.text  # given back to correct
    asked = await client.post(
        f"/listings/{t.listing.id}/enquiries", data={"body": HOSTILE, "csrf_token": token}
    )
    assert asked.status_code == 303
    url = asked.headers["location"]
    enquiry = await Enquiry.get()
    assert url == f"/enquiries/{enquiry.id}"
    shown = (await client.get(url)).text
    assert ESCAPED in shown and HOSTILE not in shown
    assert f"/listings/{t.listing.id}/offer?enquiry={enquiry.id}" in shown
    listing_page = (await client.get(f"/listings/{t.listing.id}")).text
    assert f'href="/enquiries/{enquiry.id}"' in listing_page  # the question already asked
    inbox = (await client.get("/enquiries")).text
    assert url in inbox and t.listing.title in inbox

    await page_login(client, t.seller.email)
    received = (await client.get("/enquiries?side=seller")).text
    assert url in received
    seller_view = (await client.get(url)).text
    assert ESCAPED in seller_view and "/offer?enquiry=" not in seller_view
    token = csrf_of(seller_view)
    empty_reply = await client.post(f"{url}/messages", data={"body": "", "csrf_token": token})
    assert empty_reply.status_code == 422
    replied = await client.post(
        f"{url}/messages", data={"body": "It holds <b>95</b> °C.", "csrf_token": token}
    )
    assert replied.status_code == 303
    assert "It holds &lt;b&gt;95&lt;/b&gt; °C." in (await client.get(url)).text

    await page_login(client, t.buyer.email)
    form = (await client.get(f"/listings/{t.listing.id}/offer?enquiry={enquiry.id}")).text
    assert f'name="enquiry_id" value="{enquiry.id}"' in form
    data = {
        "csrf_token": csrf_of(form),
        "enquiry_id": str(enquiry.id),
        "license_type": "non_exclusive",
        "territories": "WORLD",
        "fields_of_use": "all",
        "term_months": "60",
        "upfront_fee.amount": "50000",
        "upfront_fee.currency": "USD",
        "expires_at": (utcnow() + timedelta(days=14)).strftime("%Y-%m-%dT%H:%M"),
    }
    made = await client.post(f"/listings/{t.listing.id}/offer", data=data)
    assert made.status_code == 303, made.text
    offer = await Offer.get()
    assert offer.enquiry_id == enquiry.id
    offer_page = (await client.get(f"/offers/{offer.id}")).text
    assert f'href="/enquiries/{enquiry.id}"' in offer_page

    token = csrf_of((await client.get(url)).text)
    closed = await client.post(f"{url}/close", data={"csrf_token": token})
    assert closed.status_code == 303
    after = (await client.get(url)).text
    assert "message-form" not in after and "/offer?enquiry=" not in after
    refused = await client.post(f"{url}/messages", data={"body": "Again", "csrf_token": token})
    assert refused.status_code == 409 and "The enquiry is closed;" in refused.text


async def test_a_stranger_sees_no_enquiry_page(client) -> None:
    t = await a_thread()
    enquiry = await an_enquiry(t.listing, t.buyer, body="Private question")
    await page_login(client, t.stranger.email)
    page = await client.get(f"/enquiries/{enquiry.id}")
    assert page.status_code == 404 and "Private question" not in page.text
    inbox = (await client.get("/enquiries")).text
    assert str(enquiry.id) not in inbox


# --- the listing page's cost ---------------------------------------------------------------------


async def test_the_link_to_an_enquiry_costs_the_listing_page_no_statement(client) -> None:
    """The viewer's newest enquiry is read with the listing itself: the page sends as many
    statements for the enterprise that asked (and sees the link) as for anyone else."""
    t = await a_thread()
    enquiry = await an_enquiry(t.listing, t.buyer)
    path = f"/listings/{t.listing.id}"
    link = f'href="/enquiries/{enquiry.id}"'
    sent: dict[str, int] = {}
    for who in ("anonymous", t.buyer.email, t.stranger.email, t.seller.email):
        client.cookies.clear()
        if who != "anonymous":
            await page_login(client, who)
        await client.get(path)
        async with counting() as statements:
            page = await client.get(path)
        assert page.status_code == 200
        assert (link in page.text) is (who == t.buyer.email), who
        sent[who] = len(statements)
    # Signed in, the session's read is the one more.
    assert sent[t.buyer.email] == sent[t.stranger.email] == sent["anonymous"] + 1, sent
