"""The input of a saved search, shared by the form and the JSON API."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

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
    # The search page's query string, with or without its leading "?" or path.
    query: Annotated[str, Field(max_length=MAX_QUERY)]
    frequency: FrequencyChoice
    kind: KindChoice = "listings"


class FrequencyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    frequency: FrequencyChoice
