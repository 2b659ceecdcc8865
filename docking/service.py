"""Technology need use cases: create and edit, move along the lifecycle table, and read with
the visibility rules. Each takes the acting party first.

A need is the enterprise's listing of demand: posting and managing one takes the same
permission as listing technologies (`Permission.LIST`, market/accounts/roles.py), for a member
of a verified enterprise.

Everything anyone sees of a need goes through `public_view(need, actor)`: pages, the API and
e-mails. It decides what of the need the actor may see: an anonymous need's seeker (its
organisation and people) only to the seeker's members and the administrators, and a need
published after confidentiality keeps its details from anyone who has not accepted the
clause (nobody yet: proposals bring the acceptance, `confidentiality_accepted`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from tortoise.expressions import F, Q, RawSQL

from docking import states
from docking.models import ClauseAcceptance, Cooperation, Need, NeedState, Visibility
from docking.schemas import NeedIn, NeedPatch, submission_problems
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
from market.validation import object_id, parse

EVENTS = outbox.declare(*events_of(states.LIFECYCLE))
# What the public list may be asked for; the open needs by default.
PUBLIC_STATES = {NeedState(s) for s in states.PUBLIC}
# Words of a search, at most: each must appear in the title or the problem.
MAX_WORDS = 8


def roles_on(actor: Actor, need: Need) -> set[str]:
    """The actor's standing, and "member" for a member of the seeking enterprise whose role
    lets them list (market/accounts/roles.py)."""
    held = actor.standing()
    if actor.organization_id == str(need.seeker_id) and may(actor, Permission.LIST):  # type: ignore[attr-defined]
        held.add("member")
    return held


def _announced(need: Need, actor: Actor) -> dict[str, Any]:
    # Ids only: an event of an anonymous need must not carry who posted it to whoever reads
    # the outbox; the handlers read the need and show it through public_view.
    return {"need_id": str(need.id), "version": need.version, "actor_id": actor.user_id}


NEED = Lifecycle(
    "need",
    Need,
    states.LIFECYCLE,
    roles=roles_on,
    payload=_announced,
    organization=lambda need, actor: need.seeker_id,  # type: ignore[attr-defined]
)


def actions_for(actor: Actor, need: Need) -> list[str]:
    """The buttons a page shows come from the same table the services apply."""
    return NEED.actions(actor, need)


def insider(actor: Actor, need: Need) -> bool:
    """The seeker's members and the administrators: who sees all of a need."""
    return bool(roles_on(actor, need) & {"member", "admin"})


def can_see(actor: Actor, need: Need) -> bool:
    return str(need.state) in states.PUBLIC or insider(actor, need)


def confidentiality_accepted(actor: Actor, need: Need) -> bool:
    """Whether the actor's organisation accepted the need's confidentiality clause, as
    `get_need` read it for this actor (a need not read that way counts as not accepted)."""
    accepted_by = getattr(need, "_clause_accepted_by", None)
    return accepted_by is not None and accepted_by == actor.organization_id


def _note_acceptance(actor: Actor, need: Need, accepted: bool) -> None:
    """Remember on the need whether the actor's organisation accepted its clause, as read with
    the need (`_WITH_SEEKER`): noted only for a confidential need seen from outside."""
    org_id = actor.organization_id
    if (
        need.visibility != Visibility.AFTER_CONFIDENTIALITY
        or org_id is None
        or insider(actor, need)
    ):
        return
    if accepted:
        need._clause_accepted_by = org_id  # type: ignore[attr-defined]


def may_accept_clause(actor: Actor, need: Need) -> bool:
    """Whether the need page offers this actor its confidentiality clause (no query)."""
    org = actor.organization
    return (
        actor.user is not None
        and org is not None
        and org.verification == "verified"
        and need.visibility == Visibility.AFTER_CONFIDENTIALITY
        and str(need.state) == NeedState.PUBLISHED
        and not insider(actor, need)
        and not confidentiality_accepted(actor, need)
    )


