"""The ledger, bank transfers, refunds and payouts against PostgreSQL and localstripe: every
transaction balances, balances come from entries, and each refusal leaves the ledger as it was."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal

import pytest

from contracts.agreements.documents import money, pdf_text
from contracts.agreements.models import Contract
from contracts.payments import ledger, payouts, receipts, refunds
from contracts.payments import service as payments
from contracts.payments.models import (
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    Payment,
    Refund,
)
from market.config import Settings, get_settings
from market.errors import Conflict, Forbidden, NotFound, ValidationFailed
from market.money import Money
from market.notify import Notification
from tests.builders import (
    a_contract,
    a_verified_enterprise,
    actor_of,
    an_admin,
    run_worker,
    signatories,
)
from tests.contracts.stripe_support import set_up_card, stripe_get


async def admin():
    return await actor_of(await an_admin())


async def snapshot() -> tuple[int, int, list[tuple]]:
    entries = await LedgerEntry.all().order_by("id").values_list("account", "amount")
    return await LedgerTransaction.all().count(), await Refund.all().count(), list(entries)


async def a_bank_transfer(**terms) -> tuple[Payment, Contract]:
    contract = await a_contract("awaiting_payment", **terms)
    _, buyer = await signatories(contract)
    started = await payments.start_payment(buyer, str(contract.id), "bank_transfer")
    return started.payment, contract


async def a_card_payment(settings: Settings) -> Payment:
    """A card payment Stripe has charged, applied as the webhook's job would."""
    from contracts.payments import gateway

    contract = await a_contract("awaiting_payment")
    _, buyer = await signatories(contract)
    started = await payments.start_payment(buyer, str(contract.id), "card")
    card = await set_up_card(settings, started.setup_client_secret, "4242424242424242")
    await payments.confirm_card(buyer, str(started.payment.id), card)
    payment = await Payment.get(id=started.payment.id)
    assert await payments.apply_intent(await gateway.retrieve_intent(payment.intent_id)) == "paid"
    return await Payment.get(id=payment.id)


@pytest.mark.parametrize(
    ("amount", "percent", "fee"),
    [
        (10_000, Decimal("5"), 500),
        (10, Decimal("5"), 1),  # 0.5 rounds half up
        (9, Decimal("5"), 0),  # 0.45 rounds down
        (333, Decimal("2.5"), 8),  # 8.325
        (1, Decimal("50"), 1),  # 0.5 rounds half up
        (5_000_000, Decimal("0"), 0),
        (10**12, Decimal("99.99"), 999_900_000_000),
    ],
)
def test_the_platform_fee_rounds_half_up_to_the_minor_unit(
    amount: int, percent: Decimal, fee: int
) -> None:
    assert ledger.platform_fee(amount, percent) == fee


async def test_an_unbalanced_transaction_is_never_written() -> None:
    from contracts.payments.models import LedgerAccount

    with pytest.raises(ledger.UnbalancedError):
        await ledger.post(
            "test:1", "payment", "USD", [(LedgerAccount.STRIPE, None, 100)], payment=None, memo=""
        )
    assert await LedgerTransaction.all().count() == 0


async def test_a_confirmed_bank_transfer_posts_the_same_entries_once(settings: Settings) -> None:
    payment, contract = await a_bank_transfer()
    seller, buyer = await signatories(contract)
    details = payments.bank_details(payment)
    assert details["reference"] == payment.reference and details["iban"] == settings.bank_iban
    assert payment.state == "pending"

    with pytest.raises(Forbidden):
        await payments.confirm_transfer(buyer, str(payment.id), "BANK-REF-1")
    with pytest.raises(ValidationFailed) as bad:
        await payments.confirm_transfer(await admin(), str(payment.id), "<script>")
    assert "reference" in bad.value.fields
    assert await snapshot() == (0, 0, [])

    confirmed = await payments.confirm_transfer(await admin(), str(payment.id), "HSBC 2026/11/0042")
    assert confirmed.state == "succeeded" and confirmed.bank_reference == "HSBC 2026/11/0042"
    assert (await Contract.get(id=contract.id)).state == "active"
    fee = ledger.platform_fee(payment.amount, payment.fee_percent)
    assert await ledger.owed_to(contract.seller_id, payment.currency) == payment.amount - fee
    assert (await ledger.account_balances())["cash_bank"][payment.currency] == payment.amount
    before = await snapshot()

    # Twice, or concurrently: refused, nothing changes.
    with pytest.raises(Conflict):
        await payments.confirm_transfer(await admin(), str(payment.id), "HSBC 2026/11/0042")
    assert await snapshot() == before
    await run_worker(settings)
    assert (
        await Notification.filter(user_id=seller.user_id, subject__contains="Payment").count() == 1
    )


