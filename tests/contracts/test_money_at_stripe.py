"""Card payments in every currency we accept, against localstripe: the intent made for a real
payment holds the amount in Stripe's units (localstripe does not model exponents, so this
checks what we send; tests/market/test_currencies.py checks the table against Stripe's rules),
and a currency or amount Stripe cannot charge exactly is refused with nothing made."""

from __future__ import annotations

import httpx
import pytest
from babel.numbers import get_currency_precision

from contracts.agreements.models import Contract
from contracts.payments import gateway, refunds
from contracts.payments import service as payments
from contracts.payments.models import Payment, Refund
from market.config import Settings
from market.currencies import card_currencies
from market.errors import ValidationFailed
from market.money import Money
from market.money import currencies as in_use
from tests.builders import a_contract, actor_of, an_admin, signatories
from tests.contracts.stripe_support import set_up_card, stripe_get
from tests.contracts.test_payment_api import as_user
from tests.contracts.test_payment_pages import as_buyer, choose
from tests.listings.test_pages import assert_well_formed
from tests.market.test_currencies import THREE, a_chargeable_amount, stripe_exponent

GOOD = "4242424242424242"


async def intents_at_stripe(settings: Settings) -> set[str]:
    """Every PaymentIntent localstripe holds (all pages)."""
    found: set[str] = set()
    after = ""
    while True:
        page = await stripe_get(
            settings,
            "/v1/payment_intents?limit=100" + (f"&starting_after={after}" if after else ""),
        )
        found |= {i["id"] for i in page["data"]}
        if not page["has_more"] or not page["data"]:
            return found
        after = page["data"][-1]["id"]


async def test_every_card_currency_reaches_stripe_in_stripe_s_units(settings: Settings) -> None:
    # One contract awaiting payment, priced in each currency in turn: a contract per currency
    # would render its agreement PDFs 137 times over. Each payment is real, made by the use
    # case, and its intent by the gateway at localstripe.
    contract = await a_contract("awaiting_payment", milestones=[])
    _, buyer = await signatories(contract)
    wrong = {}
    for code, currency in sorted(card_currencies().items()):
        amount = 10_000_000 if code == "ISK" else a_chargeable_amount(code)
        await Contract.filter(id=contract.id).update(currency=code, amount_due=amount)
        started = await payments.start_payment(buyer, str(contract.id), "card")
        payment = started.payment
        assert payment.currency == code and payment.amount == amount
        held = await stripe_get(settings, f"/v1/payment_intents/{payment.intent_id}")
        expected = amount * 10 ** (stripe_exponent(code) - get_currency_precision(code))
        back = await gateway.retrieve_intent(payment.intent_id or "")
        seen = (held["amount"], held["currency"], back["amount"], back["currency"])
        if seen != (expected, code.lower(), amount, code):
            wrong[code] = (seen, expected, currency)
        # The next currency starts a payment of its own (one per contract and item).
        await Payment.filter(id=payment.id).delete()
    assert not wrong, wrong


async def test_the_issue_s_isk_offer_creates_an_intent_for_the_whole_price(
    settings: Settings,
) -> None:
    contract = await a_contract(
        "awaiting_payment", upfront_fee={"amount": 10_000_000, "currency": "ISK"}, milestones=[]
    )
    _, buyer = await signatories(contract)
    started = await payments.start_payment(buyer, str(contract.id), "card")
    held = await stripe_get(settings, f"/v1/payment_intents/{started.payment.intent_id}")
    # Stripe keeps two decimals for ISK: 1,000,000,000 hundredths are 10,000,000 krónur.
    assert (held["amount"], held["currency"]) == (1_000_000_000, "isk")


async def a_contract_in(amount: int, currency: str) -> Contract:
    return await a_contract(
        "awaiting_payment", upfront_fee={"amount": amount, "currency": currency}, milestones=[]
    )