async def accept_clause(actor: Actor, need_id: str) -> Need:
    """The actor's organisation accepts the need's confidentiality clause: its members see the
    details from now on. Accepting twice changes nothing."""
    if actor.user is None:
        raise NotAuthenticated("Log in first.")
    need = await get_need(actor, need_id)
    if insider(actor, need):
        raise Conflict("Your organisation posted this need: it sees its details already.")
    if need.visibility != Visibility.AFTER_CONFIDENTIALITY:
        raise Conflict("This need has no confidentiality clause: its details are public.")
    if str(need.state) != NeedState.PUBLISHED:
        raise Conflict("The need is not open: its clause can no longer be accepted.")
    org = require_verified(actor, "accept a confidentiality clause")
    if confidentiality_accepted(actor, need):
        return need
    async with unit_of_work():
        _, created = await ClauseAcceptance.get_or_create(
            need_id=need.id, organization_id=org.id, defaults={"accepted_by_id": actor.user_id}
        )
        if created:
            await audit.record(
                actor,
                "need.clause_accepted",
                "need",
                need.id,
                after={"organization_id": str(org.id)},
            )
    need._clause_accepted_by = str(org.id)  # type: ignore[attr-defined]
    return need


# --- what anyone sees ----------------------------------------------------------------------


def budget(need: Need) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The budget's ends as Money dicts (None where open)."""
    currency = need.budget_currency
    if currency is None:
        return None, None
    low = {"amount": need.budget_min, "currency": currency} if need.budget_min is not None else None
    high = (
        {"amount": need.budget_max, "currency": currency} if need.budget_max is not None else None
    )
    return low, high


def hidden_details() -> dict[str, Any]:
    """What a need after confidentiality shows of its details to anyone who has not accepted
    the clause: nothing."""
    return {
        "background": "",
        "must_have": [],
        "nice_to_have": [],
        "out_of_scope": "",
        "budget_min": None,
        "budget_max": None,
    }


def public_view(need: Need, actor: Actor) -> dict[str, Any]:
    """The need as `actor` may see it: what every page, API answer and e-mail shows.

    An anonymous need's `seeker` is None for anyone but the seeker's members and the
    administrators, and nothing else names the organisation or its people (no seeker id, no
    author). A need published after confidentiality leaves its details empty
    (`details_hidden`) for anyone who has not accepted the clause. The caller loads the need
    with its seeker (`select_related("seeker")`); values stay Python (dates, datetimes) for
    the pages: the API writes them as ISO 8601."""
    inside = insider(actor, need)
    anonymous = need.visibility == Visibility.ANONYMOUS
    confidential = need.visibility == Visibility.AFTER_CONFIDENTIALITY
    details = inside or not confidential or confidentiality_accepted(actor, need)
    view: dict[str, Any] = {
        "id": str(need.id),
        # What the seeker wrote (nothing in it names the seeker), the details hidden below.
        **as_input(need),
        "state": str(need.state),
        "closed_reason": need.closed_reason,
        "version": need.version,
        "created_at": need.created_at,
        "updated_at": need.updated_at,
        "published_at": need.published_at,
        "closed_at": need.closed_at,
        "anonymous": anonymous,
        "details_hidden": not details,
        "seeker": _seeker(need) if inside or not anonymous else None,
    }
    if not details:
        view.update(hidden_details())
    if inside:
        view["created_by_id"] = str(need.created_by_id) if need.created_by_id else None  # type: ignore[attr-defined]
        view["rejection_reason"] = need.rejection_reason
    return view


def _seeker(need: Need) -> dict[str, Any]:
    org = need.seeker
    if not isinstance(org, Organization):
        raise RuntimeError("load the need with its seeker before showing it")
    return {
        "id": str(org.id),
        "name": org.name,
        "slug": org.slug,
        "country": org.country,
        "logo_url": org.logo_url,
    }


# --- reading -------------------------------------------------------------------------------


async def _load(need_id: Any) -> Need:
    need = await Need.get_or_none(id=object_id(str(need_id), "need")).select_related("seeker")
    if need is None:
        raise NotFound("No such need.")
    return need


# A need's read, written out (market/rows.py): the need (`n`), its seeker (`o`), and whether
# the reader's organisation accepted its clause, in one statement. The need page reads the same
# columns with more beside them (docking/proposals.py `_NEED_PAGE`); `from_row` reads either.
_WITH_SEEKER = rows.Statement(
    "SELECT {n}, {o}, EXISTS (SELECT 1 FROM need_clause_acceptance a"
    " WHERE a.need_id = n.id AND a.organization_id = $1) AS clause_accepted"
    " FROM need n JOIN organization o ON o.id = n.seeker_id WHERE n.id = $2",
    n=Need,
    o=Organization,
)


