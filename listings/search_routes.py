"""The search: the page `GET /search` (works without JavaScript; htmx asks for the results
fragment only) and `GET /api/v1/search`. Both parse the query string the same way
(listings/search_params.py) and call listings.search.search."""

from __future__ import annotations

from typing import Any

from markupsafe import Markup, escape
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from listings import search as search_module
from listings.routes import HELPERS
from listings.schemas import KINDS, LICENSE_TYPES, PRICE_MODELS
from listings.search import (
    FACETS,
    MAX_VALUE_LENGTH,
    PRICE_BANDS,
    SORTS,
    Hit,
    SearchQuery,
    SearchResult,
)
from listings.search_params import (
    DEFAULT_PER_PAGE,
    LANGUAGES,
    MAX_Q,
    MAX_VALUES,
    PARAM_OF_FACET,
    SearchLinks,
    parse_search,
)
from market.accounts.schemas import countries
from market.api import PER_PAGE, ApiRouter, Schema, filter_of, text
from market.errors import DomainError
from market.web import json_response, render

router = ApiRouter("search")

# The page lists every facet, in the index's order.
PAGE_FACETS = FACETS
FACET_VALUES_SHOWN = 30
MARK_OPEN, MARK_CLOSE = "<mark>", "</mark>"


def safe_highlight(snippet: str) -> Markup:
    """Hit.highlights are escaped apart from <mark>; trust exactly that and nothing more.

    Should a snippet ever carry any other markup, it is escaped whole and only the marks are
    put back."""
    text = str(snippet)
    bare = text.replace(MARK_OPEN, "").replace(MARK_CLOSE, "")
    if "<" not in bare and ">" not in bare:
        return Markup(text)  # noqa: S704 - checked above: no tag but <mark>
    escaped = str(escape(text))
    return Markup(  # noqa: S704 - escaped, then only the marks restored
        escaped.replace(str(escape(MARK_OPEN)), MARK_OPEN).replace(
            str(escape(MARK_CLOSE)), MARK_CLOSE
        )
    )


def _is_htmx(request: Request) -> bool:
    # A history restore after a cache miss needs the whole page, not the fragment.
    return (
        request.headers.get("hx-request") == "true"
        and request.headers.get("hx-history-restore-request") != "true"
    )


def facet_lists(query: SearchQuery, result: SearchResult | None) -> list[dict[str, Any]]:
    """Each facet with its values and counts, most frequent first; chosen values always appear
    (with the count the result gives them, or 0), so a plain form submit keeps them."""
    facets = result.facets if result else {}
    lists = []
    for facet in PAGE_FACETS:
        counts = dict(facets.get(facet) or {})
        chosen = query.filters.get(facet, [])
        if facet == "trl" and query.trl_min is not None and query.trl_min == query.trl_max:
            chosen = [str(query.trl_min)]
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))
        values = [(str(v), n) for v, n in ranked[:FACET_VALUES_SHOWN]]
        shown = {v for v, _ in values}
        values += [(v, counts.get(v, 0)) for v in chosen if v not in shown]
        if facet == "trl":
            values.sort(key=lambda vn: int(vn[0]) if vn[0].isdigit() else 99)
        if values:
            lists.append({"facet": facet, "param": PARAM_OF_FACET.get(facet), "values": values})
    return lists


async def _search(query: SearchQuery) -> SearchResult:
    # Looked up on the module at call time: the implementation may land after this import.
    return await search_module.search(query)


async def page(request: Request) -> Response:
    htmx = _is_htmx(request)
    template = "search/results.html" if htmx else "search/index.html"
    try:
        query = parse_search(request.query_params.multi_items())
    except DomainError as exc:
        raw_q = request.query_params.get("q", "")[:500]
        context = _context(SearchQuery(), None)
        context.update(errors=exc.fields, values={"q": raw_q}, search_error=exc.message)
        return _vary(await render(request, template, context, status=exc.status))
    result = await _search(query)
    return _vary(await render(request, template, _context(query, result)))


def _vary(response: Response) -> Response:
    # The same URL answers a whole page or a fragment: caches must keep them apart.
    response.headers["Vary"] = "HX-Request"
    return response


