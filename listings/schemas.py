"""Listing input shapes shared by the forms, the API and the importer."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    StrictInt,
    ValidationInfo,
    field_validator,
)
from pydantic.json_schema import SkipJsonSchema

from listings import ipc
from market.accounts.schemas import countries
from market.money import Money

Kind = Literal[
    "patent", "patent_application", "software", "know_how", "material", "design", "other"
]
LicenseType = Literal["exclusive", "sole", "non_exclusive", "assignment", "option"]
PriceModel = Literal["fixed", "negotiable", "royalty", "offers"]
LICENSE_TYPES: tuple[str, ...] = LicenseType.__args__  # type: ignore[attr-defined]
KINDS: tuple[str, ...] = Kind.__args__  # type: ignore[attr-defined]
PRICE_MODELS: tuple[str, ...] = PriceModel.__args__  # type: ignore[attr-defined]
# The listing fields that hold lists of strings (deduplicated on input, one column each on import).
LIST_FIELDS: tuple[str, ...] = (
    "patent_numbers",
    "ipc_codes",
    "keywords",
    "inventors",
    "license_types",
    "territories",
    "fields_of_use",
)
_PATENT_NUMBER = re.compile(r"^[A-Z]{2}[ -]?[0-9A-Z][0-9A-Z/.,\- ]{2,30}$")


def _text(max_length: int) -> type[str]:
    return Annotated[str, Field(max_length=max_length)]  # type: ignore[return-value]


def _ipc(value: str) -> str:
    try:
        return ipc.parse(value).code
    except ipc.IpcError as exc:
        raise ValueError(str(exc)) from None


def _territory(value: str) -> str:
    code = value.strip().upper()
    if code != "WORLD" and code not in countries():
        raise ValueError(f"{value!r} is neither WORLD nor an ISO 3166 country code.")
    return code


def _patent_number(value: str) -> str:
    number = re.sub(r"\s+", " ", value.strip().upper())
    if not _PATENT_NUMBER.match(number):
        raise ValueError(f"{value!r} should start with the office, like US 9876543 B2.")
    return number


def refuse_null(*nullable: str) -> Any:
    """A patch's check of every field sent as null: only the `nullable` ones may be (to clear
    them). Any other null would reach a NOT NULL column; the document does not offer it
    either."""

    def check(cls: type, value: object, info: ValidationInfo) -> object:
        if value is None and info.field_name not in nullable:
            raise ValueError("Leave the field out to keep it; it cannot be null.")
        return value

    return field_validator("*", mode="before")(check)


def unique(values: list[str]) -> list[str]:
    """The non-empty values, each once, in their first order."""
    seen: dict[str, None] = {}
    for value in values:
        if value:
            seen.setdefault(value, None)
    return list(seen)


Keyword = Annotated[str, Field(min_length=1, max_length=60)]
Person = Annotated[str, Field(min_length=1, max_length=120)]
IpcCodeStr = Annotated[str, Field(max_length=30), AfterValidator(_ipc)]
# The document says what _territory takes (a two-letter code or WORLD, any case); whether the
# two letters name a country is checked by the validator.
TERRITORY_PATTERN = r"^\s*([Ww][Oo][Rr][Ll][Dd]|[A-Za-z]{2})\s*$"
Territory = Annotated[
    str,
    Field(max_length=5, json_schema_extra={"pattern": TERRITORY_PATTERN}),
    AfterValidator(_territory),
]
PatentNumber = Annotated[str, Field(max_length=40), AfterValidator(_patent_number)]
FieldOfUse = Annotated[str, Field(min_length=1, max_length=120)]


class ListingFields(BaseModel):
    """Every field of a listing; a draft needs only title, summary and kind."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    title: str = Field(min_length=3, max_length=200)
    summary: str = Field(min_length=10, max_length=3000)
    description: str = Field(default="", max_length=50_000)
    kind: Kind
    patent_numbers: list[PatentNumber] = Field(default_factory=list, max_length=50)
    ipc_codes: list[IpcCodeStr] = Field(default_factory=list, max_length=40)
    trl: StrictInt | None = Field(default=None, ge=1, le=9)
    keywords: list[Keyword] = Field(default_factory=list, max_length=40)
    inventors: list[Person] = Field(default_factory=list, max_length=60)
    license_types: list[LicenseType] = Field(default_factory=list, max_length=5)
    territories: list[Territory] = Field(default_factory=lambda: ["WORLD"], max_length=250)
    fields_of_use: list[FieldOfUse] = Field(default_factory=lambda: ["all"], max_length=30)
    price_model: PriceModel = "offers"
    asking_price: Money | None = None
    language: Literal["en", "zh"] = "en"
    contact_name: str = Field(default="", max_length=120)
    contact_email: EmailStr | Literal[""] = ""

    @field_validator(*LIST_FIELDS)
    @classmethod
    def _dedupe(cls, values: list[str]) -> list[str]:
        return unique(values)


