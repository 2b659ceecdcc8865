"""The payment pages end to end: real PostgreSQL, localstripe for cards, the ASGI app through
httpx, no mocks. The buyer pays through the forms a person would use; the administrator
confirms transfers, refunds and records payouts from the admin pages."""

from __future__ import annotations

import re
import uuid
from typing import Any
from urllib.parse import urlsplit

import httpx

from contracts.agreements.models import Contract
from contracts.payments import gateway, ledger
from contracts.payments import service as payments
from contracts.payments.models import LedgerTransaction, Payment, Payout, Refund
from market.config import Settings
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
from tests.contracts.stripe_support import set_up_card
from tests.html import Page
from tests.listings.test_pages import (
    assert_well_formed,
    control_value,
    csrf_of,
    field_error,
    page_login,
    textarea_value,
)

HOSTILE = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
GOOD_CARD = "4242424242424242"


async def a_contract_to_pay() -> Contract:
    """A contract awaiting its upfront fee, whose listing title is markup."""
    seller, _ = await a_verified_institute()
    listing = await a_published_listing(seller, title="Membranes " + HOSTILE)
    buyer, _ = await a_verified_enterprise()
    return await a_contract("awaiting_payment", offer=await an_accepted_offer(listing, buyer))


async def as_buyer(client: httpx.AsyncClient, contract: Contract) -> None:
    _, buyer = await signatories(contract)
    await page_login(client, buyer.user.email)


async def as_admin(client: httpx.AsyncClient) -> None:
    await page_login(client, (await an_admin()).email)


async def choose(client: httpx.AsyncClient, contract: Contract, method: str) -> httpx.Response:
    html = (await client.get(f"/contracts/{contract.id}/pay")).text
    return await client.post(
        f"/contracts/{contract.id}/pay",
        data={"csrf_token": csrf_of(html), "item": "upfront", "method": method},
    )


async def a_transfer(client: httpx.AsyncClient, contract: Contract) -> Payment:
    """The buyer chooses bank transfer through the page."""
    await as_buyer(client, contract)
    response = await choose(client, contract, "bank_transfer")
    assert response.status_code == 303, response.text
    return await Payment.get(contract_id=contract.id, item="upfront")


async def a_paid_transfer(client: httpx.AsyncClient, contract: Contract) -> Payment:
    payment = await a_transfer(client, contract)
    admin = await actor_of(await an_admin())
    return await payments.confirm_transfer(admin, str(payment.id), "BANK-2025-0001")


def money(amount: int, currency: str = "USD") -> str:
    return payments.Money(amount=amount, currency=currency).format()


def form_to(html: str, action: str) -> dict[str, Any] | None:
    found = [f for f in Page(html).forms if f.get("action") == action]
    return found[0] if found else None


async def snapshot(payment_id: Any) -> dict[str, Any]:
    """What a refused request must leave as it was."""
    return {
        "payment": await Payment.filter(id=payment_id).values(),
        "refunds": await Refund.filter(payment_id=payment_id).values_list("amount", "state"),
        "transactions": await LedgerTransaction.all().count(),
        "payouts": await Payout.all().count(),
    }


# --- the buyer --------------------------------------------------------------------------------


async def test_the_buyer_pays_by_bank_transfer_and_reads_the_details(
    client, settings: Settings
) -> None:
    contract = await a_contract_to_pay()
    await as_buyer(client, contract)

    # The contract page says a payment is due and leads to the pay page.
    page = await client.get(f"/contracts/{contract.id}")
    assert f"/contracts/{contract.id}/pay" in Page(page.text).links

    response = await client.get(f"/contracts/{contract.id}/pay")
    assert response.status_code == 200
    html = response.text
    assert_well_formed(html)
    assert HOSTILE not in html and ESCAPED in html
    assert money(contract.amount_due) in html
    form = form_to(html, f"/contracts/{contract.id}/pay")
    assert form is not None and form["method"] == "post"
    [item] = [i for i in form["inputs"] if i.get("name") == "item"]
    assert item["type"] == "hidden" and item["value"] == "upfront"
    methods = [i for i in form["inputs"] if i.get("name") == "method"]
    assert {i["value"] for i in methods} == {"card", "bank_transfer"}
    assert all(i["type"] == "radio" and "required" in i for i in methods)

    response = await choose(client, contract, "bank_transfer")
    assert response.status_code == 303
    payment = await Payment.get(contract_id=contract.id)
    assert response.headers["location"] == f"/payments/{payment.id}"
    assert payment.method == "bank_transfer" and payment.state == "pending"

    shown = await client.get(f"/payments/{payment.id}")
    assert shown.status_code == 200
    html = shown.text
    assert_well_formed(html)
    assert settings.bank_iban in html and settings.bank_bic in html
    assert payment.reference in html and money(payment.amount) in html
    assert "An administrator confirms receipt" in html
    assert "card-form" not in html and "receipt.pdf" not in html
    # Not paid yet: the receipt is refused, and the contract page lists the payment.
    assert (await client.get(f"/payments/{payment.id}/receipt.pdf")).status_code == 409
    contract_page = (await client.get(f"/contracts/{contract.id}")).text
    assert f"/payments/{payment.id}" in Page(contract_page).links


