"""The offers API end to end through the ASGI app: two organisations negotiating over HTTP, as
their own systems would, with the refusals each wrong request must get."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from contracts.offers import service as offers
from contracts.offers.models import Grant, Offer, OfferMessage, OfferTerms
from listings.models import Listing
from market.accounts import service as accounts
from market.accounts.models import Organization, User
from market.accounts.schemas import TokenIn
from market.audit import AuditEntry
from market.config import get_settings
from market.outbox import OutboxEvent
from tests.builders import (
    a_draft_listing,
    a_published_listing,
    a_user,
    a_verified_enterprise,
    a_verified_institute,
    actor_of,
    an_admin,
    an_offer,
    log_in,
    offer_terms,
)
from tests.listings.test_pages import QueryCounter


async def bearer(user: User) -> dict[str, str]:
    """A personal API token's header: how a portfolio system calls us (no cookie, no CSRF)."""
    _, raw = await accounts.create_api_token(await actor_of(user), TokenIn(name="tests"))
    return {"Authorization": f"Bearer {raw}"}


@dataclass
class Trade:
    listing: Listing
    seller: dict[str, str]
    buyer: dict[str, str]
    seller_org: Organization
    buyer_org: Organization
    seller_user: User
    buyer_user: User


async def a_trade(**listing_overrides: Any) -> Trade:
    """A published listing of a verified institute, and a verified enterprise interested in it."""
    seller_user, seller_org = await a_verified_institute()
    listing = await a_published_listing(seller_user, **listing_overrides)
    buyer_user, buyer_org = await a_verified_enterprise()
    return Trade(
        listing=listing,
        seller=await bearer(seller_user),
        buyer=await bearer(buyer_user),
        seller_org=seller_org,
        buyer_org=buyer_org,
        seller_user=seller_user,
        buyer_user=buyer_user,
    )


async def rows() -> dict[str, int]:
    """Everything a refused request must leave alone, offers to audit trail and outbox."""
    return {
        "offers": await Offer.all().count(),
        "terms": await OfferTerms.all().count(),
        "messages": await OfferMessage.all().count(),
        "grants": await Grant.all().count(),
        "audit": await AuditEntry.all().count(),
        "outbox": await OutboxEvent.all().count(),
    }


def is_utc_iso(value: str) -> bool:
    return datetime.fromisoformat(value).utcoffset() == timedelta(0)


async def make(client, trade: Trade, **overrides: Any):
    return await client.post(
        f"/api/v1/listings/{trade.listing.id}/offers",
        json=offer_terms(**overrides),
        headers=trade.buyer,
    )


# --- a whole negotiation ----------------------------------------------------------------------