class ListingIn(ListingFields):
    pass


# A field left out of a patch is None; only these may also be sent as null (to clear them).
NULLABLE_FIELDS = ("trl", "asking_price")
Unset = SkipJsonSchema[None]


class ListingPatch(BaseModel):
    """A partial change: only the fields sent are touched. null clears a field that may be
    empty (NULLABLE_FIELDS); any other field sent as null is refused by name."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    title: str | Unset = Field(default=None, min_length=3, max_length=200)
    summary: str | Unset = Field(default=None, min_length=10, max_length=3000)
    description: str | Unset = Field(default=None, max_length=50_000)
    kind: Kind | Unset = None
    patent_numbers: list[PatentNumber] | Unset = Field(default=None, max_length=50)
    ipc_codes: list[IpcCodeStr] | Unset = Field(default=None, max_length=40)
    trl: StrictInt | None = Field(default=None, ge=1, le=9)
    keywords: list[Keyword] | Unset = Field(default=None, max_length=40)
    inventors: list[Person] | Unset = Field(default=None, max_length=60)
    license_types: list[LicenseType] | Unset = Field(default=None, max_length=5)
    territories: list[Territory] | Unset = Field(default=None, max_length=250)
    fields_of_use: list[FieldOfUse] | Unset = Field(default=None, max_length=30)
    price_model: PriceModel | Unset = None
    asking_price: Money | None = None
    language: Literal["en", "zh"] | Unset = None
    contact_name: str | Unset = Field(default=None, max_length=120)
    contact_email: EmailStr | Literal[""] | Unset = None

    _dedupe = field_validator(*LIST_FIELDS)(lambda cls, v: unique(v) if v is not None else v)
    _not_null = refuse_null(*NULLABLE_FIELDS)


def submission_problems(listing: dict) -> dict[str, str]:
    """What a listing still lacks before an administrator can review it."""
    problems: dict[str, str] = {}
    if listing.get("trl") is None:
        problems["trl"] = "Give the technology readiness level (1-9)."
    if not listing.get("license_types"):
        problems["license_types"] = "Say which licence types you offer."
    if not listing.get("territories"):
        problems["territories"] = "Say where the rights apply (WORLD or countries)."
    if listing.get("price_model") == "fixed" and not listing.get("asking_price"):
        problems["asking_price"] = "A fixed price needs an asking price."
    if listing.get("kind") in {"patent", "patent_application"} and not listing.get(
        "patent_numbers"
    ):
        problems["patent_numbers"] = "Give the patent or application number."
    return problems


# The longest question or answer an enquiry takes (the form's textarea says so too).
ENQUIRY_BODY_MAX = 5000


class EnquiryIn(BaseModel):
    """A question on a listing, or a message in its thread."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    body: str = Field(min_length=1, max_length=ENQUIRY_BODY_MAX)