async def test_choosing_card_shows_the_stripe_form_and_the_card_is_confirmed(
    client, settings: Settings
) -> None:
    contract = await a_contract_to_pay()
    await as_buyer(client, contract)
    response = await choose(client, contract, "card")
    assert response.status_code == 303
    payment = await Payment.get(contract_id=contract.id)
    assert response.headers["location"] == f"/payments/{payment.id}" and payment.method == "card"

    shown = await client.get(f"/payments/{payment.id}")
    assert shown.status_code == 200
    html = shown.text
    assert HOSTILE not in html
    [stripe_js] = re.findall(r'<script src="([^"]+)" defer></script>', html)[:1]
    assert stripe_js == settings.stripe_js_url
    assert '<script src="/static/js/pay.js" defer></script>' in html
    [form] = [f for f in Page(html).forms if f.get("id") == "card-form"]
    assert form["data-publishable-key"] == settings.stripe_publishable_key
    assert form["data-setup-url"] == f"/payments/{payment.id}/setup"
    assert form["data-confirm-url"] == f"/payments/{payment.id}/confirm"
    assert form["data-csrf-token"] == csrf_of(html)
    assert 'id="card-element"' in html
    # Only this page lets Stripe.js (from where the settings say) run and call home.
    parts = urlsplit(settings.stripe_js_url)
    policy = shown.headers["content-security-policy"]
    assert f"script-src 'self' {parts.scheme}://{parts.netloc}" in policy
    other = (await client.get(f"/contracts/{contract.id}/pay")).headers
    assert other["content-security-policy"].startswith("default-src 'self'")
    assert parts.netloc not in other["content-security-policy"]

    # What pay.js does when the buyer pays: asks us for a SetupIntent (a POST with the CSRF
    # header; without it, refused), has Stripe.js set the card up with it, then confirms.
    refused = await client.post(form["data-setup-url"], json={})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    setup = await client.post(
        form["data-setup-url"], json={}, headers={"X-CSRF-Token": form["data-csrf-token"]}
    )
    assert setup.status_code == 200, setup.text
    secret = setup.json()["setup_client_secret"]
    assert re.fullmatch(r"seti_\w+_secret_\w+", secret)
    card = await set_up_card(settings, secret, GOOD_CARD)
    url = f"/payments/{payment.id}/confirm"
    refused = await client.post(url, json={"payment_method": card})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    assert (await Payment.get(id=payment.id)).state == "pending"
    answer = await client.post(
        url, json={"payment_method": card}, headers={"X-CSRF-Token": form["data-csrf-token"]}
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["state"] == "processing" and answer.json()["requires_action"] is False
    # Processing: no card form any more, and a way to look again.
    html = (await client.get(f"/payments/{payment.id}")).text
    assert "card-form" not in html and "Processing" in html
    assert f"/payments/{payment.id}" in Page(html).links


async def test_the_seller_sees_the_status_but_no_card_form(client) -> None:
    contract = await a_contract_to_pay()
    _, buyer = await signatories(contract)
    started = await payments.start_payment(buyer, str(contract.id), "card")
    seller, _ = await signatories(contract)
    await page_login(client, seller.user.email)

    response = await client.get(f"/payments/{started.payment.id}")
    assert response.status_code == 200
    html = response.text
    assert_well_formed(html)  # no script at all: the card form is the buyer's
    assert "Not paid yet" in html and started.payment.reference in html
    assert "card-form" not in html and "IBAN" not in html
    # Not the payer: the pay page shows what is owed without a form, and paying is refused.
    pay_page = await client.get(f"/contracts/{contract.id}/pay")
    assert pay_page.status_code == 200
    assert form_to(pay_page.text, f"/contracts/{contract.id}/pay") is None
    refused = await client.post(
        f"/contracts/{contract.id}/pay",
        data={"csrf_token": csrf_of(pay_page.text), "item": "upfront", "method": "bank_transfer"},
    )
    assert refused.status_code == 403 and "Only the buyer pays" in refused.text
    assert (await Payment.get(id=started.payment.id)).method == "card"


async def test_a_stranger_gets_404_as_for_a_payment_that_does_not_exist(client) -> None:
    contract = await a_contract_to_pay()
    _, buyer = await signatories(contract)
    started = await payments.start_payment(buyer, str(contract.id), "bank_transfer")
    stranger, _ = await a_verified_enterprise()
    await page_login(client, stranger.email)

    for pid in (started.payment.id, uuid.uuid4()):
        for path in ("", "/receipt.pdf"):
            response = await client.get(f"/payments/{pid}{path}")
            assert response.status_code == 404, (pid, path)
            assert started.payment.reference not in response.text
    for cid in (contract.id, uuid.uuid4()):
        response = await client.get(f"/contracts/{cid}/pay")
        assert response.status_code == 404, cid
        assert contract.reference not in response.text
    token = csrf_of((await client.get("/contracts")).text)
    response = await client.post(
        f"/contracts/{contract.id}/pay",
        data={"csrf_token": token, "item": "upfront", "method": "card"},
    )
    assert response.status_code == 404
    assert (await Payment.get(id=started.payment.id)).method == "bank_transfer"


async def test_without_the_csrf_token_nothing_is_created(client) -> None:
    contract = await a_contract_to_pay()
    await as_buyer(client, contract)
    response = await client.post(
        f"/contracts/{contract.id}/pay", data={"item": "upfront", "method": "bank_transfer"}
    )
    assert response.status_code == 403
    response = await client.post(
        f"/contracts/{contract.id}/pay",
        data={"csrf_token": "forged", "item": "upfront", "method": "bank_transfer"},
    )
    assert response.status_code == 403
    assert await Payment.filter(contract_id=contract.id).count() == 0


async def test_a_bad_choice_comes_back_on_its_form(client) -> None:
    contract = await a_contract_to_pay()
    await as_buyer(client, contract)
    html = (await client.get(f"/contracts/{contract.id}/pay")).text
    response = await client.post(
        f"/contracts/{contract.id}/pay",
        data={"csrf_token": csrf_of(html), "item": "upfront", "method": "cash"},
    )
    assert response.status_code == 422
    assert_well_formed(response.text)
    assert "Choose card or bank_transfer" in field_error(response.text, "method-upfront")
    assert await Payment.filter(contract_id=contract.id).count() == 0


# --- the administrator ----------------------------------------------------------------------------


async def test_the_admin_confirms_a_transfer_once_and_the_institute_is_owed(client) -> None:
    contract = await a_contract_to_pay()
    payment = await a_transfer(client, contract)
    await as_admin(client)

    listing = await client.get("/admin/payments")
    assert listing.status_code == 200
    assert_well_formed(listing.text)
    assert f"/admin/payments/{payment.id}" in Page(listing.text).links
    assert 'href="/admin/ledger"' in listing.text  # in the administrators' navigation
    pending = (await client.get("/admin/payments?state=pending")).text
    assert payment.reference in pending
    assert payment.reference not in (await client.get("/admin/payments?state=succeeded")).text

    page = await client.get(f"/admin/payments/{payment.id}")
    assert page.status_code == 200
    html = page.text
    assert_well_formed(html)
    action = f"/admin/payments/{payment.id}/confirm-transfer"
    assert form_to(html, action) is not None
    assert form_to(html, f"/admin/payments/{payment.id}/refund") is None  # not paid yet

    # A reference that is no bank's comes back on its field, with what was typed.
    before = await snapshot(payment.id)
    bad = await client.post(action, data={"csrf_token": csrf_of(html), "reference": "#"})
    assert bad.status_code == 422
    assert field_error(bad.text, "reference") and control_value(bad.text, "reference") == "#"
    assert await snapshot(payment.id) == before

    done = await client.post(action, data={"csrf_token": csrf_of(html), "reference": "BANK 42/7"})
    assert done.status_code == 303 and done.headers["location"] == f"/admin/payments/{payment.id}"
    paid = await Payment.get(id=payment.id)
    assert paid.state == "succeeded" and paid.bank_reference == "BANK 42/7"
    assert (await Contract.get(id=contract.id)).state == "active"
    html = (await client.get(f"/admin/payments/{payment.id}")).text
    assert "is confirmed" in html and form_to(html, action) is None

    # The ledger: the institute is owed the payment less the platform's 5%.
    owed = paid.amount - paid.amount * 5 // 100
    assert await ledger.owed_to(contract.seller_id, paid.currency) == owed
    ledger_page = await client.get("/admin/ledger")
    assert ledger_page.status_code == 200
    assert_well_formed(ledger_page.text)
    seller = await contract.seller
    row = re.search(
        rf"<th scope=\"row\">{re.escape(seller.name)}</th>\s*<td class=\"owed-amount\">([^<]+)<",
        ledger_page.text,
    )
    assert row and row.group(1) == money(owed)
    assert paid.reference in ledger_page.text  # the transaction's memo

    # Confirming again is refused on the page, and changes nothing.
    before = await snapshot(payment.id)
    again = await client.post(action, data={"csrf_token": csrf_of(html), "reference": "BANK 42/8"})
    assert again.status_code == 409
    assert "Cannot confirm transfer" in again.text
    assert await snapshot(payment.id) == before


async def test_refunds_never_exceed_what_was_paid_and_reasons_stay_text(client) -> None:
    contract = await a_contract_to_pay()
    paid = await a_paid_transfer(client, contract)
    await as_admin(client)
    html = (await client.get(f"/admin/payments/{paid.id}")).text
    action = f"/admin/payments/{paid.id}/refund"
    assert form_to(html, action) is not None
    token = csrf_of(html)

    before = await snapshot(paid.id)
    too_much = f"{paid.amount / 100 + 0.01:.2f}"
    for amount, words in ((too_much, "can still be refunded"), ("12,34", "Enter a number")):
        response = await client.post(
            action, data={"csrf_token": token, "amount": amount, "reason": "Duplicate " + HOSTILE}
        )
        assert response.status_code == 422, amount
        assert words in field_error(response.text, "amount")
        assert control_value(response.text, "amount") == amount
        assert textarea_value(response.text, "reason") == "Duplicate " + ESCAPED
        assert HOSTILE not in response.text
        assert await snapshot(paid.id) == before
    # Finer than a cent is refused, never rounded.
    response = await client.post(
        action, data={"csrf_token": token, "amount": "1.005", "reason": "Duplicate"}
    )
    assert response.status_code == 422 and "decimal places" in field_error(response.text, "amount")

    done = await client.post(
        action, data={"csrf_token": token, "amount": "1,000.50", "reason": "Duplicate " + HOSTILE}
    )
    assert done.status_code == 303
    [refund] = await Refund.filter(payment_id=paid.id)
    assert refund.amount == 100050 and refund.state == "succeeded"
    assert refund.reason == "Duplicate " + HOSTILE
    assert (await Payment.get(id=paid.id)).state == "partially_refunded"
    html = (await client.get(f"/admin/payments/{paid.id}")).text
    assert "Duplicate " + ESCAPED in html and HOSTILE not in html
    assert money(100050) in html
    # The parties see it too, escaped.
    await as_buyer(client, contract)
    html = (await client.get(f"/payments/{paid.id}")).text
    assert "Duplicate " + ESCAPED in html and HOSTILE not in html
    assert "Partly refunded" in html


async def test_a_payout_is_recorded_and_the_owed_amount_drops(client) -> None:
    contract = await a_contract_to_pay()
    paid = await a_paid_transfer(client, contract)
    owed = await ledger.owed_to(contract.seller_id, paid.currency)
    await as_admin(client)
    html = (await client.get("/admin/ledger")).text
    row = f"{contract.seller_id}-{paid.currency}"
    assert control_value(html, "amount") == f"{owed / 100:.2f}"  # offered in full
    token = csrf_of(html)
    data = {"csrf_token": token, "organization": str(contract.seller_id), "currency": "USD"}

    before = await snapshot(paid.id)
    more = f"{owed / 100 + 1:.2f}"
    response = await client.post(
        "/admin/payouts", data={**data, "amount": more, "reference": "PO-1"}
    )
    assert response.status_code == 422
    assert "is owed" in field_error(response.text, f"payout-amount-{row}")
    assert control_value(response.text, "reference") == "PO-1"
    assert await snapshot(paid.id) == before

    response = await client.post(
        "/admin/payouts", data={**data, "amount": "10,000.00", "reference": "PO-1"}
    )
    assert response.status_code == 303 and response.headers["location"] == "/admin/ledger"
    assert await ledger.owed_to(contract.seller_id, paid.currency) == owed - 1_000_000
    [payout] = await Payout.all()
    assert payout.amount == 1_000_000 and payout.reference == "PO-1"
    html = (await client.get("/admin/ledger")).text
    assert money(owed - 1_000_000) in html and "Payout PO-1" in html
    assert await ledger.unbalanced_transactions() == []


async def test_only_administrators_reach_the_admin_pages(client) -> None:
    contract = await a_contract_to_pay()
    payment = await a_transfer(client, contract)  # logged in as the buyer's owner
    for path in ("/admin/ledger", "/admin/payments", f"/admin/payments/{payment.id}"):
        response = await client.get(path)
        assert response.status_code == 403, path
        assert "IBAN" not in response.text
    token = csrf_of((await client.get(f"/payments/{payment.id}")).text)
    before = await snapshot(payment.id)
    response = await client.post(
        f"/admin/payments/{payment.id}/confirm-transfer",
        data={"csrf_token": token, "reference": "BANK 1"},
    )
    assert response.status_code == 403
    response = await client.post(
        "/admin/payouts",
        data={
            "csrf_token": token,
            "organization": str(contract.seller_id),
            "currency": "USD",
            "amount": "1",
            "reference": "PO-9",
        },
    )
    assert response.status_code == 403
    assert await snapshot(payment.id) == before
    html = (await client.get("/")).text
    assert 'href="/admin/ledger"' not in html


async def test_the_pages_speak_chinese(client) -> None:
    contract = await a_contract_to_pay()
    payment = await a_transfer(client, contract)
    client.cookies.set("tm_lang", "zh")
    html = (await client.get(f"/payments/{payment.id}")).text
    assert "银行转账" in html and "未付款" in html
    assert "选择其他付款方式" in html


async def made_at_stripe(payment_id: Any) -> tuple[int, int]:
    """PaymentIntents and SetupIntents at localstripe made for one payment (every page of the
    stripe SDK's list calls)."""
    counts = []
    stripe = gateway.client().v1
    for listing in (stripe.payment_intents, stripe.setup_intents):
        found, after = 0, None
        while True:
            params: dict[str, Any] = {"limit": 100, **({"starting_after": after} if after else {})}
            page = await listing.list_async(params)  # type: ignore[attr-defined]
            found += sum(
                1 for i in page.data if i.to_dict()["metadata"].get("payment_id") == str(payment_id)
            )
            if not page.has_more or not page.data:
                break
            after = page.data[-1].id
        counts.append(found)
    return counts[0], counts[1]


async def test_viewing_the_payment_pages_creates_nothing_at_stripe(client) -> None:
    contract = await a_contract_to_pay()
    await as_buyer(client, contract)
    assert (await choose(client, contract, "card")).status_code == 303
    payment = await Payment.get(contract_id=contract.id)
    # Choosing to pay (a POST) made the payment's intent and a SetupIntent.
    made = await made_at_stripe(payment.id)
    assert made == (1, 1)

    for _ in range(5):
        shown = await client.get(f"/payments/{payment.id}")
        assert shown.status_code == 200 and 'id="card-form"' in shown.text
        assert (await client.get(f"/contracts/{contract.id}/pay")).status_code == 200
        assert (await client.get(f"/api/v1/payments/{payment.id}")).status_code == 200
    assert await made_at_stripe(payment.id) == made

    # The card form's explicit request (a POST) is what makes a SetupIntent.
    token = csrf_of(shown.text)
    answer = await client.post(
        f"/payments/{payment.id}/setup", json={}, headers={"X-CSRF-Token": token}
    )
    assert answer.status_code == 200, answer.text
    assert await made_at_stripe(payment.id) == (1, 2)
