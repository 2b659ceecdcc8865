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
   names one, the outbox event, in the same transaction,
5. settles the notices about the row on the actor's side (`notify.settle`): whatever they
   asked for has been answered by this move.

Templates ask `lifecycle.actions(actor, row)` which buttons to show, and a bulk import asks
`lifecycle.walk(row, steps)` which states its new rows reach: the same table decides.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from tortoise.models import Model

from market import audit, notify, outbox
from market.actor import Actor
from market.errors import Conflict, Forbidden, NotFound
from market.i18n import Msg
from market.locks import lock

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
    # Who the actor is to the row, and whose audit trail a move joins: plain functions, or
    # coroutines where the answer lies in another row (a payment's contract).
    roles: Callable[[Actor, M], set[str] | Awaitable[set[str]]]
    payload: Callable[[M, Actor], dict[str, Any]]
    organization: Callable[[M, Actor], Any]
    field: str = "state"

    def state_of(self, row: M) -> str:
        return str(getattr(row, self.field))

    def actions(self, actor: Actor, row: M) -> list[str]:
        return allowed_actions(self.table, self.state_of(row), self._roles_now(actor, row))

    def check(self, actor: Actor, row: M, action: str) -> Rule:
        return check(self.table, self.state_of(row), action, self._roles_now(actor, row))

    def _roles_now(self, actor: Actor, row: M) -> set[str]:
        roles = self.roles(actor, row)
        if inspect.isawaitable(roles):
            raise TypeError(f"{self.name}: its roles need the database; use `await roles_of`")
        return roles

    async def roles_of(self, actor: Actor, row: M) -> set[str]:
        return await _resolved(self.roles(actor, row))

    def events(self) -> frozenset[str]:
        return events_of(self.table)

    def walk(self, row: M, steps: Iterable[tuple[str, Actor]]) -> list[Step]:
        """The moves a row not yet written would make, each checked against the table with
        the roles of the actor taking it: for writing many new rows at once (an import)
        exactly where the table, step by step, would have taken them."""
        state = self.state_of(row)
        walked = []
        for action, actor in steps:
            found = check(self.table, state, action, self._roles_now(actor, row))
            walked.append(Step(action, actor, state, found))
            state = found.to
        return walked


@dataclass(frozen=True)
class Step:
    action: str
    actor: Actor
    before: str
    rule: Rule


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
    row = await lock(lifecycle.model, object_id)
    if row is None:
        raise NotFound(Msg("No such %(name)s.", name=lifecycle.name))
    before = lifecycle.state_of(row)
    found = check(lifecycle.table, before, action, await lifecycle.roles_of(actor, row))
    updated = await lifecycle.model.filter(pk=object_id, **{field: before}).update(
        **{field: found.to}, **(changes or {})
    )
    if updated != 1:
        now = await lifecycle.model.filter(pk=object_id).values_list(field, flat=True)
        state = str(now[0]) if now else "gone"
        raise Conflict(Msg("It changed meanwhile: it is %(state)s now.", state=state), state=state)
    moved = await lifecycle.model.get(pk=object_id)
    await audit.record(
        actor,
        f"{lifecycle.name}.{action}",
        lifecycle.name,
        object_id,
        before={field: before, **_present(was)},
        after={field: found.to, **_present(noted)},
        organization_id=await _resolved(lifecycle.organization(moved, actor)),
    )
    if found.event:
        await outbox.emit(found.event, {**lifecycle.payload(moved, actor), **(announced or {})})
    await notify.settle(notify.about(lifecycle.name, object_id), actor)
    return Moved(moved, before, found.to)


def _present(facts: dict[str, Any] | None) -> dict[str, Any]:
    return {k: v for k, v in (facts or {}).items() if v not in ("", None)}


async def _resolved(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value
