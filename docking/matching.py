"""Matching both ways: a published need against published listings, a published listing against
open needs, with a score a person can read (issue 18, point 3).

1. **Candidates** come from Meilisearch, so the cost does not grow with the corpus: one
   multi-search of a few queries (the need's title; its keywords with their translations from
   the glossary; the start of its problem; the keywords within its IPC subclasses) against the
   listings index, or the listing's title, keywords and translations against the needs index.
   The lists are fused by reciprocal rank (a listing found by several queries rises).
2. **Score** (0..100), in Python, from reasons anyone can check:
   - words: the need's terms (title words, keywords, glossary concepts in either language)
     found in the listing's title, summary and keywords, up to `WORDS`; plus up to `RANK` from
     the fused rank;
   - IPC: a shared subclass (`IPC["subclass"]`), else class, else section;
   - TRL: the listing's inside the need's range, or how far outside;
   - rights: whether the licence, territories and field the need asks for are still free in
     the listing's rights. An exclusive (or sole) licence or an assignment already granted
     over the need's territories and field lowers the match and says so; one over part of
     them lowers it less. Grants are read from `listing_grant` by a written-out statement
     (market/rows.py): docking sits below contracts and does not import it, and the rule is
     the one of contracts/offers/rights.py (exclusive and sole exclude overlapping grants,
     an assignment everything; WORLD overlaps every territory, the field "all" every field).
     The need names no field of use: a grant's field overlaps it when the field is "all" or
     its words appear in the need's text.
3. **Stored** as `Match` rows, one per (need, listing): matching again updates score and
   reasons, never duplicates. Up to `KEEP` per run, at least `MIN_SCORE`.
4. **Told**: for a match of at least `STRONG`, the seeker's members and the institute's are
   told once per pair (a notification's dedup key per match and user; `notified_at` marks it
   done). The institute reads the need through `public_view`: an anonymous seeker stays
   unnamed.

Reasons are stored as data ({"kind": "words", "terms": [...]}, ...) and written out in the
reader's language when shown (`explain`); highlighting escapes the text first and marks the
matched terms after.
"""

from __future__ import annotations

import html
import logging
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import orjson
from tortoise import Tortoise
from tortoise.exceptions import IntegrityError

from docking import glossary, service
from docking.models import Match, Need, NeedState
from listings import search as listing_search
from listings import service as listings
from listings.models import Listing, ListingState
from market import rows
from market.accounts.models import Membership, Organization, User
from market.actor import Actor
from market.clock import utcnow
from market.config import Settings, get_settings
from market.db import unit_of_work
from market.errors import NotFound
from market.i18n import translations
from market.notify import tell
from market.outbox import OutboxEvent
from market.validation import object_id
from market.web import N_

log = logging.getLogger(__name__)

# How many candidates each Meilisearch query brings, and how many matches a run keeps.
PER_QUERY = 30
KEEP = 20
# How many a page or an answer shows, best first.
SHOWN = 50
MIN_SCORE = 20
# A match at least this strong is told to both sides (once per pair).
STRONG = 60
# The score's parts (their maxima add up to 100).
WORDS = 40
RANK = 10
IPC = {"subclass": 25, "class": 15, "section": 6}
TRL_INSIDE = 15
TRL_STEP = 6
RIGHTS_FREE = 10
RIGHTS_PARTLY = -10
RIGHTS_TAKEN = -25
# Words too common in needs and listings to say anything about a match.
STOPWORDS = frozenset(
    """a an the and or of for to in on at by with from into over under within without about
    this that these those it its is are be been being we our us you your they their can may
    must need needs want wants looking seek seeking has have having more less than such as
    not no any all each other using use used based method methods system systems device
    devices apparatus process processes means new improved high low one two first second
    least which what when where how who whose also per very well thereof therein wherein
    same provide provides provided providing including include includes comprising""".split()
)
_RRF_K = 20
_LATIN = re.compile("[A-Za-z]")
_NOTHING_TO_SEARCH = {"index_not_found", "invalid_search_filter"}
_EXCLUSIVE = {"exclusive", "sole"}


