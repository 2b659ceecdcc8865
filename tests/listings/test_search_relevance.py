"""Search quality against a real Meilisearch: which field counts most, an institute's name
never outranking a listing's text, approximate matches said so (page and API), one result per
patent family, and Chinese technical terms.

Each test gets its own index (see tests/listings/test_search.py)."""

from __future__ import annotations

import uuid

import httpx
import pytest

from listings import search
from listings import service as listings
from listings.search import SearchQuery
from tests.builders import a_published_listing, a_verified_institute, actor_of


@pytest.fixture
async def index(settings):
    saved = settings.meili_index
    settings.meili_index = f"test_{uuid.uuid4().hex[:12]}"
    await search.apply_settings(settings)
    try:
        yield settings.meili_index
    finally:
        async with search.Meili(settings) as meili:
            await meili.call("DELETE", f"/indexes/{settings.meili_index}")
        settings.meili_index = saved


@pytest.fixture
async def web(app):
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


async def indexed(*items) -> None:
    await search.upsert([item.id for item in items], wait=True)


async def find(q: str, **kwargs) -> search.SearchResult:
    result = await search.search(SearchQuery(q=q, **kwargs))
    assert not result.degraded, result.message
    return result


def ids(result: search.SearchResult) -> list[str]:
    return [hit.id for hit in result.hits]


def _software(**overrides):
    title = overrides.get("title", "Scheduling method for container workloads")
    data = {
        "title": title,
        # Its own summary: listings of one institute with the same summary are one family.
        "summary": f"{title}: places containers on the least loaded node.",
        "description": "Works with any orchestrator.",
        "keywords": ["scheduling"],
        "ipc_codes": ["G06F 9/50"],
        "patent_numbers": ["CN 117000001 A"],
        "inventors": ["Zhang San"],
    }
    return {**data, **overrides}


# --- field weights ----------------------------------------------------------------------------


async def test_fields_rank_title_keywords_summary_description_and_not_institute(index) -> None:
    """The same word, once in each field of a different listing: the order of the results is
    the order of the fields; the institute's name is not searched."""
    plain, _ = await a_verified_institute(organization={"name": "Northern Polytechnic"})
    named, _ = await a_verified_institute(organization={"name": "Institute of Ceramic Sieves"})
    made = {
        "title": await a_published_listing(plain, **_software(title="Ceramic sieve cartridge")),
        "keywords": await a_published_listing(
            plain, **_software(title="Cartridge holder one", keywords=["sieve"])
        ),
        "summary": await a_published_listing(
            plain,
            **_software(
                title="Cartridge holder two", summary="A holder for a sieve in hot process water."
            ),
        ),
        "description": await a_published_listing(
            plain,
            **_software(title="Cartridge holder three", description="It fits any sieve frame."),
        ),
        "institute": await a_published_listing(named, **_software(title="Cartridge holder four")),
    }
    await indexed(*made.values())
    # Two words apart in a title count more than side by side in a description.
    apart = await a_published_listing(
        plain, **_software(title="Ceramic sieve with a bent steel frame", keywords=["filter"])
    )
    together = await a_published_listing(
        plain,
        **_software(title="Filter housing", description="It holds a ceramic frame sieve."),
    )
    await indexed(apart, together)
    found = ids(await find("ceramic frame"))
    assert found.index(str(apart.id)) < found.index(str(together.id)), found
    for item in (apart, together):
        await listings.withdraw_listing(await actor_of(plain), str(item.id))
    await indexed(apart, together)

    found = ids(await find("sieve"))
    assert found == [str(made[field].id) for field in made if field != "institute"], {
        field: found.index(str(item.id)) if str(item.id) in found else None
        for field, item in made.items()
    }


async def test_an_institute_name_does_not_outrank_a_listings_text(index) -> None:
    """The demo's membrane search: an institute called "Institute of Advanced Membranes" has
    software patents. They ranked above listings saying "membrane" when one searched for
    "membranes" (their institute's name matched exactly, the text with a typo), and above
    listings with the words apart when one searched for "advanced membranes"; now only
    listings whose own text has the words are found."""
    membranes, _ = await a_verified_institute(
        organization={"name": "Institute of Advanced Membranes"}
    )
    other, _ = await a_verified_institute(organization={"name": "Northern Polytechnic"})
    software = [
        await a_published_listing(membranes, **_software(title=f"Scheduling method {n}"))
        for n in range(3)
    ]
    text = await a_published_listing(
        other,
        **_software(
            title="Membrane for the advanced treatment of mine water",
            summary="A ceramic membrane that stands acid mine drainage.",
        ),
    )
    in_summary = await a_published_listing(
        other,
        **_software(
            title="Water treatment plant controller",
            summary="Flushes the membrane by schedule; an advanced control loop.",
        ),
    )
    await indexed(*software, text, in_summary)
    assert ids(await find("advanced membrane")) == [str(text.id), str(in_summary.id)]
    assert ids(await find("membranes")) == [str(text.id), str(in_summary.id)]
    # The institute's listings are one filter away.
    by_name = await find("", filters={"institute": ["Institute of Advanced Membranes"]})
    assert sorted(ids(by_name)) == sorted(str(s.id) for s in software)


