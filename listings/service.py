"""Listing use cases: create, edit (directly or through a reviewed revision), move along the
lifecycle table, and read with the visibility rules. Each takes the acting party first."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tortoise import Tortoise
from tortoise.expressions import F
from tortoise.functions import Count

from listings import states
from listings.models import (
    Enquiry,
    Listing,
    ListingMedia,
    ListingRevision,
    ListingState,
    RevisionState,
)
from listings.schemas import ListingIn, ListingPatch, submission_problems
from market import audit, outbox, rows
from market.accounts import roles
from market.accounts.models import Organization, OrganizationKind
from market.accounts.roles import Permission, may
from market.accounts.service import require_admin, require_may_draft, require_verified
from market.actor import Actor
from market.clock import utcnow
from market.db import unit_of_work
from market.errors import (
    Conflict,
    Forbidden,
    NotAuthenticated,
    NotFound,
    ValidationFailed,
    validation_error,
)
from market.i18n import Msg
from market.locks import lock_existing
from market.transitions import Lifecycle, apply, events_of
from market.validation import object_id

EVENTS = outbox.declare(*events_of(states.LIFECYCLE))
SUBMISSION_FIELDS = (
    "trl",
    "license_types",
    "territories",
    "price_model",
    "asking_price",
    "kind",
    "patent_numbers",
)
PUBLIC_STATES = {ListingState.PUBLISHED, ListingState.LICENSED}
# The states of a contract that no longer relies on its listing: rejected by an administrator,
# or cancelled (by a party, or lapsed unsigned).
CONTRACT_ENDED = ("cancelled", "rejected")
# How a refusal names a fixed fact.
FACT_LABELS = {
    "patent_numbers": "patent numbers",
    "inventors": "inventors",
    "territories": "territories",
    "fields_of_use": "fields of use",
    "trl": "technology readiness level",
}


def to_columns(data: dict[str, Any]) -> dict[str, Any]:
    """Schema fields -> model columns (money is two columns)."""
    columns = dict(data)
    if "asking_price" in columns:
        price = columns.pop("asking_price")
        columns["asking_amount"] = price["amount"] if price else None
        columns["asking_currency"] = price["currency"] if price else None
    return columns


def asking_price(listing: Listing) -> dict[str, Any] | None:
    if listing.asking_amount is None or listing.asking_currency is None:
        return None
    return {"amount": listing.asking_amount, "currency": listing.asking_currency}


def field_value(listing: Listing, name: str) -> Any:
    return asking_price(listing) if name == "asking_price" else getattr(listing, name)


def roles_on(actor: Actor, listing: Listing) -> set[str]:
    """The actor's standing, and "member" for a member of the listing's institute whose role
    lets them list (market/accounts/roles.py)."""
    held = actor.standing()
    institute = str(listing.institute_id)  # type: ignore[attr-defined]
    if actor.organization_id == institute and may(actor, Permission.LIST):
        held.add("member")
    return held


def _announced(listing: Listing, actor: Actor) -> dict[str, Any]:
    return _event(listing.id, listing.version)


LISTING = Lifecycle(
    "listing",
    Listing,
    states.LIFECYCLE,
    roles=roles_on,
    payload=_announced,
    organization=lambda listing, actor: listing.institute_id,  # type: ignore[attr-defined]
)


def actions_for(actor: Actor, listing: Listing) -> list[str]:
    """The buttons a page shows come from the same table the services apply."""
    return LISTING.actions(actor, listing)


def _require_institute_member(actor: Actor, doing: str) -> None:
    if actor.user is None:
        raise NotAuthenticated("Log in first.")
    if actor.organization is None or actor.organization.kind != OrganizationKind.INSTITUTE:
        raise Forbidden(f"Only members of a research institute can {doing}.")
    roles.require(actor, Permission.LIST)
    require_may_draft(actor, doing)  # a draft waits for nobody; submitting waits for verification


async def _load(listing_id: str) -> Listing:
    listing = await Listing.get_or_none(id=object_id(listing_id, "listing"))
    if listing is None:
        raise NotFound("No such listing.")
    return listing


def can_see(actor: Actor, listing: Listing) -> bool:
    return listing.state in PUBLIC_STATES or bool(roles_on(actor, listing) & {"member", "admin"})


async def get_listing(actor: Actor, listing_id: str) -> Listing:
    listing = await _load(listing_id)
    if not can_see(actor, listing):
        # Someone else's unpublished work does not exist as far as a stranger can tell.
        raise NotFound("No such listing.")
    return listing


@dataclass(frozen=True)
class ListingView:
    """What the listing page shows of the listings room's rows: the listing with its
    institute, the files the viewer may see, and the newest enquiry the viewer's organisation
    made on it (None for anyone else)."""

    listing: Listing
    media: list[ListingMedia]
    asked: Enquiry | None


async def view_listing(actor: Actor, listing_id: str) -> ListingView:
    """Read for the public page; a visit by anyone but the owner counts as a view.

    The visit is appended to `listing_view`, not added to the listing: `UPDATE listing SET
    view_count = view_count + 1` takes the listing's row lock, so every viewer of a popular
    listing waited for the one before (and for any use case holding the listing). An INSERT
    into an append-only table without a foreign key locks nothing of the listing, and keeps
    the count in PostgreSQL, exact, with no second service on the page's path (a Redis
    counter would be as fast, but its flush could not commit with the database's update: a
    retried flush would count twice). `flush_views` folds the rows into `view_count` every
    half minute; until then the count shown lags behind."""
    found = await _PAGE.fetch([actor.organization_id, object_id(listing_id, "listing")])
    listing = rows.build(Listing, found[0], "l") if found else None
    if listing is None or not can_see(actor, listing):
        raise NotFound("No such listing.")
    listing.institute = rows.build(Organization, found[0], "o")
    files = [rows.build(ListingMedia, row, "f") for row in found]
    if listing.state in PUBLIC_STATES and "member" not in roles_on(actor, listing):
        await _COUNT_VIEW.fetch([listing.id])
        listing.view_count += 1  # what the page shows includes this visit
    return ListingView(
        listing=listing,
        media=media_shown(actor, listing, [f for f in files if f is not None]),
        asked=rows.build(Enquiry, found[0], "e"),
    )


def media_shown(actor: Actor, listing: Listing, files: list[ListingMedia]) -> list[ListingMedia]:
    """Of a listing's files, those the actor may see: none of a listing they may not see,
    and confidential ones only to its institute and the administrators."""
    if not can_see(actor, listing):
        return []
    insider = bool(roles_on(actor, listing) & {"member", "admin"})
    return [f for f in files if insider or not f.confidential]


# The listing page's reads, written out (see market/rows.py). A statement costs more server
# CPU than the rows it brings (the round trip's system calls, the pool), so the listing, its
# institute, every file (a row each; the confidential ones are dropped by `media_shown`, the
# one rule) and the viewer's newest enquiry come in one; the visit is the second.
_PAGE = rows.Statement(
    """
