"""Search of published listings with Meilisearch: index settings, documents, queries.

- The index holds published listings only, one document per listing, keyed by id and carrying
  the listing's `version`, so drift is found by comparing {id: version} (see `check_drift`).
- Settings (ranking order, filters, sorts, synonyms, typo tolerance, Chinese segmentation) are
  applied by code only: at start-up (best effort), by `market reindex` and by the drift check.
- `search` asks Meilisearch with a short timeout; when it is down, slow or has no index, a
  plain database query answers instead and the result says it is limited (`degraded`).
- Filters are built only from whitelisted facet names, and every value is quoted with its
  quotes and backslashes escaped, so nothing a user types becomes filter syntax.
- Writes (`write`, `upsert`, `remove`) read the listings when they send and only enqueue
  Meilisearch tasks; callers that need the change visible (the outbox's batcher in
  `search_sync`, tests, the reindex) wait for the task.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import html
import logging
import re
import secrets
import ssl
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

import aiohttp
import httpx
import orjson
from babel.numbers import get_currency_precision
from pydantic import BaseModel, ConfigDict, Field, field_validator
from tortoise.expressions import Q

from listings.models import Listing, ListingState
from listings.schemas import KINDS, LICENSE_TYPES, PRICE_MODELS
from market.config import Settings, get_settings

log = logging.getLogger(__name__)

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

# Price bands are in US dollars (major units), converted with the rough fixed rates below:
# they are for browsing ("about how much?"), not for accounting, so a rate that is a few
# percent off only moves a listing near a boundary into the next band. A listing without an
# asking price (or in a currency not listed) is in the band "none".
PRICE_BANDS = ("<10k", "10k-100k", "100k-1M", ">1M", "none")
USD_PER_UNIT = {
    "USD": 1.0,
    "EUR": 1.08,
    "GBP": 1.27,
    "CHF": 1.13,
    "CNY": 0.14,
    "HKD": 0.128,
    "TWD": 0.031,
    "JPY": 0.0067,
    "KRW": 0.00073,
    "SGD": 0.74,
    "AUD": 0.66,
    "CAD": 0.73,
    "INR": 0.012,
    "SEK": 0.095,
    "NOK": 0.093,
    "DKK": 0.145,
    "ILS": 0.27,
    "RUB": 0.011,
    "BRL": 0.18,
}
# Facets whose values are a closed set: an unknown value is refused rather than matching nothing.
CLOSED_VALUES: dict[str, tuple[str, ...]] = {
    "kind": KINDS,
    "trl": tuple(str(n) for n in range(1, 10)),
    "license_types": LICENSE_TYPES,
    "price_model": PRICE_MODELS,
    "price_band": PRICE_BANDS,
    "language": ("en", "zh"),
    "ipc_section": tuple("ABCDEFGH"),
}
MAX_VALUES_PER_FACET = 20
MAX_VALUE_LENGTH = 120

# Ranking order of the searchable attributes: a match in the title counts most, then the
# listing's own terms (keywords, IPC subclasses), its text and its inventors. The institute's
# name is not searched (the institute facet filters by it): Meilisearch ranks typos before
# fields, so "membranes" found the software patents of "Institute of Advanced Membranes"
# (exact) above listings saying "membrane" (one typo), and every one of them matched at all.
SEARCHABLE = [
    "title",
    "keywords",
    "ipc_subclass",
    "summary",
    "description",
    "inventors",
]
SORTABLE = ["published_at", "price_usd", "trl"]
SORT_RULES = {
    "relevance": None,
    "newest": ["published_at:desc"],
    "price_asc": ["price_usd:asc"],
    "price_desc": ["price_usd:desc"],
    "trl_desc": ["trl:desc"],
}
# Technology terms people write in more than one way; each group is mutual.
SYNONYM_GROUPS: list[list[str]] = [
    ["ai", "artificial intelligence", "人工智能"],
    ["ml", "machine learning", "机器学习"],
    ["deep learning", "深度学习"],
    ["li-ion", "lithium-ion", "lithium ion", "锂离子"],
    ["battery", "batteries", "电池"],
    ["pv", "photovoltaic", "solar cell", "光伏"],
    ["led", "light-emitting diode", "light emitting diode", "发光二极管"],
    ["iot", "internet of things", "物联网"],
    ["uav", "drone", "unmanned aerial vehicle", "无人机"],
    ["ev", "electric vehicle", "电动汽车"],
    ["crispr", "gene editing", "基因编辑"],
    ["mri", "magnetic resonance imaging"],
    ["cnc", "computer numerical control"],
    ["gpu", "graphics processing unit"],
    ["5g", "fifth generation mobile"],
    ["vr", "virtual reality", "虚拟现实"],
    ["ar", "augmented reality", "增强现实"],
    ["nlp", "natural language processing", "自然语言处理"],
    ["semiconductor", "半导体"],
    ["graphene", "石墨烯"],
    ["membrane", "膜"],
]
# Unusual tags for Meilisearch's highlighting: the text is escaped afterwards and only these
# become <mark>; they are stripped from every indexed text so a listing cannot forge one.
PRE_TAG = "\ue000"
POST_TAG = "\ue001"
_TAGS = re.compile("[\ue000\ue001]")
CROP_LENGTH = 40
LIMITED_MESSAGE = "Search is limited right now: showing simple matches."
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_IPC = re.compile(r"^\s*([A-H])(\d{2})([A-Z])?")


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

    @field_validator("filters")
    @classmethod
    def _known_facets(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        return clean_filters(value)


def clean_filters(filters: dict[str, list[str]]) -> dict[str, list[str]]:
    """Refuse unknown facet names, unknown values of closed facets and oversized input."""
    unknown = sorted(name for name in filters if name not in FACETS)
    if unknown:
        raise ValueError(
            f"Unknown facet {', '.join(map(repr, unknown))}; known facets: {', '.join(FACETS)}."
        )
    cleaned: dict[str, list[str]] = {}
    for name, values in filters.items():
        values = [v.strip() for v in values if v and v.strip()]
        if len(values) > MAX_VALUES_PER_FACET:
            raise ValueError(f"At most {MAX_VALUES_PER_FACET} values for {name}.")
        if any(len(v) > MAX_VALUE_LENGTH for v in values):
            raise ValueError(f"A value for {name} is longer than {MAX_VALUE_LENGTH} characters.")
        closed = CLOSED_VALUES.get(name)
        if closed is not None:
            bad = [v for v in values if v not in closed]
            if bad:
                raise ValueError(
                    f"Unknown value {', '.join(map(repr, bad))} for {name}; "
                    f"known values: {', '.join(closed)}."
                )
        if values:
            cleaned[name] = list(dict.fromkeys(values))
    return cleaned


@dataclass
class Hit:
    id: str
    title: str
    summary: str
    institute: str
    # The institute's public profile is /organizations/<slug>; "" in a document indexed before
    # documents carried it (the next reindex adds it).
    institute_slug: str
    kind: str
    trl: int | None
    license_types: list[str]
    price: dict[str, Any] | None
    price_model: str
    language: str
    published_at: str | None
    # Snippets with <mark> around matches; already HTML-escaped apart from the marks.
    highlights: dict[str, str] = field(default_factory=dict)

    # How many published listings of the same patent family (same institute, title and
    # abstract) this one stands for: the search shows one of them (Meilisearch `distinct`).
    family_size: int = 1
    # This hit lacks a query word, or has one only misspelt (see `as_typed`).
    approximate: bool = False

    def as_json(self) -> dict[str, Any]:
        # A shallow copy: dataclasses.asdict deep-copies every value, which cost more than the
        # rest of the request (measured with bench/search.py).
        return dict(self.__dict__)


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
    # True when no hit of the page has every word of the query as typed (only misspelt or
    # partial matches: "battery" finding "batter"), so the page can say so.
    approximate: bool = False


# --- Meilisearch over HTTP -----------------------------------------------------------------


class MeiliError(RuntimeError):
    def __init__(self, status: int, body: Any) -> None:
        self.status = status
        self.code = body.get("code", "") if isinstance(body, dict) else ""
        message = body.get("message", body) if isinstance(body, dict) else body
        super().__init__(f"Meilisearch {status} {self.code}: {message}")


@functools.cache
def _tls() -> ssl.SSLContext:
    """One TLS context for every `Meili` client of the process. httpx builds a new one per client
    by default, loading the whole CA bundle: about 30 ms of CPU a client, measured. With one per
    published listing (the matching handler's search), a burst of approvals at 20 a second spent
    most of the worker's core on it and left the index 15 s behind (bench/index_burst.py)."""
    return httpx.create_ssl_context()


class Meili:
    """A thin async client for the few REST calls we make; use as `async with Meili() as m`."""

    def __init__(
        self, settings: Settings | None = None, *, timeout: float = 10.0, compress: bool = True
    ) -> None:
        self.settings = settings or get_settings()
        self.index = self.settings.meili_index
        headers = {"Content-Type": "application/json"}
        if not compress:
            headers["Accept-Encoding"] = "identity"
        if self.settings.meili_key:
            headers["Authorization"] = f"Bearer {self.settings.meili_key}"
        self._client = httpx.AsyncClient(
            base_url=self.settings.meili_url.rstrip("/"),
            headers=headers,
            timeout=timeout,
            verify=_tls(),
        )

    async def __aenter__(self) -> Meili:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._client.aclose()

    async def call(self, method: str, path: str, **kwargs: Any) -> Any:
        if "json" in kwargs:
            # orjson both ways: a search answer is tens of kilobytes (hits and facets).
            kwargs["content"] = orjson.dumps(kwargs.pop("json"))
            kwargs["headers"] = {**kwargs.get("headers", {}), "Content-Type": "application/json"}
        response = await self._client.request(method, path, **kwargs)
        try:
            body = orjson.loads(response.content) if response.content else {}
        except orjson.JSONDecodeError:
            body = response.text
        if response.status_code >= 400:
            raise MeiliError(response.status_code, body)
        return body

    async def wait(
        self, task: dict[str, Any] | int, limit_s: float = 60.0, *, every_max: float = 0.25
    ) -> dict[str, Any]:
        """Wait for a task, asking again after 10 ms, 20 ms, ... up to `every_max`; raise if
        it failed."""
        uid = task if isinstance(task, int) else task["taskUid"]
        deadline = time.monotonic() + limit_s
        delay = 0.01
        while True:
            info = await self.call("GET", f"/tasks/{uid}")
            if info["status"] == "succeeded":
                return info
            if info["status"] in {"failed", "canceled"}:
                raise MeiliError(500, info.get("error") or {"message": info["status"]})
            if time.monotonic() > deadline:
                raise TimeoutError(f"Meilisearch task {uid} still {info['status']}")
            await asyncio.sleep(delay)
            delay = min(delay * 2, every_max)

    async def index_exists(self, uid: str) -> bool:
        try:
            await self.call("GET", f"/indexes/{uid}")
        except MeiliError as exc:
            if exc.code == "index_not_found":
                return False
            raise
        return True

    async def create_index(self, uid: str) -> None:
        task = await self.call("POST", "/indexes", json={"uid": uid, "primaryKey": "id"})
        try:
            await self.wait(task)
        except MeiliError as exc:
            if "index_already_exists" not in str(exc):
                raise

    async def add_documents(self, uid: str, documents: list[dict[str, Any]]) -> dict[str, Any]:
        return await self.call(
            "POST", f"/indexes/{uid}/documents", params={"primaryKey": "id"}, json=documents
        )

    async def delete_documents(self, uid: str, ids: list[str]) -> dict[str, Any]:
        return await self.call("POST", f"/indexes/{uid}/documents/delete-batch", json=ids)


def index_settings() -> dict[str, Any]:
    synonyms: dict[str, list[str]] = {}
    for group in SYNONYM_GROUPS:
        for term in group:
            synonyms[term] = [other for other in group if other != term]
    return {
        "searchableAttributes": SEARCHABLE,
        "displayedAttributes": ["*"],
        "filterableAttributes": list(FACETS) + ["institute_id", "published_at", "price_usd"],
        "sortableAttributes": SORTABLE,
        # One result per patent family (see family_key); the hit says how many it stands for.
        "distinctAttribute": "family",
        # Which field a word is in before how close the words are: known-item queries
        # (bench/relevance.py) find the listing whose title has the words more often than the
        # one whose long description has them side by side. Chinese terms are sent as phrases
        # (see query_text), which keeps their pieces together whatever the order. Last, among
        # equals, the newer.
        "rankingRules": [
            "words",
            "typo",
            "attribute",
            "proximity",
            "sort",
            "exactness",
            "published_at:desc",
        ],
        "typoTolerance": {
            "enabled": True,
            "minWordSizeForTypos": {"oneTypo": 4, "twoTypos": 8},
            # Codes and numbers must match exactly.
            "disableOnAttributes": [],
        },
        "synonyms": synonyms,
        # Chinese text is segmented as Mandarin (never guessed as Japanese from a short title);
        # Latin-script text keeps its own tokenizer.
        "localizedAttributes": [{"locales": ["cmn", "eng"], "attributePatterns": ["*"]}],
        # Nothing asks Meilisearch to search within facet values (the page lists them), and
        # keeping that index up to date is a share of every document update's indexing time.
        "facetSearch": False,
        "faceting": {"maxValuesPerFacet": 100, "sortFacetValuesBy": {"*": "count"}},
        "pagination": {"maxTotalHits": 5000},
    }


async def apply_settings(
    settings: Settings | None = None, *, index: str | None = None, wait: bool = True
) -> None:
    """Create the index when missing and apply our settings to it (idempotent)."""
    async with Meili(settings) as meili:
        uid = index or meili.index
        if not await meili.index_exists(uid):
            await meili.create_index(uid)
        task = await meili.call("PATCH", f"/indexes/{uid}/settings", json=index_settings())
        if wait:
            await meili.wait(task)


# --- documents -----------------------------------------------------------------------------


def _clean(text: str) -> str:
    return _TAGS.sub("", text or "")


def price_in_usd(amount: int | None, currency: str | None) -> float | None:
    if amount is None or not currency or currency.upper() not in USD_PER_UNIT:
        return None
    digits = get_currency_precision(currency.upper())
    return amount / 10**digits * USD_PER_UNIT[currency.upper()]


def price_band(usd: float | None) -> str:
    if usd is None:
        return "none"
    if usd < 10_000:
        return "<10k"
    if usd < 100_000:
        return "10k-100k"
    if usd < 1_000_000:
        return "100k-1M"
    return ">1M"


def ipc_parts(codes: Iterable[str]) -> dict[str, list[str]]:
    sections: dict[str, None] = {}
    classes: dict[str, None] = {}
    subclasses: dict[str, None] = {}
    for code in codes or []:
        match = _IPC.match(str(code).upper())
        if not match:
            continue
        section, number, letter = match.groups()
        sections[section] = None
        classes[section + number] = None
        if letter:
            subclasses[section + number + letter] = None
    return {
        "ipc_section": list(sections),
        "ipc_class": list(classes),
        "ipc_subclass": list(subclasses),
    }


def family_key(listing: Any) -> str:
    """Members of one patent family (continuations, the same application filed in several
    offices) carry the same title and abstract: one institute's listings with the same title
    and summary, whitespace and case aside, look identical in a list of results and are one
    family in the search."""
    text = " ".join(f"{listing.title}\n{listing.summary}".lower().split())
    digest = hashlib.blake2b(f"{listing.institute_id}\n{text}".encode(), digest_size=10)
    return digest.hexdigest()


async def family_sizes(listings: Iterable[Any]) -> dict[str, list[Any]]:
    """{family key: its published listings} for the families of these listings, in one
    query (the institute's listings with one of these titles)."""
    items = list(listings)
    if not items:
        return {}
    members = (
        await _published()
        .filter(
            institute_id__in={item.institute_id for item in items},
            title__in={item.title for item in items},
        )
        .prefetch_related("institute")
    )
    families: dict[str, list[Any]] = {}
    for member in members:
        families.setdefault(family_key(member), []).append(member)
    return families


def document(listing: Any, family_size: int = 1) -> dict[str, Any]:
    """The search document of a listing; its `institute` must be fetched."""
    institute = listing.institute
    usd = price_in_usd(listing.asking_amount, listing.asking_currency)
    published = listing.published_at
    return {
        "id": str(listing.id),
        "version": listing.version,
        "title": _clean(listing.title),
        "summary": _clean(listing.summary),
        "description": _clean(listing.description),
        "keywords": [_clean(k) for k in listing.keywords or []],
        "inventors": [_clean(i) for i in listing.inventors or []],
        "institute": _clean(institute.name),
        "institute_id": str(institute.id),
        # Kept through renames (Organization.slug), so only a new document ever changes it.
        "institute_slug": institute.slug or "",
        "country": institute.country or "",
        "region": institute.region or "",
        "kind": str(listing.kind),
        **ipc_parts(listing.ipc_codes or []),
        "trl": listing.trl,
        "license_types": list(listing.license_types or []),
        "territories": list(listing.territories or []),
        "price_model": listing.price_model,
        "price_band": price_band(usd),
        "price_usd": usd,
        "currency": listing.asking_currency or "",
        "amount": listing.asking_amount,
        "language": listing.language,
        # Seconds with their fraction: listings published within one second still sort.
        "published_at": published.timestamp() if published else None,
        "family": family_key(listing),
        "family_size": family_size,
    }


def _published() -> Any:
    return Listing.filter(state=ListingState.PUBLISHED)


async def write(meili: Meili, listing_ids: Iterable[Any]) -> list[int]:
    """Read these listings now and enqueue what the index must become: one task adding the
    published ones (replacing any older version), one deleting all others. Returns the task
    uids; Meilisearch runs an index's tasks in the order they were enqueued, so a caller that
    reads and enqueues one batch after the other keeps every listing's changes in order."""
    ids = list(dict.fromkeys(str(i) for i in listing_ids))
    if not ids:
        return []
    listings = await Listing.filter(id__in=ids).prefetch_related("institute")
    # A family's documents all say how many members it has: whichever of them is written,
    # published or withdrawn, its published relatives are written again with the new count.
    families = await family_sizes(listings)
    published = {str(item.id): item for item in listings if item.state == ListingState.PUBLISHED}
    for members in families.values():
        published.update((str(member.id), member) for member in members)
    docs = [
        document(item, len(families.get(family_key(item), [item]))) for item in published.values()
    ]
    gone = sorted(set(ids) - {d["id"] for d in docs})
    tasks: list[int] = []
    if docs:
        tasks.append((await meili.add_documents(meili.index, docs))["taskUid"])
    if gone:
        tasks.append((await meili.delete_documents(meili.index, gone))["taskUid"])
    return tasks


async def upsert(
    listing_ids: Iterable[Any], settings: Settings | None = None, *, wait: bool = False
) -> list[int]:
    """Make the index match the database for these listings: published ones are written
    (replacing any older version), all others are deleted. Idempotent; returns task uids."""
    async with Meili(settings) as meili:
        tasks = await write(meili, listing_ids)
        if wait:
            for task in tasks:
                await meili.wait(task)
    return tasks


async def remove(
    listing_ids: Iterable[Any], settings: Settings | None = None, *, wait: bool = False
) -> list[int]:
    ids = list(dict.fromkeys(str(i) for i in listing_ids))
    if not ids:
        return []
    async with Meili(settings) as meili:
        task = await meili.delete_documents(meili.index, ids)
        if wait:
            await meili.wait(task)
    return [task["taskUid"]]


# --- rebuild and drift ---------------------------------------------------------------------

REINDEX_BATCH = 500
Progress = Callable[[int, int], None]


async def reindex(
    progress: Progress | None = None, settings: Settings | None = None, *, batch: int = 0
) -> dict[str, Any]:
    """Build a new index from the database and swap it in atomically.

    Searches keep hitting the old, complete index until the swap; listings that change while
    the new one is built are synced again after the swap, so nothing is lost.
    `progress(done, total)` is called after each batch.
    """
    settings = settings or get_settings()
    batch = batch or REINDEX_BATCH
    started = time.time()
    async with Meili(settings, timeout=30) as meili:
        live = meili.index
        build = f"{live}_build_{secrets.token_hex(4)}"
        await apply_settings(settings, index=build)
        try:
            total = await _published().count()
            done = 0
            tasks: list[int] = []
            last_id = None
            if progress:
                progress(0, total)
            while True:
                page = _published().order_by("id").limit(batch).prefetch_related("institute")
                if last_id is not None:
                    page = page.filter(id__gt=last_id)
                items = await page
                if not items:
                    break
                last_id = items[-1].id
                families = await family_sizes(items)
                docs = [
                    document(item, len(families.get(family_key(item), [item]))) for item in items
                ]
                tasks.append((await meili.add_documents(build, docs))["taskUid"])
                done += len(docs)
                if progress:
                    progress(done, total)
            for task in tasks:
                await meili.wait(task, limit_s=600)
            if not await meili.index_exists(live):
                await meili.create_index(live)
            swap = await meili.call("POST", "/swap-indexes", json=[{"indexes": [live, build]}])
            await meili.wait(swap)
        except BaseException:
            await _drop(meili, build)
            raise
        # `build` now holds the old documents.
        await _drop(meili, build)
    # Whatever changed since the build started (the outbox wrote those to the old index).
    changed = await Listing.filter(updated_at__gte=_utc(started - 5)).values_list("id", flat=True)
    if changed:
        await upsert(changed, settings, wait=True)
    return {"indexed": done, "resynced": len(changed), "took_s": round(time.time() - started, 2)}


def _utc(timestamp: float) -> Any:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(timestamp, UTC)


async def _drop(meili: Meili, uid: str) -> None:
    try:
        await meili.call("DELETE", f"/indexes/{uid}")
    except Exception:  # best effort: a leftover build index is only wasted space
        log.warning("could not delete the index %s", uid, exc_info=True)


async def index_versions(
    settings: Settings | None = None, *, uid_of: Callable[[Settings], str] | None = None
) -> dict[str, int]:
    """{id: version} of every document in the index (empty when the index does not exist):
    the listings index, or the one `uid_of` names (the needs index)."""
    found: dict[str, int] = {}
    async with Meili(settings, timeout=30) as meili:
        uid = uid_of(meili.settings) if uid_of else meili.index
        offset, limit = 0, 1000
        while True:
            try:
                body = await meili.call(
                    "GET",
                    f"/indexes/{uid}/documents",
                    params={"fields": "id,version", "limit": limit, "offset": offset},
                )
            except MeiliError as exc:
                if exc.code == "index_not_found":
                    return found
                raise
            for doc in body["results"]:
                found[str(doc["id"])] = int(doc.get("version") or 0)
            offset += limit
            if offset >= body["total"] or not body["results"]:
                return found


def drift(db: dict[str, int], index: dict[str, int]) -> dict[str, Any]:
    """What differs between the {id: version} of a database and of its index: the ids missing
    from the index, stale in it, or extra there."""
    return {
        "database": len(db),
        "index": len(index),
        "missing": sorted(set(db) - set(index)),
        "stale": sorted(i for i in set(db) & set(index) if db[i] != index[i]),
        "extra": sorted(set(index) - set(db)),
        "repaired": False,
    }


async def check_drift(repair: bool = False, settings: Settings | None = None) -> dict[str, Any]:
    """Compare {id: version} of published listings in the database with the index.

    Repairing re-syncs every differing id from the database's current state (so a listing
    that changed while we compared is still written correctly) and waits for the tasks.
    """
    db = {
        str(listing_id): version
        for listing_id, version in await _published().values_list("id", "version")
    }
    index = await index_versions(settings)
    report = drift(db, index)
    missing, stale, extra = report["missing"], report["stale"], report["extra"]
    if repair and (missing or stale or extra):
        await apply_settings(settings)  # the index may be gone altogether
        await upsert([*missing, *stale, *extra], settings, wait=True)
        report["repaired"] = True
    return report


# --- queries -------------------------------------------------------------------------------


def quote(value: str) -> str:
    """A filter value as a Meilisearch string literal: nothing in it can end the quotes."""
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def build_filter(query: SearchQuery) -> list[Any]:
    """Meilisearch filter expressions (AND between facets, OR within one)."""
    expressions: list[Any] = []
    for name, values in clean_filters(query.filters).items():
        if name == "trl":
            expressions.append([f"trl = {int(v)}" for v in values])
        else:
            expressions.append([f"{name} = {quote(v)}" for v in values])
    if query.trl_min is not None:
        expressions.append(f"trl >= {int(query.trl_min)}")
    if query.trl_max is not None:
        expressions.append(f"trl <= {int(query.trl_max)}")
    return expressions


def _mark(text: Any) -> str:
    if isinstance(text, list):
        text = " · ".join(str(t) for t in text)
    escaped = html.escape(str(text or ""), quote=True)
    return escaped.replace(PRE_TAG, "<mark>").replace(POST_TAG, "</mark>")


def _iso(timestamp: float | None) -> str | None:
    return _utc(timestamp).isoformat() if timestamp is not None else None


def _hit(doc: dict[str, Any]) -> Hit:
    formatted = doc.get("_formatted") or {}
    highlights = {
        name: _mark(formatted[name]) for name in ("title", "summary") if name in formatted
    }
    amount, currency = doc.get("amount"), doc.get("currency")
    return Hit(
        id=str(doc["id"]),
        title=doc.get("title", ""),
        summary=doc.get("summary", ""),
        institute=doc.get("institute", ""),
        institute_slug=doc.get("institute_slug") or "",
        kind=doc.get("kind", ""),
        trl=doc.get("trl"),
        license_types=list(doc.get("license_types") or []),
        price={"amount": amount, "currency": currency} if amount is not None and currency else None,
        price_model=doc.get("price_model", ""),
        language=doc.get("language", ""),
        published_at=_iso(doc.get("published_at")),
        highlights=highlights,
        family_size=int(doc.get("family_size") or 1),
        approximate=not as_typed(doc),
    )


# Every term of the synonym list: sent as typed, so its synonyms apply (they do not to phrases).
_SYNONYM_TERMS = {term for group in SYNONYM_GROUPS for term in group}


def query_text(q: str) -> str:
    """The words as sent to Meilisearch: each Chinese term becomes a phrase. The segmenter
    cuts a term into pieces (甲基丙烯酸甲酯 -> 甲基 丙烯酸 甲酯), which as loose words also
    match pieces scattered through other texts, and four-character pieces even with a typo;
    a phrase wants them in a row and as written."""
    words = []
    for word in q[:500].split():
        if _HAN.search(word) and word not in _SYNONYM_TERMS:
            bare = word.replace('"', "")
            words.append(f'"{bare}"' if bare else word)
        else:
            words.append(word)
    return " ".join(words)


def meili_request(query: SearchQuery) -> dict[str, Any]:
    body: dict[str, Any] = {
        "q": query_text(query.q),
        "page": query.page,
        "hitsPerPage": query.per_page,
        "facets": list(FACETS),
        "attributesToRetrieve": [
            "id",
            "title",
            "summary",
            "institute",
            "institute_slug",
            "kind",
            "trl",
            "license_types",
            "amount",
            "currency",
            "price_model",
            "language",
            "published_at",
            "family_size",
        ],
        "attributesToHighlight": ["title", "summary"],
        "attributesToCrop": ["summary"],
        "cropLength": CROP_LENGTH,
        "highlightPreTag": PRE_TAG,
        "highlightPostTag": POST_TAG,
    }
    filters = build_filter(query)
    if filters:
        body["filter"] = filters
    if SORT_RULES[query.sort]:
        body["sort"] = SORT_RULES[query.sort]
    if _HAN.search(query.q):
        body["locales"] = ["cmn"]
    if query.q.strip():
        # Per hit, how many query words it matched and with how many typos: whether the
        # answer is approximate comes with the answer, at no extra request.
        body["showRankingScoreDetails"] = True
    return body


def as_typed(doc: dict[str, Any]) -> bool:
    """Whether a hit has every query word as typed, by Meilisearch's ranking details of it: no
    word left out, none matched only with a typo ("battery" finding "batter"). A prefix
    ("batt" finding "battery") and a synonym count as typed; a hit without details (no words
    asked for) too."""
    details = doc.get("_rankingScoreDetails")
    if not details:
        return True
    words = details.get("words") or {}
    typo = details.get("typo") or {}
    if words.get("matchingWords", 0) < words.get("maxMatchingWords", 0):
        return False
    return typo.get("typoCount", 0) == 0


def approximate(hits: list[dict[str, Any]]) -> bool:
    """True when hits were found but none has every query word as typed."""
    return bool(hits) and not any(as_typed(doc) for doc in hits)


# One open client per event loop and configuration: a new connection per search cost more than
# the search itself (measured in bench/search.py).
_search_clients: dict[tuple[Any, ...], Searcher] = {}


class Searcher:
    """The search request alone, on aiohttp: it is made for every search, and httpx spent three
    times aiohttp's CPU on it (about 1 ms against 0.3 ms a call, measured), a cost that lands
    on the same cores as Meilisearch's own work. Everything else goes through `Meili`."""

    def __init__(self, settings: Settings) -> None:
        self.index = settings.meili_index
        self._url = f"{settings.meili_url.rstrip('/')}/indexes/{self.index}/search"
        # Uncompressed: gzip of a page of hits and facets costs Meilisearch and us more CPU
        # than the bytes cost between neighbouring machines.
        headers = {"Content-Type": "application/json", "Accept-Encoding": "identity"}
        if settings.meili_key:
            headers["Authorization"] = f"Bearer {settings.meili_key}"
        self._session = aiohttp.ClientSession(
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=settings.search_timeout_ms / 1000),
            auto_decompress=False,
        )

    async def search(self, body: dict[str, Any]) -> Any:
        async with self._session.post(self._url, data=orjson.dumps(body)) as response:
            raw = await response.read()
            status = response.status
        try:
            parsed = orjson.loads(raw) if raw else {}
        except orjson.JSONDecodeError:
            parsed = raw.decode("utf-8", "replace")
        if status >= 400:
            raise MeiliError(status, parsed)
        return parsed

    async def close(self) -> None:
        await self._session.close()