# --- reading the two sides -------------------------------------------------------------------


@dataclass
class Side:
    """What matching compares of a need or a listing."""

    text: str  # everything its words are looked for in
    title: str
    terms: list[str]  # its own words and keywords, in the order they count
    concepts: set[int]
    ipc: dict[str, set[str]]
    words: set[str] = field(default_factory=set)


def _words_of(text: str) -> list[str]:
    return [w for w in glossary.tokens(text) if len(w) > 2 and w not in STOPWORDS]


def _stem(word: str) -> str:
    for ending in ("ies", "es", "s"):
        if word.endswith(ending) and len(word) - len(ending) >= 4:
            return word[: -len(ending)] + ("y" if ending == "ies" else "")
    return word


def _side(title: str, keywords: list[str], body: str, codes: list[str]) -> Side:
    text = " ".join([title, " ".join(keywords), body])
    terms: list[str] = []
    for keyword in keywords:
        terms.append(keyword.strip().lower())
    terms.extend(_words_of(title))
    parts = listing_search.ipc_parts(codes)
    return Side(
        text=text,
        title=title,
        terms=list(dict.fromkeys(t for t in terms if t)),
        concepts=glossary.concepts_in(text),
        ipc={
            "section": set(parts["ipc_section"]),
            "class": set(parts["ipc_class"]),
            "subclass": set(parts["ipc_subclass"]),
        },
        words={_stem(w) for w in glossary.tokens(text)},
    )


def need_side(need: Need) -> Side:
    return _side(need.title, list(need.keywords or []), need.problem, list(need.ipc_codes or []))


def listing_side(listing: Listing) -> Side:
    body = f"{listing.summary} {(listing.description or '')[:2000]}"
    return _side(listing.title, list(listing.keywords or []), body, list(listing.ipc_codes or []))


# --- the score -----------------------------------------------------------------------------


def _found(term: str, other: Side) -> bool:
    if glossary.has_han(term):
        return term in other.text
    words = term.split()
    if len(words) > 1:
        return term in other.text.lower()
    return _stem(term) in other.words


def matched_terms(asking: Side, offering: Side) -> list[str]:
    """The asking side's terms found in the offering side: glossary concepts both name (by
    their English name: 膜 and membrane are one), then its own words and keywords."""
    terms: list[str] = []
    covered: set[str] = set()
    for concept in sorted(asking.concepts & offering.concepts):
        members = glossary.terms_of(concept)
        covered.update(members)
        shown = next((t for t in members if _found(t, offering)), glossary.english(concept))
        terms.append(shown)
    for term in asking.terms:
        if term in covered or _stem(term) in {_stem(c) for c in covered}:
            continue
        if _found(term, offering):
            terms.append(term)
            covered.add(term)
    return list(dict.fromkeys(terms))


def ipc_reason(need: Side, listing: Side) -> dict[str, Any] | None:
    for level in ("subclass", "class", "section"):
        shared = sorted(need.ipc[level] & listing.ipc[level])
        if shared:
            return {"kind": "ipc", "level": level, "codes": shared}
    if need.ipc["section"] and listing.ipc["section"]:
        return {"kind": "ipc", "level": "none", "codes": []}
    return None


def trl_reason(need: Need, trl: int | None) -> dict[str, Any]:
    low, high = need.trl_min, need.trl_max
    if trl is None:
        return {"kind": "trl", "trl": None, "min": low, "max": high, "inside": False, "off": None}
    off = 0 if low <= trl <= high else (low - trl if trl < low else trl - high)
    return {"kind": "trl", "trl": trl, "min": low, "max": high, "inside": off == 0, "off": off}


def _field_overlaps(fields_of_use: list[str], need_text: str) -> bool:
    lowered = need_text.lower()
    for value in fields_of_use or ["all"]:
        text = " ".join(str(value).split()).lower()
        if text in {"", "all", "all fields"} or text in lowered:
            return True
    return False