async def test_ipc_subclasses_are_searchable_below_keywords(index) -> None:
    user, _ = await a_verified_institute()
    coded = await a_published_listing(
        user, **_software(title="Dust filter", ipc_codes=["B01D 46/00"])
    )
    await indexed(coded)
    assert ids(await find("B01D")) == [str(coded.id)]


# --- approximate matches ------------------------------------------------------------------------


async def test_a_search_finding_only_misspelt_words_is_approximate(index, web) -> None:
    user, _ = await a_verified_institute()
    bat = await a_published_listing(
        user,
        title="Baseball batter training aid",
        summary="A tee that shows the batter where the bat meets the ball.",
        keywords=["baseball"],
    )
    await indexed(bat)

    result = await find("battery")
    assert ids(result) == [str(bat.id)]
    assert result.approximate and result.hits[0].approximate

    exact = await find("batter")
    assert ids(exact) == [str(bat.id)] and not exact.approximate
    # A prefix is what the person typed so far: not approximate.
    assert not (await find("batt")).approximate
    # One word of two missing: approximate too.
    assert (await find("batter zeppelin")).approximate
    assert not (await find("")).approximate

    api = (await web.get("/api/v1/search", params={"q": "battery"})).json()
    assert api["approximate"] is True and [h["id"] for h in api["hits"]] == [str(bat.id)]
    assert (await web.get("/api/v1/search", params={"q": "batter"})).json()["approximate"] is False

    page = await web.get("/search", params={"q": "battery <b>"})
    assert page.status_code == 200
    assert "Approximate matches" in page.text
    assert "battery &lt;b&gt;" in page.text
    page = await web.get("/search", params={"q": "batter"})
    assert "Approximate matches" not in page.text

    # One listing with the word as typed: the page is not approximate, the misspelt hit is.
    battery = await a_published_listing(
        user, title="Sodium battery for grid storage", keywords=["storage"]
    )
    await indexed(battery)
    result = await find("battery")
    assert ids(result) == [str(battery.id), str(bat.id)] and not result.approximate
    assert [h.approximate for h in result.hits] == [False, True]
    api = (await web.get("/api/v1/search", params={"q": "battery"})).json()
    assert [h["approximate"] for h in api["hits"]] == [False, True]
    page = await web.get("/search", params={"q": "battery"})
    assert "Approximate matches" not in page.text and page.text.count("approximate match") == 1


# --- patent families ----------------------------------------------------------------------------


async def test_members_of_one_patent_family_are_one_result_that_says_so(index, web) -> None:
    user, _ = await a_verified_institute()
    summary = "A hollow fibre membrane module whose potting resists hot water cleaning."
    family = [
        await a_published_listing(
            user,
            title="Hollow fibre membrane module",
            summary=summary,
            patent_numbers=[f"{office} 1234567 B2"],
        )
        for office in ("US", "EP", "JP")
    ]
    alone = await a_published_listing(user, title="Hollow fibre spinning nozzle")
    await indexed(*family, alone)

    result = await find("hollow fibre")
    assert len(result.hits) == 2 and result.total == 2, ids(result)
    grouped = next(h for h in result.hits if h.id != str(alone.id))
    assert grouped.id in {str(f.id) for f in family}
    assert grouped.family_size == 3
    assert next(h for h in result.hits if h.id == str(alone.id)).family_size == 1

    api = (await web.get("/api/v1/search", params={"q": "hollow fibre"})).json()
    assert sorted(h["family_size"] for h in api["hits"]) == [1, 3]
    page = await web.get("/search", params={"q": "hollow fibre"})
    assert "and 2 other members of the same patent family" in page.text

    # Withdrawing one member: the others' count follows through the same sync.
    await listings.withdraw_listing(await actor_of(user), str(family[0].id))
    await indexed(family[0])
    result = await find("hollow fibre")
    grouped = next(h for h in result.hits if h.id != str(alone.id))
    assert grouped.id in {str(f.id) for f in family[1:]} and grouped.family_size == 2


# --- Chinese ----------------------------------------------------------------------------------


async def test_a_chinese_term_finds_the_texts_that_have_it_not_its_pieces(index) -> None:
    """The segmenter cuts 甲基丙烯酸甲酯 (methyl methacrylate) into pieces; a text with the
    pieces apart is not about it, and a term of four characters or more is not matched with
    a typo either."""
    user, _ = await a_verified_institute()
    target = await a_published_listing(
        user,
        title="一种阻燃有机玻璃板及其制备方法",
        summary="以甲基丙烯酸甲酯为单体，加入阻燃剂，经本体聚合制得阻燃有机玻璃板。",
        language="zh",
        keywords=["有机玻璃"],
    )
    pieces = await a_published_listing(
        user,
        title="一种涂料",
        summary="含甲基的树脂与丙烯酸混合，再加入甲酯作为溶剂，制得涂料。",
        language="zh",
        keywords=["涂料"],
    )
    await indexed(target, pieces)
    assert ids(await find("甲基丙烯酸甲酯")) == [str(target.id)]
    assert ids(await find("有机玻璃 甲基丙烯酸甲酯")) == [str(target.id)]
    # Terms no text has as written: their pieces are the answer, said to be approximate.
    loose = await find("丙烯酸甲酯单体")
    assert ids(loose)[0] == str(target.id) and loose.approximate
    # Synonyms still bridge the languages: a Chinese synonym is sent as a word, not a phrase.
    assert search.query_text("石墨烯 复合材料") == '石墨烯 "复合材料"'
