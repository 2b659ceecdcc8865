"""The need HTML form: its flat text fields <-> the NeedIn / NeedPatch dict.

Requirements are typed one per line; keywords, IPC codes and territories may also be separated
by commas or semicolons; forms of cooperation are checkboxes; the TRL range is two 1-9
selects; the budget is two decimal amounts in major units with one currency (listings/forms.py
reads amounts the same way); dates are `<input type="date">` (YYYY-MM-DD).
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

from pydantic import BaseModel
from starlette.datastructures import FormData

from docking.models import Need
from docking.schemas import ProposalIn
from docking.service import as_input
from listings import forms as listing_forms
from listings.forms import (
    CODES,
    LINES,
    LIST_SEPARATORS,
    major_units,
    money_of,
    split_items,
    text_of,
)
from market.errors import ValidationFailed
from market.validation import parse

M = TypeVar("M", bound=BaseModel)

TEXT_FIELDS = (
    "title",
    "problem",
    "background",
    "out_of_scope",
    "visibility",
    "language",
    "deadline",
    "feedback_by",
)
LIST_FIELDS: dict[str, re.Pattern[str]] = {
    "must_have": LINES,
    "nice_to_have": LINES,
    "ipc_codes": LIST_SEPARATORS,
    "keywords": LIST_SEPARATORS,
    "territories": CODES,
}
# Typed in a one-line input, so shown comma-separated; the others are textareas.
INLINE_LISTS = ("keywords", "territories")
BUDGET = ("budget_min", "budget_max")
# Optional: an empty one is None; the others, left empty, are missing ("required").
OPTIONAL_DATES = ("feedback_by",)


def values_of(form: FormData) -> dict[str, Any]:
    """What the user typed, shaped for re-rendering the form (nothing is lost or converted)."""
    names = (*TEXT_FIELDS, *LIST_FIELDS, "trl_min", "trl_max", "budget_currency")
    values: dict[str, Any] = {name: text_of(form, name) for name in names}
    values["cooperation"] = [v for v in form.getlist("cooperation") if isinstance(v, str)]
    for end in BUDGET:
        values[end] = {"amount": text_of(form, f"{end}.amount")}
    return values


def field_of(key: str) -> str:
    """A schema error's location -> the form control it belongs to."""
    head, _, rest = key.partition(".")
    if head in BUDGET:
        return "budget_currency" if rest == "currency" else f"{head}.amount"
    return head


