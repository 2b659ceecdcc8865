"""Payment input shapes shared by the forms and the JSON API."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from market.money import Money


class PaymentIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    method: Literal["card", "bank_transfer"]
    # "upfront", or "milestone-<n>" once the contract is active.
    item: str = Field(default="upfront", pattern=r"^(upfront|milestone-[1-9][0-9]?)$")


class ConfirmCardIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    # The PaymentMethod Stripe.js made from the card (confirmCardSetup); never the card itself.
    payment_method: str = Field(min_length=4, max_length=120, pattern=r"^pm_[A-Za-z0-9_]+$")


class TransferIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    reference: str = Field(min_length=2, max_length=64)


class RefundIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    amount: Money
    reason: str = Field(min_length=1, max_length=2000)


class PayoutIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    organization: str = Field(min_length=1, max_length=64)
    amount: Money
    reference: str = Field(min_length=2, max_length=64)