def rights_reason(
    need: Need, listing: Listing, grants: list[dict[str, Any]], need_text: str
) -> dict[str, Any]:
    """Whether what the need asks for is still free in the listing's rights."""
    wanted = {str(t).upper() for t in need.territories or []} or {"WORLD"}
    offered = {str(t).upper() for t in listing.territories or []}
    not_offered = sorted(wanted - offered) if "WORLD" not in offered else []
    if "WORLD" in wanted and offered and "WORLD" not in offered:
        not_offered = ["WORLD"]
    blocked: set[str] = set()
    grants_named: list[dict[str, Any]] = []
    for grant in grants:
        kind = str(grant["license_type"])
        if kind not in _EXCLUSIVE and kind != "assignment":
            continue
        if not _field_overlaps(grant["fields_of_use"], need_text):
            continue
        places = {str(t).upper() for t in grant["territories"] or []} or {"WORLD"}
        hit = (
            wanted if "WORLD" in places else (wanted & places if "WORLD" not in wanted else places)
        )
        if not hit:
            continue
        blocked.update(wanted if kind == "assignment" else hit)
        grants_named.append(
            {
                "license_type": kind,
                "territories": sorted(places),
                "fields_of_use": list(grant["fields_of_use"] or ["all"]),
            }
        )
    if grants_named:
        whole = "WORLD" in blocked or blocked >= wanted
        status = "taken" if whole else "partly"
    elif not_offered:
        status = "partly"
    else:
        status = "available"
    return {
        "kind": "rights",
        "status": status,
        "territories": sorted(wanted),
        "not_offered": not_offered,
        "grants": grants_named,
    }


def score(
    need: Need,
    listing: Listing,
    asking: Side,
    offering: Side,
    grants: list[dict[str, Any]],
    prior: float,
) -> tuple[int, list[dict[str, Any]]]:
    """The score (0..100) of a listing for a need and the reasons that make it up. `asking`
    is the need's side, whose terms are looked for in the listing's (`offering`), whichever
    was published first: a pair scores the same from both directions but for `prior` (0..1),
    the fused Meilisearch rank."""
    reasons: list[dict[str, Any]] = []
    points = RANK * max(0.0, min(1.0, prior))
    terms = matched_terms(asking, offering)
    wanted = max(3, min(len(asking.terms) + len(asking.concepts), 8))
    if terms:
        points += WORDS * min(1.0, len(terms) / wanted)
        reasons.append({"kind": "words", "terms": terms[:12]})
    ipc = ipc_reason(asking, offering)
    if ipc is not None:
        points += IPC.get(ipc["level"], 0)
        reasons.append(ipc)
    trl = trl_reason(need, listing.trl)
    if trl["trl"] is None:
        points += TRL_INSIDE / 3
    else:
        points += max(0, TRL_INSIDE - TRL_STEP * trl["off"]) if trl["off"] else TRL_INSIDE
    reasons.append(trl)
    rights = rights_reason(need, listing, grants, asking.text)
    points += {"available": RIGHTS_FREE, "partly": RIGHTS_PARTLY, "taken": RIGHTS_TAKEN}[
        rights["status"]
    ]
    reasons.append(rights)
    return max(0, min(100, round(points))), reasons


# --- grants, read without importing contracts ---------------------------------------------

_GRANTS = rows.Statement(
    "SELECT listing_id, license_type, territories, fields_of_use FROM listing_grant"
    " WHERE listing_id = ANY($1)"
)
# SQLite (`market dev`) has no arrays to bind: it reads every grant, a handful on one machine.
_GRANTS_SQLITE = "SELECT listing_id, license_type, territories, fields_of_use FROM listing_grant"


