"""The conversion table between our minor units (Babel's exponent) and Stripe's, both ways, for
every currency we accept for cards. localstripe does not model exponents, so these are the
tests that say the table is Stripe's; the expected exponents are written out here from
https://docs.stripe.com/currencies, independently of market/currencies.py."""

from __future__ import annotations

import pytest
from babel.numbers import get_currency_precision

from market import currencies
from market.currencies import NotChargeable, card_currencies, from_provider, to_provider
from market.money import currencies as in_use

# docs.stripe.com/currencies, "Zero-decimal currencies" (UGX is listed there too, but its
# "Special cases" entry is the API's rule: two decimals, always 00).
ZERO = {"BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF"}
ZERO |= {"VND", "VUV", "XAF", "XOF", "XPF"}
# "Three-decimal currencies": the last digit must be 0.
THREE = {"BHD", "JOD", "KWD", "OMR", "TND"}
# "Special cases": whole units written with two decimals.
WHOLE_IN_HUNDREDTHS = {"ISK", "UGX"}


def stripe_exponent(code: str) -> int:
    return 0 if code in ZERO else 3 if code in THREE else 2


def a_chargeable_amount(code: str) -> int:
    """An amount with every digit in use that Stripe can carry (three-decimal: ends in 0)."""
    return 1_234_560 if code in THREE else 1_234_567


def test_the_table_has_every_card_currency_with_both_exponents() -> None:
    table = card_currencies()
    # The currencies the issue names, and the everyday ones, are all accepted for cards.
    for code in ZERO | THREE | WHOLE_IN_HUNDREDTHS | {"EUR", "USD", "HUF", "TWD", "LBP"}:
        assert code in table, code
    for code, currency in table.items():
        assert code in in_use()
        assert currency.ours == get_currency_precision(code), code
        assert currency.provider == stripe_exponent(code), code
    # Where Babel and Stripe differ, as the review found (ISK: 0 to us, 2 to Stripe).
    differ = {code for code, c in table.items() if c.ours != c.provider}
    assert {"ISK", "UGX", "LBP"} <= differ
    assert not differ & ZERO


def test_every_currency_converts_exactly_both_ways() -> None:
    # One test for all (the suite's per-test database cleaning would cost seconds per code);
    # every currency that goes wrong is named.
    wrong = {}
    for code in sorted(card_currencies()):
        amount = a_chargeable_amount(code)
        expected = amount * 10 ** (stripe_exponent(code) - get_currency_precision(code))
        sent = to_provider(amount, code)
        back = from_provider(sent, code)
        # Lower case, as Stripe writes it, is the same currency.
        lower = to_provider(amount, code.lower())
        if (sent, back, lower) != (expected, amount, expected):
            wrong[code] = (sent, back, lower, expected)
    assert not wrong, wrong


def test_stripe_s_own_examples() -> None:
    assert to_provider(1000, "USD") == 1000  # "1000 to charge 10 USD"
    assert to_provider(500, "JPY") == 500  # "to charge 500 JPY, provide 500"
    assert to_provider(5, "ISK") == 500  # "to charge 5 ISK, provide 500"
    assert to_provider(5, "UGX") == 500  # "to charge 5 UGX, provide 500"
    assert to_provider(1045, "HUF") == 1045  # HUF and TWD charge two-decimal amounts
    assert to_provider(80045, "TWD") == 80045
    assert to_provider(5120, "KWD") == 5120
    with pytest.raises(NotChargeable, match="5.124 KWD cannot be charged by card exactly"):
        to_provider(5124, "KWD")  # "5.124 KWD must be rounded": we refuse instead


def test_the_issue_s_isk_offer_is_charged_in_full() -> None:
    # 10,000,000 ISK went to Stripe as 10000000, which Stripe reads as 100,000 ISK.
    assert to_provider(10_000_000, "ISK") == 1_000_000_000
    assert from_provider(1_000_000_000, "ISK") == 10_000_000


@pytest.mark.parametrize("code", sorted(THREE))
def test_a_three_decimal_amount_needing_rounding_is_refused(code: str) -> None:
    for amount in (1, 5124, 1_234_567):
        with pytest.raises(NotChargeable, match="cannot be charged by card exactly"):
            to_provider(amount, code)


@pytest.mark.parametrize("code", sorted(WHOLE_IN_HUNDREDTHS))
def test_stripe_s_fractions_of_a_whole_unit_currency_are_no_amount_of_ours(code: str) -> None:
    assert from_provider(1200, code) == 12
    for amount in (1, 1234, 99):
        with pytest.raises(NotChargeable):
            from_provider(amount, code)


def test_a_currency_stripe_does_not_take_is_refused() -> None:
    outside = sorted(in_use() - set(card_currencies()))
    assert outside, "every currency in use is a card currency: pick another refusal"
    for code in outside + ["XXX", "XTS", "ZZZ"]:
        with pytest.raises(NotChargeable, match="cannot be made by card"):
            to_provider(100, code)
        with pytest.raises(NotChargeable):
            from_provider(100, code)


def test_more_than_a_card_carries_is_refused() -> None:
    assert to_provider(currencies.PROVIDER_MAX, "EUR") == currencies.PROVIDER_MAX
    with pytest.raises(NotChargeable, match="more than a card payment can carry"):
        to_provider(currencies.PROVIDER_MAX + 1, "EUR")
    # ISK is multiplied by 100 on the way, so its limit is a hundredth of that in krónur.
    with pytest.raises(NotChargeable, match="more than a card payment can carry"):
        to_provider(currencies.PROVIDER_MAX // 100 + 1, "ISK")
