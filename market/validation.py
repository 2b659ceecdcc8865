"""Turn raw input (a form or a JSON body) into a schema, or a ValidationFailed naming fields."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

from pydantic import BaseModel, ValidationError

from market.errors import NotAuthenticated, NotFound, ValidationFailed

if TYPE_CHECKING:
    from tortoise.models import Model

    from market.actor import Actor

M = TypeVar("M", bound=BaseModel)
R = TypeVar("R", bound="Model")


def field_errors(exc: ValidationError) -> dict[str, str]:
    fields: dict[str, str] = {}
    for error in exc.errors():
        name = ".".join(str(part) for part in error["loc"]) or "body"
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "missing":
            message = "This field is required."
        fields.setdefault(name, message)
    return fields


def nul_at(data: Any) -> str | None:
    """Where in `data` a string (or a key) holds NUL, which PostgreSQL cannot store: the field
    as field_errors names it, or None. A walk with its own stack: no recursion limit to hit."""
    stack: list[tuple[tuple[str, ...], Any]] = [((), data)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            if "\x00" in value:
                return ".".join(path) or "body"
        elif isinstance(value, dict):
            for key, item in value.items():
                if "\x00" in str(key):
                    return ".".join(path) or "body"
                stack.append(((*path, str(key)), item))
        elif isinstance(value, list):
            stack.extend(((*path, str(i)), item) for i, item in enumerate(value))
    return None


def parse(schema: type[M], data: Any) -> M:
    if not isinstance(data, dict):
        raise ValidationFailed("Send a JSON object.", fields={"body": "Expected an object."})
    if (where := nul_at(data)) is not None:
        why = "Remove the NUL character (U+0000)."
        raise ValidationFailed(why, fields={where: why})
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        fields = field_errors(exc)
        raise ValidationFailed("Please correct the marked fields.", fields=fields) from None


def object_id(value: str, what: str = "object") -> str:
    """Ids are UUIDs; anything else cannot name a row, so it is simply not found."""
    try:
        return str(UUID(str(value)))
    except ValueError:
        raise NotFound(f"No such {what}.") from None


async def visible_or_404(
    actor: Actor, model: type[R], raw_id: str, what: str, can_see: Callable[[Actor, R], bool]
) -> R:
    """The row `raw_id` names, if the actor may see it. Anyone else gets the same 404 as for an
    id that names nothing, so a stranger cannot tell whether it exists."""
    if actor.user is None and not actor.is_system:
        raise NotAuthenticated("Log in first.")
    row = await model.get_or_none(id=object_id(raw_id, what))
    if row is None or not can_see(actor, row):
        raise NotFound(f"No such {what}.")
    return row
