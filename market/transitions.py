"""The one lifecycle engine: every state change of every domain goes through `apply`.

A lifecycle is a table in its domain's `states.py`, `(state, action) -> rule(next, *roles,
event=...)`, bound to its model by a `Lifecycle` that says who an actor is to a row (its roles,
derived, never passed in), what the row's outbox events carry, and whose audit trail an entry
joins. `apply(lifecycle, id, action, actor)`, inside the caller's unit of work:

1. locks the row (`SELECT ... FOR UPDATE`; a no-op on SQLite, whose writers queue anyway),
2. derives the actor's roles on it and checks the table: 403 when those roles may never take
   the action, 409 naming the current state when not from this state,
3. updates it conditionally (`WHERE state = <expected>`), so of two racing callers one wins and
   the other gets a 409 naming the state it found,
4. writes the audit entry (`<name>.<action>`, the state before and after) and, when the rule
   names one, the outbox event, in the same transaction.

Templates ask `lifecycle.actions(actor, row)` which buttons to show: the same table decides.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from tortoise.models import Model

from market import audit, outbox
from market.actor import Actor
from market.errors import Conflict, Forbidden, NotFound

M = TypeVar("M", bound=Model)


@dataclass(frozen=True)
class Rule:
    to: str
    who: frozenset[str]
    event: str | None = None


Table = Mapping[tuple[str, str], Rule]


def rule(to: str, *who: str, event: str | None = None) -> Rule:
    return Rule(to=to, who=frozenset(who), event=event)


def events_of(table: Table) -> frozenset[str]:
    """The outbox event types a table's rows announce (for `outbox.declare`)."""
    return frozenset(r.event for r in table.values() if r.event)


def allowed_actions(table: Table, state: str, roles: Iterable[str]) -> list[str]:
    """What the given roles may do from `state`."""
    held = set(roles)
    return [action for (src, action), r in table.items() if src == state and r.who & held]


def check(table: Table, state: str, action: str, roles: Iterable[str]) -> Rule:
    held = set(roles)
    permitted_somewhere = any(act == action and r.who & held for (_, act), r in table.items())
    if not permitted_somewhere:
        raise Forbidden(f"You may not {action.replace('_', ' ')} this.")
    found = table.get((state, action))
    if found is None:
        raise Conflict(
            f"Cannot {action.replace('_', ' ')}: it is {state.replace('_', ' ')}.", state=state
        )
    if not found.who & held:
        raise Forbidden(f"You may not {action.replace('_', ' ')} this.")
    return found


@dataclass(frozen=True)
class Lifecycle(Generic[M]):
    """A state table bound to its model, with what `apply` needs to know of the domain."""

    name: str  # the audit trail's object type, and the prefix of its actions
    model: type[M]
    table: Table
    roles: Callable[[Actor, M], set[str]]
    payload: Callable[[M, Actor], dict[str, Any]]
    organization: Callable[[M, Actor], Any]
    field: str = "state"

    def state_of(self, row: M) -> str:
        return str(getattr(row, self.field))

    def actions(self, actor: Actor, row: M) -> list[str]:
        return allowed_actions(self.table, self.state_of(row), self.roles(actor, row))

    def check(self, actor: Actor, row: M, action: str) -> Rule:
        return check(self.table, self.state_of(row), action, self.roles(actor, row))

    def events(self) -> frozenset[str]:
        return events_of(self.table)


@dataclass(frozen=True)
class Moved(Generic[M]):
    row: M
    before: str
    after: str


async def apply(
    lifecycle: Lifecycle[M],
    object_id: Any,
    action: str,
    actor: Actor,
    *,
    changes: dict[str, Any] | None = None,
    was: dict[str, Any] | None = None,
    noted: dict[str, Any] | None = None,
    announced: dict[str, Any] | None = None,
) -> Moved[M]:
    """Move one row along its table; see the module's docstring. `changes` are written with
    the state; `was` and `noted` join the audit entry's "before" and "after" (empty values
    left out), `announced` the event's payload."""
    field = lifecycle.field
    row = await lifecycle.model.select_for_update().get_or_none(pk=object_id)
    if row is None:
        raise NotFound(f"No such {lifecycle.name}.")
    before = lifecycle.state_of(row)
    found = lifecycle.check(actor, row, action)
    updated = await lifecycle.model.filter(pk=object_id, **{field: before}).update(
        **{field: found.to}, **(changes or {})
    )
    if updated != 1:
        now = await lifecycle.model.filter(pk=object_id).values_list(field, flat=True)
        state = str(now[0]) if now else "gone"
        raise Conflict(f"It changed meanwhile: it is {state} now.", state=state)
    moved = await lifecycle.model.get(pk=object_id)
    await audit.record(
        actor,
        f"{lifecycle.name}.{action}",
        lifecycle.name,
        object_id,
        before={field: before, **_present(was)},
        after={field: found.to, **_present(noted)},
        organization_id=lifecycle.organization(moved, actor),
    )
    if found.event:
        await outbox.emit(found.event, {**lifecycle.payload(moved, actor), **(announced or {})})
    return Moved(moved, before, found.to)


async def transition(
    model: type[Model],
    object_id: Any,
    *,
    table: Table,
    action: str,
    roles: Iterable[str],
    field: str = "state",
    changes: dict[str, Any] | None = None,
) -> tuple[str, str]:
    """Move one row along the table with a conditional update; returns (before, after). The
    older half of `apply` (no audit, no event, roles given): only the domains not yet moved to
    `apply` still call it.

    Must run inside the use case's transaction. The row is locked first (a no-op on SQLite),
    and the update repeats the expected state so a concurrent winner makes this one fail.
    """
    obj = await model.select_for_update().get_or_none(pk=object_id)
    if obj is None:
        raise NotFound(f"No such {model.__name__.lower()}.")
    before = str(getattr(obj, field))
    found = check(table, before, action, roles)
    updated = await model.filter(pk=object_id, **{field: before}).update(
        **{field: found.to}, **(changes or {})
    )
    if updated != 1:
        now = await model.filter(pk=object_id).values_list(field, flat=True)
        state = str(now[0]) if now else "gone"
        raise Conflict(f"It changed meanwhile: it is {state} now.", state=state)
    return before, found.to


def _present(facts: dict[str, Any] | None) -> dict[str, Any]:
    return {k: v for k, v in (facts or {}).items() if v not in ("", None)}
