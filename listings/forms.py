"""The listing HTML form: its flat text fields <-> the ListingIn / ListingPatch dict.

Lists are typed as one item per line (keywords, territories and IPC codes may also be
separated by commas or semicolons), licence types are checkboxes, the TRL is a 1-9 select
and the asking price is a decimal amount in major units plus a currency, stored as
integer minor units.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from babel.numbers import get_currency_name, get_currency_precision
from pydantic import BaseModel, ValidationError
from starlette.datastructures import FormData

from listings import service
from listings.models import Listing, ListingRevision
from listings.schemas import ListingPatch
from market.errors import ValidationFailed
from market.money import MAX_MINOR_UNITS, Money, currencies
from market.validation import field_errors

M = TypeVar("M", bound=BaseModel)

TEXT_FIELDS = (
    "title",
    "summary",
    "description",
    "kind",
    "price_model",
    "language",
    "contact_name",
    "contact_email",
)
LINES = re.compile(r"\n")
LIST_SEPARATORS = re.compile(r"[\n,;，；、]")
CODES = re.compile(r"[\n,;，；、\s]")
# How each list field's text is cut into items; people's names and patent numbers may
# contain commas, so only new lines separate them.
LIST_FIELDS: dict[str, re.Pattern[str]] = {
    "patent_numbers": LINES,
    "ipc_codes": LIST_SEPARATORS,
    "keywords": LIST_SEPARATORS,
    "inventors": LINES,
    "territories": CODES,
    "fields_of_use": LINES,
}
# Typed in a one-line input, so shown comma-separated; the others are textareas.
INLINE_LISTS = ("keywords", "territories")
# Offered first in the currency select; any other ISO 4217 code already stored still shows.
CURRENCIES = ("CNY", "USD", "EUR", "JPY", "GBP", "HKD", "KRW", "SGD", "CHF", "CAD", "AUD")
TRL_LEVELS = tuple(range(1, 10))
_AMOUNT = re.compile(r"^(?:[0-9]+|[0-9]{1,3}(?:,[0-9]{3})+)(?:\.[0-9]+)?$")


# --- form -> data ------------------------------------------------------------------------


def values_of(form: FormData) -> dict[str, Any]:
    """What the user typed, shaped for re-rendering the form (nothing is lost or converted)."""
    values: dict[str, Any] = {name: text_of(form, name) for name in (*TEXT_FIELDS, *LIST_FIELDS)}
    values["trl"] = text_of(form, "trl")
    values["license_types"] = [v for v in form.getlist("license_types") if isinstance(v, str)]
    values["asking_price"] = {
        "amount": text_of(form, "asking_price.amount"),
        "currency": text_of(form, "asking_price.currency"),
    }
    return values


def text_of(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.replace("\r\n", "\n") if isinstance(value, str) else ""


def split_items(text: str, separators: re.Pattern[str]) -> list[str]:
    return [item.strip() for item in separators.split(text) if item.strip()]


def parse_listing(schema: type[M], values: dict[str, Any]) -> M:
    """Form values -> the schema, or ValidationFailed keyed by the form's field names."""
    data, errors = _data(values)
    return validated(schema, data, errors)


def validated(
    schema: type[M],
    data: dict[str, Any],
    errors: dict[str, str],
    field_of: Callable[[str], str] | None = None,
) -> M:
    """The data a form gave, as `schema`; or ValidationFailed with the errors found reading
    the form and the schema's, keyed by the form control (`field_of` maps a schema error's
    location to it) and naming the offending item of a list."""
    try:
        parsed = schema.model_validate(data)
    except ValidationError as exc:
        errors = form_errors(data, field_errors(exc), errors, field_of)
    else:
        if not errors:
            return parsed
    raise ValidationFailed("Please correct the marked fields.", fields=errors)


def form_errors(
    data: dict[str, Any],
    found: dict[str, str],
    errors: dict[str, str] | None = None,
    field_of: Callable[[str], str] | None = None,
) -> dict[str, str]:
    """Schema errors (by location) joined to `errors`, keyed by form control."""
    errors = dict(errors or {})
    for key, message in found.items():
        name = (field_of or form_field)(key)
        message = _with_item(data, key, message)
        errors[name] = f"{errors[name]} {message}" if name in errors else message
    return errors


