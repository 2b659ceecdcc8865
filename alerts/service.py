"""Saved searches and their digests.

A signed-in user saves a search (the listings search's query string, or the needs list's)
with a name and a frequency; the worker's `send_search_digests` cron mails each due saved
search a digest of what was published since and never sent for it before.

A digest is made in two steps, so nothing slow runs under a lock: the search is asked first
(Meilisearch, or the needs list), then one unit of work locks the saved search, checks it is
still due (a second cron run that raced this one finds it is not and sends nothing), keeps the
items not yet sent (`AlertSent`, unique per saved search), records them, moves the next due
time and stores the notification whose outbox event mails it. A run that did not happen (the
worker down for a day) is caught up by the next: what it would have sent has not been sent.
An answer from the search's database fallback, which skips some filters, sends nothing: the
next run asks again.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl
from uuid import UUID

from alerts.models import AlertSent, Frequency, SavedSearch, SearchKind
from alerts.schemas import SavedSearchIn
from docking import needs_query
from listings import search as listing_search
from listings.search_params import parse_search
from market.accounts.models import User
from market.actor import Actor
from market.clock import utcnow
from market.config import get_settings
from market.db import unit_of_work
from market.errors import NotAuthenticated, NotFound, ValidationFailed
from market.locks import lock
from market.notify import tell
from market.validation import object_id

log = logging.getLogger(__name__)

MAX_PER_USER = 50
PERIOD = {Frequency.DAILY: timedelta(days=1), Frequency.WEEKLY: timedelta(days=7)}
# How far before the last digest a new one looks again: a listing is searchable a moment
# after it is published, so one published just before a digest may only be found by the
# next. AlertSent keeps the look back from sending anything twice.
LOOK_BACK = timedelta(hours=6)
# The listings searched per page, and how many pages a digest reads at most.
SEARCH_PAGE = 100
MAX_PAGES = 10
# The items a digest names; the rest are counted, and the link opens the whole search.
SHOWN = 20
DUE_BATCH = 500
TEMPLATE = "saved_search_digest"
PATHS = {SearchKind.LISTINGS: "/search", SearchKind.NEEDS: "/needs"}


# --- addresses ------------------------------------------------------------------------------


def search_url(saved: SavedSearch) -> str:
    return f"{PATHS[SearchKind(saved.kind)]}?{saved.query}"


def _absolute(path: str) -> str:
    return get_settings().base_url.rstrip("/") + path


# --- the owner's use cases ----------------------------------------------------------------------


def _owner(actor: Actor) -> str:
    if not actor.is_authenticated or actor.user_id is None:
        raise NotAuthenticated("Log in to save searches.")
    return actor.user_id


async def save_search(
    actor: Actor, data: SavedSearchIn, now: datetime | None = None
) -> SavedSearch:
    user_id = _owner(actor)
    now = now or utcnow()
    async with unit_of_work():
        # The user's row is the queue two saves of one user wait in, so the limit holds.
        await lock(User, user_id)
        if await SavedSearch.filter(user_id=user_id).count() >= MAX_PER_USER:
            # Literal, so `make messages` finds it (MAX_PER_USER is 50).
            raise ValidationFailed(
                "You have 50 saved searches; delete one to save another.",
                fields={"name": "You have 50 saved searches; delete one to save another."},
            )
        frequency = Frequency(data.frequency)
        return await SavedSearch.create(
            user_id=user_id,
            name=data.name,
            kind=SearchKind(data.kind),
            query=data.query,
            frequency=frequency,
            next_digest_at=now + PERIOD[frequency],
        )


async def list_saved_searches(actor: Actor) -> list[SavedSearch]:
    user_id = _owner(actor)
    return list(
        await SavedSearch.filter(user_id=user_id).order_by("-created_at", "id").limit(MAX_PER_USER)
    )


async def get_saved_search(actor: Actor, search_id: str) -> SavedSearch:
    """The actor's own saved search; anyone else's is not found, as one that does not exist."""
    user_id = _owner(actor)
    saved = await SavedSearch.get_or_none(id=object_id(search_id, "saved search"), user_id=user_id)
    if saved is None:
        raise NotFound("No such saved search.")
    return saved


async def change_frequency(actor: Actor, search_id: str, frequency: str) -> SavedSearch:
    """A new frequency, which also resumes e-mails the owner unsubscribed from; the next
    digest is one new period after the last (or after saving)."""
    saved = await get_saved_search(actor, search_id)
    chosen = Frequency(frequency)
    async with unit_of_work():
        row = await lock(SavedSearch, saved.id)
        if row is None:
            raise NotFound("No such saved search.")
        row.frequency = chosen
        row.active = True
        row.next_digest_at = (row.last_digest_at or row.created_at) + PERIOD[chosen]
        await row.save(update_fields=["frequency", "active", "next_digest_at"])
        return row


async def delete_saved_search(actor: Actor, search_id: str) -> None:
    saved = await get_saved_search(actor, search_id)
    await SavedSearch.filter(id=saved.id).delete()


def saved_search_json(saved: SavedSearch) -> dict[str, Any]:
    return {
        "id": str(saved.id),
        "name": saved.name,
        "kind": str(saved.kind),
        "query": saved.query,
        "url": search_url(saved),
        "frequency": str(saved.frequency),
        "active": saved.active,
        "created_at": saved.created_at.isoformat() if saved.created_at else None,
        "last_digest_at": saved.last_digest_at.isoformat() if saved.last_digest_at else None,
        "next_digest_at": saved.next_digest_at.isoformat(),
    }


# --- unsubscribing without logging in ---------------------------------------------------------


def _signature(search_id: UUID) -> str:
    key = get_settings().require_secret_key().encode()
    digest = hmac.new(key, f"saved-search-unsubscribe:{search_id}".encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(digest.digest()).decode().rstrip("=")


def unsubscribe_token(saved: SavedSearch) -> str:
    """A link's token that stops this saved search's e-mail and does nothing else: the id and
    its signature under the secret key (no login, nothing stored, good until deleted)."""
    search_id = UUID(str(saved.id))
    return f"{search_id.hex}.{_signature(search_id)}"


async def by_unsubscribe_token(token: str) -> SavedSearch:
    """The saved search a token names; a forged, altered or foreign token is not found."""
    head, _, signature = token.partition(".")
    try:
        search_id = UUID(hex=head)
    except ValueError:
        raise NotFound("This unsubscribe link is not valid.") from None
    if not hmac.compare_digest(signature.encode(), _signature(search_id).encode()):
        raise NotFound("This unsubscribe link is not valid.")
    saved = await SavedSearch.get_or_none(id=search_id)
    if saved is None:
        raise NotFound("This saved search no longer exists.")
    return saved


async def unsubscribe(token: str) -> SavedSearch:
    saved = await by_unsubscribe_token(token)
    await SavedSearch.filter(id=saved.id).update(active=False)
    saved.active = False
    return saved


def unsubscribe_url(saved: SavedSearch) -> str:
    return _absolute(f"/saved-searches/unsubscribe/{unsubscribe_token(saved)}")


# --- digests ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Item:
    id: str
    title: str
    link: str


class NotNow(Exception):
    """The search could not answer in full now; the digest waits for the next run."""


def _when(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


async def _new_listings(saved: SavedSearch, since: datetime) -> list[Item]:
    query = parse_search(parse_qsl(saved.query, keep_blank_values=True))
    found: list[Item] = []
    for page in range(1, MAX_PAGES + 1):
        asked = query.model_copy(update={"sort": "newest", "per_page": SEARCH_PAGE, "page": page})
        result = await listing_search.search(asked)
        if result.degraded:
            raise NotNow(result.message)
        for hit in result.hits:
            published = _when(hit.published_at)
            if published is None or published < since:
                return found
            found.append(Item(hit.id, hit.title, _absolute(f"/listings/{hit.id}")))
        if len(result.hits) < SEARCH_PAGE:
            break
    return found


async def _new_needs(saved: SavedSearch, since: datetime) -> list[Item]:
    query = needs_query.parse_needs_query(parse_qsl(saved.query, keep_blank_values=True))
    return [
        Item(str(need.id), need.title, _absolute(f"/needs/{need.id}"))
        for need in await needs_query.newest_matching(query, since)
    ]


async def new_items(saved: SavedSearch) -> list[Item]:
    """What the search finds published since a little before its last digest, newest first."""
    since = saved.created_at
    if saved.last_digest_at is not None:
        since = max(since, saved.last_digest_at - LOOK_BACK)
    if saved.kind == SearchKind.NEEDS:
        return await _new_needs(saved, since)
    return await _new_listings(saved, since)


async def send_digest(search_id: Any, now: datetime | None = None) -> int:
    """One saved search's digest, if it is due: the number of items it sent (0 when nothing
    was new, when it was not due, or when another run sent it first)."""
    now = now or utcnow()
    saved = await SavedSearch.get_or_none(id=search_id)
    if saved is None or not saved.active or saved.next_digest_at > now:
        return 0
    try:
        items = await new_items(saved)
    except NotNow as exc:
        log.warning("digest of saved search %s waits: %s", search_id, exc)
        return 0
    async with unit_of_work():
        row = await lock(SavedSearch, search_id)
        if row is None or not row.active or row.next_digest_at > now:
            return 0  # deleted, unsubscribed, or sent by a run that got here first
        ids = [item.id for item in items]
        sent = {
            str(i)
            for i in await AlertSent.filter(saved_search_id=row.id, item_id__in=ids).values_list(
                "item_id", flat=True
            )
        }
        new = [item for item in items if item.id not in sent]
        row.last_digest_at = now
        row.next_digest_at = now + PERIOD[Frequency(row.frequency)]
        changed = ["last_digest_at", "next_digest_at"]
        if new:
            await AlertSent.bulk_create(
                [AlertSent(saved_search_id=row.id, item_id=item.id) for item in new]
            )
            row.digests_sent += 1
            changed.append("digests_sent")
            user = await User.get(id=row.user_id)  # type: ignore[attr-defined]
            await tell(
                user,
                TEMPLATE,
                dedup_key=f"saved-search:{row.id}:{row.digests_sent}",
                link=_absolute(search_url(row)),
                search_name=row.name,
                kind=str(row.kind),
                items=[{"title": item.title, "link": item.link} for item in new[:SHOWN]],
                total=len(new),
                more=max(0, len(new) - SHOWN),
                unsubscribe=unsubscribe_url(row),
            )
        await row.save(update_fields=changed)
    return len(new)


async def send_due(now: datetime | None = None) -> int:
    """Every due saved search's digest; the number of items sent. One search that fails is
    logged and left due (the next run tries it again), and the others still go out."""
    now = now or utcnow()
    due = await (
        SavedSearch.filter(active=True, next_digest_at__lte=now)
        .order_by("next_digest_at")
        .limit(DUE_BATCH)
        .values_list("id", flat=True)
    )
    total = 0
    for search_id in due:
        try:
            total += await send_digest(search_id, now)
        except Exception:
            log.exception("digest of saved search %s failed", search_id)
    return total
