"""Money: integer minor units and an ISO 4217 currency code."""

from __future__ import annotations

from functools import cache

from babel.numbers import get_currency_precision, list_currencies
from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator

# Ten billion in major units: no technology deal here is larger, so more is a typo or abuse.
MAX_MINOR_UNITS = 10**12


@cache
def currencies() -> frozenset[str]:
    return frozenset(list_currencies())


class Money(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: StrictInt = Field(ge=0, le=MAX_MINOR_UNITS)
    currency: str = Field(min_length=3, max_length=3)

    @field_validator("currency")
    @classmethod
    def _known(cls, value: str) -> str:
        code = value.upper()
        if code not in currencies():
            raise ValueError(f"{value} is not an ISO 4217 currency code.")
        return code

    def format(self) -> str:
        digits = get_currency_precision(self.currency)
        major = self.amount / 10**digits
        return f"{major:,.{digits}f} {self.currency}"
