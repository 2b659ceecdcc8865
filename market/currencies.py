"""Which currencies a card can be charged in, and how an amount crosses to the payment provider.

We store and show amounts in minor units with Babel's (CLDR's) exponent: 0 for ISK, UGX, JPY,
LBP; 2 for EUR, HUF, TWD; 3 for KWD (`market/money.py`). Stripe's API counts minor units with
exponents of its own, and they differ: ISK is 0 decimals to Babel and 2 to Stripe, so sending
our figure unchanged would charge a hundredth of the price. Every amount that goes to Stripe
or comes back from it passes through `to_provider` / `from_provider`, which refuse (never
round) an amount the provider cannot carry exactly.

Stripe's rules, from https://docs.stripe.com/currencies ("Supported presentment currencies",
"Zero-decimal currencies", "Three-decimal currencies", "Special cases"):
- two decimals unless listed otherwise;
- zero-decimal: BIF CLP DJF GNF JPY KMF KRW MGA PYG RWF VND VUV XAF XOF XPF ("the charge and
  the amount are the same");
- three-decimal: BHD JOD KWD OMR TND, where "these API calls require the least-significant
  (last) digit to be 0" (5.124 KWD cannot be charged; Stripe says round it, we refuse);
- special cases: ISK and UGX "transitioned to a zero-decimal currency, but backwards
  compatibility requires you to represent it as a two-decimal value, where the decimal amount
  is always 00" (UGX is also in the zero-decimal list; the special case is the API's rule);
  HUF and TWD are zero-decimal for payouts only, "even though you can charge two-decimal
  amounts", so charges keep two decimals.
Bank transfers are not bound by any of this: any currency in `money.currencies()` may be paid
by transfer.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from functools import cache

from babel.numbers import get_currency_precision

from market.money import currencies

# Stripe's presentment currencies for cards (docs.stripe.com/currencies, the list shown for an
# account in the EEA/US, plus the three-decimal ones it documents). Codes ISO has retired (STD)
# drop out by the intersection with the currencies in use today.
STRIPE_CARD_CURRENCIES = frozenset(
    """
    USD AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BIF BMD BND BOB BRL BSD BWP
    BYN BZD CAD CDF CHF CLP CNY COP CRC CVE CZK DJF DKK DOP DZD EGP ETB EUR FJD FKP GBP GEL
    GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR ISK JMD JPY KES KGS KHR KMF KRW KYD KZT
    LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK
    NPR NZD PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SEK SGD SHP SLE SOS
    SRD STD SZL THB TJS TOP TRY TTD TWD TZS UAH UGX UYU UZS VND VUV WST XAF XCD XOF XPF YER
    ZAR ZMW BHD JOD KWD OMR TND
    """.split()
)
# "12 digits for most card payments, for a maximum of 999,999,999,999 in minor units" (ibid.,
# "Maximum charge amounts").
PROVIDER_MAX = 999_999_999_999
STRIPE_ZERO_DECIMAL = frozenset(
    "BIF CLP DJF GNF JPY KMF KRW MGA PYG RWF VND VUV XAF XOF XPF".split()
)
STRIPE_THREE_DECIMAL = frozenset("BHD JOD KWD OMR TND".split())
# Two decimals in the API, whole units only: the last two digits are always 00.
STRIPE_WHOLE_UNITS_IN_CENTS = frozenset({"ISK", "UGX"})


class NotChargeable(ValueError):
    """An amount or currency the card provider cannot carry exactly; the message says why."""


@dataclass(frozen=True)
class CardCurrency:
    code: str
    ours: int  # Babel's exponent: how our minor units count
    provider: int  # Stripe's API exponent
    step: int  # a provider amount must be a multiple of this (10 for three-decimal, 100 ISK)

    def to_provider(self, amount: int) -> int:
        shift = self.provider - self.ours
        if shift >= 0:
            sent = amount * 10**shift
        else:
            unit = 10**-shift
            if amount % unit:
                raise NotChargeable(_finer(self, amount))
            sent = amount // unit
        if sent % self.step:
            raise NotChargeable(_finer(self, amount))
        if sent > PROVIDER_MAX:
            raise NotChargeable(
                f"{_major(self, amount)} {self.code} is more than a card payment can carry; "
                "pay by bank transfer."
            )
        return sent

    def from_provider(self, amount: int) -> int:
        shift = self.provider - self.ours
        if shift <= 0:
            return amount * 10**-shift
        unit = 10**shift
        if amount % unit:
            raise NotChargeable(
                f"The provider's {amount} {self.code} is not a whole number of our minor units."
            )
        return amount // unit


def _major(currency: CardCurrency, amount: int) -> str:
    return f"{Decimal(amount).scaleb(-currency.ours):,.{currency.ours}f}"


def _finer(currency: CardCurrency, amount: int) -> str:
    return (
        f"{_major(currency, amount)} {currency.code} cannot be charged by card exactly: "
        f"the card network takes {currency.code} in steps of {_step_text(currency)}. "
        "Pay by bank transfer, or agree an amount in those steps."
    )


def _step_text(currency: CardCurrency) -> str:
    """The smallest chargeable step in major units, e.g. "0.01" for KWD, "1" for ISK."""
    exponent = currency.provider
    step = currency.step
    if step >= 10**exponent:
        return f"{step // 10**exponent}"
    digits = exponent - len(str(step)) + 1
    return f"{Decimal(step).scaleb(-exponent):.{digits}f}"


def _provider_exponent(code: str) -> tuple[int, int]:
    if code in STRIPE_ZERO_DECIMAL:
        return 0, 1
    if code in STRIPE_THREE_DECIMAL:
        return 3, 10
    if code in STRIPE_WHOLE_UNITS_IN_CENTS:
        return 2, 100
    return 2, 1


@cache
def card_currencies() -> dict[str, CardCurrency]:
    """Every currency we accept for card payments, with both exponents."""
    table = {}
    for code in sorted(STRIPE_CARD_CURRENCIES & currencies()):
        provider, step = _provider_exponent(code)
        table[code] = CardCurrency(code, get_currency_precision(code), provider, step)
    return table


def card_currency(code: str) -> CardCurrency:
    found = card_currencies().get(code.upper())
    if found is None:
        raise NotChargeable(
            f"Payments in {code.upper()} cannot be made by card; pay by bank transfer."
        )
    return found


def to_provider(amount: int, currency: str) -> int:
    """Our minor units -> the provider's, exactly, or NotChargeable."""
    return card_currency(currency).to_provider(amount)


def from_provider(amount: int, currency: str) -> int:
    """The provider's minor units -> ours, exactly, or NotChargeable."""
    return card_currency(currency).from_provider(amount)