SELECT {l}, {o}, {f}, {e}
FROM listing l
JOIN organization o ON o.id = l.institute_id
LEFT JOIN listing_media f ON f.listing_id = l.id
LEFT JOIN enquiry e ON e.id = (
    SELECT x.id FROM enquiry x WHERE x.listing_id = l.id AND x.buyer_id = $1
    ORDER BY x.created_at DESC LIMIT 1)
WHERE l.id = $2
ORDER BY f.created_at, f.id
""",
    l=Listing,
    o=Organization,
    f=ListingMedia,
    e=Enquiry,
)
_COUNT_VIEW = rows.Statement("INSERT INTO listing_view (listing_id) VALUES ($1)")


# Views folded per statement: each flush transaction, and the listing rows it locks, stay short.
FLUSH_BATCH = 10_000
# One statement, so one transaction: the rows deleted are exactly the rows counted (a view
# inserted meanwhile is not seen, and waits for the next flush), and a flush that fails or runs
# twice counts nothing twice. A view of a listing that no longer exists is dropped.
_FLUSH_POSTGRES = """
WITH counted AS (
    DELETE FROM listing_view
    WHERE id IN (SELECT id FROM listing_view ORDER BY id LIMIT $1)
    RETURNING listing_id
), per_listing AS (
    SELECT listing_id, count(*) AS n FROM counted GROUP BY listing_id
), added AS (
    UPDATE listing SET view_count = listing.view_count + per_listing.n
    FROM per_listing WHERE listing.id = per_listing.listing_id
)
SELECT count(*) AS n FROM counted
"""
# SQLite (development without PostgreSQL) has one writer at a time: inside one transaction,
# the views up to the highest id read are all the views there are up to it.
_FLUSH_SQLITE = (
    "SELECT max(id) AS top, count(*) AS n FROM (SELECT id FROM listing_view ORDER BY id LIMIT ?)",
    "UPDATE listing SET view_count = view_count + (SELECT count(*) FROM listing_view v"
    " WHERE v.listing_id = listing.id AND v.id <= ?)"
    " WHERE id IN (SELECT listing_id FROM listing_view WHERE id <= ?)",
    "DELETE FROM listing_view WHERE id <= ?",
)


async def flush_views() -> int:
    """Add the views waiting in `listing_view` to their listings' `view_count`; returns how
    many were added. The worker runs it on a cron; a page never waits for it."""
    total = 0
    while True:
        added = await _flush_batch()
        total += added
        if added < FLUSH_BATCH:
            return total


async def _flush_batch() -> int:
    conn = Tortoise.get_connection("default")
    if conn.capabilities.dialect == "postgres":
        rows = await conn.execute_query_dict(_FLUSH_POSTGRES, [FLUSH_BATCH])
        return int(rows[0]["n"])
    select, update, delete = _FLUSH_SQLITE
    async with unit_of_work():
        conn = Tortoise.get_connection("default")
        rows = await conn.execute_query_dict(select, [FLUSH_BATCH])
        top, n = rows[0]["top"], int(rows[0]["n"])
        if n:
            await conn.execute_query(update, [top, top])
            await conn.execute_query(delete, [top])
        return n


async def relied_on(listing_id: Any) -> bool:
    """Whether an accepted offer on the listing still stands: its contract not drawn up yet, or
    drawn up and not ended. Listings sit below contracts and import nothing of theirs; the
    question goes through the relations offers and contracts declare on a listing. Asked under
    the listing's row lock, which acceptance takes first, so no acceptance slips in between."""
    accepted = set(
        await Listing.filter(id=listing_id, offers__state="accepted").values_list(
            "offers__id", flat=True
        )
    )
    if not accepted:
        return False
    ended = set(
        await Listing.filter(id=listing_id, contracts__state__in=CONTRACT_ENDED).values_list(
            "contracts__offer_id", flat=True
        )
    )
    return bool(accepted - ended)


