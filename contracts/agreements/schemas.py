"""Contract input shapes (signatures, an administrator's reasons, cancelling) shared by the
forms and the JSON API."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from contracts.offers.schemas import ReasonIn

SHA256_HEX = r"^[0-9a-fA-F]{64}$"


class SignIn(BaseModel):
    """A signature: the signer's typed full name and the hash of the exact document they read."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    full_name: str = Field(min_length=3, max_length=200)
    document_sha256: str = Field(pattern=SHA256_HEX)
    # Asked for when the login is not recent, or the call comes with an API token.
    password: str | None = Field(default=None, max_length=1024)


class ReasonRequiredIn(BaseModel):
    """An administrator's reason for rejecting a contract or asking for changes: the parties
    read it, so it must say something."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    reason: str = Field(min_length=3, max_length=2000)


class CancelIn(ReasonIn):
    """Why a party cancels a contract; optional. Its own name for the OpenAPI components."""
