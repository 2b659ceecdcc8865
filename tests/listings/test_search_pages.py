"""The search page and API: query string parsing both ways, rendering without JavaScript, the
htmx fragment, hostile input, and end to end through the real search against Meilisearch."""

from __future__ import annotations

import random
import string
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from listings import search, search_routes
from listings.search import SearchQuery
from listings.search_params import SearchLinks, parse_search, to_params, url_of
from market import api
from market.app import processes
from market.config import get_settings
from market.errors import ValidationFailed
from tests.builders import a_published_listing, a_verified_institute
from tests.html import Page

# --- the app ---------------------------------------------------------------------------------


@pytest.fixture
def search_app(app):
    return app


@pytest.fixture
async def web(search_app):
    transport = httpx.ASGITransport(app=search_app, client=("203.0.113.7", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


def _qs(url: str) -> list[tuple[str, str]]:
    return parse_qsl(urlsplit(url).query, keep_blank_values=True)


def _parse(query: str) -> SearchQuery:
    return parse_search(parse_qsl(query, keep_blank_values=True))


def _refused(query: str) -> ValidationFailed:
    with pytest.raises(ValidationFailed) as caught:
        _parse(query)
    assert caught.value.status == 422
    return caught.value


# --- parsing -------------------------------------------------------------------------------


def test_parses_every_parameter_into_the_query():
    q = _parse(
        "q=graphene+membrane&kind=patent&kind=software&ipc=h&ipc=H01&ipc=h01m&trl_min=3"
        "&trl_max=7&license_type=exclusive&territory=cn&territory=WORLD&price_model=fixed"
        "&price_band=10k-100k&currency=usd&institute=Institute+of+Optics&country=cn"
        "&region=Guangdong&language=zh&sort=newest&page=2&per_page=50"
    )
    assert q.q == "graphene membrane"
    assert q.filters == {
        "kind": ["patent", "software"],
        "ipc_section": ["H"],
        "ipc_class": ["H01"],
        "ipc_subclass": ["H01M"],
        "license_types": ["exclusive"],
        "territories": ["CN", "WORLD"],
        "price_model": ["fixed"],
        "price_band": ["10k-100k"],
        "currency": ["USD"],
        "institute": ["Institute of Optics"],
        "country": ["CN"],
        "region": ["Guangdong"],
        "language": ["zh"],
    }
    assert (q.trl_min, q.trl_max, q.sort, q.page, q.per_page) == (3, 7, "newest", 2, 50)


def test_empty_values_from_a_plain_form_count_as_absent():
    q = _parse("q=&trl_min=&trl_max=&sort=relevance&kind=")
    assert q == SearchQuery()


def test_repeated_filters_are_kept_once_each_in_order():
    q = _parse("kind=software&kind=patent&kind=software")
    assert q.filters == {"kind": ["software", "patent"]}


def test_unknown_parameter_is_refused_naming_it():
    error = _refused("q=x&colour=red")
    assert "colour" in error.message
    assert error.fields == {"colour": "Unknown parameter."}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("trl_min=0", "trl_min"),
        ("trl_max=10", "trl_max"),
        ("trl_min=abc", "trl_min"),
        ("trl_min=7&trl_max=3", "trl_max"),
        ("per_page=1000", "per_page"),
        ("per_page=0", "per_page"),
        ("page=-1", "page"),
        ("q=" + "a" * 501, "q"),
        ("sort=price", "sort"),
        ("kind=spaceship", "kind"),
        ("ipc=H01M10/052", "ipc"),
        ("ipc=Z99", "ipc"),
        ("territory=Moon", "territory"),
        ("currency=dollars", "currency"),
        ("price_band=cheap", "price_band"),
        ("language=fr", "language"),
        ("q=a&q=b", "q"),
        ("institute=" + "x" * 121, "institute"),
        ("&".join(f"region=r{n}" for n in range(21)), "region"),
    ],
)
def test_bad_values_are_refused_naming_the_field(query, field):
    assert field in _refused(query).fields


def test_500_characters_of_q_are_accepted():
    assert len(_parse("q=" + "a" * 500).q) == 500


def test_canonical_params_leave_defaults_out_and_round_trip():
    q = _parse("sort=relevance&page=1&per_page=20&kind=patent&q=solar")
    assert to_params(q) == [("q", "solar"), ("kind", "patent")]
    full = _parse("q=a+b&ipc=H01M&ipc=H&kind=patent&trl_min=2&sort=newest&page=3&per_page=10")
    assert _parse(urlsplit(url_of(full)).query) == full


