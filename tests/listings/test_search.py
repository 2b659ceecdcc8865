"""Search against a real Meilisearch: ranking, typos, Chinese, synonyms, facets, sync through
the outbox, rebuild, drift, degradation and hostile input.

Each test gets its own index (the session's Meilisearch is shared and never cleaned), and
writes to the index directly with `wait=True` unless the test is about the outbox path.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path

import pytest
from pydantic import ValidationError

from listings import importer, search, search_sync
from listings import service as listings
from listings.models import Listing
from listings.schemas import ListingPatch
from listings.search import SearchQuery
from market import outbox
from market.accounts import service as accounts
from market.accounts.schemas import OrganizationUpdate
from market.actor import Actor
from market.db import unit_of_work
from market.outbox import OutboxDelivery, OutboxEvent
from tests.builders import (
    a_published_listing,
    a_verified_institute,
    actor_of,
    an_admin,
    run_worker,
)

RECORDS = Path(__file__).resolve().parents[2] / "listings" / "data" / "sample_records.jsonl"
DEAD_URL = "http://127.0.0.1:1"


@pytest.fixture
async def index(settings):
    """A fresh index for this test, named through the setting every search call reads."""
    saved = settings.meili_index
    settings.meili_index = f"test_{uuid.uuid4().hex[:12]}"
    await search.apply_settings(settings)
    try:
        yield settings.meili_index
    finally:
        async with search.Meili(settings) as meili:
            for uid in await _indexes_named(meili, settings.meili_index):
                await meili.call("DELETE", f"/indexes/{uid}")
        settings.meili_index = saved


async def _indexes_named(meili: search.Meili, prefix: str) -> list[str]:
    body = await meili.call("GET", "/indexes", params={"limit": 1000})
    return [i["uid"] for i in body["results"] if i["uid"].startswith(prefix)]


async def indexed(*items: Listing) -> None:
    await search.upsert([item.id for item in items], wait=True)


async def find(q: str = "", **kwargs) -> search.SearchResult:
    result = await search.search(SearchQuery(q=q, **kwargs))
    assert not result.degraded, result.message
    return result


def ids(result: search.SearchResult) -> list[str]:
    return [hit.id for hit in result.hits]


def _records(language: str) -> dict[str, dict]:
    with RECORDS.open(encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh]
    return {r["id"]: r for r in rows if (r.get("language") or "en") == language}


async def a_listing_from_record(user, record: dict) -> Listing:
    data, _ref, _warnings = importer.map_record(record)
    data.pop("patent_numbers", None)  # not needed here, and some do not validate as numbers
    data["keywords"] = [k for k in data.get("keywords", []) if 0 < len(k) <= 60][:40]
    return await a_published_listing(user, **data)


# --- documents -----------------------------------------------------------------------------


def test_price_bands_and_ipc_parts() -> None:
    assert search.price_band(search.price_in_usd(500_000, "USD")) == "<10k"  # 5,000.00 USD
    assert search.price_band(search.price_in_usd(15_000_000, "USD")) == "100k-1M"
    assert search.price_band(search.price_in_usd(10_000_000, "CNY")) == "10k-100k"
    assert search.price_band(search.price_in_usd(300_000_000, "JPY")) == ">1M"  # no minor unit
    assert search.price_band(None) == "none"
    assert search.ipc_parts(["B01D 69/12", "C02F 1/44", "B01D 71/02", "nonsense"]) == {
        "ipc_section": ["B", "C"],
        "ipc_class": ["B01", "C02"],
        "ipc_subclass": ["B01D", "C02F"],
    }


# --- relevance, typos, Chinese, synonyms ---------------------------------------------------


async def test_a_title_match_ranks_above_a_description_only_match(index) -> None:
    user, _ = await a_verified_institute()
    in_description = await a_published_listing(
        user,
        title="Crosslinked polymer coating for pipes",
        summary="A coating that resists scaling in hot water systems.",
        description="Developed alongside our work on a perovskite absorber.",
        keywords=["coating"],
    )
    in_title = await a_published_listing(
        user,
        title="Perovskite solar absorber with long lifetime",
        summary="A stable absorber layer for thin-film cells.",
        keywords=["solar"],
    )
    await indexed(in_description, in_title)
    result = await find("perovskite")
    assert ids(result) == [str(in_title.id), str(in_description.id)]
    assert result.hits[0].highlights["title"].startswith("<mark>Perovskite</mark>")


async def test_english_queries_with_one_or_two_typos_find_the_listing(index) -> None:
    listing = await a_published_listing()
    await indexed(listing)
    # exact, one typo, two typos, a phrase with a transposition
    for query in ["desalination", "desalinaton", "dezalinaton", "graphene desalinatoin"]:
        assert ids(await find(query)) == [str(listing.id)], query


CHINESE_TERMS = {
    "KPPZH-T0237": "粉碎装置",  # 一种橘皮自动清洗烘干和粉碎装置
    "KPPZH-T0196": "防火涂层",  # 用于消防的减震支撑装置的防火涂层的涂布方法
    "KPPZH-T0340": "自动修复",  # 基于中间件的自动修复方法、装置、智能电视及存储介质
    "KPPZH-T0610": "洗衣机",  # 洗衣机门体结构及洗衣机
    "KPPZH-T0544": "百叶窗",  # 一种无拉绳操控的百叶窗
    "KPPZH-T0551": "乳化酸",  # 一种交联乳化酸、制备方法及应用
    "KPPZH-T0576": "语音控制",  # 用于洗涤设备的语音控制方法
    "KPPZH-T0390": "封装胶膜",  # 一种局部高反光的封装胶膜及用途
}


async def test_chinese_terms_from_real_titles_find_their_listings(index) -> None:
    user, _ = await a_verified_institute()
    records = _records("zh")
    made = {}
    for ref in CHINESE_TERMS:
        made[ref] = await a_listing_from_record(user, records[ref])
    english = await a_listing_from_record(user, next(iter(_records("en").values())))
    await indexed(*made.values(), english)
    for ref, term in CHINESE_TERMS.items():
        assert term in made[ref].title
        found = ids(await find(term))
        assert str(made[ref].id) in found[:3], (term, made[ref].title, found)
        assert str(english.id) not in found
    # A whole title, and a term the segmenter may split differently, still find it.
    title = made["KPPZH-T0196"].title
    assert ids(await find(title))[0] == str(made["KPPZH-T0196"].id)
    assert str(made["KPPZH-T0237"].id) in ids(await find("橘皮 粉碎"))


async def test_synonyms_for_technology_terms(index) -> None:
    user, _ = await a_verified_institute()
    ai = await a_published_listing(
        user,
        title="Artificial intelligence for crop disease detection",
        summary="Image classification of leaves in the field with a phone camera.",
        keywords=["agriculture"],
    )
    battery = await a_published_listing(
        user,
        title="Lithium-ion cathode with a silicon additive",
        summary="Higher capacity and a longer cycle life for rechargeable cells.",
        keywords=["energy storage"],
    )
    await indexed(ai, battery)
    assert ids(await find("AI")) == [str(ai.id)]
    assert ids(await find("Li-ion"))[0] == str(battery.id)
    assert ids(await find("li-ion cathode"))[0] == str(battery.id)
    assert ids(await find("人工智能")) == [str(ai.id)]


# --- facets, filters, sorting, paging ------------------------------------------------------


async def test_facets_count_and_filters_narrow(index) -> None:
    user, _ = await a_verified_institute(organization={"country": "DE", "region": "Bavaria"})
    cheap = await a_published_listing(
        user,
        title="Software for membrane fouling prediction",
        kind="software",
        patent_numbers=[],
        ipc_codes=["G06N 20/00"],
        trl=7,
        asking_price={"amount": 500_000, "currency": "EUR"},
    )
    dear = await a_published_listing(user, trl=4)  # patent, B01D/C02F, 150,000 USD
    await indexed(cheap, dear)
    everything = await find()
    assert everything.total == 2
    assert everything.facets["kind"] == {"software": 1, "patent": 1}
    assert everything.facets["price_band"] == {"<10k": 1, "100k-1M": 1}
    assert everything.facets["ipc_section"] == {"B": 1, "C": 1, "G": 1}
    assert everything.facets["country"] == {"DE": 2}

    assert ids(await find(filters={"kind": ["software"]})) == [str(cheap.id)]
    assert ids(await find(filters={"ipc_subclass": ["B01D"]})) == [str(dear.id)]
    assert ids(await find(filters={"price_band": ["100k-1M"], "country": ["DE"]})) == [str(dear.id)]
    both = await find(filters={"kind": ["software", "patent"]})
    assert both.total == 2
    assert ids(await find(trl_min=5)) == [str(cheap.id)]
    assert ids(await find(trl_max=5)) == [str(dear.id)]
    hit = (await find(filters={"kind": ["patent"]})).hits[0]
    assert hit.price == {"amount": 15_000_000, "currency": "USD"}
    assert hit.published_at is not None


async def test_sort_by_newest_and_by_price(index) -> None:
    user, _ = await a_verified_institute()
    # Titles of their own: listings alike in title and summary are one family, one result.
    first = await a_published_listing(
        user, title="First", asking_price={"amount": 900_000, "currency": "USD"}
    )
    second = await a_published_listing(
        user, title="Second", asking_price={"amount": 100_000_000, "currency": "CNY"}
    )
    third = await a_published_listing(
        user, title="Third", asking_price={"amount": 20_000, "currency": "USD"}
    )
    await indexed(first, second, third)
    order = [str(x.id) for x in (first, second, third)]
    assert ids(await find(sort="newest")) == order[::-1]
    assert ids(await find(sort="price_asc")) == [order[2], order[0], order[1]]
    assert ids(await find(sort="price_desc")) == [order[1], order[0], order[2]]


async def test_page_out_of_range_is_empty(index) -> None:
    listing = await a_published_listing()
    await indexed(listing)
    result = await find(page=9999)
    assert result.hits == [] and result.total == 1 and result.page == 9999


# --- bad input -----------------------------------------------------------------------------


def test_bad_queries_are_refused_at_the_schema_with_a_message() -> None:
    with pytest.raises(ValidationError):
        SearchQuery(q="x" * 501)
    with pytest.raises(ValidationError, match="Unknown facet 'price'"):
        SearchQuery(filters={"price": ["1"]})
    with pytest.raises(ValidationError, match="Unknown value 'robot' for kind"):
        SearchQuery(filters={"kind": ["robot"]})
    with pytest.raises(ValidationError):
        SearchQuery(page=0)
    assert SearchQuery(q="  ").q == ""


def test_filter_values_are_quoted_so_nothing_is_injected() -> None:
    query = SearchQuery(filters={"institute": ['x" OR kind = "patent', "back\\slash"]})
    assert search.build_filter(query) == [
        ['institute = "x\\" OR kind = \\"patent"', 'institute = "back\\\\slash"']
    ]


async def test_hostile_queries_give_a_valid_answer(index) -> None:
    listing = await a_published_listing(title="Membrane <script>alert(1)</script> module")
    await indexed(listing)
    for q in [
        '"unbalanced',
        '" OR kind = software',
        "kind = software AND trl > 3",
        "-membrane OR NOT",
        "<script>alert(1)</script>",
        "\\\"'`;--",
        "膜 " * 120,
        "",
    ]:
        result = await find(q[:500])
        assert result.total >= 0
        for hit in result.hits:
            assert "<script>" not in hit.highlights.get("title", "")
    assert (await find("script")).hits[0].highlights["title"].count("&lt;script&gt;") == 1


async def test_an_injected_filter_value_matches_nothing(index) -> None:
    listing = await a_published_listing()
    await indexed(listing)
    injected = await find(filters={"institute": ['x" OR kind = "patent']})
    assert injected.total == 0
    assert (await find(filters={"kind": ["patent"]})).total == 1


async def test_highlights_are_escaped_apart_from_the_marks(index) -> None:
    listing = await a_published_listing(
        title="Membrane <b>for</b> desalination & reuse", summary="Membrane " + "word " * 80
    )
    await indexed(listing)
    hit = (await find("desalination")).hits[0]
    assert hit.highlights["title"] == (
        "Membrane &lt;b&gt;for&lt;/b&gt; <mark>desalination</mark> &amp; reuse"
    )
    assert len(hit.highlights["summary"].split()) <= search.CROP_LENGTH + 2  # cropped


# --- sync through the outbox ---------------------------------------------------------------


async def test_publishing_is_searchable_after_the_worker_and_withdraw_removes(
    index, settings, redis_client
) -> None:
    listing = await a_published_listing(title="Piezoelectric energy harvester for bridges")
    event = await OutboxEvent.get(event_type="listing.published")
    assert event.enqueued_at is not None  # the relay enqueued it after commit
    await run_worker(settings)
    await _settle(settings)
    # How fast is measured by bench/search.py (freshness), not asserted here.
    assert ids(await find("piezoelectric")) == [str(listing.id)]

    owner = await actor_of(await listing.created_by)
    await listings.withdraw_listing(owner, str(listing.id))
    await run_worker(settings)
    await _settle(settings)
    assert ids(await find("piezoelectric")) == []


async def test_an_approved_revision_updates_the_index_and_a_licence_removes(
    index, settings, redis_client
) -> None:
    listing = await a_published_listing(
        title="Ferrofluid seal for vacuum pumps", summary="A seal that keeps pumps tight."
    )
    owner = await actor_of(await listing.created_by)
    _, revision = await listings.update_listing(
        owner, str(listing.id), ListingPatch(title="Nanofiltration membrane for brine mining")
    )
    assert revision is not None
    await run_worker(settings)
    await _settle(settings)
    assert ids(await find("ferrofluid")) == [str(listing.id)]  # pending: the old text stays
    assert ids(await find("brine")) == []

    admin = await actor_of(await an_admin())
    await listings.approve_revision(admin, str(revision.id))
    await run_worker(settings)
    await _settle(settings)
    assert ids(await find("brine")) == [str(listing.id)]
    assert ids(await find("ferrofluid")) == []
    version = (await Listing.get(id=listing.id)).version
    assert (await search.index_versions())[str(listing.id)] == version

    await listings.license_listing(Actor.system(), str(listing.id))
    await run_worker(settings)
    await _settle(settings)
    assert ids(await find("brine")) == []


async def test_a_renamed_institute_is_renamed_in_its_hits_and_keeps_its_profile_link(
    index, settings, redis_client
) -> None:
    user, org = await a_verified_institute(organization={"name": "Old Optics Institute"})
    listing = await a_published_listing(user, title="Adaptive optics for solar telescopes")
    await indexed(listing)
    await accounts.update_organization(
        await actor_of(user), OrganizationUpdate(name="New Photonics Institute", country="CN")
    )
    await accounts.decide_identity(await actor_of(await an_admin()), str(org.id), approve=True)
    await run_worker(settings)
    await _settle(settings)
    (hit,) = (await find("telescopes")).hits
    assert hit.institute == "New Photonics Institute" and hit.institute_slug == org.slug

    await search.reindex()
    (hit,) = (await find("telescopes")).hits
    assert hit.institute_slug == org.slug


async def test_a_rolled_back_publication_never_reaches_the_index(
    index, settings, redis_client
) -> None:
    class Boom(Exception):
        """Raised on purpose to roll the publication back."""

    user, _ = await a_verified_institute()
    draft = await a_published_listing(user, title="Quantum dot ink for printed displays")
    owner = await actor_of(user)
    await listings.withdraw_listing(owner, str(draft.id))
    await run_worker(settings)
    with pytest.raises(Boom):
        async with unit_of_work():
            await listings.submit_listing(owner, str(draft.id))
            await listings.approve_listing(await actor_of(await an_admin()), str(draft.id))
            raise Boom
    assert (await Listing.get(id=draft.id)).state == "withdrawn"
    await run_worker(settings)
    await _settle(settings)
    assert ids(await find("quantum dot")) == []
    assert await search.index_versions() == {}


async def test_handlers_are_idempotent_and_trust_the_database_not_the_event(index) -> None:
    listing = await a_published_listing()
    async with unit_of_work():
        stale = await outbox.emit(
            "listing.withdrawn", {"listing_id": str(listing.id), "version": 1}
        )
    for _ in range(2):
        await search_sync.sync_listing(stale)  # the listing is published: it stays indexed
    await _settle()
    assert await search.index_versions() == {str(listing.id): listing.version}


# --- batches: a burst becomes a few Meilisearch tasks ---------------------------------------

BURST = 60


async def _document_tasks(index: str) -> list[dict]:
    """The document additions and deletions Meilisearch was given for this test's index."""
    async with search.Meili() as meili:
        body = await meili.call(
            "GET",
            "/tasks",
            params={
                "indexUids": index,
                "types": "documentAdditionOrUpdate,documentDeletion",
                "limit": 1000,
            },
        )
    return body["results"]


