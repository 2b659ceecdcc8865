"""Search of published listings with Meilisearch: index settings, documents, queries.

(Interface fixed here; the implementation is being written.)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

SORTS = ("relevance", "newest", "price_asc", "price_desc", "trl_desc")
# Facet name on the wire -> what it filters; unknown names are refused with a message.
FACETS = (
    "kind",
    "ipc_section",
    "ipc_class",
    "ipc_subclass",
    "trl",
    "license_types",
    "territories",
    "price_model",
    "price_band",
    "currency",
    "institute",
    "country",
    "region",
    "language",
)


class SearchQuery(BaseModel):
    """What a search asks, parsed from the query string of the page or the API."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    q: str = Field(default="", max_length=500)
    filters: dict[str, list[str]] = Field(default_factory=dict)  # facet -> chosen values
    trl_min: int | None = Field(default=None, ge=1, le=9)
    trl_max: int | None = Field(default=None, ge=1, le=9)
    sort: Literal["relevance", "newest", "price_asc", "price_desc", "trl_desc"] = "relevance"
    page: int = Field(default=1, ge=1, le=10_000)
    per_page: int = Field(default=20, ge=1, le=100)


@dataclass
class Hit:
    id: str
    title: str
    summary: str
    institute: str
    kind: str
    trl: int | None
    license_types: list[str]
    price: dict[str, Any] | None
    price_model: str
    language: str
    published_at: str | None
    # Snippets with <mark> around matches; already HTML-escaped apart from the marks.
    highlights: dict[str, str] = field(default_factory=dict)


@dataclass
class SearchResult:
    hits: list[Hit]
    facets: dict[str, dict[str, int]]
    total: int
    page: int
    per_page: int
    took_ms: int
    # True when Meilisearch did not answer in time and a simpler database query answered.
    degraded: bool = False
    message: str = ""
