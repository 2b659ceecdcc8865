"""The `needs` index in Meilisearch: published technology needs, kept in step through the outbox
as listings are (`listings/search.py` is the model; its client, quoting and tag cleaning are
reused, never its settings).

- One document per published need, keyed by id and carrying the need's `version`, so drift is
  found by comparing {id: version} (`check_drift`); `reindex` builds a new index and swaps it.
- An anonymous need's document names no seeker (no name, id or slug); a need whose details wait
  for a confidentiality clause carries its title, problem, keywords and codes only, what its
  public page shows.
- Every need event runs `sync_need` (workers/handlers.py): the document is written or deleted
  from the need's state now, and the handler returns once Meilisearch indexed it, so its
  delivery is done only then. Needs are few next to listings: one task per event, no batcher.
- `search_needs` asks Meilisearch within `search_timeout_ms`; when it cannot answer, a plain
  database query answers and the result says it is limited, as listings' search does.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import httpx
from tortoise.expressions import Q

from docking.glossary import GLOSSARY
from docking.models import Need, NeedState, Visibility
from listings import search as listing_search
from listings.search import (
    LIMITED_MESSAGE,
    SYNONYM_GROUPS,
    Meili,
    MeiliError,
    _clean,
    ipc_parts,
)
from market.config import Settings, get_settings
from market.outbox import OutboxEvent

log = logging.getLogger(__name__)

SEARCHABLE = ["title", "keywords", "problem", "seeker"]
FILTERABLE = [
    "ipc_section",
    "ipc_class",
    "ipc_subclass",
    "trl_min",
    "trl_max",
    "cooperation",
    "territories",
    "language",
    "seeker_id",
]
REINDEX_BATCH = 500
Progress = Callable[[int, int], None]


def index_name(settings: Settings | None = None) -> str:
    return (settings or get_settings()).meili_needs_index


def index_settings() -> dict[str, Any]:
    synonyms: dict[str, list[str]] = {}
    for group in [*SYNONYM_GROUPS, *GLOSSARY]:
        for term in group:
            others = [other for other in group if other != term]
            synonyms[term] = sorted({*synonyms.get(term, []), *others})
    return {
        "searchableAttributes": SEARCHABLE,
        "displayedAttributes": ["*"],
        "filterableAttributes": FILTERABLE,
        "sortableAttributes": ["published_at"],
        "synonyms": synonyms,
        "localizedAttributes": [{"locales": ["cmn", "eng"], "attributePatterns": ["*"]}],
        "facetSearch": False,
        "pagination": {"maxTotalHits": 1000},
    }


async def apply_settings(
    settings: Settings | None = None, *, index: str | None = None, wait: bool = True
) -> None:
    """Create the needs index when missing and apply its settings (idempotent)."""
    async with Meili(settings) as meili:
        uid = index or index_name(meili.settings)
        if not await meili.index_exists(uid):
            await meili.create_index(uid)
        task = await meili.call("PATCH", f"/indexes/{uid}/settings", json=index_settings())
        if wait:
            await meili.wait(task)


def document(need: Need) -> dict[str, Any]:
    """The search document of a published need; its `seeker` must be fetched."""
    anonymous = need.visibility == Visibility.ANONYMOUS
    seeker = need.seeker
    published = need.published_at
    return {
        "id": str(need.id),
        "version": need.version,
        "title": _clean(need.title),
        "problem": _clean(need.problem),
        "keywords": [_clean(k) for k in need.keywords or []],
        **ipc_parts(need.ipc_codes or []),
        "ipc_codes": list(need.ipc_codes or []),
        "trl_min": need.trl_min,
        "trl_max": need.trl_max,
        "cooperation": list(need.cooperation or []),
        "territories": list(need.territories or []),
        "language": need.language,
        # Never who posts an anonymous need: the index is read by whoever searches.
        "seeker": "" if anonymous else _clean(seeker.name),
        "seeker_id": "" if anonymous else str(seeker.id),
        "seeker_slug": "" if anonymous else (seeker.slug or ""),
        "deadline": need.deadline.isoformat(),
        "published_at": published.timestamp() if published else None,
    }


def _published() -> Any:
    return Need.filter(state=NeedState.PUBLISHED)


async def write(meili: Meili, uid: str, need_ids: Iterable[Any]) -> list[int]:
    """Read these needs now; enqueue one task adding the published ones and one deleting the
    others. Returns the task uids."""
    ids = list(dict.fromkeys(str(i) for i in need_ids))
    if not ids:
        return []
    needs = await Need.filter(id__in=ids).select_related("seeker")
    docs = [document(n) for n in needs if n.state == NeedState.PUBLISHED]
    gone = sorted(set(ids) - {d["id"] for d in docs})
    tasks: list[int] = []
    if docs:
        tasks.append((await meili.add_documents(uid, docs))["taskUid"])
    if gone:
        tasks.append((await meili.delete_documents(uid, gone))["taskUid"])
    return tasks


async def upsert(
    need_ids: Iterable[Any], settings: Settings | None = None, *, wait: bool = False
) -> list[int]:
    """Make the index match the database for these needs (idempotent)."""
    async with Meili(settings) as meili:
        uid = index_name(meili.settings)
        if not await meili.index_exists(uid):
            # Written to first: an index Meilisearch made by itself would lack our filters.
            await apply_settings(meili.settings, index=uid)
        tasks = await write(meili, uid, need_ids)
        if wait:
            for task in tasks:
                await meili.wait(task)
    return tasks


async def sync_need(event: OutboxEvent) -> None:
    """Outbox handler of every need event: the document follows the need's state now.
    Idempotent; raises while Meilisearch is down, so the outbox retries it."""
    need_id = (event.payload or {}).get("need_id")
    if need_id:
        await upsert([need_id], wait=True)


# --- rebuild and drift ---------------------------------------------------------------------


async def reindex(
    progress: Progress | None = None, settings: Settings | None = None, *, batch: int = 0
) -> dict[str, Any]:
    """Build a new needs index from the database and swap it in (as listings' reindex)."""
    settings = settings or get_settings()
    batch = batch or REINDEX_BATCH
    started = time.time()
    done = 0
    async with Meili(settings, timeout=30) as meili:
        live = index_name(settings)
        build = f"{live}_build_{secrets.token_hex(4)}"
        await apply_settings(settings, index=build)
        try:
            total = await _published().count()
            if progress:
                progress(0, total)
            tasks: list[int] = []
            last_id = None
            while True:
                page = _published().order_by("id").limit(batch).select_related("seeker")
                if last_id is not None:
                    page = page.filter(id__gt=last_id)
                items = await page
                if not items:
                    break
                last_id = items[-1].id
                tasks.append(
                    (await meili.add_documents(build, [document(n) for n in items]))["taskUid"]
                )
                done += len(items)
                if progress:
                    progress(done, total)
            for task in tasks:
                await meili.wait(task, limit_s=600)
            if not await meili.index_exists(live):
                await meili.create_index(live)
            swap = await meili.call("POST", "/swap-indexes", json=[{"indexes": [live, build]}])
            await meili.wait(swap)
        finally:
            try:
                await meili.call("DELETE", f"/indexes/{build}")
            except Exception:  # best effort: a leftover build index is only wasted space
                log.warning("could not delete the index %s", build, exc_info=True)
    since = datetime.fromtimestamp(started - 5, UTC)
    changed = await Need.filter(updated_at__gte=since).values_list("id", flat=True)
    if changed:
        await upsert(changed, settings, wait=True)
    return {"indexed": done, "resynced": len(changed), "took_s": round(time.time() - started, 2)}


async def index_versions(settings: Settings | None = None) -> dict[str, int]:
    """{id: version} of every document in the needs index."""
    return await listing_search.index_versions(settings, uid_of=index_name)


async def check_drift(repair: bool = False, settings: Settings | None = None) -> dict[str, Any]:
    """Compare {id: version} of published needs with the needs index; repair re-syncs each
    differing id from the database's current state."""
    db = {str(i): v for i, v in await _published().values_list("id", "version")}
    index = await index_versions(settings)
    report = listing_search.drift(db, index)
    missing, stale, extra = report["missing"], report["stale"], report["extra"]
    if repair and (missing or stale or extra):
        await apply_settings(settings)
        await upsert([*missing, *stale, *extra], settings, wait=True)
        report["repaired"] = True
    return report


async def check_needs_drift(ctx: dict[str, Any] | None = None) -> dict[str, Any]:
    """The worker's periodic check (beside listings'): repair what retries did not."""
    report = await check_drift(repair=True)
    if report["repaired"]:
        log.warning(
            "needs index drift repaired: %d missing, %d stale, %d extra",
            len(report["missing"]),
            len(report["stale"]),
            len(report["extra"]),
        )
    return {k: (len(v) if isinstance(v, list) else v) for k, v in report.items()}


# --- queries -------------------------------------------------------------------------------


async def search_needs(
    q: str, *, page: int = 1, per_page: int = 20, settings: Settings | None = None
) -> tuple[list[str], int, bool, str]:
    """Published needs matching `q`: (ids best first, total, degraded, message). Meilisearch
    first, within `search_timeout_ms`; a database query of title and problem when it cannot
    answer (the result says it is limited)."""
    settings = settings or get_settings()
    body = {"q": q[:500], "page": page, "hitsPerPage": per_page, "attributesToRetrieve": ["id"]}
    try:
        async with Meili(settings, timeout=settings.search_timeout_ms / 1000) as meili:
            found = await asyncio.wait_for(
                meili.call("POST", f"/indexes/{index_name(settings)}/search", json=body),
                timeout=settings.search_timeout_ms / 1000,
            )
        return [str(h["id"]) for h in found["hits"]], int(found.get("totalHits", 0)), False, ""
    except (httpx.HTTPError, MeiliError, TimeoutError) as exc:
        log.warning("needs search fell back to the database: %s", exc)
    query = _published()
    for word in q.split()[:8]:
        query = query.filter(Q(title__icontains=word) | Q(problem__icontains=word))
    total = await query.count()
    ids = await (
        query.order_by("-published_at", "id")
        .offset((page - 1) * per_page)
        .limit(per_page)
        .values_list("id", flat=True)
    )
    return [str(i) for i in ids], total, True, LIMITED_MESSAGE