async def test_a_burst_of_publications_is_indexed_in_a_few_tasks_exactly_as_the_database(
    index, settings, redis_client
) -> None:
    user, _ = await a_verified_institute()
    for n in range(BURST):
        await a_published_listing(user, title=f"Sintered metal filter number {n}")
    await run_worker(settings)
    await _settle(settings)

    published = await Listing.filter(state="published").values_list("id", "version")
    assert len(published) == BURST
    assert await search.index_versions() == {str(i): v for i, v in published}
    assert (await find("sintered", per_page=100)).total == BURST
    assert await OutboxDelivery.filter(done_at=None).count() == 0
    tasks = await _document_tasks(index)
    # One task per listing was the old way; batches carry many documents each.
    assert 0 < len(tasks) * 4 <= BURST, [t["details"] for t in tasks]
    assert all(t["status"] == "succeeded" for t in tasks)


async def test_published_then_withdrawn_in_one_batch_ends_deleted(index, settings) -> None:
    listing = await a_published_listing(title="Magnetocaloric heat pump for cold stores")
    owner = await actor_of(await listing.created_by)
    await listings.withdraw_listing(owner, str(listing.id))
    published = await OutboxEvent.get(event_type="listing.published")
    withdrawn = await OutboxEvent.get(event_type="listing.withdrawn")
    # Both handlers hand the listing over before the batcher first runs: one batch, read
    # when it is sent, so the withdrawal (the last committed state) is what reaches the index.
    await asyncio.gather(search_sync.sync_listing(published), search_sync.sync_listing(withdrawn))
    assert ids(await find("magnetocaloric")) == []
    assert await search.index_versions() == {}
    tasks = await _document_tasks(index)
    assert [t["type"] for t in tasks] == ["documentDeletion"]


