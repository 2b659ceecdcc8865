"""Offer input shapes shared by the forms and the JSON API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationInfo, field_validator

from listings.schemas import FieldOfUse, LicenseType, Territory
from market.money import Money

# An offer must stay open long enough to be read, and not so long that it blocks the listing.
MIN_EXPIRY = timedelta(hours=1)
MAX_EXPIRY = timedelta(days=365)
MAX_TERM_MONTHS = 600


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


class Milestone(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    description: str = Field(min_length=1, max_length=300)
    amount: Money


class OfferTermsIn(BaseModel):
    """The terms of an offer or of a counter-offer."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    license_type: LicenseType
    territories: list[Territory] = Field(min_length=1, max_length=250)
    fields_of_use: list[FieldOfUse] = Field(
        default_factory=lambda: ["all"], min_length=1, max_length=30
    )
    term_months: StrictInt = Field(ge=1, le=MAX_TERM_MONTHS)
    upfront_fee: Money
    royalty_percent: (
        Annotated[Decimal, Field(ge=0, le=100, max_digits=6, decimal_places=3)] | None
    ) = None
    milestones: list[Milestone] = Field(default_factory=list, max_length=20)
    conditions: str = Field(default="", max_length=10_000)
    expires_at: datetime

    @field_validator("territories", "fields_of_use")
    @classmethod
    def _dedupe(cls, values: list[str]) -> list[str]:
        values = _unique(values)
        # WORLD already covers every country.
        return ["WORLD"] if "WORLD" in values else values

    @field_validator("royalty_percent", mode="before")
    @classmethod
    def _number(cls, value: object) -> object:
        # true/false would otherwise pass as 1 and 0.
        if isinstance(value, bool):
            raise ValueError("Give the royalty as a number of percent, like 3.5.")
        if value == "":
            return None
        return value

    @field_validator("expires_at")
    @classmethod
    def _expiry(cls, value: datetime) -> datetime:
        # A form's datetime-local has no offset: it is read as UTC, as the form says.
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        now = datetime.now(UTC)
        if value < now + MIN_EXPIRY:
            raise ValueError("The expiry must be at least an hour from now.")
        if value > now + MAX_EXPIRY:
            raise ValueError("The expiry can be at most a year from now.")
        return value

    @field_validator("milestones")
    @classmethod
    def _one_currency(cls, milestones: list[Milestone], info: ValidationInfo) -> list[Milestone]:
        fee = info.data.get("upfront_fee")
        for i, milestone in enumerate(milestones):
            if fee is not None and milestone.amount.currency != fee.currency:
                raise ValueError(
                    f"Milestone {i + 1} is in {milestone.amount.currency}; every amount of an "
                    f"offer is in the upfront fee's currency ({fee.currency})."
                )
        return milestones


class OfferIn(OfferTermsIn):
    """A new offer: its first terms and an optional first message."""

    message: str = Field(default="", max_length=5000)


class MessageIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    body: str = Field(min_length=1, max_length=5000)


class ReasonIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    reason: str = Field(default="", max_length=2000)


class FromProposalIn(BaseModel):
    """An offer made from a need's finalist proposal: on one of its listings, with any term
    left out prefilled from the need (contracts.offers.service.prefill_from_need)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    listing_id: str = Field(min_length=1, max_length=64)
    license_type: LicenseType | None = None
    territories: list[Territory] | None = Field(default=None, min_length=1, max_length=250)
    fields_of_use: list[FieldOfUse] | None = Field(default=None, min_length=1, max_length=30)
    term_months: StrictInt | None = Field(default=None, ge=1, le=MAX_TERM_MONTHS)
    upfront_fee: Money | None = None
    royalty_percent: (
        Annotated[Decimal, Field(ge=0, le=100, max_digits=6, decimal_places=3)] | None
    ) = None
    milestones: list[Milestone] | None = Field(default=None, max_length=20)
    conditions: str | None = Field(default=None, max_length=10_000)
    expires_at: datetime | None = None
    message: str | None = Field(default=None, max_length=5000)