async def test_concurrent_confirmations_of_one_transfer_post_once(settings: Settings) -> None:
    payment, _ = await a_bank_transfer()
    officer = await admin()
    results = await asyncio.gather(
        *(payments.confirm_transfer(officer, str(payment.id), f"REF-{n}") for n in range(10)),
        return_exceptions=True,
    )
    assert sum(1 for r in results if isinstance(r, Payment)) == 1
    assert all(isinstance(r, (Payment, Conflict)) for r in results)
    assert await LedgerTransaction.filter(kind="payment").count() == 1
    assert await ledger.unbalanced_transactions() == []


async def test_a_card_payment_cannot_be_confirmed_as_a_transfer(settings: Settings) -> None:
    payment = await a_card_payment(settings)
    before = await snapshot()
    with pytest.raises(Conflict):
        await payments.confirm_transfer(await admin(), str(payment.id), "REF-1")
    assert await snapshot() == before


async def test_card_refunds_in_parts_return_the_fee_exactly_and_never_exceed_the_payment(
    settings: Settings,
) -> None:
    payment = await a_card_payment(settings)
    contract = await payment.contract
    officer = await admin()
    fee = ledger.platform_fee(payment.amount, payment.fee_percent)
    owed = payment.amount - fee
    part = Money(amount=1_234_567, currency=payment.currency)

    refund = await refunds.refund_payment(officer, str(payment.id), part, "Partial: late delivery")
    assert refund.state == "succeeded" and refund.stripe_refund_id
    at_stripe = await stripe_get(settings, f"/v1/refunds/{refund.stripe_refund_id}")
    assert at_stripe["amount"] == part.amount and at_stripe["payment_intent"] == payment.intent_id
    assert (await Payment.get(id=payment.id)).state == "partially_refunded"
    assert await ledger.unbalanced_transactions() == []
    fee_back = ledger.platform_fee(part.amount, payment.fee_percent)
    assert await ledger.owed_to(contract.seller_id, payment.currency) == owed - (
        part.amount - fee_back
    )

    before = await snapshot()
    left = payment.amount - part.amount
    for bad_amount, field in (
        (Money(amount=left + 1, currency=payment.currency), "amount"),
        (Money(amount=10, currency="EUR" if payment.currency != "EUR" else "USD"), "amount"),
        (Money(amount=0, currency=payment.currency), "amount"),
        ({"amount": 10}, "amount"),
    ):
        with pytest.raises(ValidationFailed) as bad:
            await refunds.refund_payment(officer, str(payment.id), bad_amount, "Too much")
        assert field in bad.value.fields
    with pytest.raises(ValidationFailed) as bad:
        await refunds.refund_payment(
            officer, str(payment.id), Money(amount=1, currency=payment.currency), "   "
        )
    assert "reason" in bad.value.fields
    _, buyer = await signatories(contract)
    with pytest.raises(Forbidden):
        await refunds.refund_payment(
            buyer, str(payment.id), Money(amount=1, currency=payment.currency), "Mine"
        )
    assert await snapshot() == before

    # The rest, in two concurrent requests for all of it: one wins.
    rest = Money(amount=left, currency=payment.currency)
    results = await asyncio.gather(
        *(refunds.refund_payment(officer, str(payment.id), rest, "Cancelled deal") for _ in "ab"),
        return_exceptions=True,
    )
    assert sum(1 for r in results if isinstance(r, Refund)) == 1
    assert sum(1 for r in results if isinstance(r, ValidationFailed)) == 1
    assert (await Payment.get(id=payment.id)).state == "refunded"
    assert await ledger.owed_to(contract.seller_id, payment.currency) == 0
    balances = await ledger.account_balances()
    assert balances["platform_fees"][payment.currency] == 0
    assert balances["cash_stripe"][payment.currency] == 0
    assert await ledger.unbalanced_transactions() == []
    at_stripe = await stripe_get(settings, f"/v1/refunds?payment_intent={payment.intent_id}")
    assert sum(r["amount"] for r in at_stripe["data"]) == payment.amount
    with pytest.raises(Conflict):
        await refunds.refund_payment(
            officer, str(payment.id), Money(amount=1, currency=payment.currency), "Again"
        )