def from_row(actor: Actor, row: Mapping[str, Any]) -> Need:
    """The need of a row read as `_WITH_SEEKER` reads it, with its seeker, if the actor may see it;
    anyone else gets the 404 of a need that does not exist."""
    need = rows.build(Need, row, "n")
    if need is None:
        raise NotFound("No such need.")
    need.seeker = rows.build(Organization, row, "o")
    if not can_see(actor, need):
        raise NotFound("No such need.")
    _note_acceptance(actor, need, bool(row["clause_accepted"]))
    return need


async def get_need(actor: Actor, need_id: str) -> Need:
    """The need, with its seeker, if the actor may see it; anyone else gets the 404 of a need
    that does not exist."""
    found = await _WITH_SEEKER.fetch([actor.organization_id, object_id(str(need_id), "need")])
    if not found:
        raise NotFound("No such need.")
    return from_row(actor, found[0])


def as_input(need: Need) -> dict[str, Any]:
    """The stored need in NeedIn's shape (what an edit is laid over)."""
    low, high = budget(need)
    return {
        "title": need.title,
        "problem": need.problem,
        "background": need.background,
        "must_have": list(need.must_have),
        "nice_to_have": list(need.nice_to_have),
        "out_of_scope": need.out_of_scope,
        "trl_min": need.trl_min,
        "trl_max": need.trl_max,
        "ipc_codes": list(need.ipc_codes),
        "keywords": list(need.keywords),
        "budget_min": low,
        "budget_max": high,
        "cooperation": list(need.cooperation),
        "territories": list(need.territories),
        "deadline": need.deadline,
        "feedback_by": need.feedback_by,
        "visibility": str(need.visibility),
        "language": need.language,
    }


def to_columns(data: NeedIn) -> dict[str, Any]:
    """A validated need -> model columns (the budget is three)."""
    columns = data.model_dump(exclude={"budget_min", "budget_max"})
    ends = [end for end in (data.budget_min, data.budget_max) if end is not None]
    columns["budget_min"] = data.budget_min.amount if data.budget_min else None
    columns["budget_max"] = data.budget_max.amount if data.budget_max else None
    columns["budget_currency"] = ends[0].currency if ends else None
    return columns


# --- writing -------------------------------------------------------------------------------


def _require_enterprise_member(actor: Actor, doing: str) -> None:
    if actor.user is None:
        raise NotAuthenticated("Log in first.")
    if actor.organization is None or actor.organization.kind != OrganizationKind.ENTERPRISE:
        raise Forbidden(f"Only members of an enterprise can {doing}.")
    roles.require(actor, Permission.LIST, doing)
    require_may_draft(actor, doing)  # a draft waits for nobody; submitting waits for verification


def _require_member(actor: Actor, need: Need, doing: str) -> None:
    if actor.user is None:
        raise NotAuthenticated("Log in first.")
    if "member" not in roles_on(actor, need):
        raise Forbidden(f"Only the enterprise that posted this need can {doing} it.")


async def create_need(actor: Actor, data: NeedIn) -> Need:
    _require_enterprise_member(actor, "post technology needs")
    async with unit_of_work():
        need = await Need.create(
            seeker_id=actor.organization_id, created_by_id=actor.user_id, **to_columns(data)
        )
        await audit.record(
            actor,
            "need.created",
            "need",
            need.id,
            after={"state": NeedState.DRAFT.value, "title": need.title},
            organization_id=need.seeker_id,  # type: ignore[attr-defined]
        )
    return await _load(need.id)