async def test_offer_counter_counter_accept_keeps_every_version_in_order(client) -> None:
    trade = await a_trade()
    made = await make(client, trade, message="We would like to license this for Europe.")
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["state"] == "open"
    offer = body["offer"]
    oid = offer["id"]
    assert isinstance(oid, str) and uuid.UUID(oid)
    assert offer["listing"] == {"id": str(trade.listing.id), "title": trade.listing.title}
    assert offer["buyer"] == {"id": str(trade.buyer_org.id), "name": trade.buyer_org.name}
    assert offer["seller"] == {"id": str(trade.seller_org.id), "name": trade.seller_org.name}
    assert offer["closed_reason"] is None and is_utc_iso(offer["expires_at"])
    terms = offer["terms"]
    assert terms["number"] == 1 and terms["side"] == "buyer"
    assert terms["upfront_fee"] == {"amount": 5_000_000, "currency": "USD"}
    assert terms["royalty_percent"] == "3.5"
    assert terms["milestones"] == [
        {"description": "First commercial sale", "amount": {"amount": 1_000_000, "currency": "USD"}}
    ]
    assert terms["territories"] == ["WORLD"] and terms["license_type"] == "non_exclusive"

    seen = (await client.get(f"/api/v1/offers/{oid}", headers=trade.seller)).json()
    assert (seen["state"], seen["turn"], seen["side"]) == ("open", "seller", "seller")
    assert set(seen["actions"]) == {"accept", "counter", "reject", "message"}

    first = await client.post(
        f"/api/v1/offers/{oid}/counter",
        json=offer_terms(royalty_percent="5", upfront_fee={"amount": 8_000_000, "currency": "USD"}),
        headers=trade.seller,
    )
    assert first.status_code == 200, first.text
    assert first.json()["state"] == "countered"
    assert first.json()["offer"]["terms"]["royalty_percent"] == "5"
    second = await client.post(
        f"/api/v1/offers/{oid}/counter",
        json=offer_terms(royalty_percent="4.25", milestones=[]),
        headers=trade.buyer,
    )
    assert second.json()["state"] == "open"
    accepted = await client.post(f"/api/v1/offers/{oid}/accept", headers=trade.seller)
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["state"] == "accepted"
    assert accepted.json()["offer"]["terms"]["number"] == 3

    final = (await client.get(f"/api/v1/offers/{oid}", headers=trade.buyer)).json()
    assert final["state"] == "accepted" and final["turn"] is None
    assert final["contract_id"] is None
    versions = final["versions"]
    assert [v["number"] for v in versions] == [1, 2, 3]
    assert [v["side"] for v in versions] == ["buyer", "seller", "buyer"]
    assert [v["author"]["name"] for v in versions] == [
        trade.buyer_user.name,
        trade.seller_user.name,
        trade.buyer_user.name,
    ]
    assert [v["royalty_percent"] for v in versions] == ["3.5", "5", "4.25"]
    assert [v["upfront_fee"]["amount"] for v in versions] == [5_000_000, 8_000_000, 5_000_000]
    assert versions[2]["milestones"] == []
    assert all(is_utc_iso(v["created_at"]) and is_utc_iso(v["expires_at"]) for v in versions)
    assert [(m["side"], m["body"]) for m in final["messages"]] == [
        ("buyer", "We would like to license this for Europe.")
    ]
    # An accepted offer's thread stays open for the contract's details.
    assert final["actions"] == ["message"]
    assert await Grant.filter(offer_id=oid).count() == 1


async def test_messages_reject_and_withdraw(client) -> None:
    trade = await a_trade()
    oid = (await make(client, trade)).json()["offer"]["id"]
    sent = await client.post(
        f"/api/v1/offers/{oid}/messages",
        json={"body": "Is the pilot data public?"},
        headers=trade.buyer,
    )
    assert sent.status_code == 201, sent.text
    message = sent.json()["message"]
    assert message["side"] == "buyer" and message["body"] == "Is the pilot data public?"
    assert message["author"]["name"] == trade.buyer_user.name and is_utc_iso(message["created_at"])
    reply = await client.post(
        f"/api/v1/offers/{oid}/messages", json={"body": "Yes, on request."}, headers=trade.seller
    )
    assert reply.json()["message"]["side"] == "seller"

    rejected = await client.post(
        f"/api/v1/offers/{oid}/reject", json={"reason": "The fee is too low."}, headers=trade.seller
    )
    assert rejected.json()["state"] == "rejected"
    assert rejected.json()["offer"]["closed_reason"] == "The fee is too low."
    closed = await client.post(
        f"/api/v1/offers/{oid}/messages", json={"body": "Please reconsider."}, headers=trade.buyer
    )
    assert closed.status_code == 409 and closed.json()["error"]["state"] == "rejected"

    # The reason is optional: no body at all rejects too.
    other = (await make(client, trade)).json()["offer"]["id"]
    bare = await client.post(f"/api/v1/offers/{other}/reject", headers=trade.buyer)
    assert bare.status_code == 200 and bare.json()["state"] == "rejected"
    assert bare.json()["offer"]["closed_reason"] is None

    third = (await make(client, trade)).json()["offer"]["id"]
    by_seller = await client.post(f"/api/v1/offers/{third}/withdraw", headers=trade.seller)
    assert by_seller.status_code == 403
    withdrawn = await client.post(f"/api/v1/offers/{third}/withdraw", headers=trade.buyer)
    assert withdrawn.json()["state"] == "withdrawn"