async def test_an_unpaid_payment_cannot_be_refunded(settings: Settings) -> None:
    payment, _ = await a_bank_transfer()
    with pytest.raises(Conflict):
        await refunds.refund_payment(
            await admin(), str(payment.id), Money(amount=1, currency=payment.currency), "No"
        )
    assert await snapshot() == (0, 0, [])


async def test_payouts_never_exceed_what_is_owed(settings: Settings) -> None:
    payment, contract = await a_bank_transfer()
    officer = await admin()
    await payments.confirm_transfer(officer, str(payment.id), "BANK-1")
    owed = await ledger.owed_to(contract.seller_id, payment.currency)
    assert owed > 0

    with pytest.raises(ValidationFailed) as bad:
        await payouts.record_payout(
            officer,
            str(contract.seller_id),
            Money(amount=owed + 1, currency=payment.currency),
            "P-1",
        )
    assert "amount" in bad.value.fields
    buyer_org = contract.buyer_id
    with pytest.raises(ValidationFailed) as bad:
        await payouts.record_payout(
            officer, str(buyer_org), Money(amount=1, currency=payment.currency), "P-1"
        )
    assert "organization" in bad.value.fields
    _, buyer = await signatories(contract)
    with pytest.raises(Forbidden):
        await payouts.record_payout(
            buyer, str(contract.seller_id), Money(amount=1, currency=payment.currency), "P-1"
        )

    # Two payouts of the whole balance at once: one is recorded.
    whole = Money(amount=owed, currency=payment.currency)
    results = await asyncio.gather(
        *(payouts.record_payout(officer, str(contract.seller_id), whole, f"P-{n}") for n in "12"),
        return_exceptions=True,
    )
    assert sum(1 for r in results if isinstance(r, ValidationFailed)) == 1
    assert await ledger.owed_to(contract.seller_id, payment.currency) == 0
    assert await ledger.unbalanced_transactions() == []
    assert await ledger.owed_to_institutes() == []


async def test_a_stranger_sees_no_payment(settings: Settings) -> None:
    payment, _ = await a_bank_transfer()
    stranger = await actor_of((await a_verified_enterprise())[0])
    with pytest.raises(NotFound):
        await payments.get_payment(stranger, str(payment.id))
    with pytest.raises(NotFound):
        await receipts.receipt_pdf(stranger, str(payment.id))


# --- the fee rate a payment keeps ------------------------------------------------------------


@pytest.fixture
def fee_rate(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], None]:
    """Changes PLATFORM_FEE_PERCENT on the one settings object the services read (get_settings()
    is cached and shared, so it is patched, never replaced; monkeypatch restores it)."""

    def change(percent: str) -> None:
        monkeypatch.setattr(get_settings(), "platform_fee_percent", Decimal(percent))

    return change