def _data(values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    errors: dict[str, str] = {}
    data: dict[str, Any] = {name: str(values.get(name) or "").strip() for name in TEXT_FIELDS}
    for name, separators in LIST_FIELDS.items():
        data[name] = split_items(str(values.get(name) or ""), separators)
    data["license_types"] = list(values.get("license_types") or [])
    data["trl"] = None
    trl = str(values.get("trl") or "").strip()
    if trl:
        if trl.isascii() and trl.isdigit() and len(trl) <= 3:
            data["trl"] = int(trl)
        else:
            errors["trl"] = "Choose a level from 1 to 9."
    price = values.get("asking_price") or {}
    data["asking_price"], price_errors = money_of(
        str(price.get("amount") or ""), str(price.get("currency") or "")
    )
    errors.update(price_errors)
    return data, errors


def money_of(
    amount: str, currency: str, name: str = "asking_price"
) -> tuple[dict[str, Any] | None, dict[str, str]]:
    """`"150,000.50"`, `"usd"` -> `{"amount": 15000050, "currency": "USD"}` (minor units);
    errors are keyed `<name>.amount` and `<name>.currency`."""
    amount = amount.strip().replace(" ", "")
    currency = currency.strip().upper()
    if not amount:
        return None, {}
    errors: dict[str, str] = {}
    amount_field, currency_field = f"{name}.amount", f"{name}.currency"
    if not currency:
        errors[currency_field] = "Choose the currency of the amount."
    elif currency not in currencies():
        errors[currency_field] = "Choose a currency from the list."
    if amount.startswith("-"):
        errors[amount_field] = "The amount cannot be negative."
    elif len(amount) > 30 or not _AMOUNT.match(amount):
        errors[amount_field] = "Enter a number, like 150000 or 150,000.00."
    if errors:
        return None, errors
    digits = get_currency_precision(currency)
    try:
        major = Decimal(amount.replace(",", ""))
    except InvalidOperation:  # the pattern should make this impossible
        return None, {amount_field: "Enter a number, like 150000 or 150,000.00."}
    minor = major.scaleb(digits)
    if minor != minor.to_integral_value():
        places = f"{digits} decimal places" if digits != 1 else "1 decimal place"
        if digits == 0:
            places = "no decimals"
        return None, {amount_field: f"{currency} amounts take {places}."}
    if minor > MAX_MINOR_UNITS:
        limit = Money(amount=MAX_MINOR_UNITS, currency=currency).format()
        return None, {amount_field: f"That is more than the limit of {limit}."}
    return {"amount": int(minor), "currency": currency}, {}


def form_field(key: str) -> str:
    """A pydantic error location -> the form control it belongs to."""
    head, _, rest = key.partition(".")
    if head == "asking_price":
        return f"asking_price.{rest if rest in ('amount', 'currency') else 'amount'}"
    return head


def _with_item(data: dict[str, Any], key: str, message: str) -> str:
    """`keywords.3` -> prefix the message with the offending item, unless it names it."""
    parts = key.split(".")
    if len(parts) == 2 and parts[1].isdigit() and isinstance(data.get(parts[0]), list):
        items = data[parts[0]]
        index = int(parts[1])
        if index < len(items) and str(items[index]) not in message:
            return f"{items[index]}: {message}"
    return message


# --- data -> form ------------------------------------------------------------------------


def current_data(listing: Listing, revision: ListingRevision | None = None) -> dict[str, Any]:
    """The listing in schema shape, with a pending revision's proposals laid over it."""
    data = {name: service.field_value(listing, name) for name in ListingPatch.model_fields}
    data["kind"] = str(data["kind"])
    if revision is not None:
        data.update(revision.changes)
    return data


def values_from(data: dict[str, Any]) -> dict[str, Any]:
    """Schema-shaped data -> the strings the form shows."""
    values: dict[str, Any] = {name: str(data.get(name) or "") for name in TEXT_FIELDS}
    for name in LIST_FIELDS:
        joiner = ", " if name in INLINE_LISTS else "\n"
        values[name] = joiner.join(data.get(name) or [])
    values["trl"] = "" if data.get("trl") is None else str(data["trl"])
    values["license_types"] = list(data.get("license_types") or [])
    price = data.get("asking_price")
    values["asking_price"] = {
        "amount": major_units(price) if price else "",
        "currency": price["currency"] if price else "",
    }
    return values


def new_values() -> dict[str, Any]:
    return values_from(
        {"territories": ["WORLD"], "fields_of_use": ["all"], "price_model": "offers"}
    )


def major_units(price: dict[str, Any]) -> str:
    digits = get_currency_precision(price["currency"])
    return f"{Decimal(price['amount']).scaleb(-digits):.{digits}f}"


# --- display -----------------------------------------------------------------------------


def money_text(price: dict[str, Any] | None) -> str:
    if not price:
        return ""
    return Money(amount=price["amount"], currency=price["currency"]).format()


def currency_options(lang: str, current: str = "") -> dict[str, str]:
    codes = list(CURRENCIES)
    if current and current not in codes and current in currencies():
        codes.append(current)
    return {code: f"{code} · {get_currency_name(code, locale=lang)}" for code in codes}