def test_chip_removal_urls_keep_everything_else_and_go_back_to_page_one():
    q = _parse(
        "q=solar&kind=patent&kind=software&ipc=H01L&license_type=exclusive&trl_min=4"
        "&sort=newest&per_page=50&page=3"
    )
    chips = {(c.facet, c.value): c.remove_url for c in SearchLinks(q).chips()}
    assert set(chips) == {
        ("q", "solar"),
        ("kind", "patent"),
        ("kind", "software"),
        ("ipc_subclass", "H01L"),
        ("license_types", "exclusive"),
        ("trl", "4–9"),
    }
    without_patent = _qs(chips[("kind", "patent")])
    assert without_patent == [
        ("q", "solar"),
        ("kind", "software"),
        ("ipc", "H01L"),
        ("license_type", "exclusive"),
        ("trl_min", "4"),
        ("sort", "newest"),
        ("per_page", "50"),
    ]
    assert ("q", "solar") not in _qs(chips[("q", "solar")])
    assert ("kind", "patent") in _qs(chips[("q", "solar")])
    assert ("trl_min", "4") not in _qs(chips[("trl", "4–9")])
    assert ("ipc", "H01L") not in _qs(chips[("ipc_subclass", "H01L")])
    for url in chips.values():
        assert url.startswith("/search")
        _parse(urlsplit(url).query)  # every link is itself a valid search


def test_facet_page_and_sort_links():
    q = _parse("q=solar&kind=patent&page=2")
    links = SearchLinks(q)
    assert _qs(links.add("license_types", "sole")) == [
        ("q", "solar"),
        ("kind", "patent"),
        ("license_type", "sole"),
    ]
    assert _qs(links.toggle("kind", "patent")) == [("q", "solar")]
    assert links.selected("kind", "patent") and not links.selected("kind", "software")
    assert _qs(links.add("trl", "5")) == [
        ("q", "solar"),
        ("kind", "patent"),
        ("trl_min", "5"),
        ("trl_max", "5"),
    ]
    assert _qs(links.page(3)) == [("q", "solar"), ("kind", "patent"), ("page", "3")]
    assert _qs(links.sort("price_asc")) == [
        ("q", "solar"),
        ("kind", "patent"),
        ("sort", "price_asc"),
    ]
    assert _qs(links.clear_filters()) == [("q", "solar")]


def test_values_with_url_syntax_survive_the_round_trip():
    q = SearchQuery(q='a&b=c "d" #e', filters={"institute": ["R&D / Labs?"]})
    assert _parse(urlsplit(url_of(q)).query) == q


def test_highlights_keep_only_marks():
    assert search_routes.safe_highlight("a &amp; <mark>b</mark>") == "a &amp; <mark>b</mark>"
    hostile = search_routes.safe_highlight("<mark>x</mark><script>alert(1)</script>")
    assert "<script>" not in hostile and "<mark>x</mark>" in hostile


# --- pages rendered from the real search against the real Meilisearch ----------------------


async def _publish_indexed(settings, user, *many: dict):
    """Publish one listing per dict of overrides, then index them all, waiting for Meilisearch."""
    await search.apply_settings(settings)
    listings = [await a_published_listing(user, **overrides) for overrides in many]
    await search.upsert([listing.id for listing in listings], settings, wait=True)
    return listings


@pytest.fixture
async def dead_meili(monkeypatch, settings):
    """Points the search at a port where nothing listens, so it really degrades. The setting
    is patched on the one Settings object every call reads: clearing get_settings' cache
    instead would leave later tests a different object than the `settings` they adjust."""
    dead = f"http://127.0.0.1:{processes.free_port()}"
    for target in {id(s): s for s in (settings, get_settings())}.values():
        monkeypatch.setattr(target, "meili_url", dead)
    yield