async def update_need(actor: Actor, need_id: str, patch: NeedPatch) -> Need:
    """Change a draft or rejected need in place. The fields sent are laid over the stored
    need and the result is checked whole, as a new need would be (a minimum above the stored
    maximum is refused by name)."""
    need = await get_need(actor, need_id)
    _require_member(actor, need, "edit")
    sent = patch.model_dump(exclude_unset=True)
    if not sent:
        raise ValidationFailed("Nothing to change.", fields={"body": "Send at least one field."})
    async with unit_of_work():
        current = await lock_existing(Need, need.id)
        state = str(current.state)
        if state not in states.EDITABLE:
            raise Conflict(
                f"A {state} need cannot be edited; a published one can have its deadline extended.",
                state=state,
            )
        before = as_input(current)
        merged = parse(NeedIn, {**before, **sent})
        after = merged.model_dump()  # the shape as_input gives (Money as a dict)
        changed = {name for name, value in after.items() if before[name] != value}
        if changed:
            await Need.filter(id=current.id).update(
                **to_columns(merged), version=F("version") + 1, updated_at=utcnow()
            )
            await audit.record(
                actor,
                "need.edited",
                "need",
                current.id,
                before=audit.plain({k: before[k] for k in changed}),
                after=audit.plain({k: after[k] for k in changed}),
                organization_id=current.seeker_id,  # type: ignore[attr-defined]
            )
    return await _load(need.id)


async def _move(
    actor: Actor,
    need_id: str,
    action: str,
    *,
    changes: dict[str, Any] | None = None,
    noted: dict[str, Any] | None = None,
    announced: dict[str, Any] | None = None,
) -> Need:
    if actor.user is None and not actor.is_system:
        raise NotAuthenticated("Log in first.")
    need = await _load(need_id)
    if not actor.is_system and not can_see(actor, need):
        raise NotFound("No such need.")
    async with unit_of_work():
        await apply(
            NEED,
            need.id,
            action,
            actor,
            changes={"version": F("version") + 1, "updated_at": utcnow(), **(changes or {})},
            noted=noted,
            announced=announced,
        )
    return await _load(need.id)


async def submit_need(actor: Actor, need_id: str) -> Need:
    need = await get_need(actor, need_id)
    _require_member(actor, need, "submit")
    require_verified(actor, "submit technology needs")
    if str(need.state) in states.EDITABLE:
        problems = submission_problems(as_input(need))
        if problems:
            raise ValidationFailed("The need is not complete yet.", fields=problems)
    return await _move(actor, need_id, "submit", changes={"rejection_reason": ""})


async def approve_need(actor: Actor, need_id: str) -> Need:
    require_admin(actor)
    return await _move(actor, need_id, "approve", changes={"published_at": utcnow()})


async def reject_need(actor: Actor, need_id: str, reason: str) -> Need:
    require_admin(actor)
    reason = reason.strip()
    if len(reason) < 3:
        raise validation_error("reason", "Say why, so the enterprise can put it right.")
    return await _move(
        actor, need_id, "reject", changes={"rejection_reason": reason}, noted={"reason": reason}
    )


async def close_need(actor: Actor, need_id: str, reason: str = "") -> Need:
    """Close a published need before its deadline; those who answered it are told why."""
    reason = reason.strip()
    if len(reason) > 2000:
        raise validation_error("reason", "Keep the reason within 2000 characters.")
    return await _move(
        actor,
        need_id,
        "close",
        changes={"closed_reason": reason, "closed_at": utcnow()},
        noted={"reason": reason},
        announced={"reason": reason},
    )


async def withdraw_need(actor: Actor, need_id: str) -> Need:
    return await _move(actor, need_id, "withdraw", changes={"closed_at": utcnow()})


async def award_need(actor: Actor, need_id: str) -> Need:
    return await _move(actor, need_id, "award")


async def extend_deadline(actor: Actor, need_id: str, deadline: date) -> Need:
    """Move a published need's deadline later (the schema has checked it is ahead and within
    the horizon); those who answered it are told."""
    need = await get_need(actor, need_id)
    async with unit_of_work():
        current = await lock_existing(Need, need.id)
        NEED.check(actor, current, "extend")  # 403 or 409 before the date is looked at
        if deadline <= current.deadline:
            raise validation_error(
                "deadline", f"Choose a date after the current deadline ({current.deadline})."
            )
        if current.feedback_by is not None and deadline > current.feedback_by:
            raise validation_error(
                "deadline",
                f"Feedback is promised by {current.feedback_by}: the deadline cannot pass it.",
            )
        old, new = current.deadline.isoformat(), deadline.isoformat()
        await apply(
            NEED,
            need.id,
            "extend",
            actor,
            changes={"deadline": deadline, "version": F("version") + 1, "updated_at": utcnow()},
            was={"deadline": old},
            noted={"deadline": new},
            announced={"previous_deadline": old, "deadline": new},
        )
    return await _load(need.id)


