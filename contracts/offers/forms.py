"""The offer HTML forms: their flat text fields <-> OfferIn / OfferTermsIn, and the versions
of an offer's terms laid side by side for the offer page.

Territories may be typed separated by commas, spaces or new lines (or sent as several values);
fields of use one per line, since a field's name may contain a comma. Amounts are typed in
major units of one currency, chosen once for the upfront fee and every milestone, and stored
as integer minor units. The expiry is a datetime-local input, read as UTC.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.datastructures import FormData

from contracts.offers.models import OfferTerms
from contracts.offers.schemas import MAX_TERM_MONTHS
from listings import forms as listing_forms
from listings.models import Listing
from market.errors import ValidationFailed
from market.validation import field_errors

M = TypeVar("M", bound=BaseModel)

# Rows of milestone inputs the form shows at least, and at most (the schema's limit).
MILESTONE_ROWS = 3
MAX_MILESTONES = 20
TEXT_FIELDS = (
    "license_type",
    "territories",
    "fields_of_use",
    "term_months",
    "royalty_percent",
    "conditions",
    "expires_at",
    "message",
)
_TERRITORY_SEPARATORS = re.compile(r"[\n,;，；、\s]")
_FIELD_SEPARATORS = re.compile(r"\n")
_PERCENT = re.compile(r"^[0-9]{1,3}(?:\.[0-9]+)?$")
_MONTHS = re.compile(r"^[0-9]{1,4}$")
# What a datetime-local input sends and shows: minutes, no offset.
LOCAL_FORMAT = "%Y-%m-%dT%H:%M"
DEFAULT_EXPIRY = timedelta(days=14)


# --- form -> data ------------------------------------------------------------------------


def values_of(form: FormData) -> dict[str, Any]:
    """What the user typed, shaped for re-rendering the form (nothing is lost or converted)."""
    values: dict[str, Any] = {name: _text(form, name) for name in TEXT_FIELDS}
    # A multiple select (or repeated inputs) sends several territories; a text input one line.
    values["territories"] = ", ".join(
        v.strip() for v in form.getlist("territories") if isinstance(v, str) and v.strip()
    )
    values["upfront_fee"] = {
        "amount": _text(form, "upfront_fee.amount"),
        "currency": _text(form, "upfront_fee.currency"),
    }
    rows = [
        {
            "description": _text(form, f"milestones.{i}.description"),
            "amount": _text(form, f"milestones.{i}.amount"),
        }
        for i in range(MAX_MILESTONES)
    ]
    values["milestones"] = _trim_rows(rows)
    return values


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.replace("\r\n", "\n") if isinstance(value, str) else ""


def _trim_rows(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    """Keep the rows up to the last one filled in, padded to the rows the form always shows."""
    filled = [i for i, row in enumerate(rows) if row["description"].strip() or row["amount"]]
    kept = rows[: filled[-1] + 1] if filled else []
    while len(kept) < MILESTONE_ROWS:
        kept.append({"description": "", "amount": ""})
    return kept


def split_items(text: str, separators: re.Pattern[str]) -> list[str]:
    return [item.strip() for item in separators.split(text) if item.strip()]


def parse_terms(schema: type[M], values: dict[str, Any]) -> M:
    """Form values -> the schema, or ValidationFailed keyed by the form's field names."""
    data, errors, rows = _data(values, include_message="message" in schema.model_fields)
    try:
        parsed = schema.model_validate(data)
    except ValidationError as exc:
        for key, message in field_errors(exc).items():
            name = form_field(key, rows)
            message = _with_item(data, key, message)
            errors.setdefault(name, message)
    else:
        if not errors:
            return parsed
    raise ValidationFailed("Please correct the marked fields.", fields=errors)