async def _refuse_fixed_facts(listing: Listing, proposed: dict[str, Any]) -> None:
    """A contract relies on the facts of an accepted offer's listing: refuse any change to
    them, naming each field."""
    fixed = sorted(
        name
        for name, value in proposed.items()
        if name in states.FACTS and value != field_value(listing, name)
    )
    if not fixed or not await relied_on(listing.id):
        return
    names = ", ".join(FACT_LABELS[name] for name in fixed)
    raise Conflict(
        f"An accepted offer relies on this listing, so its {names} cannot change.",
        state=str(listing.state),
        fields={
            name: f"Fixed: an accepted offer relies on the {FACT_LABELS[name]}." for name in fixed
        },
    )


async def create_listing(
    actor: Actor, data: ListingIn, *, source_ref: str | None = None
) -> Listing:
    _require_institute_member(actor, "create listings")
    async with unit_of_work():
        listing = await Listing.create(
            institute_id=actor.organization_id,
            created_by_id=actor.user_id,
            source_ref=source_ref,
            **to_columns(data.model_dump(mode="json")),
        )
        await audit.record(
            actor,
            "listing.created",
            "listing",
            listing.id,
            after={"state": ListingState.DRAFT.value, "title": listing.title},
        )
    return listing


def _require_member(actor: Actor, listing: Listing, doing: str) -> None:
    if actor.user is None:
        raise NotAuthenticated("Log in first.")
    if "member" not in roles_on(actor, listing):
        raise Forbidden(f"Only the institute that owns this listing can {doing} it.")


