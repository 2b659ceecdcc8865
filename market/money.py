"""Money: integer minor units and an ISO 4217 currency code."""

from __future__ import annotations

from datetime import date
from functools import cache

from babel.core import get_global
from babel.numbers import get_currency_precision, get_territory_currencies
from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator

# Ten billion in major units: no technology deal here is larger, so more is a typo or abuse.
MAX_MINOR_UNITS = 10**12


@cache
def currencies() -> frozenset[str]:
    """Codes that are legal tender somewhere today. ISO 4217 also lists codes that are no money
    one can pay with (XXX "no currency", XTS "for testing", gold, retired currencies such as
    DEM); a price or an offer in one of them is a typo or a probe, not a deal."""
    today = date.today()
    return frozenset(
        code
        for territory in get_global("territory_currencies")
        for code in get_territory_currencies(territory, today, tender=True)
    )


class Money(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: StrictInt = Field(ge=0, le=MAX_MINOR_UNITS)
    currency: str = Field(min_length=3, max_length=3)

    @field_validator("currency")
    @classmethod
    def _known(cls, value: str) -> str:
        code = value.upper()
        if code not in currencies():
            raise ValueError(f"{value} is not the ISO 4217 code of a currency in use.")
        return code

    def format(self) -> str:
        digits = get_currency_precision(self.currency)
        major = self.amount / 10**digits
        return f"{major:,.{digits}f} {self.currency}"
