"""Turn raw input (a form or a JSON body) into a schema, or a ValidationFailed naming fields."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from market.errors import ValidationFailed

M = TypeVar("M", bound=BaseModel)


def field_errors(exc: ValidationError) -> dict[str, str]:
    fields: dict[str, str] = {}
    for error in exc.errors():
        name = ".".join(str(part) for part in error["loc"]) or "body"
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "missing":
            message = "This field is required."
        fields.setdefault(name, message)
    return fields


def parse(schema: type[M], data: Any) -> M:
    if not isinstance(data, dict):
        raise ValidationFailed("Send a JSON object.", fields={"body": "Expected an object."})
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        fields = field_errors(exc)
        raise ValidationFailed("Please correct the marked fields.", fields=fields) from None


def object_id(value: str, what: str = "object") -> str:
    """Ids are UUIDs; anything else cannot name a row, so it is simply not found."""
    from uuid import UUID

    from market.errors import NotFound

    try:
        return str(UUID(str(value)))
    except ValueError:
        raise NotFound(f"No such {what}.") from None