async def update_listing(
    actor: Actor, listing_id: str, patch: ListingPatch
) -> tuple[Listing, ListingRevision | None]:
    """Edit in place where the state allows; on a published listing, substance changes wait
    in a revision for an administrator while the published text stays as it is. The facts a
    contract relies on are refused (409 naming them) once an accepted offer relies on them."""
    listing = await _load(listing_id)
    if not can_see(actor, listing):
        raise NotFound("No such listing.")
    _require_member(actor, listing, "edit")
    sent = patch.model_dump(mode="json", exclude_unset=True)
    if not sent:
        raise ValidationFailed("Nothing to change.", fields={"body": "Send at least one field."})
    async with unit_of_work():
        current = await lock_existing(Listing, listing.id)
        state = str(current.state)
        pending = await ListingRevision.get_or_none(
            listing_id=listing.id, state=RevisionState.PENDING
        )
        proposed = pending.changes if pending else {}
        # A form sends every field: only what differs from what the owner sees (the listing
        # with the pending proposals laid over it) counts as a change.
        changes = {k: v for k, v in sent.items() if proposed.get(k, field_value(current, k)) != v}
        # Refused in every state: a withdrawn listing edited in place would change them too.
        await _refuse_fixed_facts(current, changes)
        if state in states.EDITABLE:
            if changes:
                await _apply(actor, current, changes, action="listing.edited")
            return await Listing.get(id=listing.id), None
        if state != ListingState.PUBLISHED:
            raise Conflict(Msg("A %(state)s listing cannot be edited.", state=state), state=state)
        substance = {k: v for k, v in changes.items() if k in states.SUBSTANCE}
        direct = {k: v for k, v in changes.items() if k not in states.SUBSTANCE}
        revision = pending
        if direct:
            await _apply(actor, current, direct, action="listing.edited")
            await outbox.emit(states.CHANGED, _event(current.id, current.version + 1))
        if substance:
            revision = await _propose(actor, current, substance)
    return await Listing.get(id=listing.id), revision


async def _apply(actor: Actor, listing: Listing, changes: dict[str, Any], *, action: str) -> None:
    before = {k: field_value(listing, k) for k in changes}
    await Listing.filter(id=listing.id).update(
        **to_columns(changes), version=F("version") + 1, updated_at=utcnow()
    )
    await audit.record(
        actor,
        action,
        "listing",
        listing.id,
        before=before,
        after=changes,
        organization_id=listing.institute_id,
    )  # type: ignore[attr-defined]


async def _propose(actor: Actor, listing: Listing, changes: dict[str, Any]) -> ListingRevision:
    # One pending revision per listing: a second edit before review extends the first.
    pending = await ListingRevision.select_for_update().get_or_none(
        listing_id=listing.id, state=RevisionState.PENDING
    )
    if pending is None:
        revision = await ListingRevision.create(
            listing_id=listing.id, author_id=actor.user_id, changes=changes
        )
    else:
        merged = {**pending.changes, **changes}
        await ListingRevision.filter(id=pending.id).update(changes=merged, author_id=actor.user_id)
        revision = await ListingRevision.get(id=pending.id)
    await audit.record(
        actor,
        "listing.revision_proposed",
        "listing",
        listing.id,
        after={"revision": str(revision.id), "fields": sorted(changes)},
        organization_id=listing.institute_id,
    )  # type: ignore[attr-defined]
    return revision


def _event(listing_id: Any, version: int) -> dict[str, Any]:
    return {"listing_id": str(listing_id), "version": version}


async def _move(
    actor: Actor,
    listing_id: str,
    action: str,
    *,
    changes: dict[str, Any] | None = None,
    reason: str = "",
) -> Listing:
    listing = await _load(listing_id)
    if actor.user is None and not actor.is_system:
        raise NotAuthenticated("Log in first.")
    if action == "submit":
        _require_member(actor, listing, "submit")
        require_verified(actor, "submit listings")
    async with unit_of_work():
        if action == "submit":
            current = await lock_existing(Listing, listing.id)
            problems = submission_problems(
                {name: field_value(current, name) for name in SUBMISSION_FIELDS}
            )
            if problems and str(current.state) in {"draft", "rejected", "withdrawn"}:
                raise ValidationFailed("The listing is not complete yet.", fields=problems)
        moved = await apply(
            LISTING,
            listing.id,
            action,
            actor,
            changes={"version": F("version") + 1, "updated_at": utcnow(), **(changes or {})},
            noted={"reason": reason},
        )
    return moved.row


async def submit_listing(actor: Actor, listing_id: str) -> Listing:
    return await _move(actor, listing_id, "submit", changes={"rejection_reason": ""})