async def test_page_renders_without_javascript(web, settings):
    word = _word()
    user, _ = await a_verified_institute()
    summary = f"A {word} summary <b>not bold</b>"
    both = ["exclusive", "sole"]
    patents = await _publish_indexed(
        settings,
        user,
        *(
            {"title": f"Listing {word} {n}", "summary": summary, "license_types": both}
            for n in range(1, 4)
        ),
    )
    excluded = await _publish_indexed(
        settings,
        user,
        {"title": f"Software {word}", "kind": "software", "license_types": both},
        {"title": f"Exclusive {word}", "license_types": ["exclusive"]},
    )
    response = await web.get(
        f"/search?q={word}&kind=patent&license_type=sole&sort=newest&per_page=2"
    )
    assert response.status_code == 200
    assert response.headers["vary"] == "HX-Request"
    page = Page(response.text)
    # The filters reached the search: only the sole-licensed patents, two per page.
    shown = [p for p in patents if f"/listings/{p.id}" in response.text]
    assert len(shown) == 2
    for other in excluded:
        assert f"/listings/{other.id}" not in response.text
    form = next(f for f in page.forms if f.get("action") == "/search")
    assert form["method"] == "get"
    names = {i.get("name") for i in form["inputs"]}
    assert {"q", "kind", "license_type", "ipc", "trl_min", "trl_max", "sort"} <= names
    checked = {(i["name"], i["value"]) for i in form["inputs"] if "checked" in i}
    # A chosen value always shows, checked, so a submit keeps it.
    assert checked == {("kind", "patent"), ("license_type", "sole")}
    # Every control has a label.
    for control in page.controls:
        if control.get("type") not in ("hidden", "submit"):
            assert control.get("id") in page.label_for, control
    # Chips: each removes one filter and keeps the rest.
    assert f"/search?q={word}&license_type=sole&sort=newest&per_page=2" in page.links
    assert "/search?kind=patent&license_type=sole&sort=newest&per_page=2" in page.links
    # Pagination keeps the whole search.
    assert (
        f"/search?q={word}&kind=patent&license_type=sole&sort=newest&per_page=2&page=2"
        in page.links
    )
    # Facets are listed with their counts (three patents match).
    assert "(3)" in response.text
    # htmx is progressive: loaded from our own origin, deferred, and the form works without it.
    assert '<script src="/static/vendor/htmx.min.js" defer></script>' in response.text
    assert 'hx-trigger="keyup changed delay:300ms, search"' in response.text
    # Text that is not a highlight stays escaped.
    assert "&lt;b&gt;not bold&lt;/b&gt;" in response.text
    assert "<b>not bold</b>" not in response.text