async def test_a_refusing_meilisearch_marks_nothing_done_and_the_retry_makes_it_whole(
    index, settings, redis_client
) -> None:
    user, _ = await a_verified_institute()
    made = [await a_published_listing(user, title=f"Vortex tube cooler {n}") for n in range(5)]
    events = await OutboxEvent.filter(event_type="listing.published")
    real_key = settings.meili_key
    settings.meili_key = "not-the-key"
    try:
        outcomes = await asyncio.gather(
            *(outbox.process(str(e.id)) for e in events), return_exceptions=True
        )
    finally:
        settings.meili_key = real_key
    assert all(isinstance(o, outbox.DeliveryFailed) for o in outcomes), outcomes
    # The index's own deliveries (matching, docking's, reacts to the same events).
    deliveries = await OutboxDelivery.filter(
        event_id__in=[e.id for e in events], handler=outbox.handler_name(search_sync.sync_listing)
    )
    assert len(deliveries) == len(events)
    assert all(d.done_at is None and d.attempts == 1 and d.last_error for d in deliveries)
    assert ids(await find("vortex")) == []

    # The key is right again: the queued jobs run again (as arq's retries do) and the index
    # ends exactly as the database.
    await run_worker(settings)
    await _settle(settings)
    assert await OutboxDelivery.filter(done_at=None).count() == 0
    assert await search.index_versions() == {str(x.id): x.version for x in made}


