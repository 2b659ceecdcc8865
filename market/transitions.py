"""Apply a transition from a domain's state table (its `states.py`) to one row."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from tortoise.models import Model

from market.errors import Conflict, Forbidden, NotFound


@dataclass(frozen=True)
class Rule:
    to: str
    who: frozenset[str]


Table = Mapping[tuple[str, str], Rule]


def rule(to: str, *who: str) -> Rule:
    return Rule(to=to, who=frozenset(who))


def allowed_actions(table: Table, state: str, roles: Iterable[str]) -> list[str]:
    """What the given roles may do from `state`: templates ask this which buttons to show."""
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
    """Move one row along the table with a conditional update; returns (before, after).

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