@pytest.mark.parametrize(
    ("amount", "currency", "why"),
    [
        (5124, "KWD", "5.124 KWD cannot be charged by card exactly"),
        (1_000_000_000_000, "ISK", "more than a card payment can carry"),
        (100_000, sorted(in_use() - set(card_currencies()))[0], "cannot be made by card"),
    ],
)
async def test_a_card_payment_stripe_cannot_charge_exactly_is_refused_and_changes_nothing(
    settings: Settings, amount: int, currency: str, why: str
) -> None:
    contract = await a_contract_in(amount, currency)
    _, buyer = await signatories(contract)
    before = await intents_at_stripe(settings)

    with pytest.raises(ValidationFailed) as refused:
        await payments.start_payment(buyer, str(contract.id), "card")
    assert refused.value.status == 422 and why in refused.value.fields["method"]
    assert not await Payment.filter(contract_id=contract.id).exists()
    assert await intents_at_stripe(settings) == before

    # A bank transfer takes any currency we show, for the exact amount.
    started = await payments.start_payment(buyer, str(contract.id), "bank_transfer")
    assert (started.payment.amount, started.payment.currency) == (amount, currency)
    # Switching that transfer to a card is refused the same way, and the transfer stays.
    with pytest.raises(ValidationFailed):
        await payments.start_payment(buyer, str(contract.id), "card")
    assert (await Payment.get(id=started.payment.id)).method == "bank_transfer"
    assert await intents_at_stripe(settings) == before


async def test_the_pay_page_shows_the_refusal_with_the_choice_kept(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    contract = await a_contract_in(5124, "KWD")
    await as_buyer(client, contract)
    before = await intents_at_stripe(settings)

    response = await choose(client, contract, "card")

    assert response.status_code == 422
    html = response.text
    assert_well_formed(html)
    assert "5.124 KWD cannot be charged by card exactly" in html
    assert 'value="card" required checked' in html
    assert not await Payment.filter(contract_id=contract.id).exists()
    assert await intents_at_stripe(settings) == before


async def test_the_api_answers_422_naming_the_method(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    contract = await a_contract_in(5124, "KWD")
    _, buyer = await signatories(contract)
    headers = await as_user(client, buyer.user.email)
    before = await intents_at_stripe(settings)

    answer = await client.post(
        f"/api/v1/contracts/{contract.id}/payments", json={"method": "card"}, headers=headers
    )

    assert answer.status_code == 422
    assert "cannot be charged by card exactly" in answer.json()["error"]["fields"]["method"]
    assert not await Payment.filter(contract_id=contract.id).exists()
    assert await intents_at_stripe(settings) == before


async def test_a_card_refund_stripe_cannot_carry_exactly_is_refused(settings: Settings) -> None:
    assert "KWD" in THREE
    contract = await a_contract_in(12_340, "KWD")
    _, buyer = await signatories(contract)
    started = await payments.start_payment(buyer, str(contract.id), "card")
    card = await set_up_card(settings, started.setup_client_secret or "", GOOD)
    await payments.confirm_card(buyer, str(started.payment.id), card)
    intent = await gateway.retrieve_intent(started.payment.intent_id or "")
    assert await payments.apply_intent(intent) == "paid"
    officer = await actor_of(await an_admin())

    with pytest.raises(ValidationFailed) as refused:
        await refunds.refund_payment(
            officer, str(started.payment.id), Money(amount=5, currency="KWD"), "Overcharged"
        )
    assert "0.005 KWD cannot be charged by card exactly" in refused.value.fields["amount"]
    assert not await Refund.filter(payment_id=started.payment.id).exists()

    made = await refunds.refund_payment(
        officer, str(started.payment.id), Money(amount=1_230, currency="KWD"), "Overcharged"
    )
    assert made.state == "succeeded"
    at_stripe = await stripe_get(settings, f"/v1/refunds/{made.stripe_refund_id}")
    assert at_stripe["amount"] == 1_230
