"""A card payment in a real headless Chromium: the buyer types the card into the Stripe.js form
(localstripe's, loaded from the URL the settings name), and Stripe charges it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.async_api import ConsoleMessage, Page, expect

from contracts.payments.models import Payment
from market.config import Settings
from tests.builders import PASSWORD, a_contract, signatories
from tests.contracts.stripe_support import stripe_get

# Stripe.js loads, and localstripe answers, within seconds; a minute means something is wrong.
WAIT_MS = 60_000


async def test_the_buyer_pays_by_card_in_the_browser(
    page: Page, settings: Settings, tmp_root: Path
) -> None:
    contract = await a_contract("awaiting_payment")
    _, buyer = await signatories(contract)
    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            problems.append(f"{message.text} ({message.location.get('url')})")

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(str(error)))

    await page.goto("/login")
    await page.get_by_label("E-mail address").fill(buyer.user.email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await expect(page.get_by_role("navigation", name="Main")).to_contain_text("Log out")

    await page.goto(f"/contracts/{contract.id}/pay")
    await page.get_by_label("Card").check()
    await page.get_by_role("button", name="Continue to payment").click()
    await expect(page).to_have_url(re.compile(r"/payments/[0-9a-f-]{36}$"))
    payment = await Payment.get(contract_id=contract.id)
    assert payment.method == "card" and payment.intent_id

    # The card inputs appear once Stripe.js has loaded; if it cannot, the page says so.
    card = page.locator("#card-element")
    number = card.get_by_placeholder("number", exact=True)
    failed_to_load = page.locator("#card-errors").filter(has_text="could not be loaded")
    await expect(number.or_(failed_to_load)).to_be_visible(timeout=WAIT_MS)
    if await failed_to_load.is_visible():
        pytest.fail(
            f"Stripe.js did not load from {settings.stripe_js_url}: {problems}", pytrace=False
        )
    await number.fill("4242424242424242")
    await card.get_by_placeholder("exp_month").fill("12")
    await card.get_by_placeholder("exp_year").fill("31")
    await card.get_by_placeholder("cvc").fill("123")
    await card.get_by_placeholder("postal_code").fill("10115")
    await page.screenshot(path=tmp_root / "pay-card-form.png", full_page=True)
    await page.get_by_role("button", name=re.compile(r"^Pay ")).click()

    # pay.js reloads the page, which then says where the payment stands.
    state = page.locator(".payment-state")
    await expect(state).to_have_text(re.compile("Processing|Paid"), timeout=WAIT_MS)
    await page.screenshot(path=tmp_root / "pay-card.png", full_page=True)
    # The site has no favicon; anything else (a CSP refusal, a script error) is a bug.
    assert not [p for p in problems if "/favicon.ico" not in p], problems

    paid = await Payment.get(id=payment.id)
    assert paid.state in ("processing", "succeeded"), paid.state
    intent = await stripe_get(settings, f"/v1/payment_intents/{paid.intent_id}")
    assert intent["metadata"]["payment_id"] == str(payment.id)
    assert intent["status"] == "succeeded" and intent["amount"] == payment.amount
