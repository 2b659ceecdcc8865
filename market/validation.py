"""Turn raw input (a form or a JSON body) into a schema, or a ValidationFailed naming fields."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

from pydantic import BaseModel, ValidationError

from market.errors import NotAuthenticated, NotFound, ValidationFailed
from market.i18n import N_, Msg

if TYPE_CHECKING:
    from tortoise.models import Model

    from market.actor import Actor

M = TypeVar("M", bound=BaseModel)
R = TypeVar("R", bound="Model")


def field_errors(exc: ValidationError) -> dict[str, str]:
    fields: dict[str, str] = {}
    for error in exc.errors():
        name = ".".join(str(part) for part in error["loc"]) or "body"
        fields.setdefault(name, _why(error))
    return fields


# Pydantic's own messages are English only; ours go through the catalogue (market/i18n.Msg).
_WHY: dict[str, str] = {
    "missing": N_("This field is required."),
    "string_too_long": N_("At most %(max_length)s characters."),
    "string_too_short": N_("At least %(min_length)s characters."),
    "too_long": N_("At most %(max_length)s items."),
    "too_short": N_("At least %(min_length)s items."),
    "int_parsing": N_("Enter a whole number (a valid integer)."),
    "int_type": N_("Enter a whole number (a valid integer)."),
    "int_from_float": N_("Enter a whole number (a valid integer)."),
    "float_parsing": N_("Enter a number."),
    "float_type": N_("Enter a number."),
    "decimal_parsing": N_("Enter a number."),
    "decimal_type": N_("Enter a number."),
    "greater_than_equal": N_("Must be at least %(ge)s."),
    "less_than_equal": N_("Must be at most %(le)s."),
    "greater_than": N_("Must be more than %(gt)s."),
    "less_than": N_("Must be less than %(lt)s."),
    "bool_parsing": N_("Choose yes or no."),
    "bool_type": N_("Choose yes or no."),
    "enum": N_("Input should be one of: %(expected)s."),
    "literal_error": N_("Input should be one of: %(expected)s."),
    "date_parsing": N_("Enter a date like 2027-01-31."),
    "date_from_datetime_parsing": N_("Enter a date like 2027-01-31."),
    "date_type": N_("Enter a date like 2027-01-31."),
    "datetime_parsing": N_("Enter a valid datetime, like 2027-01-31T14:00."),
    "datetime_from_date_parsing": N_("Enter a valid datetime, like 2027-01-31T14:00."),
    "datetime_type": N_("Enter a valid datetime, like 2027-01-31T14:00."),
    "string_type": N_("Enter text."),
    "list_type": N_("Send a list."),
    "dict_type": N_("Send an object."),
    "model_type": N_("Send an object."),
    "model_attributes_type": N_("Send an object."),
    "extra_forbidden": N_("This field is not expected."),
    "uuid_parsing": N_("Not a valid id."),
    "uuid_type": N_("Not a valid id."),
    "url_parsing": N_("Enter a valid address."),
    "url_scheme": N_("Enter a valid address."),
}


def _why(error: Any) -> str:
    context = error.get("ctx") or {}
    raised = context.get("error")
    if isinstance(raised, ValueError) and raised.args and isinstance(raised.args[0], Msg):
        return raised.args[0]
    msgid = _WHY.get(error["type"])
    if msgid is None:
        return error["msg"].removeprefix("Value error, ")
    try:
        return Msg(msgid, **{k: str(v) for k, v in context.items() if f"%({k})s" in msgid})
    except KeyError:  # pydantic did not give the value the message names
        return error["msg"]


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
        raise NotFound(Msg("No such %(what)s.", what=what)) from None


async def visible_or_404(
    actor: Actor, model: type[R], raw_id: str, what: str, can_see: Callable[[Actor, R], bool]
) -> R:
    """The row `raw_id` names, if the actor may see it. Anyone else gets the same 404 as for an
    id that names nothing, so a stranger cannot tell whether it exists."""
    if actor.user is None and not actor.is_system:
        raise NotAuthenticated("Log in first.")
    row = await model.get_or_none(id=object_id(raw_id, what))
    if row is None or not can_see(actor, row):
        raise NotFound(Msg("No such %(what)s.", what=what))
    return row