def _data(values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    errors: dict[str, str] = {}
    data: dict[str, Any] = {}
    for name in TEXT_FIELDS:
        text = str(values.get(name) or "").strip()
        if text or name not in ("deadline", *OPTIONAL_DATES):
            data[name] = text
        elif name in OPTIONAL_DATES:
            data[name] = None
    for name, separators in LIST_FIELDS.items():
        data[name] = split_items(str(values.get(name) or ""), separators)
    data["cooperation"] = list(values.get("cooperation") or [])
    for name in ("trl_min", "trl_max"):
        level = str(values.get(name) or "").strip()
        if level.isascii() and level.isdigit() and len(level) <= 3:
            data[name] = int(level)
        elif level:
            errors[name] = "Choose a level from 1 to 9."
    currency = str(values.get("budget_currency") or "")
    for end in BUDGET:
        amount = str((values.get(end) or {}).get("amount") or "")
        data[end], found = money_of(amount, currency, end)
        errors.update({field_of(key): message for key, message in found.items()})
    return data, errors


def parse_need(schema: type[M], values: dict[str, Any]) -> M:
    """Form values -> the schema, or ValidationFailed keyed by the form's field names."""
    data, errors = _data(values)
    return listing_forms.validated(schema, data, errors, field_of)


def refused(values: dict[str, Any], exc: ValidationFailed) -> ValidationFailed:
    """A refusal of the service (keyed by the schema's fields) keyed by the form's."""
    data, _ = _data(values)
    fields = listing_forms.form_errors(data, exc.fields, field_of=field_of)
    return ValidationFailed(exc.message, fields=fields)


def values_from(data: dict[str, Any]) -> dict[str, Any]:
    """Schema-shaped data -> the strings the form shows."""
    values: dict[str, Any] = {name: str(data.get(name) or "") for name in TEXT_FIELDS}
    for name in LIST_FIELDS:
        joiner = ", " if name in INLINE_LISTS else "\n"
        values[name] = joiner.join(data.get(name) or [])
    values["cooperation"] = list(data.get("cooperation") or [])
    for name in ("trl_min", "trl_max"):
        values[name] = "" if data.get(name) is None else str(data[name])
    currency = ""
    for end in BUDGET:
        money = data.get(end)
        values[end] = {"amount": major_units(money) if money else ""}
        currency = currency or (money["currency"] if money else "")
    values["budget_currency"] = currency
    return values


def current_values(need: Need) -> dict[str, Any]:
    return values_from(as_input(need))


def new_values() -> dict[str, Any]:
    return values_from(
        {"territories": ["WORLD"], "visibility": "public", "trl_min": 1, "trl_max": 9}
    )


# --- the proposal form -------------------------------------------------------------------------
#
# A summary, one "how" textarea per must-have of the need (`how.<i>`, in the need's order), a
# TRL select and a checkbox per listing of the proposer's. The schema's names map back:
# `requirements.<i>.how` -> `how.<i>`, anything else under `requirements` -> `requirements`.


def new_proposal_values() -> dict[str, Any]:
    return {"summary": "", "trl": "", "how": {}, "listing_ids": [], "enquiry_id": ""}


def proposal_values_of(form: FormData) -> dict[str, Any]:
    hows = {
        key.split(".", 1)[1]: value
        for key, value in form.multi_items()
        if key.startswith("how.") and isinstance(value, str)
    }
    return {
        "summary": text_of(form, "summary"),
        "trl": text_of(form, "trl"),
        "how": hows,
        "listing_ids": [v for v in form.getlist("listing_ids") if isinstance(v, str)],
        "enquiry_id": text_of(form, "enquiry_id"),
    }


def proposal_field(key: str) -> str:
    parts = key.split(".")
    if parts[0] == "requirements":
        if len(parts) >= 3 and parts[2] == "how":
            return f"how.{parts[1]}"
        return "requirements"
    return parts[0]


def parse_proposal(values: dict[str, Any], must_have: list[str]) -> ProposalIn:
    """Form values -> ProposalIn, or ValidationFailed keyed by the form's field names."""
    errors: dict[str, str] = {}
    level = str(values.get("trl") or "").strip()
    trl: Any = int(level) if level.isascii() and level.isdigit() and len(level) <= 2 else level
    if level == "":
        errors["trl"] = "Choose a level from 1 to 9."
    hows = values.get("how") or {}
    data = {
        "summary": str(values.get("summary") or "").strip(),
        "requirements": [
            {"requirement": requirement, "how": str(hows.get(str(i)) or "").strip()}
            for i, requirement in enumerate(must_have)
        ],
        "trl": trl,
        "listing_ids": list(values.get("listing_ids") or []),
        "enquiry_id": str(values.get("enquiry_id") or "").strip() or None,
    }
    try:
        parsed = parse(ProposalIn, data)
    except ValidationFailed as exc:
        raise proposal_refused(exc, errors) from None
    if errors:
        raise ValidationFailed("Check the proposal.", fields=errors)
    return parsed


def proposal_refused(exc: ValidationFailed, more: dict[str, str] | None = None) -> ValidationFailed:
    """A refusal keyed by the schema's (or the service's) fields, keyed by the form's."""
    fields = dict(more or {})
    for key, message in exc.fields.items():
        fields.setdefault(proposal_field(key), message)
    return ValidationFailed(exc.message, fields=fields)