async def approve_listing(actor: Actor, listing_id: str) -> Listing:
    require_admin(actor)
    return await _move(actor, listing_id, "approve", changes={"published_at": utcnow()})


async def reject_listing(actor: Actor, listing_id: str, reason: str) -> Listing:
    require_admin(actor)
    if len(reason.strip()) < 3:
        raise validation_error("reason", "Say why, so the institute can put it right.")
    return await _move(
        actor,
        listing_id,
        "reject",
        changes={"rejection_reason": reason.strip()},
        reason=reason.strip(),
    )


async def withdraw_listing(actor: Actor, listing_id: str) -> Listing:
    return await _move(actor, listing_id, "withdraw")


async def license_listing(actor: Actor, listing_id: str) -> Listing:
    """Contracts close a listing after an exclusive licence or an assignment."""
    return await _move(actor, listing_id, "license")


# --- revisions ---------------------------------------------------------------------------


async def _load_revision(revision_id: str) -> ListingRevision:
    revision = await ListingRevision.get_or_none(id=object_id(revision_id, "revision"))
    if revision is None:
        raise NotFound("No such revision.")
    return revision


async def approve_revision(actor: Actor, revision_id: str) -> Listing:
    require_admin(actor)
    revision = await _load_revision(revision_id)
    async with unit_of_work():
        # The listing first, then its revision (market.locks.ORDER).
        listing = await lock_existing(Listing, revision.listing_id)  # type: ignore[attr-defined]
        locked = await lock_existing(ListingRevision, revision.id)
        if locked.state != RevisionState.PENDING:
            raise Conflict(
                Msg("The revision is already %(state)s.", state=locked.state),
                state=str(locked.state),
            )
        if listing.state != ListingState.PUBLISHED:
            raise Conflict("The listing is no longer published.", state=str(listing.state))
        # Proposed before an offer was accepted, decided after: the facts are fixed by then.
        await _refuse_fixed_facts(listing, locked.changes)
        await _apply(actor, listing, locked.changes, action="listing.revision_approved")
        await ListingRevision.filter(id=locked.id).update(
            state=RevisionState.APPROVED, decided_at=utcnow()
        )
        await outbox.emit(states.CHANGED, _event(listing.id, listing.version + 1))
    return await Listing.get(id=listing.id)


async def reject_revision(actor: Actor, revision_id: str, reason: str) -> ListingRevision:
    require_admin(actor)
    if len(reason.strip()) < 3:
        raise validation_error("reason", "Say why, so the institute can put it right.")
    revision = await _load_revision(revision_id)
    async with unit_of_work():
        updated = await ListingRevision.filter(id=revision.id, state=RevisionState.PENDING).update(
            state=RevisionState.REJECTED, reason=reason.strip(), decided_at=utcnow()
        )
        if updated != 1:
            current = await ListingRevision.get(id=revision.id)
            raise Conflict(
                Msg("The revision is already %(state)s.", state=current.state),
                state=str(current.state),
            )
        await audit.record(
            actor,
            "listing.revision_rejected",
            "listing",
            revision.listing_id,  # type: ignore[attr-defined]
            after={"revision": str(revision.id), "reason": reason.strip()},
            organization_id=(await Listing.get(id=revision.listing_id)).institute_id,  # type: ignore[attr-defined]
        )
    return await ListingRevision.get(id=revision.id)


def revision_diff(listing: Listing, revision: ListingRevision) -> list[tuple[str, Any, Any]]:
    """(field, published value, proposed value) for each field the revision changes."""
    return [
        (name, field_value(listing, name), value)
        for name, value in revision.changes.items()
        if field_value(listing, name) != value
    ]


async def latest_revision(listing: Listing) -> ListingRevision | None:
    """The newest revision, decided or not: the owner sees why one was refused."""
    return await ListingRevision.filter(listing_id=listing.id).order_by("-created_at").first()


async def pending_revision(listing: Listing) -> ListingRevision | None:
    return await ListingRevision.get_or_none(listing_id=listing.id, state=RevisionState.PENDING)


# --- lists -------------------------------------------------------------------------------