# --- lists ------------------------------------------------------------------------------------


async def test_lists_by_side_and_state_with_counts(client) -> None:
    trade = await a_trade()
    second_listing = await a_published_listing(trade.seller_user, title="A second membrane")
    elsewhere = await a_published_listing()
    ids = [(await make(client, trade)).json()["offer"]["id"] for _ in range(2)]
    on_second = await client.post(
        f"/api/v1/listings/{second_listing.id}/offers", json=offer_terms(), headers=trade.buyer
    )
    foreign = await client.post(
        f"/api/v1/listings/{elsewhere.id}/offers", json=offer_terms(), headers=trade.buyer
    )
    await client.post(f"/api/v1/offers/{ids[0]}/reject", headers=trade.seller)

    received = (await client.get("/api/v1/offers?side=seller", headers=trade.seller)).json()
    assert received["total"] == 3 and received["page"] == 1 and received["per_page"] == 20
    assert foreign.json()["offer"]["id"] not in {o["id"] for o in received["items"]}
    assert received["counts"]["open"] == 2 and received["counts"]["rejected"] == 1
    assert set(received["counts"]) == {
        "open", "countered", "accepted", "rejected", "withdrawn", "expired", "declined", "on_hold"
    }  # fmt: skip
    item = next(o for o in received["items"] if o["id"] == on_second.json()["offer"]["id"])
    assert item["listing"]["title"] == "A second membrane"
    assert item["buyer"]["name"] == trade.buyer_org.name
    assert item["terms"]["upfront_fee"] == {"amount": 5_000_000, "currency": "USD"}

    open_only = (
        await client.get("/api/v1/offers?side=seller&state=open", headers=trade.seller)
    ).json()
    assert open_only["total"] == 2 and {o["state"] for o in open_only["items"]} == {"open"}
    rejected = (
        await client.get("/api/v1/offers?side=seller&state=rejected", headers=trade.seller)
    ).json()
    assert [o["id"] for o in rejected["items"]] == [ids[0]]

    made = (await client.get("/api/v1/offers?side=buyer", headers=trade.buyer)).json()
    assert made["total"] == 4 and made["counts"]["open"] == 3
    none_received = (await client.get("/api/v1/offers?side=seller", headers=trade.buyer)).json()
    assert none_received["total"] == 0 and none_received["items"] == []
    assert sum(none_received["counts"].values()) == 0

    paged = (
        await client.get("/api/v1/offers?side=buyer&page=2&per_page=3", headers=trade.buyer)
    ).json()
    assert (paged["page"], paged["per_page"], paged["total"], len(paged["items"])) == (2, 3, 4, 1)

    for query, field in (
        ("side=both", "side"),
        ("state=haggling", "state"),
        ("per_page=0", "per_page"),
    ):
        bad = await client.get(f"/api/v1/offers?{query}", headers=trade.buyer)
        assert bad.status_code == 422 and field in bad.json()["error"]["fields"], query


async def test_the_list_makes_a_fixed_number_of_queries(client, monkeypatch) -> None:
    trade = await a_trade()
    counter = QueryCounter(monkeypatch)
    await make(client, trade)
    # The seller's token's first use records when it was used (then once every few minutes):
    # not a cost of the list.
    await client.get("/api/v1/me", headers=trade.seller)
    few = await counter.during(client.get("/api/v1/offers?side=seller", headers=trade.seller))
    for _ in range(4):
        oid = (await make(client, trade)).json()["offer"]["id"]
        await client.post(f"/api/v1/offers/{oid}/counter", json=offer_terms(), headers=trade.seller)
    many = await counter.during(client.get("/api/v1/offers?side=seller", headers=trade.seller))
    assert many == few


# --- bad input --------------------------------------------------------------------------------