async def test_htmx_request_gets_only_the_fragment(web, indexed):
    word = _word()
    listing = await indexed(title=f"Listing {word} one", kind="patent")
    response = await web.get(f"/search?q={word}&kind=patent", headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert "<html" not in response.text and "<form" not in response.text
    assert "site-header" not in response.text
    assert f"/listings/{listing.id}" in response.text and 'name="kind"' in response.text
    # A history restore after a cache miss gets the whole page.
    restore = await web.get(
        f"/search?q={word}",
        headers={"HX-Request": "true", "HX-History-Restore-Request": "true"},
    )
    assert "<html" in restore.text


async def test_degraded_result_shows_the_notice(web, dead_meili):
    word = _word()
    listing = await a_published_listing(title=f"Solar {word} panel")
    response = await web.get(f"/search?q={word}")
    assert response.status_code == 200
    assert "Search is limited right now" in response.text
    assert f"/listings/{listing.id}" in response.text  # the simple answer from the database
    api_response = await web.get(f"/api/v1/search?q={word}")
    assert api_response.status_code == 200
    body = api_response.json()
    assert body["degraded"] is True and body["message"].startswith("Search is limited")
    assert [h["id"] for h in body["hits"]] == [str(listing.id)]


async def test_empty_state_offers_links_that_remove_filters(web, indexed):
    word = _word()
    await indexed(title=f"Solar {word} cell", kind="patent", trl=5)
    response = await web.get(f"/search?q={word}&kind=patent&trl_min=8")
    assert response.status_code == 200
    assert (await web.get(f"/api/v1/search?q={word}&kind=patent&trl_min=8")).json()["total"] == 0
    page = Page(response.text)
    assert f"/search?q={word}&trl_min=8" in page.links  # without the kind
    assert f"/search?q={word}&kind=patent" in page.links  # without the TRL range
    assert f"/search?q={word}" in page.links  # without any filter


async def test_highlights_render_as_marks_and_nothing_else(web, indexed):
    word = _word()
    await indexed(title=f"{word} <i>cell</i>")
    text = (await web.get(f"/search?q={word}")).text
    assert f"<mark>{word}</mark> &lt;i&gt;cell&lt;/i&gt;" in text
    assert "<i>cell</i>" not in text


HOSTILE = [
    "<script>alert(1)</script>",
    "\"'><img src=x onerror=alert(1)>",
    'kind = "x" OR 1=1',
    "'; DROP TABLE listings; --",
    '\\" ) OR ("',
]


async def test_refused_search_page_shows_why_with_422(web):
    response = await web.get("/search", params={"q": "<script>x</script>", "colour": "<b>"})
    assert response.status_code == 422
    assert "Unknown search parameter: colour" in response.text
    assert "<script>x" not in response.text and "&lt;script&gt;x&lt;/script&gt;" in response.text
    assert "<b>" not in response.text.split("<main", 1)[1]
    fragment = await web.get("/search?trl_min=0", headers={"HX-Request": "true"})
    assert fragment.status_code == 422 and "trl_min" in fragment.text
    assert "<html" not in fragment.text


async def test_api_refusals_name_the_field(web):
    for query, field in [
        ("colour=red", "colour"),
        ("trl_min=0", "trl_min"),
        ("per_page=1000", "per_page"),
        ("q=" + "a" * 501, "q"),
    ]:
        response = await web.get("/api/v1/search?" + query)
        assert response.status_code == 422, query
        error = response.json()["error"]
        assert error["code"] == "validation_error" and field in error["fields"], error


async def test_api_is_in_the_openapi_document():
    document = api.openapi(search_routes.router)
    operation = document["paths"]["/api/v1/search"]["get"]
    assert "security" not in operation
    assert {p["name"] for p in operation["parameters"]} >= {"q", "kind", "ipc", "trl_min"}


# --- end to end: the real search against the real Meilisearch -------------------------------


def _word() -> str:
    return "zq" + "".join(random.choices(string.ascii_lowercase, k=8))


@pytest.fixture
async def indexed(settings):
    """Publish listings with builders and index them, waiting for Meilisearch."""
    await search.apply_settings(settings)

    async def publish(user=None, **overrides):
        listing = await a_published_listing(user, **overrides)
        await search.upsert([listing.id], settings, wait=True)
        return listing

    return publish


async def test_end_to_end_api_and_page(web, indexed):
    word = _word()
    user, org = await a_verified_institute()
    patent = await indexed(
        user, title=f"Solid-state {word} electrolyte", kind="patent", ipc_codes=["H01M 10/052"]
    )
    software = await indexed(user, title=f"Battery {word} simulator", kind="software", trl=7)

    response = await web.get(f"/api/v1/search?q={word}")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["degraded"] is False, body["message"]
    assert body["total"] == 2 and {h["id"] for h in body["hits"]} == {
        str(patent.id),
        str(software.id),
    }
    assert set(body) >= {"hits", "facets", "total", "page", "per_page", "took_ms", "message"}
    hit = body["hits"][0]
    assert set(hit) >= {"id", "title", "summary", "institute", "highlights"}
    # `institute` stays the name (API.md); the profile's slug comes beside it.
    assert hit["institute"] == org.name and hit["institute_slug"] == org.slug
    assert body["facets"]["kind"] == {"patent": 1, "software": 1}

    filtered = (await web.get(f"/api/v1/search?q={word}&kind=patent&ipc=H01M")).json()
    assert [h["id"] for h in filtered["hits"]] == [str(patent.id)]
    by_trl = (await web.get(f"/api/v1/search?q={word}&trl_min=6")).json()
    assert [h["id"] for h in by_trl["hits"]] == [str(software.id)]

    page = await web.get(f"/search?q={word}&kind=software")
    assert page.status_code == 200
    assert f"/listings/{software.id}" in page.text and f"/listings/{patent.id}" not in page.text
    assert f"<mark>{word}</mark>" in page.text
    assert f"/organizations/{org.slug}" in Page(page.text).links  # each hit's institute
    assert f"/search?q={word}" in Page(page.text).links  # the chip removing the kind

    fragment = await web.get(f"/search?q={word}", headers={"HX-Request": "true"})
    assert "<html" not in fragment.text and f"/listings/{patent.id}" in fragment.text


@pytest.mark.parametrize("q", HOSTILE)
async def test_end_to_end_hostile_input_never_5xx(web, indexed, q):
    word = _word()
    await indexed(title=f"Tunable {word} laser", summary=f'A {word} laser <b>with</b> "quotes".')
    for params in ({"q": f"{word} {q}"}, {"q": q, "institute": q, "region": q}):
        api_response = await web.get("/api/v1/search", params=params)
        assert api_response.status_code == 200, api_response.text
        assert api_response.json()["degraded"] is False
        page = await web.get("/search", params=params)
        assert page.status_code == 200
        assert "<script>alert" not in page.text and "<img src=x" not in page.text
        assert "<b>with</b>" not in page.text


async def test_page_speaks_chinese_and_is_in_the_navigation(web, settings):
    word = _word()
    user, _ = await a_verified_institute()
    await _publish_indexed(
        settings, user, {"title": f"Solar {word} one"}, {"title": f"Solar {word} two"}
    )
    response = await web.get(f"/search?q={word}&kind=patent", headers={"Accept-Language": "zh-CN"})
    assert "搜索技术成果" in response.text and "移除筛选条件" in response.text
    assert "找到 2 项技术成果" in response.text
    assert '<a href="/search" aria-current="page">' in response.text
    home = await web.get("/")
    assert '<a href="/search">' in home.text
