"""The `needs` index against a real Meilisearch: kept in step through the outbox by a real
worker, published needs only, never an anonymous seeker; rebuilt and checked for drift (also
from the command line); and what happens when Meilisearch is down."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import httpx
import pytest

from docking import matching, service
from docking import search as need_search
from docking.models import Need
from listings import search
from market.config import ROOT
from market.outbox import OutboxDelivery
from tests.builders import a_published_need, a_verified_enterprise, actor_of, run_worker

DEAD_URL = "http://127.0.0.1:1"


async def documents(settings) -> dict[str, dict]:
    async with search.Meili(settings) as meili:
        body = await meili.call(
            "GET", f"/indexes/{settings.meili_needs_index}/documents", params={"limit": 1000}
        )
    return {d["id"]: d for d in body["results"]}


async def test_the_index_follows_each_need_through_the_outbox(indexes, redis_client) -> None:
    secret = "Quiet Quarry GmbH"
    owner, org = await a_verified_enterprise(organization={"name": secret})
    public = await a_published_need(owner, title="Public need for a membrane")
    anonymous = await a_published_need(owner, title="Anonymous need", visibility="anonymous")
    hidden = await a_published_need(
        owner, visibility="after_confidentiality", background="Confidential plant in Wuxi"
    )
    await run_worker(indexes)
    docs = await documents(indexes)
    assert set(docs) == {str(public.id), str(anonymous.id), str(hidden.id)}
    assert docs[str(public.id)]["seeker"] == secret
    assert docs[str(public.id)]["version"] == public.version
    assert secret not in str(docs[str(anonymous.id)]) and docs[str(anonymous.id)]["seeker_id"] == ""
    assert "Wuxi" not in str(docs[str(hidden.id)])
    # Found by a search of the index, in either language (the glossary is its synonyms).
    ids, total, degraded, _ = await need_search.search_needs("膜", settings=indexes)
    assert not degraded and str(public.id) in ids

    await service.close_need(await actor_of(owner), str(public.id), "Found one.")
    await run_worker(indexes)
    assert str(public.id) not in await documents(indexes)
    assert await OutboxDelivery.filter(done_at=None).count() == 0


async def test_rebuild_and_drift(indexes) -> None:
    needs = [await a_published_need(title=f"Need number {n}") for n in range(3)]
    report = await need_search.reindex(batch=2)
    assert report["indexed"] == 3
    assert set(await documents(indexes)) == {str(n.id) for n in needs}

    async with search.Meili(indexes) as meili:
        await meili.wait(
            await meili.call(
                "DELETE", f"/indexes/{indexes.meili_needs_index}/documents/{needs[0].id}"
            )
        )
    await Need.filter(id=needs[1].id).update(version=needs[1].version + 1)
    found = await need_search.check_drift()
    assert found["missing"] == [str(needs[0].id)] and found["stale"] == [str(needs[1].id)]
    assert not found["repaired"]
    repaired = await need_search.check_drift(repair=True)
    assert repaired["repaired"]
    clean = await need_search.check_drift()
    assert clean["missing"] == clean["stale"] == clean["extra"] == []


async def test_the_command_line_rebuilds_and_checks_the_needs_index(indexes) -> None:
    need = await a_published_need()
    env = {**os.environ, "MEILI_NEEDS_INDEX": indexes.meili_needs_index}

    def market(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "market", *args],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )

    built = market("reindex", "--needs")
    assert built.returncode == 0, built.stderr
    assert built.stdout.startswith("1 needs indexed")
    assert set(await documents(indexes)) == {str(need.id)}
    checked = market("search", "check", "--needs", "--no-repair")
    assert "missing: 0" in checked.stdout and "stale: 0" in checked.stdout


async def test_when_meilisearch_is_down(indexes, monkeypatch: pytest.MonkeyPatch) -> None:
    need = await a_published_need(title="Membrane for brackish water")
    await need_search.upsert([need.id], wait=True)
    monkeypatch.setattr(indexes, "meili_url", DEAD_URL)
    # Searching needs falls back to the database and says it is limited.
    ids, total, degraded, message = await need_search.search_needs("brackish", settings=indexes)
    assert degraded and ids == [str(need.id)] and total == 1 and message
    # Syncing and matching raise: their deliveries stay undone and the outbox retries them.
    with pytest.raises(httpx.HTTPError):
        await need_search.upsert([need.id], indexes, wait=True)
    with pytest.raises(httpx.HTTPError):
        await matching.match_need(need.id, indexes)


async def test_an_index_missing_its_settings_gets_them_on_first_write(settings) -> None:
    saved = settings.meili_needs_index
    settings.meili_needs_index = f"test_n_{uuid.uuid4().hex[:10]}"
    try:
        need = await a_published_need(ipc_codes=["B01D 69/12"])
        await need_search.upsert([need.id], wait=True)
        async with search.Meili(settings) as meili:
            found = await meili.call(
                "POST",
                f"/indexes/{settings.meili_needs_index}/search",
                json={"q": "", "filter": 'ipc_subclass = "B01D"'},
            )
            await meili.call("DELETE", f"/indexes/{settings.meili_needs_index}")
        assert [h["id"] for h in found["hits"]] == [str(need.id)]
    finally:
        settings.meili_needs_index = saved