async def expire_need(need_id: Any, today: date | None = None) -> bool:
    """Close one published need whose deadline (a whole day, UTC) has passed, as the system;
    False when it is not due (its deadline was extended meanwhile), a 409 when it is no
    longer published."""
    today = today or utcnow().date()
    async with unit_of_work():
        locked = await lock_existing(Need, need_id)
        if locked.deadline >= today:
            return False
        await apply(
            NEED,
            need_id,
            "expire",
            Actor.system(),
            changes={"closed_at": utcnow(), "version": F("version") + 1, "updated_at": utcnow()},
        )
    return True


async def expire_due(today: date | None = None) -> int:
    """Close every published need whose deadline has passed; the worker's cron runs this,
    never a page load. Returns how many it closed."""
    today = today or utcnow().date()
    due = await Need.filter(state=NeedState.PUBLISHED, deadline__lt=today).values_list(
        "id", flat=True
    )
    closed = 0
    for need_id in due:
        try:
            closed += await expire_need(need_id, today)
        except Conflict:
            continue  # closed, withdrawn or awarded meanwhile
    return closed


# --- lists ---------------------------------------------------------------------------------


def _choice(name: str, value: str | None, allowed: Any) -> str | None:
    if value and value not in {str(v) for v in allowed}:
        raise validation_error(name, "Unknown value.")
    return value or None


def _words(q: str) -> list[str]:
    words = q.split()
    if len(words) > MAX_WORDS:
        raise validation_error(
            "q", Msg("Search with at most %(max_words)s words.", max_words=MAX_WORDS)
        )
    return words


async def list_needs(
    actor: Actor,
    *,
    q: str = "",
    mine: bool = False,
    state: str | None = None,
    cooperation: str | None = None,
    page: int = 1,
    per_page: int = 20,
) -> tuple[list[Need], int]:
    """The public needs (published by default; closed and awarded on request), or with
    `mine` the actor's enterprise's in every state. A search matches the title and the
    problem only: the words of an anonymous seeker's name, or of details kept behind a
    confidentiality clause, must find nothing."""
    state = _choice("state", state, NeedState)
    cooperation = _choice("cooperation", cooperation, Cooperation)
    query = Need.all()
    if mine:
        roles.require(actor, Permission.LIST, "see the needs of your organisation")
        query = query.filter(seeker_id=actor.organization_id)
        if state:
            query = query.filter(state=state)
        order = ("-updated_at", "id")
    else:
        if state and state not in PUBLIC_STATES:
            return [], 0
        query = query.filter(state=state or NeedState.PUBLISHED)
        order = ("-published_at", "id")
    for word in _words(q):
        query = query.filter(Q(title__icontains=word) | Q(problem__icontains=word))
    if cooperation:
        # The column is a JSON list whose text holds each form in quotes; compared as text,
        # which PostgreSQL and SQLite (`market dev`) both do (Tortoise's JSON `contains` is
        # PostgreSQL's alone).
        query = query.annotate(cooperation_text=RawSQL("CAST(cooperation AS TEXT)")).filter(
            cooperation_text__contains=f'"{cooperation}"'
        )
    total = await query.count()
    items = (
        await query.order_by(*order)
        .offset((page - 1) * per_page)
        .limit(per_page)
        .select_related("seeker")
    )
    return list(items), total


async def moderation_queue(
    actor: Actor, *, state: str = "submitted", page: int = 1, per_page: int = 50
) -> tuple[list[Need], int]:
    require_admin(actor)
    if state not in {s.value for s in NeedState}:
        raise validation_error("state", "Unknown state.")
    query = Need.filter(state=state)
    total = await query.count()
    items = (
        await query.order_by("updated_at", "id")
        .offset((page - 1) * per_page)
        .limit(per_page)
        .select_related("seeker")
    )
    return list(items), total


async def published_by(org_id: Any, limit: int = 50) -> list[Need]:
    """An enterprise's open needs for its public profile: never an anonymous one, which
    would name its seeker."""
    return list(
        await Need.filter(seeker_id=org_id, state=NeedState.PUBLISHED)
        .exclude(visibility=Visibility.ANONYMOUS)
        .order_by("-published_at", "id")
        .limit(limit)
        .select_related("seeker")
    )