async def _settle(settings=None) -> None:
    """Wait until Meilisearch has processed every task enqueued so far."""
    async with search.Meili(settings) as meili:
        tasks = await meili.call("GET", "/tasks", params={"limit": 1})
        if tasks["results"]:
            await meili.wait(tasks["results"][0]["uid"])


# --- rebuild and drift ---------------------------------------------------------------------


async def test_reindex_swaps_in_a_new_index_without_an_empty_moment(index, settings) -> None:
    user, _ = await a_verified_institute()
    made = [await a_published_listing(user, title=f"Membrane module number {n}") for n in range(6)]
    await indexed(*made[:3])  # the live index is incomplete before the rebuild
    seen: list[int] = []
    steps: list[tuple[int, int]] = []
    done = asyncio.Event()

    async def keep_searching() -> None:
        while not done.is_set():
            seen.append((await find("membrane")).total)
            await asyncio.sleep(0)

    searcher = asyncio.create_task(keep_searching())
    try:
        report = await search.reindex(lambda d, t: steps.append((d, t)), batch=2)
    finally:
        done.set()
        await searcher
    assert report["indexed"] == 6
    assert steps[0] == (0, 6) and steps[-1] == (6, 6)
    assert seen and 0 not in seen
    assert (await find("membrane")).total == 6
    async with search.Meili(settings) as meili:
        assert await _indexes_named(meili, index) == [index]  # the old one is gone
        live = await meili.call("GET", f"/indexes/{index}/settings")
    assert live["searchableAttributes"] == search.SEARCHABLE