async def list_listings(
    actor: Actor,
    *,
    mine: bool = False,
    state: str | None = None,
    page: int = 1,
    per_page: int = 20,
    table: bool = False,
) -> tuple[list[Listing], int]:
    """A page of listings with their institutes and how many there are in all. `table`: only
    what a listings table shows (`TABLE_FIELDS`, the institute's `INSTITUTE_FIELDS`), for
    the public index's page; the API wants every field."""
    if state and state not in {s.value for s in ListingState}:
        raise validation_error("state", "Unknown state.")
    if mine:
        if actor.organization is None:
            raise NotAuthenticated("Log in first.")
        query = Listing.filter(institute_id=actor.organization_id)
        if state:
            query = query.filter(state=state)
    else:
        if state and state not in PUBLIC_STATES:
            return [], 0
        return await _public_page(state, page, per_page, table)
    total = await query.count()
    items = (
        await query.order_by("-updated_at")
        .offset((page - 1) * per_page)
        .limit(per_page)
        .prefetch_related("institute")
    )
    return items, total


# The public list, the most read list of all, in one statement: the page's listings with their
# institutes, and (as a window over the same rows) how many there are in all.
_PUBLIC_PAGE_SQL = """
SELECT {l}, {o}, count(*) OVER () AS total
FROM listing l JOIN organization o ON o.id = l.institute_id
WHERE l.state IN ($1, $2)
ORDER BY l.updated_at DESC, l.id LIMIT $3 OFFSET $4
"""
# What templates/components/listing.html's `listing_table` shows of a listing and its institute.
TABLE_FIELDS = (
    "id",
    "institute_id",
    "title",
    "kind",
    "trl",
    "license_types",
    "price_model",
    "asking_amount",
    "asking_currency",
    "state",
    "rejection_reason",
    "updated_at",
)
INSTITUTE_FIELDS = ("id", "name", "slug")
_PUBLIC_PAGE = {
    False: rows.Statement(_PUBLIC_PAGE_SQL, l=Listing, o=Organization),
    True: rows.Statement(
        _PUBLIC_PAGE_SQL, l=(Listing, TABLE_FIELDS), o=(Organization, INSTITUTE_FIELDS)
    ),
}


async def _public_page(
    state: str | None, page: int, per_page: int, table: bool
) -> tuple[list[Listing], int]:
    states = [state, state] if state else sorted(s.value for s in PUBLIC_STATES)
    found = await _PUBLIC_PAGE[table].fetch([*states, per_page, (page - 1) * per_page])
    if not found:
        # Past the last page the window has no row to count over.
        total = await Listing.filter(state__in=states).count()
        return [], total
    listing_fields, institute_fields = (TABLE_FIELDS, INSTITUTE_FIELDS) if table else (None, None)
    items = []
    for row in found:
        listing = rows.build(Listing, row, "l", listing_fields)
        listing.institute = rows.build(Organization, row, "o", institute_fields)  # type: ignore[union-attr]
        items.append(listing)
    return items, int(found[0]["total"])  # type: ignore[return-value]


async def published_by(org_id: Any, limit: int = 50) -> list[Listing]:
    """An organisation's public listings, newest first, for its profile."""
    return (
        await Listing.filter(institute_id=org_id, state__in=list(PUBLIC_STATES))
        .order_by("-published_at", "id")
        .limit(limit)
    )


async def state_counts(actor: Actor) -> dict[str, int]:
    if actor.organization is None:
        raise NotAuthenticated("Log in first.")
    counts = {s.value: 0 for s in ListingState}
    rows = (
        await Listing.filter(institute_id=actor.organization_id)
        .group_by("state")
        .annotate(n=Count("id"))
        .values("state", "n")
    )
    for row in rows:
        counts[str(row["state"])] = row["n"]
    return counts


async def moderation_queue(
    actor: Actor, *, state: str = "submitted", page: int = 1, per_page: int = 50
) -> tuple[list[Listing], int]:
    require_admin(actor)
    if state not in {s.value for s in ListingState}:
        raise validation_error("state", "Unknown state.")
    query = Listing.filter(state=state)
    total = await query.count()
    items = (
        await query.order_by("updated_at")
        .offset((page - 1) * per_page)
        .limit(per_page)
        .prefetch_related("institute")
    )
    return items, total


async def revision_queue(actor: Actor) -> list[ListingRevision]:
    require_admin(actor)
    return (
        await ListingRevision.filter(state=RevisionState.PENDING)
        .order_by("created_at")
        .prefetch_related("listing", "listing__institute")
    )
