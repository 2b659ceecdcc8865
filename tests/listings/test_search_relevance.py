"""Search quality against a real Meilisearch: which field counts most, an institute's name
never outranking a listing's text, approximate matches said so (page and API), one result per
patent family, and Chinese technical terms.

Each test gets its own index (see tests/listings/test_search.py)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import httpx
import pytest

from listings import search
from listings.search import SearchQuery
from tests.builders import a_published_listing, a_verified_institute

RECORDS = Path(__file__).resolve().parents[2] / "listings" / "data" / "sample_records.jsonl"


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


async def test_fields_rank_title_keywords_summary_description_inventors_institute(index) -> None:
    """The same word, once in each field of a different listing: the order of the results is
    the order of the fields, with the institute's name last."""
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
    found = ids(await find("sieve"))
    assert found == [str(made[field].id) for field in made], {
        field: found.index(str(item.id)) if str(item.id) in found else None
        for field, item in made.items()
    }


async def test_an_institute_name_does_not_outrank_a_listings_text(index) -> None:
    """The demo's "membrane" search: an institute called "... Membranes" has software patents;
    a listing of another institute with the word in its text ranks above every one of them,
    even when the institute's name has the word exactly and the text has it only once, late."""
    membranes, _ = await a_verified_institute(
        organization={"name": "Institute of Advanced Membranes"}
    )
    other, _ = await a_verified_institute(organization={"name": "Northern Polytechnic"})
    software = [
        await a_published_listing(membranes, **_software(title=f"Scheduling method {n}"))
        for n in range(3)
    ]
    late = await a_published_listing(
        other,
        **_software(
            title="Water treatment plant controller",
            summary="A controller for a water treatment plant. " * 5
            + "It also flushes the membranes.",
        ),
    )
    await indexed(*software, late)
    found = ids(await find("membranes"))
    assert found[0] == str(late.id), found
    assert set(found[1:]) == {str(s.id) for s in software}


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
    assert result.approximate

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


# --- patent families ----------------------------------------------------------------------------


async def test_members_of_one_patent_family_are_one_result_that_says_so(index, web) -> None:
    user, _ = await a_verified_institute()
    summary = "A hollow fibre membrane module whose potting resists hot water cleaning."
    family = [
        await a_published_listing(
            user,
            title=f"Hollow fibre membrane module ({office})",
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
    from listings import service as listings
    from tests.builders import actor_of

    await listings.withdraw_listing(await actor_of(user), str(family[0].id))
    await indexed(family[0])
    result = await find("hollow fibre")
    grouped = next(h for h in result.hits if h.id != str(alone.id))
    assert grouped.id in {str(f.id) for f in family[1:]} and grouped.family_size == 2


# --- Chinese ----------------------------------------------------------------------------------


async def test_chinese_technical_terms_find_their_listing_first(index) -> None:
    """Terms inside longer compounds of real titles, as a person types them."""
    user, _ = await a_verified_institute()
    with RECORDS.open(encoding="utf-8") as fh:
        records = [json.loads(line) for line in fh]
    zh = [r for r in records if r.get("language") == "zh" and r.get("title")]
    made = []
    for record in zh[:40]:
        made.append(
            await a_published_listing(
                user,
                title=record["title"][:200],
                summary=record["abstract"][:2000],
                language="zh",
                keywords=[k for k in record.get("keywords") or [] if len(k) <= 60][:10],
                patent_numbers=["CN 100000000 A"],
            )
        )
    await indexed(*made)
    by_title = {item.title: item for item in made}
    for title, term in [
        ("一种宏量化中高体分铝基复合材料及其高压制备工艺", "铝基复合材料"),
    ]:
        if title not in by_title:
            continue
        found = ids(await find(term))
        assert found[0] == str(by_title[title].id), (term, found)
