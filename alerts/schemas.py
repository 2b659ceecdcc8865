"""The input of a saved search, shared by the form and the JSON API.

The query is checked as its page checks it (listings/search_params.py for the listings search,
docking/needs_query.py for the needs list) and kept in the canonical form that page builds,
so a form or an API call that sends a bad name, frequency and query hears of all three."""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import parse_qsl, urlencode

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from docking import needs_query
from listings.search_params import DEFAULT_PER_PAGE, parse_search, to_params
from market.errors import ValidationFailed

MAX_NAME = 120
# A search's query string: the listings search takes at most 500 characters of words and 20
# values of each filter; anything longer is no search its page made.
MAX_QUERY = 2000

FrequencyChoice = Literal["daily", "weekly"]
KindChoice = Literal["listings", "needs"]
FREQUENCIES: tuple[str, ...] = FrequencyChoice.__args__  # type: ignore[attr-defined]
KINDS: tuple[str, ...] = KindChoice.__args__  # type: ignore[attr-defined]


class SavedSearchIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: Annotated[str, Field(min_length=1, max_length=MAX_NAME)]
    frequency: FrequencyChoice
    kind: KindChoice = "listings"
    # The search page's query string, with or without its leading "?" or path; kept canonical.
    query: Annotated[str, Field(max_length=MAX_QUERY)]

    @field_validator("query")
    @classmethod
    def _a_search_its_page_takes(cls, value: str, info: ValidationInfo) -> str:
        try:
            return canonical_query(str(info.data.get("kind", "listings")), value)
        except ValidationFailed as exc:
            raise ValueError(exc.message) from None


class FrequencyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    frequency: FrequencyChoice


def _pairs(raw: str) -> list[tuple[str, str]]:
    raw = raw.strip()
    if raw.startswith(("/", "http://", "https://")):
        raw = raw.partition("?")[2]
    return parse_qsl(raw.removeprefix("?"), keep_blank_values=True)


def canonical_query(kind: str, raw: str) -> str:
    """The query string as its page would build it, checked as that page checks it, or
    ValidationFailed. The page number and page size are not kept."""
    pairs = _pairs(raw)
    if kind == "needs":
        canonical = needs_query.to_params(needs_query.parse_needs_query(pairs))
    else:
        parsed = parse_search(pairs)
        canonical = to_params(parsed.model_copy(update={"page": 1, "per_page": DEFAULT_PER_PAGE}))
    if not canonical:
        raise ValidationFailed(
            "Choose words or filters first: a search for everything cannot be saved."
        )
    return urlencode(canonical)