def _search_client(settings: Settings) -> Searcher:
    key = (
        id(asyncio.get_running_loop()),
        settings.meili_url,
        settings.meili_key,
        settings.meili_index,
        settings.search_timeout_ms,
    )
    client = _search_clients.get(key)
    if client is None:
        client = _search_clients[key] = Searcher(settings)
    return client


async def close_search_clients() -> None:
    """Close the shared clients of the running loop (the app's shutdown calls this)."""
    loop = id(asyncio.get_running_loop())
    for key in [k for k in _search_clients if k[0] == loop]:
        await _search_clients.pop(key).close()


async def _search_meili(query: SearchQuery, settings: Settings) -> SearchResult:
    request = meili_request(query)
    body = await _search_client(settings).search(request)
    loose = " ".join(query.q[:500].split())
    loosened = False
    if request["q"] != loose and not body.get("totalHits"):
        # No text has the Chinese terms as written (a paraphrase, a term the segmenter cuts
        # otherwise in context): their pieces, as loose words, are the approximate answer.
        # A second request only when the first found nothing.
        body = await _search_client(settings).search({**request, "q": loose})
        loosened = True
    facets = {
        name: dict(values)
        for name, values in (body.get("facetDistribution") or {}).items()
        if name in FACETS
    }
    hits = body.get("hits", [])
    found = [_hit(doc) for doc in hits]
    if loosened:
        for hit in found:
            hit.approximate = True
    return SearchResult(
        hits=found,
        facets=facets,
        total=int(body.get("totalHits", 0)),
        page=query.page,
        per_page=query.per_page,
        took_ms=int(body.get("processingTimeMs", 0)),
        approximate=bool(hits) and (loosened or approximate(hits)),
    )