async def grants_of(listing_ids: list[Any]) -> dict[str, list[dict[str, Any]]]:
    """Each listing's grants (licence type, territories, fields of use), by listing id."""
    out: dict[str, list[dict[str, Any]]] = {str(i): [] for i in listing_ids}
    if not listing_ids:
        return out
    conn = Tortoise.get_connection("default")
    if conn.capabilities.dialect == "postgres":
        found = await _GRANTS.fetch([list(listing_ids)])
    else:
        found = await conn.execute_query_dict(_GRANTS_SQLITE)
    for row in found:
        key = str(row["listing_id"])
        if key not in out:
            continue
        out[key].append(
            {
                "license_type": row["license_type"],
                "territories": _json_list(row["territories"]),
                "fields_of_use": _json_list(row["fields_of_use"]),
            }
        )
    return out


def _json_list(value: Any) -> list[str]:
    # PostgreSQL's driver gives JSON as text unless told otherwise; SQLite always does.
    if isinstance(value, (bytes, str)):
        value = orjson.loads(value)
    return [str(v) for v in value or []]


# --- candidates ------------------------------------------------------------------------------


def _query_text(parts: list[str], limit: int = 12) -> str:
    words: list[str] = []
    for part in parts:
        words.extend(part.split())
    return " ".join(list(dict.fromkeys(words))[:limit])


def need_queries(need: Need, uid: str) -> list[dict[str, Any]]:
    """The multi-search queries that bring a need's candidate listings."""
    text = f"{need.title} {' '.join(need.keywords or [])} {need.problem}"
    bridge = glossary.translations(text)
    keywords = list(need.keywords or [])
    chinese = glossary.has_han(need.problem)
    problem = [need.problem[:60]] if chinese else _words_of(need.problem)[:10]
    base = {"indexUid": uid, "limit": PER_QUERY, "attributesToRetrieve": ["id"]}
    queries = [
        {**base, "q": need.title[:300]},
        {**base, "q": _query_text([*keywords, *bridge])},
        {**base, "q": _query_text(problem)},
    ]
    if bridge:
        queries.append({**base, "q": _query_text(bridge)})
    subclasses = listing_search.ipc_parts(need.ipc_codes or [])["ipc_subclass"]
    if subclasses:
        queries.append(
            {
                **base,
                "q": _query_text([*keywords, *bridge]) or need.title[:100],
                "filter": [[f"ipc_subclass = {listing_search.quote(s)}" for s in subclasses]],
                "matchingStrategy": "frequency",
            }
        )
    for query in queries:
        # Chinese alone is segmented as Mandarin (as listings' search does); a query that
        # mixes in the English bridge keeps the default tokenizer.
        if glossary.has_han(query["q"]) and not _LATIN.search(query["q"]):
            query["locales"] = ["cmn"]
    return [q for q in queries if q["q"].strip() or q.get("filter")]


def listing_queries(listing: Listing, uid: str) -> list[dict[str, Any]]:
    """The multi-search queries that bring a listing's candidate needs (open ones only: the
    needs index holds published needs)."""
    text = f"{listing.title} {' '.join(listing.keywords or [])} {listing.summary}"
    bridge = glossary.translations(text)
    base = {"indexUid": uid, "limit": PER_QUERY, "attributesToRetrieve": ["id"]}
    queries = [
        {**base, "q": listing.title[:300]},
        {**base, "q": _query_text([*(listing.keywords or []), *bridge])},
    ]
    if bridge:
        queries.append({**base, "q": _query_text(bridge)})
    subclasses = listing_search.ipc_parts(listing.ipc_codes or [])["ipc_subclass"]
    if subclasses:
        queries.append(
            {
                **base,
                "q": "",
                "filter": [[f"ipc_subclass = {listing_search.quote(s)}" for s in subclasses]],
            }
        )
    return [q for q in queries if q["q"].strip() or q.get("filter")]