def _past() -> str:
    return (datetime.now(UTC) - timedelta(days=1)).isoformat()


def _five_years() -> str:
    return (datetime.now(UTC) + timedelta(days=5 * 365)).isoformat()


def fee(amount: Any, currency: str = "USD") -> dict[str, Any]:
    return {"upfront_fee": {"amount": amount, "currency": currency}}


BAD_TERMS = [
    pytest.param(fee(-1), "upfront_fee.amount", id="negative amount"),
    pytest.param(fee(1.5), "upfront_fee.amount", id="fractional amount"),
    pytest.param(fee("100"), "upfront_fee.amount", id="amount as text"),
    pytest.param(fee(100, "XXX"), "upfront_fee.currency", id="currency XXX"),
    pytest.param(fee(100, "ABC"), "upfront_fee.currency", id="currency ABC"),
    pytest.param({"royalty_percent": 101}, "royalty_percent", id="royalty 101"),
    pytest.param({"royalty_percent": -1}, "royalty_percent", id="royalty -1"),
    pytest.param({"royalty_percent": "abc"}, "royalty_percent", id="royalty abc"),
    pytest.param({"royalty_percent": True}, "royalty_percent", id="royalty true"),
    pytest.param({"expires_at": "PAST"}, "expires_at", id="expiry in the past"),
    pytest.param({"expires_at": "FIVE_YEARS"}, "expires_at", id="expiry in five years"),
    pytest.param({"territories": []}, "territories", id="no territories"),
    pytest.param({"territories": ["XX"]}, "territories.0", id="unknown territory"),
    pytest.param({"license_type": "perpetual"}, "license_type", id="unknown licence type"),
    # The listing offers exclusive and non-exclusive licences only.
    pytest.param({"license_type": "assignment"}, "license_type", id="licence the listing lacks"),
    pytest.param({"term_months": 0}, "term_months", id="no term"),
    pytest.param(
        {"milestones": [{"description": "Sale", "amount": {"amount": 5, "currency": "EUR"}}]},
        "milestones",
        id="milestone in another currency",
    ),
]


def _resolve(overrides: dict[str, Any]) -> dict[str, Any]:
    # Times are computed at run time, not at import, so a slow run cannot make them valid.
    times = {"PAST": _past(), "FIVE_YEARS": _five_years()}
    return {k: times.get(v, v) if isinstance(v, str) else v for k, v in overrides.items()}


@pytest.mark.parametrize(("overrides", "field"), BAD_TERMS)
async def test_bad_offers_name_the_field_and_create_nothing(client, overrides, field) -> None:
    trade = await a_trade()
    before = await rows()
    response = await make(client, trade, **_resolve(overrides))
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert field in error["fields"], error
    assert error["fields"][field]
    assert await rows() == before


@pytest.mark.parametrize(("overrides", "field"), BAD_TERMS)
async def test_bad_counters_name_the_field_and_change_nothing(client, overrides, field) -> None:
    trade = await a_trade()
    oid = (await make(client, trade)).json()["offer"]["id"]
    before = await rows()
    response = await client.post(
        f"/api/v1/offers/{oid}/counter",
        json=offer_terms(**_resolve(overrides)),
        headers=trade.seller,
    )
    assert response.status_code == 422, response.text
    assert field in response.json()["error"]["fields"]
    assert await rows() == before
    offer = await Offer.get(id=oid)
    assert (offer.state, offer.terms_number) == ("open", 1)