async def test_drift_check_finds_and_repairs_by_id_and_version(index, settings) -> None:
    user, _ = await a_verified_institute()
    a, b, c = [await a_published_listing(user) for _ in range(3)]
    await indexed(a, b, c)
    assert (await search.check_drift())["missing"] == []
    async with search.Meili(settings) as meili:
        await meili.wait(await meili.delete_documents(index, [str(a.id)]))
        corrupt = {**(await meili.call("GET", f"/indexes/{index}/documents/{b.id}")), "version": 0}
        ghost = {**corrupt, "id": str(uuid.uuid4()), "version": 1}
        await meili.wait(await meili.add_documents(index, [corrupt, ghost]))

    report = await search.check_drift(repair=False)
    assert report["missing"] == [str(a.id)]
    assert report["stale"] == [str(b.id)]
    assert report["extra"] == [ghost["id"]]
    assert not report["repaired"]

    assert (await search.check_drift(repair=True))["repaired"]
    assert await search.index_versions() == {str(x.id): x.version for x in (a, b, c)}
    clean = await search.check_drift(repair=True)
    assert (clean["missing"], clean["stale"], clean["extra"], clean["repaired"]) == (
        [],
        [],
        [],
        False,
    )


# --- degradation ---------------------------------------------------------------------------


async def test_a_dead_meilisearch_falls_back_to_the_database_quickly(index, settings) -> None:
    listing = await a_published_listing(title="Graphene membrane for desalination")
    other = await a_published_listing(title="Solid oxide fuel cell stack", kind="software")
    # A refused connection falls back at once, not after the timeout: with a timeout of an
    # hour, an answer within the test's own bound shows it (and no clock is raced).
    dead = settings.model_copy(update={"meili_url": DEAD_URL, "search_timeout_ms": 3_600_000})
    result = await asyncio.wait_for(
        search.search(SearchQuery(q="graphene desalination"), dead), timeout=60
    )
    assert result.degraded and result.message.startswith(search.LIMITED_MESSAGE)
    assert ids(result) == [str(listing.id)]
    filtered = await search.search(
        SearchQuery(filters={"kind": ["software"], "license_types": ["exclusive"]}), dead
    )
    assert ids(filtered) == [str(other.id)]
    assert "license_types" in filtered.message  # what it could not apply is said


