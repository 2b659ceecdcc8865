"""`market reindex` and `market search check`, run as an operator runs them."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import uuid

from listings import search
from listings.search import SearchQuery
from market.config import ROOT, Settings
from tests.builders import a_published_listing, a_verified_institute


def market(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "market", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_reindex_and_drift_check_from_the_command_line(settings) -> None:
    index = f"cli_{uuid.uuid4().hex[:8]}"
    ours = Settings(**{**settings.model_dump(), "meili_index": index})
    env = {**os.environ, "MEILI_INDEX": index}
    owner, _ = await a_verified_institute()
    listings = [await a_published_listing(owner, title=f"Listing {n} of ours") for n in range(3)]
    try:
        built = market("reindex", env=env)
        assert built.returncode == 0, built.stderr
        assert built.stdout.startswith("3 listings indexed") and "Indexing" in built.stderr
        found = await search.search(SearchQuery(q="ours"), ours)
        assert not found.degraded and found.total == 3

        # Drift: one document gone behind our back is found by id and put back. The check runs
        # only once Meilisearch says the deletion succeeded (its wait has a deadline and raises
        # on a failed task).
        async with search.Meili(ours) as meili:
            await meili.wait(
                await meili.call("DELETE", f"/indexes/{index}/documents/{listings[0].id}")
            )
        report = market("search", "check", env=env)
        assert report.returncode == 0, report.stderr
        assert "missing: 1" in report.stdout and str(listings[0].id) in report.stdout
        assert "repaired" in report.stdout
        clean = market("search", "check", "--no-repair", env=env)
        assert "missing: 0" in clean.stdout and "stale: 0" in clean.stdout
        assert (await search.search(SearchQuery(q="ours"), ours)).total == 3
    finally:
        # A run that failed before the index existed must still report its own failure.
        async with search.Meili(ours) as meili:
            with contextlib.suppress(search.MeiliError):
                await meili.call("DELETE", f"/indexes/{index}")