async def candidates(queries: list[dict[str, Any]], settings: Settings) -> dict[str, float]:
    """{id: prior in 0..1} from one multi-search, fused by reciprocal rank. Raises when
    Meilisearch cannot answer: the handler's delivery stays undone and the outbox retries."""
    if not queries:
        return {}
    async with listing_search.Meili(settings, compress=False) as meili:
        try:
            body = await meili.call("POST", "/multi-search", json={"queries": queries})
        except listing_search.MeiliError as exc:
            if exc.code not in _NOTHING_TO_SEARCH:
                raise
            # No index yet, or one made without our settings: nothing published is searchable
            # (the drift checks build it); there is nothing to match against.
            log.warning("matching found no index to search: %s", exc)
            return {}
    fused: dict[str, float] = {}
    for result in body.get("results", []):
        for rank, hit in enumerate(result.get("hits", [])):
            key = str(hit["id"])
            fused[key] = fused.get(key, 0.0) + 1.0 / (_RRF_K + rank + 1)
    if not fused:
        return {}
    best = max(fused.values())
    return {key: value / best for key, value in fused.items()}


# --- running ---------------------------------------------------------------------------------


@dataclass
class Found:
    need: Need
    listing: Listing
    score: int
    reasons: list[dict[str, Any]]


async def rank_listings(need: Need, settings: Settings | None = None) -> list[Found]:
    """The best published listings for a need, scored and explained (nothing stored)."""
    settings = settings or get_settings()
    priors = await candidates(need_queries(need, settings.meili_index), settings)
    if not priors:
        return []
    found = await Listing.filter(id__in=list(priors), state=ListingState.PUBLISHED)
    grants = await grants_of([item.id for item in found])
    asking = need_side(need)
    out = []
    for listing in found:
        points, reasons = score(
            need,
            listing,
            asking,
            listing_side(listing),
            grants[str(listing.id)],
            priors[str(listing.id)],
        )
        out.append(Found(need, listing, points, reasons))
    out.sort(key=lambda f: (-f.score, str(f.listing.id)))
    return [f for f in out if f.score >= MIN_SCORE][:KEEP]


async def rank_needs(listing: Listing, settings: Settings | None = None) -> list[Found]:
    """The open needs a published listing fits, scored and explained (nothing stored)."""
    settings = settings or get_settings()
    priors = await candidates(listing_queries(listing, settings.meili_needs_index), settings)
    if not priors:
        return []
    found = await Need.filter(id__in=list(priors), state=NeedState.PUBLISHED)
    grants = (await grants_of([listing.id]))[str(listing.id)]
    offering = listing_side(listing)
    out = []
    for need in found:
        asking = need_side(need)
        points, reasons = score(need, listing, asking, offering, grants, priors[str(need.id)])
        out.append(Found(need, listing, points, reasons))
    out.sort(key=lambda f: (-f.score, str(f.need.id)))
    return [f for f in out if f.score >= MIN_SCORE][:KEEP]


async def store(found: list[Found]) -> list[Match]:
    """One row per (need, listing): an existing one gets the new score and reasons. Each
    write is its own statement, so a pair made at the same moment by the other direction's
    handler (the unique pair refuses the second INSERT) is updated instead. The rows are read
    back in one query."""
    if not found:
        return []
    for item in found:
        values = {"score": item.score, "reasons": item.reasons, "updated_at": utcnow()}
        pair = {"need_id": item.need.id, "listing_id": item.listing.id}
        for _ in range(2):
            if await Match.filter(**pair).update(**values):
                break
            try:
                await Match.create(**pair, score=item.score, reasons=item.reasons)
                break
            except IntegrityError:
                continue
    same_need = len({item.need.id for item in found}) == 1
    if same_need:
        rows = await Match.filter(
            need_id=found[0].need.id, listing_id__in=[item.listing.id for item in found]
        )
    else:
        rows = await Match.filter(
            listing_id=found[0].listing.id, need_id__in=[item.need.id for item in found]
        )
    by_pair = {(str(m.need_id), str(m.listing_id)): m for m in rows}  # type: ignore[attr-defined]
    return [by_pair[(str(i.need.id), str(i.listing.id))] for i in found]