def _context(query: SearchQuery, result: SearchResult | None) -> dict[str, Any]:
    links = SearchLinks(query)
    return {
        **HELPERS,
        "search": query,
        "result": result,
        "links": links,
        "chips": links.chips(),
        "facet_lists": facet_lists(query, result),
        "hits": [(hit, _snippets(hit)) for hit in (result.hits if result else [])],
        "sorts": SORTS,
        "default_per_page": DEFAULT_PER_PAGE,
        "countries": countries(),
        "search_error": "",
        "values": {"q": query.q},
    }


def _snippets(hit: Hit) -> dict[str, Markup]:
    return {name: safe_highlight(text) for name, text in (hit.highlights or {}).items() if text}


# --- API -----------------------------------------------------------------------------------


def result_json(result: SearchResult) -> dict[str, Any]:
    return {
        "hits": [hit.as_json() for hit in result.hits],
        "facets": result.facets,
        "total": result.total,
        "page": result.page,
        "per_page": result.per_page,
        "took_ms": result.took_ms,
        "degraded": result.degraded,
        "message": result.message,
        "approximate": result.approximate,
    }


def _repeatable(item: Schema) -> Schema:
    return {"type": "array", "items": item, "maxItems": MAX_VALUES}


def _blank_or(pattern: str) -> Schema:
    # Blank values count as absent (a plain GET form sends `kind=` for an unset select).
    return {"type": "string", "pattern": rf"^\s*$|{pattern}"}


# What parse_search takes, parameter by parameter; anything else is refused with a 422.
_QUERY_DOC: dict[str, Schema] = {
    "q": {"type": "string", "maxLength": MAX_Q},
    "kind": _repeatable(filter_of(KINDS)),
    "ipc": _repeatable(_blank_or(r"^\s*[A-Ha-h]( *[0-9] *[0-9]( *[A-Za-z])?)? *\s*$")),
    "trl_min": {"type": "integer", "minimum": 1, "maximum": 9},
    "trl_max": {"type": "integer", "minimum": 1, "maximum": 9},
    "license_type": _repeatable(filter_of(LICENSE_TYPES)),
    "territory": _repeatable(_blank_or(r"^\s*([Ww][Oo][Rr][Ll][Dd]|[A-Za-z]{2})\s*$")),
    "price_model": _repeatable(filter_of(PRICE_MODELS)),
    "price_band": _repeatable(filter_of(PRICE_BANDS)),
    "currency": _repeatable(_blank_or(r"^\s*[A-Za-z]{3}\s*$")),
    "institute": _repeatable(text(MAX_VALUE_LENGTH)),
    "country": _repeatable(_blank_or(r"^\s*[A-Za-z]{2}\s*$")),
    "region": _repeatable(text(MAX_VALUE_LENGTH)),
    "language": _repeatable(filter_of(LANGUAGES)),
    "sort": filter_of(SORTS),
    "page": {"type": "integer", "minimum": 1, "maximum": 10_000},
    "per_page": PER_PAGE,
}


_ANSWER: Schema = {
    "type": "object",
    "properties": {
        "hits": {"type": "array", "items": {"type": "object", "required": ["id", "title"]}},
        "facets": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "additionalProperties": {"type": "integer", "minimum": 0},
            },
        },
        "total": {"type": "integer", "minimum": 0},
        "page": {"type": "integer", "minimum": 1},
        "per_page": {"type": "integer", "minimum": 1},
        "took_ms": {"type": "integer", "minimum": 0},
        "degraded": {"type": "boolean"},
        "message": {"type": "string"},
        # No hit has every word as typed: only misspelt or partial matches.
        "approximate": {"type": "boolean"},
    },
    "required": ["hits", "facets", "total", "page", "per_page", "took_ms", "degraded"],
}


@router.route(
    "/search",
    summary="Search published listings (filters repeatable; ipc takes a section, class or "
    "subclass prefix)",
    auth=False,
    query=_QUERY_DOC,
    answer=_ANSWER,
)
async def api_search(request: Request) -> Response:
    query = parse_search(request.query_params.multi_items())
    return json_response(result_json(await _search(query)))


routes: list[BaseRoute] = [Route("/search", page)]
