"""The search's query string, both ways: parse it into a SearchQuery (page and API alike), and
build the URLs that change one thing about a search (a filter, the page, the sort) while keeping
everything else, so any search can be shared and bookmarked.

Query string parameters (API.md): q, trl_min, trl_max, sort, page, per_page (once each) and the
repeatable filters kind, ipc, license_type, territory, price_model, price_band, currency,
institute, country, region, language. `ipc` takes a prefix: a section (H), a class (H01) or a
subclass (H01M), and filters the matching facet. Unknown parameters and bad values are refused
with a 422 that names the parameter.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlencode

from pydantic import ValidationError

from listings.schemas import KINDS, LICENSE_TYPES, PRICE_MODELS
from listings.search import (
    FACETS,
    MAX_VALUE_LENGTH,
    MAX_VALUES_PER_FACET,
    PRICE_BANDS,
    SORTS,
    SearchQuery,
)
from market.errors import ValidationFailed
from market.i18n import Msg
from market.validation import field_errors

DEFAULT_SORT = "relevance"
DEFAULT_PER_PAGE = SearchQuery.model_fields["per_page"].default
MAX_Q = 500
MAX_VALUES = MAX_VALUES_PER_FACET  # per filter parameter
LANGUAGES = ("en", "zh")

_IPC_SECTION = re.compile(r"^[A-H]$")
_IPC_CLASS = re.compile(r"^[A-H]\d{2}$")
_IPC_SUBCLASS = re.compile(r"^[A-H]\d{2}[A-Z]$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

# Repeatable parameter -> the facet it filters (`ipc` picks its facet by the code's length).
FILTER_PARAMS: dict[str, str] = {
    "kind": "kind",
    "ipc": "ipc_subclass",
    "license_type": "license_types",
    "territory": "territories",
    "price_model": "price_model",
    "price_band": "price_band",
    "currency": "currency",
    "institute": "institute",
    "country": "country",
    "region": "region",
    "language": "language",
}
IPC_FACETS = ("ipc_section", "ipc_class", "ipc_subclass")
# Facet -> the parameter that carries it in a URL.
PARAM_OF_FACET: dict[str, str] = {
    **{facet: param for param, facet in FILTER_PARAMS.items()},
    **dict.fromkeys(IPC_FACETS, "ipc"),
}
SINGLE_PARAMS = ("q", "trl_min", "trl_max", "sort", "page", "per_page")
PARAMS = (*SINGLE_PARAMS, *FILTER_PARAMS)
# The order filters appear in URLs and chips: FACETS' order, so a search has one canonical URL.
FILTER_ORDER = tuple(f for f in FACETS if f in PARAM_OF_FACET)


def _upper(value: str) -> str:
    return value.strip().upper()


def _choice(allowed: tuple[str, ...]) -> Callable[[str], str]:
    def check(value: str) -> str:
        value = value.strip().lower()
        if value not in allowed:
            raise ValueError("Must be one of: " + ", ".join(allowed) + ".")
        return value

    return check


def _exact(allowed: tuple[str, ...]) -> Callable[[str], str]:
    def check(value: str) -> str:
        value = value.strip()
        if value not in allowed:
            raise ValueError("Must be one of: " + ", ".join(allowed) + ".")
        return value

    return check


def _pattern(pattern: re.Pattern[str], what: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        value = _upper(value)
        if not pattern.match(value):
            raise ValueError(Msg("Must be %(what)s.", what=what))
        return value

    return check


def _text(value: str) -> str:
    value = " ".join(_CONTROL.sub(" ", value).split())
    if len(value) > MAX_VALUE_LENGTH:
        raise ValueError(
            Msg("At most %(max_value_length)s characters.", max_value_length=MAX_VALUE_LENGTH)
        )
    return value


def _territory(value: str) -> str:
    value = _upper(value)
    if value != "WORLD" and not _COUNTRY.match(value):
        raise ValueError("Must be WORLD or a two-letter country code (ISO 3166-1).")
    return value


def ipc_facet(code: str) -> str:
    """The facet an IPC prefix filters: section (H), class (H01) or subclass (H01M)."""
    code = code.replace(" ", "")
    for facet, pattern in zip(IPC_FACETS, (_IPC_SECTION, _IPC_CLASS, _IPC_SUBCLASS), strict=True):
        if pattern.match(code):
            return facet
    raise ValueError("Must be an IPC section (H), class (H01) or subclass (H01M).")


def _ipc(value: str) -> str:
    value = _upper(value).replace(" ", "")
    ipc_facet(value)
    return value


CHECKS: dict[str, Callable[[str], str]] = {
    "kind": _choice(KINDS),
    "ipc": _ipc,
    "license_type": _choice(LICENSE_TYPES),
    "territory": _territory,
    "price_model": _choice(PRICE_MODELS),
    "price_band": _exact(PRICE_BANDS),
    "currency": _pattern(_CURRENCY, "a three-letter currency code (ISO 4217)"),
    "institute": _text,
    "country": _pattern(_COUNTRY, "a two-letter country code (ISO 3166-1)"),
    "region": _text,
    "language": _choice(LANGUAGES),
}


def _whole(value: str, low: int, high: int) -> int:
    value = value.strip()
    # isascii: str.isdigit() also takes digits like "²" that int() refuses.
    if not (value.isascii() and value.isdigit()) or not low <= int(value) <= high:
        raise ValueError(
            Msg("Must be a whole number from %(low)s to %(high)s.", low=low, high=high)
        )
    return int(value)


def _short(name: str) -> str:
    return name if len(name) <= 40 else name[:40] + "…"


def parse_search(items: Iterable[tuple[str, str]]) -> SearchQuery:
    """The query string's (name, value) pairs -> SearchQuery, or ValidationFailed naming fields.

    Empty values count as absent (a plain GET form sends `trl_min=` for an unset select)."""
    singles: dict[str, str] = {}
    filters: dict[str, list[str]] = {}
    errors: dict[str, str] = {}
    unknown: list[str] = []
    counts: dict[str, int] = {}
    for name, raw in items:
        if name not in PARAMS:
            if name not in unknown:
                unknown.append(name)
            continue
        if name in SINGLE_PARAMS:
            if name in singles:
                errors.setdefault(name, "Give this parameter at most once.")
            singles[name] = raw
            continue
        if not raw.strip():
            continue
        try:
            value = CHECKS[name](raw)
        except ValueError as exc:
            errors.setdefault(name, _why(exc))
            continue
        if not value:
            continue
        facet = ipc_facet(value) if name == "ipc" else FILTER_PARAMS[name]
        chosen = filters.setdefault(facet, [])
        if value in chosen:
            continue
        counts[name] = counts.get(name, 0) + 1
        if counts[name] > MAX_VALUES:
            errors.setdefault(name, f"At most {MAX_VALUES} values.")
            continue
        chosen.append(value)
    if unknown:
        names = ", ".join(_short(n) for n in unknown[:5])
        for name in unknown[:5]:
            errors[_short(name)] = "Unknown parameter."
        allowed = ", ".join(PARAMS)
        raise ValidationFailed(
            f"Unknown search parameter: {names}. Known parameters: {allowed}.", fields=errors
        )

    data: dict[str, object] = {"filters": filters}
    q = singles.get("q", "")
    if len(q) > MAX_Q:
        errors["q"] = f"At most {MAX_Q} characters."
    else:
        data["q"] = " ".join(_CONTROL.sub(" ", q).split())
    for name, low, high in (("trl_min", 1, 9), ("trl_max", 1, 9), ("page", 1, 10_000)):
        if singles.get(name, "").strip() and name not in errors:
            try:
                data[name] = _whole(singles[name], low, high)
            except ValueError as exc:
                errors[name] = _why(exc)
    if singles.get("per_page", "").strip() and "per_page" not in errors:
        try:
            data["per_page"] = _whole(singles["per_page"], 1, 100)
        except ValueError as exc:
            errors["per_page"] = _why(exc)
    sort = singles.get("sort", "").strip()
    if sort and "sort" not in errors:
        if sort in SORTS:
            data["sort"] = sort
        else:
            errors["sort"] = "Must be one of: " + ", ".join(SORTS) + "."
    low, high = data.get("trl_min"), data.get("trl_max")
    if isinstance(low, int) and isinstance(high, int) and low > high:
        errors["trl_max"] = "Must not be below trl_min."
    if errors:
        raise ValidationFailed(
            Msg("Please correct the search: %(problems)s", problems=_describe(errors)),
            fields=errors,
        )
    try:
        return SearchQuery.model_validate(data)
    except ValidationError as exc:  # the model's own limits, should they ever be stricter
        fields = field_errors(exc)
        raise ValidationFailed(
            Msg("Please correct the search: %(problems)s", problems=_describe(fields)),
            fields=fields,
        ) from None


def _why(exc: ValueError) -> str:
    """The refusal as raised: a Msg stays one, so the page shows it in its own language."""
    return exc.args[0] if exc.args and isinstance(exc.args[0], str) else str(exc)


def _describe(errors: dict[str, str]) -> str:
    return " ".join(f"{name}: {why}" for name, why in errors.items())


# --- the reverse: a SearchQuery as a URL --------------------------------------------------


def to_params(query: SearchQuery) -> list[tuple[str, str]]:
    """The canonical query string pairs of a search; defaults are left out."""
    pairs: list[tuple[str, str]] = []
    if query.q:
        pairs.append(("q", query.q))
    for facet in FILTER_ORDER:
        for value in query.filters.get(facet, []):
            pairs.append((PARAM_OF_FACET[facet], value))
    if query.trl_min is not None:
        pairs.append(("trl_min", str(query.trl_min)))
    if query.trl_max is not None:
        pairs.append(("trl_max", str(query.trl_max)))
    if query.sort != DEFAULT_SORT:
        pairs.append(("sort", query.sort))
    if query.per_page != DEFAULT_PER_PAGE:
        pairs.append(("per_page", str(query.per_page)))
    if query.page != 1:
        pairs.append(("page", str(query.page)))
    return pairs


def url_of(query: SearchQuery, path: str = "/search") -> str:
    pairs = to_params(query)
    return f"{path}?{urlencode(pairs)}" if pairs else path


@dataclass(frozen=True)
class Chip:
    """One active filter, shown as a removable chip: what it is, and the URL without it."""

    facet: str  # a FACETS name, or "q" / "trl" for the query text and the TRL range
    value: str
    remove_url: str


class SearchLinks:
    """URLs for one search: each changes one thing and keeps the rest. Filter changes go back
    to page 1, since the old page number means nothing for a different result."""

    def __init__(self, query: SearchQuery, path: str = "/search") -> None:
        self.query = query
        self.path = path

    def _with(self, **changes: object) -> str:
        return url_of(self.query.model_copy(update=changes), self.path)

    def _filters_with(self, facet: str, values: list[str]) -> dict[str, list[str]]:
        filters = {f: list(v) for f, v in self.query.filters.items() if f != facet}
        if values:
            filters[facet] = values
        return filters

    @property
    def current(self) -> str:
        return url_of(self.query, self.path)

    def page(self, number: int) -> str:
        return self._with(page=number)

    def sort(self, sort: str) -> str:
        return self._with(sort=sort, page=1)

    def selected(self, facet: str, value: str) -> bool:
        if facet == "trl":
            return self.query.trl_min == self.query.trl_max == _int_or_none(value)
        return str(value) in self.query.filters.get(facet, [])

    def add(self, facet: str, value: str) -> str:
        if facet == "trl":
            level = _int_or_none(value)
            return self._with(trl_min=level, trl_max=level, page=1)
        values = [*self.query.filters.get(facet, [])]
        if str(value) not in values:
            values.append(str(value))
        return self._with(filters=self._filters_with(facet, values), page=1)

    def remove(self, facet: str, value: str) -> str:
        if facet == "q":
            return self._with(q="", page=1)
        if facet == "trl":
            return self._with(trl_min=None, trl_max=None, page=1)
        values = [v for v in self.query.filters.get(facet, []) if v != str(value)]
        return self._with(filters=self._filters_with(facet, values), page=1)

    def toggle(self, facet: str, value: str) -> str:
        if self.selected(facet, value):
            return self.remove(facet, value)
        return self.add(facet, value)

    def clear_filters(self) -> str:
        """Keep the words (and sort), drop every filter."""
        return self._with(filters={}, trl_min=None, trl_max=None, page=1)

    def chips(self) -> list[Chip]:
        chips = [Chip("q", self.query.q, self.remove("q", ""))] if self.query.q else []
        for facet in FILTER_ORDER:
            for value in self.query.filters.get(facet, []):
                chips.append(Chip(facet, value, self.remove(facet, value)))
        if self.query.trl_min is not None or self.query.trl_max is not None:
            span = f"{self.query.trl_min or 1}–{self.query.trl_max or 9}"
            chips.append(Chip("trl", span, self.remove("trl", "")))
        return chips

    @property
    def has_filters(self) -> bool:
        q = self.query
        return bool(q.filters) or q.trl_min is not None or q.trl_max is not None


def _int_or_none(value: object) -> int | None:
    try:
        return int(str(value))
    except ValueError:
        return None