async def match_need(need_id: Any, settings: Settings | None = None) -> list[Match]:
    """Find, store and tell the matches of a published need (nothing for any other state)."""
    need = await Need.get_or_none(id=need_id).select_related("seeker")
    if need is None or need.state != NeedState.PUBLISHED:
        return []
    stored = await store(await rank_listings(need, settings))
    await tell_strong(stored)
    return stored


async def match_listing(listing_id: Any, settings: Settings | None = None) -> list[Match]:
    """Find, store and tell the open needs a published listing fits."""
    listing = await Listing.get_or_none(id=listing_id)
    if listing is None or listing.state != ListingState.PUBLISHED:
        return []
    stored = await store(await rank_needs(listing, settings))
    await tell_strong(stored)
    return stored


async def on_need_published(event: OutboxEvent) -> None:
    """Outbox handler of `need.published`; runs after the needs index took the need (its
    handler is listed first), so a listing published meanwhile finds it from its side."""
    need_id = (event.payload or {}).get("need_id")
    if need_id:
        await match_need(need_id)


async def on_listing_published(event: OutboxEvent) -> None:
    """Outbox handler of `listing.published`, after the listings index took the listing."""
    listing_id = (event.payload or {}).get("listing_id")
    if listing_id:
        await match_listing(listing_id)


# --- telling ---------------------------------------------------------------------------------


def _link(path: str) -> str:
    return f"{get_settings().base_url.rstrip('/')}{path}"


async def _members(org_id: Any) -> list[tuple[User, Actor]]:
    org = await Organization.get(id=org_id)
    memberships = (
        await Membership.filter(organization_id=org_id, user__is_active=True)
        .order_by("created_at")
        .select_related("user")
    )
    return [(m.user, Actor(user=m.user, organization=org, role=m.role)) for m in memberships]


async def tell_strong(matches: list[Match]) -> int:
    """Tell both sides of each strong match not told yet; once per pair and user (the
    notification's dedup key), whatever runs again."""
    told = 0
    for match in matches:
        if match.score < STRONG or match.notified_at is not None:
            continue
        need = await Need.get(id=match.need_id).select_related("seeker")  # type: ignore[attr-defined]
        listing = await Listing.get(id=match.listing_id).select_related("institute")  # type: ignore[attr-defined]
        for user, viewer in await _members(need.seeker_id):  # type: ignore[attr-defined]
            told += await tell(
                user,
                "match_for_need",
                dedup_key=f"match:{match.id}:{user.id}",
                link=_link(f"/needs/{need.id}#matches"),
                need=service.public_view(need, viewer),
                listing={"title": listing.title, "institute": listing.institute.name},
                score=match.score,
            )
        for user, viewer in await _members(listing.institute_id):  # type: ignore[attr-defined]
            told += await tell(
                user,
                "match_for_listing",
                dedup_key=f"match:{match.id}:{user.id}",
                link=_link(f"/listings/{listing.id}/matches"),
                need=service.public_view(need, viewer),
                listing={"title": listing.title},
                score=match.score,
            )
        await Match.filter(id=match.id, notified_at=None).update(notified_at=utcnow())
    return told


# --- reading and dismissing ------------------------------------------------------------------


async def need_matches(
    actor: Actor, need_id: str, *, dismissed: bool = False
) -> tuple[Need, list[Match]]:
    """A need's matches, best first, for its seeker (and the administrators); anyone else gets
    the 404 of a need they may not know of. Only listings still published are shown."""
    need = await service.get_need(actor, need_id)
    if not service.insider(actor, need):
        raise NotFound("No such need.")
    return need, await matches_of(need, dismissed=dismissed)


