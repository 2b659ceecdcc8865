"""The public needs list's query string (`/needs?q=...&cooperation=...`) as a value, both ways,
and the newest published needs that answer it: what a saved "needs like this" search keeps
and what its digest reads (alerts/).

`newest_matching` is the one door a saved search uses to find needs; today it pages through
`service.list_needs` (a database filter), and a search index of needs can take its place
without the callers knowing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from docking import service
from docking.models import Cooperation, Need
from market.actor import Actor
from market.errors import ValidationFailed
from market.i18n import Msg

PARAMS = ("q", "cooperation")
# The list's own limits (docking/api.py Q_MAX, service.MAX_WORDS).
MAX_Q = 200
PAGE = 100
MAX_PAGES = 10


@dataclass(frozen=True)
class NeedsQuery:
    q: str = ""
    cooperation: str = ""


def parse_needs_query(items: Iterable[tuple[str, str]]) -> NeedsQuery:
    """The list's query string pairs -> NeedsQuery, or ValidationFailed naming the parameter.
    The page number is ignored: a saved search is the whole list."""
    errors: dict[str, str] = {}
    seen: dict[str, str] = {}
    for name, raw in items:
        if name == "page":
            continue
        if name not in PARAMS:
            errors[name[:40]] = "Unknown parameter."
            continue
        if name in seen:
            errors.setdefault(name, "Give this parameter at most once.")
        seen[name] = raw
    q = " ".join(seen.get("q", "").split())
    if len(q) > MAX_Q or "\x00" in q:
        errors.setdefault("q", Msg("At most %(max_q)s characters, without NUL.", max_q=MAX_Q))
    elif len(q.split()) > service.MAX_WORDS:
        errors.setdefault(
            "q", Msg("Search with at most %(max_words)s words.", max_words=service.MAX_WORDS)
        )
    cooperation = seen.get("cooperation", "").strip()
    if cooperation and cooperation not in {str(c) for c in Cooperation}:
        errors.setdefault("cooperation", "Must be one of: " + ", ".join(Cooperation) + ".")
    if errors:
        described = " ".join(f"{k}: {v}" for k, v in errors.items())
        raise ValidationFailed(
            Msg("Please correct the search: %(problems)s", problems=described), fields=errors
        )
    return NeedsQuery(q=q, cooperation=cooperation)


def to_params(query: NeedsQuery) -> list[tuple[str, str]]:
    """The canonical query string pairs; empty ones are left out."""
    pairs = (("q", query.q), ("cooperation", query.cooperation))
    return [(name, value) for name, value in pairs if value]


async def newest_matching(query: NeedsQuery, since: datetime) -> list[Need]:
    """The published needs the list shows for this query that were published at or after
    `since`, newest first (at most PAGE * MAX_PAGES)."""
    found: list[Need] = []
    viewer = Actor.anonymous()
    for page in range(1, MAX_PAGES + 1):
        items, _total = await service.list_needs(
            viewer, q=query.q, cooperation=query.cooperation or None, page=page, per_page=PAGE
        )
        for need in items:
            if need.published_at is None or need.published_at < since:
                return found
            found.append(need)
        if len(items) < PAGE:
            break
    return found