async def test_a_slow_meilisearch_is_cut_off_at_the_timeout(index, settings) -> None:
    # A server that accepts the request and never answers: only our timeout can end the search,
    # so its returning at all (within the test's own bound) shows the cut, and the time it took
    # shows that it waited the timeout out first.
    hang_up = asyncio.Event()

    async def never_answer(reader, writer) -> None:
        await hang_up.wait()
        writer.close()

    server = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    slow = settings.model_copy(
        update={"meili_url": f"http://127.0.0.1:{port}", "search_timeout_ms": 300}
    )
    try:
        await a_published_listing()
        started = time.monotonic()
        result = await asyncio.wait_for(search.search(SearchQuery(q="membrane"), slow), 60)
        assert time.monotonic() - started > 0.25  # the timer's own resolution aside
        assert result.degraded and result.total == 1
    finally:
        hang_up.set()
        server.close()


async def test_writes_work_while_meilisearch_is_down_and_nothing_is_lost(
    index, settings, redis_client
) -> None:
    real_url = settings.meili_url
    settings.meili_url = DEAD_URL
    try:
        listing = await a_published_listing(title="Thermoelectric generator for exhaust heat")
        event = await OutboxEvent.get(event_type="listing.published")
        with pytest.raises(Exception):  # noqa: B017 (the connection error, whatever its class)
            await outbox.process(str(event.id))
        failed = await OutboxEvent.get(id=event.id)
        synced = await OutboxDelivery.get(
            event_id=event.id, handler=outbox.handler_name(search_sync.sync_listing)
        )
        assert failed.processed_at is None and synced.attempts == 1  # kept for a retry
    finally:
        settings.meili_url = real_url
    assert (await Listing.get(id=listing.id)).state == "published"  # the write stood
    assert ids(await find("thermoelectric")) == []

    # Meilisearch is back: the periodic check repairs, and the retried event is harmless.
    report = await search_sync.check_search_drift()
    assert report["missing"] == 1 and report["repaired"]
    assert ids(await find("thermoelectric")) == [str(listing.id)]
    assert await outbox.process(str(event.id)) == "processed"
    await _settle()
    assert await search.index_versions() == {str(listing.id): listing.version}


async def test_search_clients_share_one_tls_context() -> None:
    """httpx loads the CA bundle into a new TLS context for every client unless given one (about
    30 ms of CPU): the matching handler opens a client per published listing, and a burst of
    approvals spent the worker's core on it (bench/index_burst.py p95 went from 1 s to 15 s)."""
    async with search.Meili() as first, search.Meili() as second:
        contexts = [m._client._transport._pool._ssl_context for m in (first, second)]  # type: ignore[attr-defined]
    assert contexts[0] is not None
    assert contexts[0] is contexts[1]