async def matches_of(need: Need, *, dismissed: bool = False) -> list[Match]:
    """The matches `need_matches` shows of a need the caller has read for an insider (the need
    page): each with its listing and the listing's institute, in one statement."""
    statement = _NEED_MATCHES[dismissed]
    found = await statement.fetch([need.id, SHOWN])
    matches = []
    for row in found:
        match = rows.build(Match, row, "m")
        listing = rows.build(Listing, row, "l", _MATCHED_LISTING)
        listing.institute = rows.build(Organization, row, "o", _MATCHED_INSTITUTE)  # type: ignore[union-attr]
        match.listing = listing  # type: ignore[union-attr]
        matches.append(match)
    return matches  # type: ignore[return-value]


# A need's matches, written out (market/rows.py); with `dismissed` the ones its seeker set
# aside too. Of each listing, what the page and the API name: its title and institute.
_MATCHED_LISTING = ("id", "institute_id", "title")
_MATCHED_INSTITUTE = ("id", "name")
_NEED_MATCHES = {
    dismissed: rows.Statement(
        "SELECT {m}, {l}, {o} FROM need_match m JOIN listing l ON l.id = m.listing_id"
        " JOIN organization o ON o.id = l.institute_id"
        " WHERE m.need_id = $1 AND l.state = 'published'{seen}"
        " ORDER BY m.score DESC, m.created_at LIMIT $2",
        parts={"seen": "" if dismissed else " AND NOT m.dismissed_by_seeker"},
        m=Match,
        l=(Listing, _MATCHED_LISTING),
        o=(Organization, _MATCHED_INSTITUTE),
    )
    for dismissed in (False, True)
}


async def listing_matches(
    actor: Actor, listing_id: str, *, dismissed: bool = False
) -> tuple[Listing, list[Match]]:
    """A listing's matching open needs, for its institute's members (and the administrators);
    anyone else gets the 404 of a listing they may not know of."""
    listing = await listings.get_listing(actor, listing_id)
    if not (listings.roles_on(actor, listing) & {"member", "admin"}):
        raise NotFound("No such listing.")
    query = Match.filter(listing_id=listing.id, need__state=NeedState.PUBLISHED)
    if not dismissed:
        query = query.filter(dismissed_by_institute=False)
    found = await query.order_by("-score", "created_at").limit(SHOWN).select_related("need")
    return listing, list(found)


async def organization_matches(actor: Actor, limit: int = 50) -> dict[str, list[Match]]:
    """The dashboard: the matches of the actor's organisation's needs and of its listings."""
    if actor.organization_id is None:
        return {"needs": [], "listings": []}
    org = actor.organization_id
    as_seeker = (
        await Match.filter(
            need__seeker_id=org,
            need__state=NeedState.PUBLISHED,
            listing__state=ListingState.PUBLISHED,
            dismissed_by_seeker=False,
        )
        .order_by("-score", "created_at")
        .limit(limit)
        .select_related("need__seeker", "listing__institute")
    )
    as_institute = (
        await Match.filter(
            listing__institute_id=org,
            need__state=NeedState.PUBLISHED,
            listing__state=ListingState.PUBLISHED,
            dismissed_by_institute=False,
        )
        .order_by("-score", "created_at")
        .limit(limit)
        .select_related("need__seeker", "listing__institute")
    )
    return {"needs": list(as_seeker), "listings": list(as_institute)}


async def dismiss(actor: Actor, match_id: str) -> Match:
    """Set a match aside for the actor's side: the seeker's members for the need, the
    institute's for the listing. Anyone else gets a 404."""
    found = await Match.get_or_none(id=object_id(match_id, "match")).select_related(
        "need", "listing"
    )
    if found is None:
        raise NotFound("No such match.")
    seeker = "member" in service.roles_on(actor, found.need)
    institute = "member" in listings.roles_on(actor, found.listing)
    if not (seeker or institute):
        raise NotFound("No such match.")
    changes = {}
    if seeker:
        changes["dismissed_by_seeker"] = True
    if institute:
        changes["dismissed_by_institute"] = True
    async with unit_of_work():
        await Match.filter(id=found.id).update(**changes, updated_at=utcnow())
    return await Match.get(id=found.id)


# --- what a person reads ---------------------------------------------------------------------