# Filters the fallback can apply with plain columns; the others are reported as skipped.
_DB_FILTERS = {
    "kind": "kind__in",
    "trl": "trl__in",
    "price_model": "price_model__in",
    "currency": "asking_currency__in",
    "language": "language__in",
    "institute": "institute__name__in",
    "country": "institute__country__in",
    "region": "institute__region__in",
}
_DB_SORTS = {
    "relevance": ["-published_at", "id"],
    "newest": ["-published_at", "id"],
    "price_asc": ["asking_amount", "id"],
    "price_desc": ["-asking_amount", "id"],
    "trl_desc": ["-trl", "id"],
}


async def _search_db(query: SearchQuery) -> SearchResult:
    """The simple answer when Meilisearch cannot give one: words matched in title or summary."""
    started = time.monotonic()
    qs = _published()
    for word in query.q.split()[:10]:
        qs = qs.filter(Q(title__icontains=word) | Q(summary__icontains=word))
    skipped = []
    for name, values in clean_filters(query.filters).items():
        lookup = _DB_FILTERS.get(name)
        if lookup is None:
            skipped.append(name)
            continue
        qs = qs.filter(**{lookup: [int(v) for v in values] if name == "trl" else values})
    if query.trl_min is not None:
        qs = qs.filter(trl__gte=query.trl_min)
    if query.trl_max is not None:
        qs = qs.filter(trl__lte=query.trl_max)
    total = await qs.count()
    items = (
        await qs.order_by(*_DB_SORTS[query.sort])
        .offset((query.page - 1) * query.per_page)
        .limit(query.per_page)
        .prefetch_related("institute")
    )
    hits = []
    for item in items:
        doc = document(item)
        hits.append(_hit({**doc, "_formatted": {}}))
    message = LIMITED_MESSAGE
    if skipped:
        message += f" Filters not applied: {', '.join(sorted(skipped))}."
    return SearchResult(
        hits=hits,
        facets={},
        total=total,
        page=query.page,
        per_page=query.per_page,
        took_ms=int((time.monotonic() - started) * 1000),
        degraded=True,
        message=message,
    )


async def search(query: SearchQuery, settings: Settings | None = None) -> SearchResult:
    """Meilisearch first, within `search_timeout_ms`; the database when it cannot answer."""
    settings = settings or get_settings()
    try:
        return await asyncio.wait_for(
            _search_meili(query, settings), timeout=settings.search_timeout_ms / 1000
        )
    except (httpx.HTTPError, aiohttp.ClientError, MeiliError, TimeoutError, ValueError) as exc:
        log.warning("search fell back to the database: %s", exc)
        return await _search_db(query)
