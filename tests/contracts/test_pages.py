"""The offer pages end to end: real PostgreSQL, the ASGI app through httpx, no mocks. Two
organisations negotiate through the forms a person would use."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from contracts.offers import service as offers
from contracts.offers.models import Grant, Offer, OfferMessage, OfferTerms
from contracts.offers.schemas import MessageIn, OfferTermsIn
from listings.models import Listing
from market.accounts.models import Organization, User
from tests.builders import (
    a_published_listing,
    a_user,
    a_verified_enterprise,
    a_verified_institute,
    actor_of,
    an_admin,
    an_offer,
    offer_terms,
)
from tests.html import Page
from tests.listings.test_pages import (
    QueryCounter,
    assert_well_formed,
    control_value,
    csrf_of,
    field_error,
    page_login,
    textarea_value,
)

HOSTILE = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
EXPIRY = datetime.now(UTC).replace(microsecond=0) + timedelta(days=20)


@dataclass
class Trade:
    listing: Listing
    seller: User
    buyer: User
    buyer_org: Organization


async def a_trade(**listing_overrides: Any) -> Trade:
    """A published listing of a verified institute and a verified enterprise interested in it;
    nobody logged in yet."""
    seller, _ = await a_verified_institute(organization={"name": "Optics Institute"})
    listing = await a_published_listing(seller, **listing_overrides)
    buyer, buyer_org = await a_verified_enterprise(organization={"name": "Lens Works Ltd"})
    return Trade(listing=listing, seller=seller, buyer=buyer, buyer_org=buyer_org)


def offer_form(**overrides: Any) -> dict[str, Any]:
    """A complete offer as the HTML form sends it."""
    form: dict[str, Any] = {
        "license_type": "non_exclusive",
        "territories": "cn, de",
        "fields_of_use": "water treatment\nmining",
        "term_months": "60",
        "upfront_fee.amount": "50,000.00",
        "upfront_fee.currency": "USD",
        "royalty_percent": "3.5",
        "milestones.0.description": "First commercial sale",
        "milestones.0.amount": "10000",
        "milestones.1.description": "",
        "milestones.1.amount": "",
        "milestones.2.description": "",
        "milestones.2.amount": "",
        "conditions": "Technical support for six months.",
        "expires_at": EXPIRY.strftime("%Y-%m-%dT%H:%M"),
        "message": "We make lenses.",
    }
    form.update(overrides)
    return form


def terms(**overrides: Any) -> OfferTermsIn:
    return OfferTermsIn.model_validate(offer_terms(expires_at=EXPIRY.isoformat(), **overrides))


async def page_of(client: httpx.AsyncClient, path: str, status: int = 200) -> str:
    response = await client.get(path)
    assert response.status_code == status, (path, response.status_code, response.text[:500])
    return response.text


async def post_from(
    client: httpx.AsyncClient, page: str, action: str, data: dict[str, Any] | None = None
) -> httpx.Response:
    """Submit a form the way a browser does: with the token of the page it is on."""
    html = await page_of(client, page)
    return await client.post(action, data={**(data or {}), "csrf_token": csrf_of(html)})


def post_actions(html: str) -> set[str]:
    return {form["action"] for form in Page(html).forms if form["method"] == "post"}


def offer_buttons(html: str, offer: Offer) -> set[str]:
    """Which of accept/counter/reject/withdraw/message the offer page offers."""
    found = {
        action.rsplit("/", 1)[-1]
        for action in post_actions(html)
        if action.startswith(f"/offers/{offer.id}/")
    }
    if f'href="/offers/{offer.id}/counter"' in html:
        found.add("counter")
    return found


def flash_error(html: str) -> str:
    match = re.search(r'class="flash flash-error" role="alert">(.*?)</div>', html, re.S)
    assert match, "no error message on the page"
    return match.group(1)


def version_rows(html: str) -> dict[str, list[tuple[bool, str]]]:
    """The versions table: term label -> [(marked as changed, cell text)] per version."""
    body = re.search(r'id="versions-caption".*?<tbody>(.*?)</tbody>', html, re.S)
    assert body, "no versions table"
    rows = {}
    for label, cells in re.findall(r'<th scope="row">(.*?)</th>(.*?)</tr>', body.group(1), re.S):
        rows[label] = [
            ('class="changed"' in attrs, " ".join(re.sub(r"<[^>]+>", " ", text).split()))
            for attrs, text in re.findall(r"<td([^>]*)>(.*?)</td>", cells, re.S)
        ]
    return rows


# --- making an offer ---------------------------------------------------------------------------


async def test_make_an_offer_through_the_form(client) -> None:
    trade = await a_trade(license_types=["exclusive", "non_exclusive"], territories=["WORLD"])
    await page_login(client, trade.buyer.email)
    listing_page = await page_of(client, f"/listings/{trade.listing.id}")
    assert f'href="/listings/{trade.listing.id}/offer"' in listing_page

    form_page = await page_of(client, f"/listings/{trade.listing.id}/offer")
    assert_well_formed(form_page)
    assert f'action="/listings/{trade.listing.id}/offer"' in form_page
    # Only the licence types the listing offers; the listing's currency is chosen already.
    options = re.search(r'<select id="license_type".*?</select>', form_page, re.S).group(0)
    assert 'value="exclusive"' in options and 'value="non_exclusive"' in options
    assert 'value="assignment"' not in options and 'value="sole"' not in options
    assert '<option value="USD" selected>' in form_page
    assert 'type="datetime-local"' in form_page and "UTC" in form_page

    # Several territory values (a multiple select) are as good as one typed line.
    form = offer_form(territories=["cn", "DE"], conditions="Support " + HOSTILE)
    response = await client.post(
        f"/listings/{trade.listing.id}/offer", data={**form, "csrf_token": csrf_of(form_page)}
    )
    assert response.status_code == 303, response.text
    offer = await Offer.get()
    assert response.headers["location"] == f"/offers/{offer.id}"
    assert offer.state == "open" and offer.buyer_id == trade.buyer_org.id  # type: ignore[attr-defined]
    current = await OfferTerms.get(offer_id=offer.id)
    assert current.license_type == "non_exclusive"
    assert current.territories == ["CN", "DE"]
    assert current.fields_of_use == ["water treatment", "mining"]
    assert current.term_months == 60
    assert (current.upfront_amount, current.currency) == (5_000_000, "USD")
    assert current.royalty_percent == Decimal("3.5")
    assert current.milestones == [{"description": "First commercial sale", "amount": 1_000_000}]
    assert current.conditions == "Support " + HOSTILE
    # The datetime-local value is read as UTC, as the form says.
    assert current.expires_at == EXPIRY.replace(second=0)
    assert (await OfferMessage.get(offer_id=offer.id)).body == "We make lenses."

    shown = await page_of(client, response.headers["location"])
    assert "Your offer is sent" in shown
    assert "50,000.00 USD" in shown and "10,000.00 USD" in shown
    assert "Support " + ESCAPED in shown and HOSTILE not in shown
    assert "We make lenses." in shown
    assert_well_formed(shown)


async def test_bad_input_comes_back_with_messages_and_creates_nothing(client) -> None:
    trade = await a_trade()
    await page_login(client, trade.buyer.email)
    form = offer_form(
        territories="CN, XX",
        term_months="ten",
        royalty_percent="lots",
        conditions="Keep " + HOSTILE,
        expires_at="",
        **{
            "upfront_fee.amount": "12.345",
            "milestones.1.description": "Approval " + HOSTILE,
            "milestones.1.amount": "",
            "milestones.2.description": "",
            "milestones.2.amount": "5000",
        },
    )
    response = await post_from(
        client, f"/listings/{trade.listing.id}/offer", f"/listings/{trade.listing.id}/offer", form
    )
    assert response.status_code == 422
    html = response.text
    assert_well_formed(html)
    assert "XX" in field_error(html, "territories")
    assert "whole number" in field_error(html, "term_months")
    assert "percentage" in field_error(html, "royalty_percent")
    assert "decimal" in field_error(html, "upfront_fee-amount")
    assert "amount" in field_error(html, "milestones-1-amount")
    assert "what must happen" in field_error(html, "milestones-2-description")
    assert "expires" in field_error(html, "expires_at")
    # What the user typed is all still there, escaped.
    assert control_value(html, "upfront_fee.amount") == "12.345"
    assert control_value(html, "territories") == "CN, XX"
    assert control_value(html, "term_months") == "ten"
    assert control_value(html, "milestones.2.amount") == "5000"
    assert control_value(html, "milestones.1.description") == "Approval " + ESCAPED
    assert textarea_value(html, "conditions") == "Keep " + ESCAPED
    assert textarea_value(html, "message") == "We make lenses."
    assert HOSTILE not in html
    assert await Offer.all().count() == 0


@pytest.mark.parametrize(
    ("overrides", "field", "words"),
    [
        ({"upfront_fee.amount": "lots"}, "upfront_fee-amount", "number"),
        ({"upfront_fee.amount": "-5"}, "upfront_fee-amount", "negative"),
        ({"upfront_fee.amount": ""}, "upfront_fee-amount", "upfront fee"),
        ({"upfront_fee.currency": "XYZ"}, "upfront_fee-currency", "currency"),
        ({"royalty_percent": "150"}, "royalty_percent", "100"),
        ({"term_months": "0"}, "term_months", "1"),
        ({"expires_at": "2020-01-01T00:00"}, "expires_at", "hour"),
        ({"expires_at": "tomorrow"}, "expires_at", "datetime"),
        # Not a form error but the service's: the listing does not offer it.
        ({"license_type": "assignment"}, "license_type", "offers"),
        ({"license_type": "lease"}, "license_type", "Input should be"),
    ],
)
async def test_bad_values_are_refused_on_their_field(client, overrides, field, words) -> None:
    trade = await a_trade(license_types=["non_exclusive"])
    await page_login(client, trade.buyer.email)
    path = f"/listings/{trade.listing.id}/offer"
    response = await post_from(client, path, path, offer_form(**overrides))
    assert response.status_code == 422
    assert words in field_error(response.text, field)
    assert await Offer.all().count() == 0


async def test_a_form_without_its_token_creates_nothing(client) -> None:
    trade = await a_trade()
    await page_login(client, trade.buyer.email)
    path = f"/listings/{trade.listing.id}/offer"
    assert (await client.post(path, data=offer_form())).status_code == 403
    wrong = await client.post(path, data={**offer_form(), "csrf_token": "0" * 64})
    assert wrong.status_code == 403
    assert await Offer.all().count() == 0


async def test_the_make_offer_link_is_for_eligible_users_only(client) -> None:
    trade = await a_trade()
    link = f'href="/listings/{trade.listing.id}/offer"'
    form_path = f"/listings/{trade.listing.id}/offer"

    anonymous = await page_of(client, f"/listings/{trade.listing.id}")
    assert link not in anonymous and "Log in to make an offer" in anonymous
    login = await client.get(form_path)
    assert login.status_code == 303 and login.headers["location"].startswith("/login")

    await page_login(client, trade.buyer.email)
    assert link in await page_of(client, f"/listings/{trade.listing.id}")

    await page_login(client, trade.seller.email)
    assert link not in await page_of(client, f"/listings/{trade.listing.id}")
    assert "own organisation" in await page_of(client, form_path, 403)

    await an_admin()
    await page_login(client, "admin@example.org")
    assert link not in await page_of(client, f"/listings/{trade.listing.id}")
    await page_of(client, form_path, 403)

    pending, _ = await a_user(organization={"kind": "enterprise", "name": "Pending GmbH"})
    await page_login(client, pending.email)
    assert link not in await page_of(client, f"/listings/{trade.listing.id}")
    assert "verified" in await page_of(client, form_path, 403)
    response = await post_from(client, "/dashboard", form_path, offer_form())
    assert response.status_code == 403
    assert await Offer.all().count() == 0


# --- one offer ---------------------------------------------------------------------------------


async def test_versions_side_by_side_with_the_changes_marked(client) -> None:
    trade = await a_trade()
    offer = await an_offer(trade.listing, trade.buyer, expires_at=EXPIRY.isoformat())
    seller = await actor_of(trade.seller)
    await offers.counter_offer(seller, str(offer.id), terms(royalty_percent="5", term_months=36))
    await offers.counter_offer(
        await actor_of(trade.buyer),
        str(offer.id),
        terms(royalty_percent="5", term_months=48, conditions="Support " + HOSTILE),
    )

    await page_login(client, trade.seller.email)
    html = await page_of(client, f"/offers/{offer.id}")
    assert_well_formed(html)
    assert "Version 1" in html and "Version 2" in html and "Version 3" in html
    rows = version_rows(html)
    assert [text for _, text in rows["Royalty"]] == ["3.5 %", "changed 5 %", "5 %"]
    assert [changed for changed, _ in rows["Royalty"]] == [False, True, False]
    assert [changed for changed, _ in rows["Duration"]] == [False, True, True]
    assert rows["Duration"][2][1] == "changed 48 months"
    assert [changed for changed, _ in rows["Conditions"]] == [False, False, True]
    assert rows["Conditions"][2][1] == "changed Support " + ESCAPED
    for unchanged in ("Licence type", "Territories", "Upfront fee", "Offer expires"):
        assert [changed for changed, _ in rows[unchanged]] == [False, False, False], unchanged
    assert rows["Upfront fee"][0][1] == "50,000.00 USD"
    # Who wrote each version: the buyer, the institute, the buyer.
    heads = re.findall(r'class="version-author">(\w+)', html)
    assert heads == ["Buyer", "Institute", "Buyer"]
    assert HOSTILE not in html


async def test_only_the_buttons_the_state_table_allows(client) -> None:
    trade = await a_trade()
    offer = await an_offer(trade.listing, trade.buyer)

    await page_login(client, trade.seller.email)
    seller_page = await page_of(client, f"/offers/{offer.id}")
    assert offer_buttons(seller_page, offer) == {"accept", "counter", "reject", "messages"}
    assert "Your turn" in seller_page

    await page_login(client, trade.buyer.email)
    buyer_page = await page_of(client, f"/offers/{offer.id}")
    assert offer_buttons(buyer_page, offer) == {"withdraw", "reject", "messages"}
    assert "Waiting for the institute" in buyer_page
    # Not their turn: the counter form refuses, on the offer page, with the reason.
    refused = await client.get(f"/offers/{offer.id}/counter")
    assert refused.status_code == 403 and "turn" in flash_error(refused.text)
    accept = await post_from(client, f"/offers/{offer.id}", f"/offers/{offer.id}/accept")
    assert accept.status_code == 403 and "turn" in flash_error(accept.text)

    await an_admin()
    await page_login(client, "admin@example.org")
    admin_page = await page_of(client, f"/offers/{offer.id}")
    assert offer_buttons(admin_page, offer) == set()
    assert "Optics Institute" in admin_page and "Lens Works Ltd" in admin_page

    # The buyer withdraws through the form; then nothing but the closed offer is left.
    await page_login(client, trade.buyer.email)
    withdrawn = await post_from(client, f"/offers/{offer.id}", f"/offers/{offer.id}/withdraw")
    assert withdrawn.status_code == 303
    assert (await Offer.get(id=offer.id)).state == "withdrawn"
    closed = await page_of(client, f"/offers/{offer.id}")
    assert offer_buttons(closed, offer) == set()
    assert "You withdrew the offer" in closed and "Closed" in closed


async def test_counter_then_accept_through_the_forms(client) -> None:
    trade = await a_trade()
    offer = await an_offer(trade.listing, trade.buyer)

    await page_login(client, trade.seller.email)
    counter_page = await page_of(client, f"/offers/{offer.id}/counter")
    assert_well_formed(counter_page)
    # The form starts from the current terms.
    assert control_value(counter_page, "upfront_fee.amount") == "50000.00"
    assert control_value(counter_page, "royalty_percent") == "3.5"
    assert control_value(counter_page, "term_months") == "60"
    assert control_value(counter_page, "territories") == "WORLD"
    assert control_value(counter_page, "milestones.0.amount") == "10000.00"
    assert control_value(counter_page, "milestones.0.description") == "First commercial sale"
    assert '<option value="non_exclusive" selected>' in counter_page
    assert 'name="message"' not in counter_page

    form = {
        "license_type": "non_exclusive",
        "territories": control_value(counter_page, "territories"),
        "fields_of_use": textarea_value(counter_page, "fields_of_use"),
        "term_months": "60",
        "upfront_fee.amount": "80000",
        "upfront_fee.currency": "USD",
        "royalty_percent": "4",
        "milestones.0.description": "First commercial sale",
        "milestones.0.amount": "10000.00",
        "conditions": "Technical support for six months.",
        "expires_at": control_value(counter_page, "expires_at"),
        "csrf_token": csrf_of(counter_page),
    }
    bad = await client.post(f"/offers/{offer.id}/counter", data={**form, "royalty_percent": "x"})
    assert bad.status_code == 422 and "percentage" in field_error(bad.text, "royalty_percent")
    assert control_value(bad.text, "upfront_fee.amount") == "80000"
    assert (await Offer.get(id=offer.id)).terms_number == 1

    countered = await client.post(f"/offers/{offer.id}/counter", data=form)
    assert countered.status_code == 303, countered.text
    assert countered.headers["location"] == f"/offers/{offer.id}"
    offer = await Offer.get(id=offer.id)
    assert offer.state == "countered" and offer.terms_number == 2
    latest = await OfferTerms.get(offer_id=offer.id, number=2)
    assert (latest.upfront_amount, latest.royalty_percent) == (8_000_000, Decimal("4"))
    assert latest.side == "seller"
    after = await page_of(client, f"/offers/{offer.id}")
    assert "Your counter-offer is sent" in after
    assert offer_buttons(after, offer) == {"reject", "messages"}

    await page_login(client, trade.buyer.email)
    buyer_page = await page_of(client, f"/offers/{offer.id}")
    assert offer_buttons(buyer_page, offer) == {"accept", "counter", "reject", "messages"}
    accepted = await post_from(client, f"/offers/{offer.id}", f"/offers/{offer.id}/accept")
    assert accepted.status_code == 303
    assert (await Offer.get(id=offer.id)).state == "accepted"
    grant = await Grant.get(offer_id=offer.id)
    assert grant.license_type == "non_exclusive"
    done = await page_of(client, f"/offers/{offer.id}")
    assert "You accepted the offer" in done
    assert offer_buttons(done, offer) == {"messages"}

    # A second accept (a stale page, another tab) is a conflict said on the page, not a 500.
    again = await client.post(f"/offers/{offer.id}/accept", data={"csrf_token": csrf_of(done)})
    assert again.status_code == 409
    assert "accepted" in flash_error(again.text)
    assert_well_formed(again.text)


async def test_hostile_text_in_messages_and_reasons_comes_back_escaped(client) -> None:
    trade = await a_trade()
    offer = await an_offer(trade.listing, trade.buyer, conditions="Terms " + HOSTILE)

    await page_login(client, trade.buyer.email)
    sent = await post_from(
        client, f"/offers/{offer.id}", f"/offers/{offer.id}/messages", {"body": "Hi " + HOSTILE}
    )
    assert sent.status_code == 303
    assert sent.headers["location"] == f"/offers/{offer.id}#messages"
    assert (await OfferMessage.get(offer_id=offer.id)).body == "Hi " + HOSTILE
    empty = await post_from(
        client, f"/offers/{offer.id}", f"/offers/{offer.id}/messages", {"body": "  "}
    )
    assert empty.status_code == 422 and field_error(empty.text, "body")
    assert await OfferMessage.filter(offer_id=offer.id).count() == 1

    await page_login(client, trade.seller.email)
    html = await page_of(client, f"/offers/{offer.id}")
    assert "Hi " + ESCAPED in html and "Terms " + ESCAPED in html
    assert HOSTILE not in html
    rejected = await post_from(
        client, f"/offers/{offer.id}", f"/offers/{offer.id}/reject", {"reason": "No " + HOSTILE}
    )
    assert rejected.status_code == 303
    assert (await Offer.get(id=offer.id)).state == "rejected"
    html = await page_of(client, f"/offers/{offer.id}")
    assert "No " + ESCAPED in html and HOSTILE not in html
    # The thread is closed with the offer: no form, and a late message is refused on the page.
    assert f'action="/offers/{offer.id}/messages"' not in html
    late = await client.post(
        f"/offers/{offer.id}/messages", data={"body": "Late", "csrf_token": csrf_of(html)}
    )
    assert late.status_code == 409 and "closed" in flash_error(late.text)
    assert await OfferMessage.filter(offer_id=offer.id).count() == 1


async def test_a_stranger_gets_404_everywhere(client) -> None:
    trade = await a_trade()
    offer = await an_offer(trade.listing, trade.buyer)
    stranger, _ = await a_verified_enterprise()
    await page_login(client, stranger.email)
    token = csrf_of(await page_of(client, "/offers"))
    assert (await client.get(f"/offers/{offer.id}")).status_code == 404
    assert (await client.get(f"/offers/{offer.id}/counter")).status_code == 404
    for action in ("accept", "reject", "withdraw", "counter", "messages"):
        response = await client.post(
            f"/offers/{offer.id}/{action}", data={"csrf_token": token, "body": "hello"}
        )
        assert response.status_code == 404, action
    assert (await Offer.get(id=offer.id)).state == "open"
    assert await OfferMessage.all().count() == 0
    inbox = await page_of(client, "/offers")
    assert trade.listing.title not in inbox
    client.cookies.clear()
    response = await client.get(f"/offers/{offer.id}")
    assert response.status_code == 303 and response.headers["location"].startswith("/login")


# --- the inbox ---------------------------------------------------------------------------------


def count_of(html: str, label: str) -> int:
    match = re.search(rf'>{re.escape(label)} <span class="count">\((\d+)\)</span>', html)
    assert match, f"no count for {label}"
    return int(match.group(1))


async def test_the_inbox_counts_offers_per_state_for_each_side(client) -> None:
    trade = await a_trade(title="Graphene membrane")
    first = await an_offer(trade.listing, trade.buyer)
    second = await an_offer(
        trade.listing, upfront_fee={"amount": 7_000_000, "currency": "EUR"}, milestones=[]
    )
    await offers.reject_offer(await actor_of(trade.seller), str(second.id), "Too low.")
    third = await an_offer(trade.listing)
    await offers.counter_offer(await actor_of(trade.seller), str(third.id), terms())
    # The institute buys too: an offer it made on another institute's listing.
    other = await a_published_listing(title="Solid-state electrolyte")
    await an_offer(other, trade.seller)

    await page_login(client, trade.seller.email)
    nav = await page_of(client, "/dashboard")
    assert 'href="/offers"' in nav
    received = await page_of(client, "/offers")
    assert_well_formed(received)
    assert 'href="/offers?side=seller" aria-current="page"' in received
    assert count_of(received, "All") == 3
    assert count_of(received, "Open") == 1
    assert count_of(received, "Countered") == 1
    assert count_of(received, "Rejected") == 1
    assert count_of(received, "Accepted") == 0
    assert received.count(f'href="/offers/{first.id}"') == 1
    assert "Graphene membrane" in received and "Solid-state electrolyte" not in received
    assert "Lens Works Ltd" in received and "50,000.00 USD" in received
    assert "70,000.00 EUR" in received
    assert "Your turn" in received and "Waiting for the buyer" in received

    rejected_only = await page_of(client, "/offers?side=seller&state=rejected")
    assert f'href="/offers/{second.id}"' in rejected_only
    assert f'href="/offers/{first.id}"' not in rejected_only

    made = await page_of(client, "/offers?side=buyer")
    assert count_of(made, "All") == 1 and count_of(made, "Open") == 1
    assert "Solid-state electrolyte" in made and "Graphene membrane" not in made
    assert "Waiting for the institute" in made

    await page_login(client, trade.buyer.email)
    buyer = await page_of(client, "/offers")
    # An enterprise only buys: no tabs, its offers made.
    assert "side=seller" not in buyer and "Offers made by your organisation" in buyer
    assert count_of(buyer, "All") == 1 and count_of(buyer, "Open") == 1
    assert "Optics Institute" in buyer and "Your turn" not in buyer

    await an_admin()
    await page_login(client, "admin@example.org")
    everything = await page_of(client, "/offers")
    assert count_of(everything, "All") == 4
    assert "side=buyer" not in everything
    assert (await client.get("/offers?state=bogus")).status_code == 422


# --- the listing page's rights -------------------------------------------------------------------


async def test_the_listing_shows_rights_availability_after_an_exclusive_acceptance(
    client,
) -> None:
    trade = await a_trade(license_types=["exclusive", "non_exclusive"], territories=["WORLD"])
    before = await page_of(client, f"/listings/{trade.listing.id}")
    assert "Rights availability" in before and "Available" in before
    assert "No rights have been granted yet." in before

    offer = await an_offer(trade.listing, trade.buyer, license_type="exclusive", territories=["CN"])
    await offers.accept_offer(await actor_of(trade.seller), str(offer.id))

    public = await page_of(client, f"/listings/{trade.listing.id}")
    statuses = dict(re.findall(r"<li>([^<:]+): <span class=\"badge badge-rights-(\w+)\"", public))
    assert statuses == {"Exclusive licence": "partly", "Non-exclusive licence": "partly"}
    assert "Partly taken" in public
    assert "Rights already granted" in public and "China" in public
    # Who holds the grant is for the owner and the administrators only.
    assert "Lens Works Ltd" not in public

    await page_login(client, trade.seller.email)
    owner = await page_of(client, f"/listings/{trade.listing.id}")
    assert "Lens Works Ltd" in owner
    assert_well_formed(owner)
    await an_admin()
    await page_login(client, "admin@example.org")
    assert "Lens Works Ltd" in await page_of(client, f"/listings/{trade.listing.id}")
    another, _ = await a_verified_enterprise()
    await page_login(client, another.email)
    assert "Lens Works Ltd" not in await page_of(client, f"/listings/{trade.listing.id}")

    # An exclusive licence for the whole world takes every licence type.
    world = await a_trade(license_types=["exclusive", "non_exclusive"])
    offer = await an_offer(world.listing, world.buyer, license_type="exclusive")
    await offers.accept_offer(await actor_of(world.seller), str(offer.id))
    taken = await page_of(client, f"/listings/{world.listing.id}")
    statuses = dict(re.findall(r"<li>([^<:]+): <span class=\"badge badge-rights-(\w+)\"", taken))
    assert statuses == {"Exclusive licence": "taken", "Non-exclusive licence": "taken"}


# --- queries -----------------------------------------------------------------------------------


async def test_offer_pages_make_a_fixed_number_of_queries(client, monkeypatch) -> None:
    trade = await a_trade()
    first = await an_offer(trade.listing, trade.buyer)
    seller, buyer = await actor_of(trade.seller), await actor_of(trade.buyer)
    # Non-exclusive grants leave the other offers open; the listing page lists each grant.
    await offers.accept_offer(seller, str((await an_offer(trade.listing)).id))
    await offers.post_message(buyer, str(first.id), MessageIn(body="Hello"))
    counter = QueryCounter(monkeypatch)

    async def measure() -> dict[str, int]:
        await page_login(client, trade.seller.email)
        return {
            "inbox": await counter.during(client.get("/offers")),
            "offer": await counter.during(client.get(f"/offers/{first.id}")),
            "listing": await counter.during(client.get(f"/listings/{trade.listing.id}")),
        }

    few = await measure()
    for n in range(6):
        another = await an_offer(trade.listing, upfront_fee={"amount": 1000 + n, "currency": "USD"})
        if n % 2:
            await offers.accept_offer(seller, str(another.id))
    for n in range(2):
        await offers.counter_offer(seller, str(first.id), terms(royalty_percent=str(5 + n)))
        await offers.post_message(seller, str(first.id), MessageIn(body=f"Seller {n}"))
        await offers.counter_offer(buyer, str(first.id), terms(royalty_percent=str(4 + n)))
        await offers.post_message(buyer, str(first.id), MessageIn(body=f"Buyer {n}"))
    many = await measure()
    assert await OfferTerms.filter(offer_id=first.id).count() == 5
    assert many == few, (few, many)
