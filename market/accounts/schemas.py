"""Input and output shapes shared by the account forms and the JSON API."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Literal

from babel import Locale
from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator

# Pseudo-territories Babel lists that are not countries.
_NOT_COUNTRIES = {"EU", "EZ", "UN", "QO", "ZZ", "XA", "XB", "XK"}
COMMON_PASSWORDS = {
    "password",
    "password1",
    "password123",
    "passw0rd",
    "123456789012",
    "qwertyuiop",
    "letmein123",
    "iloveyou123",
    "administrator",
    "welcome123",
}


@lru_cache(maxsize=1)
def countries() -> dict[str, str]:
    names = Locale("en").territories
    return {
        code: name
        for code, name in sorted(names.items(), key=lambda kv: kv[1])
        if len(code) == 2 and code.isalpha() and code not in _NOT_COUNTRIES
    }


class Strict(BaseModel):
    # An unknown key is refused by name (a typo must not be silently dropped).
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def password_problem(password: str, email: str = "") -> str | None:
    if len(password) < 10:
        return "Use at least 10 characters."
    if len(password) > 128:
        return "Use at most 128 characters."
    if password.lower() in COMMON_PASSWORDS or len(set(password)) < 4:
        return "This password is too easy to guess."
    local = email.split("@", 1)[0].lower()
    if len(local) >= 4 and local in password.lower():
        return "The password must not contain your e-mail address."
    return None


class OrganizationUpdate(Strict):
    name: str = Field(min_length=2, max_length=200)
    country: str = Field(min_length=2, max_length=2)
    region: str = Field(default="", max_length=100)
    website: str = Field(default="", max_length=300)
    # The public profile's short description; left out, it stays as it is.
    about: str | None = Field(default=None, max_length=2000)
    about_zh: str | None = Field(default=None, max_length=2000)

    @field_validator("country")
    @classmethod
    def _country(cls, value: str) -> str:
        code = value.upper()
        if code not in countries():
            raise ValueError("Choose a country (ISO 3166 two-letter code).")
        return code

    @field_validator("website")
    @classmethod
    def _website(cls, value: str) -> str:
        if value and not re.fullmatch(r"https?://[^\s/$.?#][^\s]*", value):
            raise ValueError("Give the address starting with http:// or https://.")
        return value


class OrganizationIn(OrganizationUpdate):
    kind: Literal["institute", "enterprise"]
    # A unified social credit code, a commercial register number: letters, digits and the
    # separators registers print. Optional, but the administrators check it when it is given.
    registration_number: str = Field(default="", max_length=64)

    @field_validator("registration_number")
    @classmethod
    def _registration_number(cls, value: str) -> str:
        if value and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9 ./-]*", value):
            raise ValueError("Use the letters, digits and separators of the register's number.")
        return value.upper()


class RegisterIn(Strict):
    email: EmailStr = Field(max_length=254)
    # The lengths password_problem allows; it also refuses the easily guessed ones.
    password: str = Field(min_length=10, max_length=128)
    name: str = Field(min_length=1, max_length=120)
    organization: OrganizationIn

    @field_validator("email")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.lower()


class TokenOnlyIn(Strict):
    token: str = Field(min_length=1, max_length=200)


class LoginIn(Strict):
    email: str = Field(min_length=1, max_length=254)
    password: str = Field(min_length=1, max_length=1024)


class ProfileIn(Strict):
    name: str = Field(min_length=1, max_length=120)
    locale: Literal["en", "zh"] = "en"


class TokenIn(Strict):
    name: str = Field(min_length=1, max_length=100)
    # "read": the token may only read (GET); "read_write": all its user may do.
    scope: Literal["read", "read_write"] = "read_write"
    # Empty: the token lasts until revoked.
    expires_in_days: int | None = Field(default=None, ge=1, le=365)


class ReasonIn(Strict):
    reason: str = Field(min_length=3, max_length=2000)


class InvitationIn(Strict):
    email: EmailStr = Field(max_length=254)
    role: Literal["owner", "admin", "member"] = "member"

    @field_validator("email")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.lower()


class MemberPatch(Strict):
    role: Literal["owner", "admin", "member"] | None = None
    can_sign: bool | None = None


class AcceptIn(Strict):
    """Accepting an invitation: nothing when logged in as the invited address, or the name and
    password of the account to create for it."""

    name: str | None = Field(default=None, min_length=1, max_length=120)
    password: str | None = Field(default=None, min_length=10, max_length=128)


class ResetRequestIn(Strict):
    email: str = Field(min_length=3, max_length=254)


class PasswordIn(Strict):
    password: str = Field(min_length=10, max_length=128)


class PasswordChangeIn(Strict):
    current_password: str = Field(min_length=1, max_length=1024)
    password: str = Field(min_length=10, max_length=128)


class SwitchIn(Strict):
    organization_id: str = Field(min_length=1, max_length=64)