def highlight(text: str, terms: list[str]) -> str:
    """`text` escaped, with each of `terms` (words, Chinese terms, glossary equivalents) in
    <mark>: the marks are added after escaping, so nothing in the text becomes markup."""
    pattern = _pattern(tuple(terms))
    if pattern is None:
        return html.escape(text)
    out, last = [], 0
    for found in pattern.finditer(text):
        out.append(html.escape(text[last : found.start()]))
        out.append("<mark>" + html.escape(found.group(0)) + "</mark>")
        last = found.end()
    out.append(html.escape(text[last:]))
    return "".join(out)


@lru_cache(maxsize=1024)
def _pattern(terms: tuple[str, ...]) -> re.Pattern[str] | None:
    # Built once per set of terms: a match page shows the same few terms on every view, and
    # the glossary lookups and the regular expression cost more than the marking.
    patterns = []
    for term in terms:
        for other in _equivalents(term):
            if glossary.has_han(other):
                patterns.append(re.escape(other))
            else:
                patterns.append(r"\b" + re.escape(other) + r"(?:s|es)?\b")
    if not patterns:
        return None
    return re.compile("|".join(sorted(set(patterns), key=len, reverse=True)), re.IGNORECASE)


def _equivalents(term: str) -> list[str]:
    lowered = term.lower()
    for group in glossary.groups():
        if lowered in group:
            return list(group)
    return [lowered]


# The words of each reason, marked for extraction here and translated when shown.
_N = {
    "words": N_("Words in common: %(terms)s"),
    "ipc_subclass": N_("Same IPC subclass: %(codes)s"),
    "ipc_class": N_("Same IPC class: %(codes)s"),
    "ipc_section": N_("Same IPC section: %(codes)s"),
    "ipc_none": N_("No IPC class in common"),
    "trl_inside": N_("TRL %(trl)s is inside the range asked for (%(min)s–%(max)s)"),
    "trl_outside": N_("TRL %(trl)s is outside the range asked for (%(min)s–%(max)s)"),
    "trl_unknown": N_("The listing gives no TRL (asked for %(min)s–%(max)s)"),
    "rights_available": N_("Rights still available in %(territories)s"),
    "rights_partly": N_("Rights only partly available in %(territories)s"),
    "rights_taken": N_("Rights already granted exclusively in %(territories)s"),
    "rights_not_offered": N_("Not offered in %(places)s"),
    "rights_grant": N_("An exclusive grant already made: %(grant)s"),
}


def explain(reasons: list[dict[str, Any]], lang: str) -> list[dict[str, Any]]:
    """Each stored reason with its `text` in the reader's language."""
    # Not called `gettext`: the keys below are not messages for extraction, their values are.
    say = translations(lang).gettext
    out = []
    for reason in reasons:
        kind = reason.get("kind")
        texts: list[str] = []
        if kind == "words":
            texts.append(say(_N["words"]) % {"terms": ", ".join(reason["terms"])})
        elif kind == "ipc":
            key = f"ipc_{reason['level']}"
            texts.append(say(_N[key]) % {"codes": ", ".join(reason["codes"])})
        elif kind == "trl":
            if reason["trl"] is None:
                key = "trl_unknown"
            else:
                key = "trl_inside" if reason["inside"] else "trl_outside"
            texts.append(say(_N[key]) % reason)
        elif kind == "rights":
            places = ", ".join(reason["territories"])
            texts.append(say(_N[f"rights_{reason['status']}"]) % {"territories": places})
            if reason.get("not_offered"):
                texts.append(
                    say(_N["rights_not_offered"]) % {"places": ", ".join(reason["not_offered"])}
                )
            for grant in reason.get("grants", []):
                described = (
                    f"{grant['license_type']} · {', '.join(grant['territories'])}"
                    f" · {', '.join(grant['fields_of_use'])}"
                )
                texts.append(say(_N["rights_grant"]) % {"grant": described})
        out.append({**reason, "text": " · ".join(texts)})
    return out