async def test_missing_fields_are_each_named(client) -> None:
    trade = await a_trade()
    before = await rows()
    for payload in ({}, None):
        kwargs: dict[str, Any] = {"json": payload} if payload is not None else {}
        response = await client.post(
            f"/api/v1/listings/{trade.listing.id}/offers", headers=trade.buyer, **kwargs
        )
        assert response.status_code == 422
        fields = response.json()["error"]["fields"]
        for name in ("license_type", "territories", "term_months", "upfront_fee", "expires_at"):
            assert fields[name] == "This field is required.", fields
    no_body = await client.post(
        f"/api/v1/offers/{uuid.uuid4()}/messages", json={}, headers=trade.buyer
    )
    assert no_body.status_code == 422 and "body" in no_body.json()["error"]["fields"]
    unknown = await make(client, trade, discount="50%")
    assert unknown.status_code == 422 and "discount" in unknown.json()["error"]["fields"]
    not_json = await client.post(
        f"/api/v1/listings/{trade.listing.id}/offers",
        content=b"license_type=exclusive",
        headers={**trade.buyer, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert not_json.status_code == 422 and "body" in not_json.json()["error"]["fields"]
    assert await rows() == before


async def test_hostile_text_comes_back_verbatim_as_json(client) -> None:
    trade = await a_trade()
    script = "<script>alert('x')</script>"
    tag = '"><img src=x onerror=alert(1)> & {{ 7*7 }} \u202e'
    made = await make(client, trade, conditions=script, message=tag)
    assert made.status_code == 201
    oid = made.json()["offer"]["id"]
    posted = await client.post(
        f"/api/v1/offers/{oid}/messages", json={"body": script}, headers=trade.seller
    )
    assert posted.json()["message"]["body"] == script

    shown = await client.get(f"/api/v1/offers/{oid}", headers=trade.seller)
    assert shown.headers["content-type"] == "application/json"
    assert shown.headers["x-content-type-options"] == "nosniff"
    data = shown.json()
    assert data["offer"]["terms"]["conditions"] == script
    assert data["versions"][0]["conditions"] == script
    assert [m["body"] for m in data["messages"]] == [tag, script]


# --- who may do what --------------------------------------------------------------------------


async def test_no_offer_on_ones_own_listing(client) -> None:
    trade = await a_trade()
    before = await rows()
    own = await client.post(
        f"/api/v1/listings/{trade.listing.id}/offers", json=offer_terms(), headers=trade.seller
    )
    assert own.status_code == 403 and "own" in own.json()["error"]["message"]
    assert await rows() == before


async def test_a_draft_listing_takes_no_offer_and_does_not_exist_to_a_stranger(client) -> None:
    trade = await a_trade()
    draft = await a_draft_listing(trade.seller_user)
    before = await rows()
    response = await client.post(
        f"/api/v1/listings/{draft.id}/offers", json=offer_terms(), headers=trade.buyer
    )
    nowhere = await client.post(
        f"/api/v1/listings/{uuid.uuid4()}/offers", json=offer_terms(), headers=trade.buyer
    )
    assert response.status_code == 404
    assert response.json() == nowhere.json()
    assert await rows() == before


async def test_an_unverified_or_platform_organisation_makes_no_offer(client) -> None:
    trade = await a_trade()
    pending, _ = await a_user(organization={"kind": "enterprise", "name": "Pending GmbH"})
    callers = [await bearer(pending), await bearer(await an_admin())]
    before = await rows()
    for headers in callers:
        response = await client.post(
            f"/api/v1/listings/{trade.listing.id}/offers", json=offer_terms(), headers=headers
        )
        assert response.status_code == 403, response.text
    assert await rows() == before


async def test_acting_out_of_turn_is_refused(client) -> None:
    trade = await a_trade()
    oid = (await make(client, trade)).json()["offer"]["id"]
    before = await rows()
    for headers, path, payload in (
        (trade.buyer, "accept", None),
        (trade.buyer, "counter", offer_terms()),
    ):
        refused = await client.post(f"/api/v1/offers/{oid}/{path}", json=payload, headers=headers)
        assert refused.status_code == 403, refused.text
        assert "turn" in refused.json()["error"]["message"]
    assert await rows() == before

    await client.post(f"/api/v1/offers/{oid}/counter", json=offer_terms(), headers=trade.seller)
    before = await rows()
    for path, payload in (("accept", None), ("counter", offer_terms())):
        refused = await client.post(
            f"/api/v1/offers/{oid}/{path}", json=payload, headers=trade.seller
        )
        assert refused.status_code == 403 and "turn" in refused.json()["error"]["message"]
    assert await rows() == before
    offer = await Offer.get(id=oid)
    assert (offer.state, offer.terms_number) == ("countered", 2)


async def test_a_closed_offer_answers_409_with_its_state(client) -> None:
    trade = await a_trade()
    oid = (await make(client, trade)).json()["offer"]["id"]
    assert (
        await client.post(f"/api/v1/offers/{oid}/accept", headers=trade.seller)
    ).status_code == 200
    before = await rows()
    for headers, path in (
        (trade.seller, "accept"),
        (trade.seller, "reject"),
        (trade.buyer, "withdraw"),
    ):
        again = await client.post(f"/api/v1/offers/{oid}/{path}", headers=headers)
        assert again.status_code == 409, (path, again.text)
        error = again.json()["error"]
        assert error["code"] == "conflict" and error["state"] == "accepted"
    countered = await client.post(
        f"/api/v1/offers/{oid}/counter", json=offer_terms(), headers=trade.seller
    )
    assert countered.status_code == 409 and countered.json()["error"]["state"] == "accepted"
    assert await rows() == before


async def test_an_exclusive_accepted_again_answers_409_with_its_state(client) -> None:
    trade = await a_trade()
    oid = (await make(client, trade, license_type="exclusive")).json()["offer"]["id"]
    await client.post(f"/api/v1/offers/{oid}/accept", headers=trade.seller)
    before = await rows()
    again = await client.post(f"/api/v1/offers/{oid}/accept", headers=trade.seller)
    assert again.status_code == 409 and again.json()["error"]["state"] == "accepted"
    assert await rows() == before


async def test_a_stranger_gets_the_same_404_as_for_no_offer_at_all(client) -> None:
    trade = await a_trade()
    oid = (await make(client, trade)).json()["offer"]["id"]
    stranger, _ = await a_verified_enterprise()
    rival, _ = await a_verified_institute()
    callers = [await bearer(stranger), await bearer(rival)]
    before = await rows()
    for headers in callers:
        for target in (oid, str(uuid.uuid4()), "not-an-id"):
            responses = [
                await client.get(f"/api/v1/offers/{target}", headers=headers),
                await client.post(f"/api/v1/offers/{target}/accept", headers=headers),
                await client.post(f"/api/v1/offers/{target}/reject", headers=headers),
                await client.post(
                    f"/api/v1/offers/{target}/counter", json=offer_terms(), headers=headers
                ),
                await client.post(
                    f"/api/v1/offers/{target}/messages", json={"body": "hi"}, headers=headers
                ),
            ]
            for response in responses:
                assert response.status_code == 404, (target, response.text)
                assert response.json() == {
                    "error": {"code": "not_found", "message": "No such offer."}
                }
        listed = (await client.get("/api/v1/offers", headers=headers)).json()
        assert listed["total"] == 0
    assert await rows() == before


async def test_an_admin_reads_every_offer_but_cannot_act_on_one(client) -> None:
    trade = await a_trade()
    oid = (await make(client, trade)).json()["offer"]["id"]
    admin = await bearer(await an_admin())
    shown = await client.get(f"/api/v1/offers/{oid}", headers=admin)
    assert shown.status_code == 200
    assert shown.json()["actions"] == [] and shown.json()["side"] is None
    everything = (await client.get("/api/v1/offers", headers=admin)).json()
    assert [o["id"] for o in everything["items"]] == [oid]
    before = await rows()
    for path, payload in (
        ("accept", None),
        ("reject", None),
        ("counter", offer_terms()),
        ("messages", {"body": "Admin here."}),
    ):
        refused = await client.post(f"/api/v1/offers/{oid}/{path}", json=payload, headers=admin)
        assert refused.status_code == 403, (path, refused.text)
    assert await rows() == before
    assert (await Offer.get(id=oid)).state == "open"


async def test_anonymous_callers_are_asked_to_log_in(client) -> None:
    trade = await a_trade()
    oid = (await make(client, trade)).json()["offer"]["id"]
    before = await rows()
    assert (await client.get("/api/v1/offers")).status_code == 401
    assert (await client.get(f"/api/v1/offers/{oid}")).status_code == 401
    anonymous = await client.post(f"/api/v1/listings/{trade.listing.id}/offers", json=offer_terms())
    assert anonymous.status_code == 401
    assert (await client.post(f"/api/v1/offers/{oid}/accept")).status_code == 401
    assert await rows() == before


async def test_cookie_sessions_need_the_csrf_header_to_write(client) -> None:
    trade = await a_trade()
    csrf = await log_in(client, trade.buyer_user.email)
    path = f"/api/v1/listings/{trade.listing.id}/offers"
    before = await rows()
    for headers in ({}, {"X-CSRF-Token": "forged"}):
        refused = await client.post(path, json=offer_terms(), headers=headers)
        assert refused.status_code == 403
        assert "X-CSRF-Token" in refused.json()["error"]["message"]
    assert await rows() == before

    made = await client.post(path, json=offer_terms(), headers={"X-CSRF-Token": csrf})
    assert made.status_code == 201, made.text
    oid = made.json()["offer"]["id"]
    # Reading needs no token; every write on the offer does.
    assert (await client.get(f"/api/v1/offers/{oid}")).status_code == 200
    before = await rows()
    for action, payload in (("messages", {"body": "hello"}), ("withdraw", None)):
        refused = await client.post(f"/api/v1/offers/{oid}/{action}", json=payload)
        assert refused.status_code == 403
    assert await rows() == before
    withdrawn = await client.post(f"/api/v1/offers/{oid}/withdraw", headers={"X-CSRF-Token": csrf})
    assert withdrawn.json()["state"] == "withdrawn"


# --- rate limits ------------------------------------------------------------------------------


@pytest.fixture
def limits(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Two offers and two messages an hour, set on the one settings object the services read
    (get_settings() is cached and shared with the other fixtures, so it is patched, never
    replaced)."""
    settings = get_settings()
    monkeypatch.setattr(settings, "offer_limit_per_hour", 2)
    monkeypatch.setattr(settings, "message_limit_per_hour", 2)
    yield


async def test_too_many_offers_get_429_with_retry_after(client, limits) -> None:
    trade = await a_trade()
    first = await make(client, trade)
    second = await make(client, trade)
    assert (first.status_code, second.status_code) == (201, 201)
    before = await rows()
    third = await make(client, trade)
    assert third.status_code == 429, third.text
    error = third.json()["error"]
    assert error["code"] == "too_many_requests"
    assert "2 offers and counter-offers in the last hour" in error["message"]
    assert "Try again in 60 minutes" in error["message"]
    assert 3500 < int(third.headers["retry-after"]) <= 3600
    assert await rows() == before

    # A counter-offer is a new version of terms too, so it counts against the same limit.
    oid = first.json()["offer"]["id"]
    await client.post(f"/api/v1/offers/{oid}/counter", json=offer_terms(), headers=trade.seller)
    counter = await client.post(
        f"/api/v1/offers/{oid}/counter", json=offer_terms(), headers=trade.buyer
    )
    assert counter.status_code == 429 and counter.headers["retry-after"]
    assert (await Offer.get(id=oid)).terms_number == 2


async def test_too_many_messages_get_429_with_retry_after(client, limits) -> None:
    trade = await a_trade()
    offer = await an_offer(trade.listing, trade.buyer_user)
    path = f"/api/v1/offers/{offer.id}/messages"
    for n in range(2):
        sent = await client.post(path, json={"body": f"Question {n}"}, headers=trade.buyer)
        assert sent.status_code == 201
    before = await rows()
    refused = await client.post(path, json={"body": "One more"}, headers=trade.buyer)
    assert refused.status_code == 429
    assert "2 messages in the last hour" in refused.json()["error"]["message"]
    assert int(refused.headers["retry-after"]) > 0
    assert await rows() == before
    # The limit is per person: the other side may still answer.
    answer = await client.post(path, json={"body": "Answers"}, headers=trade.seller)
    assert answer.status_code == 201


async def test_a_burst_of_offers_passes_exactly_the_limit(client, monkeypatch) -> None:
    """Fired together: a count read before the offer is written let a burst through."""
    monkeypatch.setattr(get_settings(), "offer_limit_per_hour", 5)
    trade = await a_trade()
    answers = await asyncio.gather(*(make(client, trade) for _ in range(40)))
    assert Counter(a.status_code for a in answers) == {201: 5, 429: 35}
    assert all(int(a.headers["retry-after"]) > 0 for a in answers if a.status_code == 429)
    assert await Offer.filter(buyer_id=trade.buyer_org.id).count() == 5
    assert await OfferTerms.filter(author_id=trade.buyer_user.id).count() == 5


async def test_a_burst_of_messages_passes_exactly_the_limit(client, monkeypatch) -> None:
    monkeypatch.setattr(get_settings(), "message_limit_per_hour", 5)
    trade = await a_trade()
    offer = await an_offer(trade.listing, trade.buyer_user)
    path = f"/api/v1/offers/{offer.id}/messages"
    answers = await asyncio.gather(
        *(client.post(path, json={"body": f"Question {n}"}, headers=trade.buyer) for n in range(40))
    )
    assert Counter(a.status_code for a in answers) == {201: 5, 429: 35}
    assert await OfferMessage.filter(author_id=trade.buyer_user.id).count() == 5


async def test_a_refused_offer_does_not_use_up_the_limit(client, limits) -> None:
    """The count is taken in the offer's own transaction: an offer refused after it (here a
    right already granted, found inside the transaction) gives it back."""
    trade = await a_trade()
    rival_user, _ = await a_verified_enterprise()
    rival = await an_offer(trade.listing, rival_user, license_type="exclusive", territories=["CN"])
    await offers.accept_offer(await actor_of(trade.seller_user), str(rival.id))
    for _ in range(3):
        refused = await make(client, trade, license_type="exclusive", territories=["CN"])
        assert refused.status_code == 409, refused.text
    made = await make(client, trade, license_type="non_exclusive", territories=["DE"])
    assert made.status_code == 201, made.text


# --- the OpenAPI document ---------------------------------------------------------------------


async def test_the_openapi_document_lists_the_offer_endpoints(client) -> None:
    document = (await client.get("/api/v1/openapi.json")).json()
    paths = document["paths"]
    expected = {
        "/api/v1/listings/{listing_id}/offers": {"post": "OfferIn"},
        "/api/v1/offers": {"get": None},
        "/api/v1/offers/{offer_id}": {"get": None},
        "/api/v1/offers/{offer_id}/counter": {"post": "OfferTermsIn"},
        "/api/v1/offers/{offer_id}/accept": {"post": None},
        "/api/v1/offers/{offer_id}/reject": {"post": "RejectIn"},
        "/api/v1/offers/{offer_id}/withdraw": {"post": None},
        "/api/v1/offers/{offer_id}/messages": {"post": "MessageIn"},
    }
    for path, methods in expected.items():
        for method, schema in methods.items():
            operation = paths[path][method]
            assert operation["tags"] == ["offers"] and operation["security"]
            if schema:
                ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
                assert ref == f"#/components/schemas/{schema}"
    assert paths["/api/v1/listings/{listing_id}/offers"]["post"]["responses"]["201"]
    listed = {p["name"] for p in paths["/api/v1/offers"]["get"]["parameters"]}
    assert {"side", "state", "page", "per_page"} <= listed
    components = document["components"]["schemas"]
    assert {"OfferIn", "OfferTermsIn", "Milestone", "Money", "MessageIn"} <= set(components)
    # The admin endpoints' reason (required) is not overwritten by the optional one here.
    assert components["ReasonIn"]["required"] == ["reason"]