def _data(
    values: dict[str, Any], *, include_message: bool
) -> tuple[dict[str, Any], dict[str, str], list[int]]:
    """The schema's dict, the errors found while converting, and for each milestone the form
    row it came from (empty rows are skipped, so the numbers can differ)."""
    errors: dict[str, str] = {}
    data: dict[str, Any] = {
        "license_type": str(values.get("license_type") or "").strip(),
        "territories": split_items(str(values.get("territories") or ""), _TERRITORY_SEPARATORS),
        "fields_of_use": split_items(str(values.get("fields_of_use") or ""), _FIELD_SEPARATORS)
        or ["all"],
        "conditions": str(values.get("conditions") or ""),
        "expires_at": str(values.get("expires_at") or "").strip() or None,
    }
    if data["expires_at"] is None:
        errors["expires_at"] = "Choose when the offer expires."
    if include_message:
        data["message"] = str(values.get("message") or "")

    months = str(values.get("term_months") or "").strip()
    data["term_months"] = None
    if months:
        if _MONTHS.match(months):
            data["term_months"] = int(months)
        else:
            errors["term_months"] = (
                f"Enter a whole number of months, from 1 to {MAX_TERM_MONTHS}, like 60."
            )

    royalty = str(values.get("royalty_percent") or "").strip().removesuffix("%").strip()
    data["royalty_percent"] = None
    if royalty:
        if _PERCENT.match(royalty):
            data["royalty_percent"] = royalty
        else:
            errors["royalty_percent"] = "Enter a percentage, like 3.5, or leave it empty."

    fee = values.get("upfront_fee") or {}
    currency = str(fee.get("currency") or "")
    amount = str(fee.get("amount") or "")
    data["upfront_fee"] = None
    if not amount.strip():
        errors["upfront_fee.amount"] = "Enter the upfront fee; 0 if there is none."
        # The milestones still need the currency checked.
        _, problems = money_of("0", currency, "upfront_fee")
        errors.update(problems)
    else:
        data["upfront_fee"], problems = money_of(amount, currency, "upfront_fee")
        errors.update(problems)
    currency_ok = "upfront_fee.currency" not in errors

    data["milestones"] = []
    rows: list[int] = []
    for i, row in enumerate(values.get("milestones") or []):
        description = str(row.get("description") or "").strip()
        typed = str(row.get("amount") or "")
        if not description and not typed.strip():
            continue
        rows.append(i)
        milestone: dict[str, Any] = {"description": description, "amount": None}
        if not description:
            errors[f"milestones.{i}.description"] = "Say what must happen for this payment."
        if not typed.strip():
            errors[f"milestones.{i}.amount"] = "Enter the amount of this milestone."
        elif currency_ok:
            milestone["amount"], problems = money_of(typed, currency, f"milestones.{i}")
            # The currency is the upfront fee's: its error is already shown there.
            problems.pop(f"milestones.{i}.currency", None)
            errors.update(problems)
        data["milestones"].append(milestone)
    return data, errors, rows


def money_of(
    amount: str, currency: str, prefix: str
) -> tuple[dict[str, Any] | None, dict[str, str]]:
    """The listing form's amount parser, with errors keyed by this form's field names."""
    money, problems = listing_forms.money_of(amount, currency)
    return money, {
        f"{prefix}.{key.rsplit('.', 1)[-1]}": message for key, message in problems.items()
    }


def form_field(key: str, rows: list[int]) -> str:
    """A pydantic error location -> the form control it belongs to."""
    parts = key.split(".")
    head = parts[0]
    if head == "upfront_fee":
        return "upfront_fee.currency" if parts[-1] == "currency" else "upfront_fee.amount"
    if head == "milestones":
        if len(parts) >= 2 and parts[1].isdigit() and int(parts[1]) < len(rows):
            row = rows[int(parts[1])]
            leaf = "description" if len(parts) > 2 and parts[2] == "description" else "amount"
            return f"milestones.{row}.{leaf}"
        return "milestones"
    return head


def _with_item(data: dict[str, Any], key: str, message: str) -> str:
    """`territories.3` -> prefix the message with the offending item, unless it names it."""
    parts = key.split(".")
    if len(parts) == 2 and parts[1].isdigit() and parts[0] in ("territories", "fields_of_use"):
        items = data.get(parts[0]) or []
        index = int(parts[1])
        if index < len(items) and str(items[index]) not in message:
            return f"{items[index]}: {message}"
    return message