async def fees_posted(key: str) -> int:
    """What one posted transaction did to the platform's fees: negative takes, positive returns."""
    amounts = await LedgerEntry.filter(
        transaction__key=key, account=LedgerAccount.FEES
    ).values_list("amount", flat=True)
    return sum(amounts)


async def receipt_text(payment: Payment) -> str:
    _, pdf = await receipts.receipt_pdf(await admin(), str(payment.id))
    return " ".join(pdf_text(pdf).split())


async def test_a_payment_keeps_the_fee_rate_it_was_created_with(
    settings: Settings, fee_rate: Callable[[str], None]
) -> None:
    assert get_settings().platform_fee_percent == Decimal(5)
    payment, contract = await a_bank_transfer()
    assert payment.fee_percent == Decimal(5)
    assert (await Payment.get(id=payment.id)).fee_percent == Decimal(5)
    fee = ledger.platform_fee(payment.amount, Decimal(5))
    assert fee != ledger.platform_fee(payment.amount, Decimal("12.5"))

    # The rate changes before the money arrives: the payment still posts its own 5%.
    fee_rate("12.5")
    officer = await admin()
    await payments.confirm_transfer(officer, str(payment.id), "BANK-RATE-1")
    assert await fees_posted(f"payment:{payment.id}") == -fee
    assert await ledger.owed_to(contract.seller_id, payment.currency) == payment.amount - fee
    text = await receipt_text(payment)
    assert f"{money(fee, payment.currency)} (5% rounded half up" in text
    assert "12.5%" not in text

    # Refunds in parts (the rate changing again midway) each return the fee on the cumulative
    # amount at 5%, and together exactly the fee charged.
    parts = [1_234_567, 2_000_001]
    assert payment.amount > sum(parts)
    parts.append(payment.amount - sum(parts))
    refunded, returned = 0, []
    for n, part in enumerate(parts, start=1):
        if n == 3:
            fee_rate("0")
        refund = await refunds.refund_payment(
            officer, str(payment.id), Money(amount=part, currency=payment.currency), f"Part {n}"
        )
        assert refund.state == "succeeded"
        back = await fees_posted(f"refund:{refund.id}")
        assert back == ledger.platform_fee(refunded + part, Decimal(5)) - ledger.platform_fee(
            refunded, Decimal(5)
        )
        refunded += part
        returned.append(back)
    assert sum(returned) == fee
    assert (await Payment.get(id=payment.id)).state == "refunded"
    assert (await ledger.account_balances())["platform_fees"][payment.currency] == 0
    assert await ledger.owed_to(contract.seller_id, payment.currency) == 0
    assert await ledger.unbalanced_transactions() == []
    text = await receipt_text(payment)
    assert f"{money(fee, payment.currency)} (5% rounded half up" in text


async def test_a_payment_created_after_the_rate_changed_uses_the_new_rate(
    settings: Settings, fee_rate: Callable[[str], None]
) -> None:
    fee_rate("2.5")
    payment, contract = await a_bank_transfer()
    assert (await Payment.get(id=payment.id)).fee_percent == Decimal("2.5")
    fee = ledger.platform_fee(payment.amount, Decimal("2.5"))
    assert fee != ledger.platform_fee(payment.amount, Decimal(5))

    # Changed back before it is paid: the payment keeps the 2.5% it was created with.
    fee_rate("5")
    officer = await admin()
    await payments.confirm_transfer(officer, str(payment.id), "BANK-RATE-2")
    assert await fees_posted(f"payment:{payment.id}") == -fee
    assert await ledger.owed_to(contract.seller_id, payment.currency) == payment.amount - fee
    text = await receipt_text(payment)
    assert f"{money(fee, payment.currency)} (2.5% rounded half up" in text

    whole = Money(amount=payment.amount, currency=payment.currency)
    refund = await refunds.refund_payment(officer, str(payment.id), whole, "Cancelled deal")
    assert await fees_posted(f"refund:{refund.id}") == fee
    assert (await ledger.account_balances())["platform_fees"][payment.currency] == 0
    assert await ledger.unbalanced_transactions() == []