# --- data -> form ------------------------------------------------------------------------


def local_time(value: datetime) -> str:
    """A datetime as the datetime-local input shows it: in UTC, to the minute."""
    return value.astimezone(UTC).strftime(LOCAL_FORMAT)


def new_values(listing: Listing) -> dict[str, Any]:
    """A first offer starts from what the listing offers: its rights, its currency."""
    types = list(listing.license_types or [])
    return {
        "license_type": types[0] if len(types) == 1 else "",
        "territories": ", ".join(listing.territories or ["WORLD"]),
        "fields_of_use": "\n".join(listing.fields_of_use or ["all"]),
        "term_months": "",
        "upfront_fee": {"amount": "", "currency": listing.asking_currency or ""},
        "royalty_percent": "",
        "milestones": _trim_rows([]),
        "conditions": "",
        "expires_at": local_time(datetime.now(UTC) + DEFAULT_EXPIRY),
        "message": "",
    }


def values_from(terms: OfferTerms) -> dict[str, Any]:
    """A version of the terms as the counter-offer form shows it."""
    money = {"currency": terms.currency}
    return {
        "license_type": terms.license_type,
        "territories": ", ".join(terms.territories),
        "fields_of_use": "\n".join(terms.fields_of_use),
        "term_months": str(terms.term_months),
        "upfront_fee": {
            "amount": listing_forms.major_units({**money, "amount": terms.upfront_amount}),
            "currency": terms.currency,
        },
        "royalty_percent": percent_text(terms.royalty_percent),
        "milestones": _trim_rows(
            [
                {
                    "description": m["description"],
                    "amount": listing_forms.major_units({**money, "amount": m["amount"]}),
                }
                for m in terms.milestones
            ]
        ),
        "conditions": terms.conditions,
        "expires_at": local_time(terms.expires_at),
    }


def percent_text(value: Decimal | None) -> str:
    if value is None:
        return ""
    # 3.500 -> 3.5, 5.000 -> 5: what a person would type.
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


# --- the versions side by side -------------------------------------------------------------

# The rows of the versions table, in the order the page shows them.
TERM_ROWS = (
    "license_type",
    "territories",
    "fields_of_use",
    "term_months",
    "upfront_fee",
    "royalty_percent",
    "milestones",
    "conditions",
    "expires_at",
)


@dataclass(frozen=True)
class Cell:
    value: Any
    # Differs from the same term in the version before it.
    changed: bool


def term_value(terms: OfferTerms, name: str) -> Any:
    if name == "upfront_fee":
        return {"amount": terms.upfront_amount, "currency": terms.currency}
    if name == "milestones":
        return [
            {"description": m["description"], "amount": m["amount"], "currency": terms.currency}
            for m in terms.milestones
        ]
    return getattr(terms, name)


def versions_table(versions: list[OfferTerms]) -> list[tuple[str, list[Cell]]]:
    """One row per term, one cell per version; a cell is marked when it changed."""
    table = []
    for name in TERM_ROWS:
        cells = []
        previous: Any = None
        for i, version in enumerate(versions):
            value = term_value(version, name)
            cells.append(Cell(value, changed=i > 0 and value != previous))
            previous = value
        table.append((name, cells))
    return table


def money_text(value: dict[str, Any] | None) -> str:
    return listing_forms.money_text(value)


def values_from_prefill(prefill: dict[str, Any]) -> dict[str, Any]:
    """An offer made from a need's proposal starts from what the need asks for
    (service.prefill_from_need), as the form shows it."""
    fee = prefill["upfront_fee"]
    return {
        "license_type": prefill["license_type"],
        "territories": ", ".join(prefill["territories"]),
        "fields_of_use": "\n".join(prefill["fields_of_use"]),
        "term_months": str(prefill["term_months"]),
        "upfront_fee": {"amount": listing_forms.major_units(fee), "currency": fee["currency"]},
        "royalty_percent": "",
        "milestones": _trim_rows([]),
        "conditions": "",
        "expires_at": local_time(datetime.fromisoformat(prefill["expires_at"])),
        "message": "",
    }
