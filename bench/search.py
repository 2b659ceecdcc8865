"""Search latency of our API against Meilisearch itself, search freshness, and peak memory.

    .venv/bin/python bench/search.py [--listings 10000] [--concurrency 8] [--rounds 5] [--fresh 30]
                                     [--pg postgres://postgres@127.0.0.1:5432/postgres]

Creates a temporary PostgreSQL database (dropped afterwards), a private Meilisearch and a
private Redis, applies the migrations (`market migrate`), imports N listings built from the
records in ../shared/data/*.jsonl (listings/data/sample_records.jsonl when that is missing;
records are reused with distinct source_refs once they run out), publishes them with one SQL
UPDATE and runs `listings.search.reindex`. Then it starts `market serve` and `market worker`
as children and

- sends a fixed mix of queries (prefixes, typos, multi-word with filters, Chinese) at a fixed
  concurrency to GET /api/v1/search and, in interleaved rounds from the same client process,
  the exact request body our API builds (`listings.search.meili_request`) straight to
  Meilisearch, and prints p50 / p95 / p99 of both and their ratio;
- after a few unmeasured warm-up publications (FRESH_WARMUP),
  publishes M listings one by one through the real service path (submit, then approve as an
  administrator: outbox -> Redis -> worker -> Meilisearch) and times how long each takes to be
  found in Meilisearch by a word unique to its title (p50 / p95);
- samples the resident memory of the web and worker processes (with their children) all along
  and prints the peaks.

Exit status: 0 ok (whether or not the goal figures are met), 1 more than 1% failed or
degraded searches or a listing never became searchable, 2 a service did not start or died.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import ssl
import statistics
import string
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import redis as redis_lib  # noqa: E402

from bench.http_pages import (  # noqa: E402  (also applies its sniffio work-around)
    MarketServices,
    _pin,
    _start_http,
    start_market_services,
)
from bench.support import (  # noqa: E402
    PG_ADMIN_URL,
    run_on_a_database,
    verified_institute,
)
from market.app.processes import (  # noqa: E402
    Running,
    ServiceError,
    start_command,
)

# The shared records sit beside the checkout (../shared/data); a worktree one level deeper
# (/work/wt16/<name>) finds them with BENCH_DATA or two levels up.
DATA = next(
    (
        path
        for path in (
            Path(os.environ.get("BENCH_DATA", ROOT.parent / "shared" / "data")),
            ROOT.parent.parent / "shared" / "data",
        )
        if path.is_dir()
    ),
    ROOT.parent / "shared" / "data",
)
SAMPLE = ROOT / "listings" / "data" / "sample_records.jsonl"
INDEX = "listings"
REQUEST_TIMEOUT = 10.0
MAX_ERROR_RATE = 0.01
FRESH_TIMEOUT = 30.0
FRESH_POLL = 0.02
MEMORY_EVERY = 0.1
# Goal figures of the issue.
GOAL_P95_RATIO = 1.2
GOAL_FRESH_P95 = 1.5

# The query mix: query strings as a browser or API client sends them. Facets are always asked
# for by our API (meili_request lists every facet), so every query below is a faceted search.
QUERY_MIX: list[tuple[str, list[tuple[str, str]]]] = [
    # English prefixes (search as you type)
    *[
        ("prefix", [("q", q)])
        for q in ("neur", "membr", "grap", "batt", "semicon", "lith", "sens", "imag", "cataly")
    ],
    ("prefix", [("q", "softw")]),
    # Typos
    *[
        ("typo", [("q", q)])
        for q in (
            "nueral netwrok",
            "grapheen",
            "membrane filtraton",
            "baseball bta",
            "lithum battery",
            "procesor",
            "semiconducter",
            "satelite imagery",
        )
    ],
    # Multi-word with filters (and facets)
    ("filters", [("q", "lithium battery"), ("kind", "patent"), ("trl_min", "3")]),
    ("filters", [("q", "neural network"), ("kind", "patent"), ("trl_min", "5")]),
    ("filters", [("q", "membrane separation"), ("ipc", "B01D")]),
    ("filters", [("q", "graphics processing unit"), ("sort", "newest")]),
    ("filters", [("q", "machine learning model"), ("language", "en"), ("trl_max", "6")]),
    (
        "filters",
        [("q", "reverse osmosis membrane"), ("kind", "patent"), ("license_type", "non_exclusive")],
    ),
    ("filters", [("q", "image sensor"), ("ipc", "H04N")]),
    ("filters", [("q", "baseball bat"), ("trl_min", "2"), ("trl_max", "7")]),
    ("filters", [("q", "satellite data"), ("kind", "software")]),
    ("filters", [("q", "memory controller"), ("ipc", "G06F"), ("sort", "trl_desc")]),
    ("filters", [("q", "water treatment"), ("price_model", "negotiable"), ("page", "2")]),
    ("filters", [("kind", "software"), ("sort", "newest")]),
    # Chinese, terms taken from real zh titles
    *[
        ("chinese", [("q", q)])
        for q in (
            "复合材料",
            "制备方法",
            "控制方法",
            "催化剂",
            "石墨烯",
            "电池",
            "传感器",
            "复合材料 制备方法",
            "锂离子电池",
        )
    ],
    ("chinese", [("q", "制备方法"), ("language", "zh"), ("trl_min", "3")]),
]


# --------------------------------------------------------------------------------------------
# Set-up: database, records, index


def _record_files() -> list[Path]:
    files = sorted(DATA.glob("*.jsonl")) if DATA.is_dir() else []
    return files or [SAMPLE]


def _records(files: list[Path]) -> list[dict[str, Any]]:
    """Every record with a title, taken round-robin across the files so that any N holds a
    share of each source (Chinese included), not the first files only."""
    per_file = []
    for path in files:
        records = []
        with path.open(encoding="utf-8") as fh:
            for line in fh:
                line = line.strip()
                if not line:
                    continue
                with contextlib.suppress(ValueError):
                    record = json.loads(line)
                    # A record without a title is refused by the importer; skip it here.
                    if isinstance(record, dict) and str(record.get("title") or "").strip():
                        records.append(record)
        per_file.append(records)
    mixed = []
    for i in range(max((len(r) for r in per_file), default=0)):
        mixed.extend(records[i] for records in per_file if i < len(records))
    return mixed


def _rows(records: list[dict[str, Any]], start: int, count: int) -> list[Any]:
    """`count` importer rows from position `start` of the endless sequence of records; pass k
    over the records gives every one the source_ref `<id>~k`, so repeats are new listings."""
    from listings.importer import RawRow

    rows = []
    for position in range(start, start + count):
        record = dict(records[position % len(records)])
        lap = position // len(records)
        if lap:
            record["id"] = f"{record.get('id') or 'rec'}~{lap}"
        rows.append(RawRow(row=position + 1, fields=record, shape="record"))
    return rows


# Deterministic variety for the filters and sorts: TRL 1-9, publication dates over a year.
PUBLISH_ALL = """
UPDATE listing
SET state = 'published',
    trl = 1 + floor(random() * 9)::int,
    published_at = now() - random() * interval '365 days',
    updated_at = now() - interval '1 hour'
WHERE state <> 'published'
"""


@dataclass
class World:
    owner_email: str
    admin_email: str
    listings: int


async def setup(wanted: int, database_url: str) -> World:
    """Accounts, N imported listings, all published, and a fresh index."""
    import asyncpg

    from listings import importer, search
    from market.accounts import service
    from market.config import get_settings
    from market.db import close_db, init_db

    settings = get_settings()
    await init_db(settings)
    try:
        admin, owner, org = await verified_institute()
        actor = await service.actor_for(owner, ip="bench")
        options = importer.ImportOptions(
            trl=4,
            license_types=["non_exclusive"],
            price_model="negotiable",
            territories=["WORLD"],
        )
        files = _record_files()
        records = _records(files)
        if not records:
            raise SystemExit(f"search: no usable records in {', '.join(map(str, files))}")
        print(
            f"importing {wanted} listings from {len(records)} records in {len(files)} file(s)",
            file=sys.stderr,
            flush=True,
        )
        started = time.perf_counter()
        created = position = 0
        while created < wanted:
            count = min(wanted - created, 5000)
            tally = await importer.import_rows(actor, _rows(records, position, count), options)
            position += count
            if tally.created == 0:
                raise SystemExit(f"search: the importer created nothing: {tally.report[:3]}")
            created += tally.created
            print(f"  {created}/{wanted} imported", file=sys.stderr, flush=True)
        print(f"  import took {time.perf_counter() - started:.1f} s", file=sys.stderr)

        conn = await asyncpg.connect(database_url, timeout=5)
        try:
            await conn.execute("SELECT setseed(0.42)")
            await conn.execute(PUBLISH_ALL)
            published = await conn.fetchval(
                "SELECT count(*) FROM listing WHERE state = $1", "published"
            )
        finally:
            await conn.close()

        started = time.perf_counter()
        result = await search.reindex(settings=settings)
        print(
            f"reindexed {result['indexed']} listings in {time.perf_counter() - started:.1f} s",
            file=sys.stderr,
            flush=True,
        )
    finally:
        await close_db()
    return World(owner.email, admin.email, int(published))


# --------------------------------------------------------------------------------------------
# Memory


def _tree(pid: int) -> list[int]:
    """`pid` and all its descendants (via /proc/<pid>/task/*/children)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{current}/task"):
                with contextlib.suppress(OSError):
                    text = Path(f"/proc/{current}/task/{task}/children").read_text()
                    todo.extend(int(child) for child in text.split())
    return found


def _status_kib(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


class MemorySampler(threading.Thread):
    """Peak of the summed VmRSS of each process tree, sampled every MEMORY_EVERY seconds."""

    def __init__(self, roots: dict[str, int]) -> None:
        super().__init__(daemon=True)
        self.roots = roots
        self.peak_kib = dict.fromkeys(roots, 0)
        self.hwm_kib = dict.fromkeys(roots, 0)
        self._stop_event = threading.Event()

    def sample(self) -> None:
        for name, pid in self.roots.items():
            tree = _tree(pid)
            rss = sum(_status_kib(p, "VmRSS") for p in tree)
            self.peak_kib[name] = max(self.peak_kib[name], rss)
            # The kernel's own high-water mark catches spikes between two samples.
            hwm = sum(_status_kib(p, "VmHWM") for p in tree)
            self.hwm_kib[name] = max(self.hwm_kib[name], hwm)

    def run(self) -> None:
        while not self._stop_event.wait(MEMORY_EVERY):
            self.sample()

    def stop(self) -> None:
        self._stop_event.set()
        self.join(2)
        self.sample()


# --------------------------------------------------------------------------------------------
# Load


@dataclass(frozen=True)
class Query:
    group: str
    label: str
    api_path: str
    meili_body: bytes


def build_mix() -> list[Query]:
    """Each query string parsed as our API parses it, and the body our API would send."""
    from listings.search import meili_request
    from listings.search_params import parse_search

    mix = []
    for group, items in QUERY_MIX:
        query = parse_search(items)  # raises on a query the API would refuse
        body = json.dumps(meili_request(query), ensure_ascii=False).encode()
        label = "&".join(f"{k}={v}" for k, v in items)
        mix.append(Query(group, label, "/api/v1/search?" + urlencode(items), body))
    return mix


@dataclass
class Sample:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    degraded: int = 0
    first_error: str = ""

    @property
    def requests(self) -> int:
        return len(self.latencies) + self.errors + self.degraded

    def pct_ms(self, pct: int) -> float:
        if len(self.latencies) < 2:
            return float("nan")
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[pct - 1] * 1000

    def merge(self, other: Sample) -> None:
        self.latencies += other.latencies
        self.errors += other.errors
        self.degraded += other.degraded
        self.first_error = self.first_error or other.first_error


class Target:
    """One way to send a query: our API (GET) or Meilisearch itself (POST of the same body)."""

    def __init__(self, name: str, base_url: str, key: str | None = None) -> None:
        self.name = name
        self.base_url = base_url
        # Exactly the request our API makes: uncompressed (listings.search._search_client).
        self.headers = {"Content-Type": "application/json", "Accept-Encoding": "identity"}
        if key:
            self.headers["Authorization"] = f"Bearer {key}"

    async def send(self, client: httpx.AsyncClient, query: Query) -> tuple[bool, bool, str]:
        """(ok, degraded, error detail)"""
        if self.name == "api":
            response = await client.get(self.base_url + query.api_path)
        else:
            response = await client.post(
                f"{self.base_url}/indexes/{INDEX}/search",
                content=query.meili_body,
                headers=self.headers,
            )
        if response.status_code != 200:
            return False, False, f"HTTP {response.status_code}: {response.text[:300]}"
        if self.name == "api" and response.json().get("degraded"):
            return False, True, f"degraded answer for {query.label}"
        return True, False, ""


def _client(tls: ssl.SSLContext) -> httpx.AsyncClient:
    # One keep-alive connection per worker, no proxies from the environment (see http_pages).
    return httpx.AsyncClient(
        limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
        timeout=REQUEST_TIMEOUT,
        trust_env=False,
        verify=tls,
    )


async def run_round(target: Target, mix: list[Query], concurrency: int) -> Sample:
    """Each of `concurrency` workers sends the whole mix once, starting at its own offset, so
    the concurrency stays constant and every query is sent `concurrency` times."""
    sample = Sample()
    tls = ssl.create_default_context()
    async with contextlib.AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(_client(tls)) for _ in range(concurrency)]

        async def worker(number: int, client: httpx.AsyncClient) -> None:
            offset = number * len(mix) // concurrency
            for i in range(len(mix)):
                query = mix[(offset + i) % len(mix)]
                t0 = time.perf_counter()
                try:
                    ok, degraded, detail = await target.send(client, query)
                except httpx.HTTPError as exc:
                    ok, degraded, detail = False, False, f"{type(exc).__name__}: {exc}"
                elapsed = time.perf_counter() - t0
                if ok:
                    sample.latencies.append(elapsed)
                elif degraded:
                    sample.degraded += 1
                else:
                    sample.errors += 1
                if detail and not sample.first_error:
                    sample.first_error = detail

        await asyncio.gather(*(worker(n, c) for n, c in enumerate(clients)))
    return sample


async def probe_hits(api: Target, mix: list[Query]) -> dict[str, int]:
    """totalHits per query, so a mix that finds nothing is visible."""
    totals = {}
    async with _client(ssl.create_default_context()) as client:
        for query in mix:
            response = await client.get(api.base_url + query.api_path)
            totals[query.label] = (
                int(response.json().get("total", 0)) if response.status_code == 200 else -1
            )
    return totals


async def measure(
    targets: list[Target], mix: list[Query], concurrency: int, rounds: int
) -> dict[str, Sample]:
    results = {t.name: Sample() for t in targets}
    for target in targets:  # one unmeasured round each: connections, caches, JIT-free warm-up
        await run_round(target, mix, concurrency)
    for round_no in range(1, rounds + 1):
        # Alternate who goes first, so a drift over time does not favour one side.
        order = targets if round_no % 2 else list(reversed(targets))
        for target in order:
            sample = await run_round(target, mix, concurrency)
            results[target.name].merge(sample)
            print(
                f"round {round_no}/{rounds}  {target.name:<11} p95 {sample.pct_ms(95):7.2f} ms"
                f"  {sample.errors + sample.degraded} errors",
                file=sys.stderr,
                flush=True,
            )
    return results


# --------------------------------------------------------------------------------------------
# Freshness


def _unique_word() -> str:
    # Letters only, so the tokenizer keeps it one word; random, so no other listing has it.
    return "zq" + "".join(secrets.choice(string.ascii_lowercase) for _ in range(12))


# The first few single-document writes after a bulk build of the index take Meilisearch
# seconds each (measured: the 1st-6th write after loading 10,000 documents, then steady), as
# the first queries after start-up do; they are published but not counted, like the latency
# warm-up round.
FRESH_WARMUP = 6


async def freshness(
    world: World, count: int, meili: Target
) -> tuple[list[float], int, dict[str, list[float]]]:
    """Seconds from `approve_listing` (publish) until Meilisearch returns the listing, for
    `count` listings published one by one (after FRESH_WARMUP unmeasured ones); and how many
    never showed up; and, per listing, how the time splits between us (publish until
    Meilisearch has the task) and Meilisearch (task enqueued until indexed)."""
    from listings import service as listings
    from listings.schemas import ListingIn
    from market import outbox
    from market.accounts import service
    from market.accounts.models import User
    from market.config import get_settings
    from market.db import close_db, init_db

    settings = get_settings()
    await init_db(settings)
    # As the web app does: events are relayed to the worker's queue right after commit.
    outbox.configure(settings.redis_url, settings.queue_name)
    seconds: list[float] = []
    missed = 0
    parts: dict[str, list[float]] = {"ours": [], "meilisearch": []}
    try:
        owner = await service.actor_for(await User.get(email=world.owner_email), ip="bench")
        admin = await service.actor_for(await User.get(email=world.admin_email), ip="bench")
        drafts = []
        for i in range(FRESH_WARMUP + count):
            word = _unique_word()
            data = ListingIn.model_validate(
                {
                    "title": f"Freshness probe {word} ceramic membrane module {i}",
                    "summary": "A ceramic membrane module for filtering hot process water.",
                    "kind": "know_how",
                    "trl": 5,
                    "keywords": ["membrane"],
                    "license_types": ["non_exclusive"],
                    "territories": ["WORLD"],
                    "price_model": "negotiable",
                    "language": "en",
                }
            )
            listing = await listings.create_listing(owner, data)
            await listings.submit_listing(owner, str(listing.id))
            drafts.append((str(listing.id), word))
        async with _client(ssl.create_default_context()) as client:
            url = f"{meili.base_url}/indexes/{INDEX}/search"
            for position, (listing_id, word) in enumerate(drafts):
                measured = position >= FRESH_WARMUP
                body = json.dumps({"q": word, "attributesToRetrieve": ["id"], "limit": 5})
                t0, wall0 = time.perf_counter(), time.time()
                await listings.approve_listing(admin, listing_id)
                while True:
                    response = await client.post(url, content=body, headers=meili.headers)
                    elapsed = time.perf_counter() - t0
                    hits = response.json().get("hits", []) if response.status_code == 200 else []
                    if any(hit.get("id") == listing_id for hit in hits):
                        if measured:
                            seconds.append(elapsed)
                            task = await _last_document_task(client, meili)
                            if task:
                                parts["ours"].append(task[0] - wall0)
                                parts["meilisearch"].append(task[1] - task[0])
                        break
                    if elapsed > FRESH_TIMEOUT:
                        missed += 1
                        break
                    await asyncio.sleep(FRESH_POLL)
    finally:
        await outbox.shutdown()
        await close_db()
    return seconds, missed, parts


def _epoch(stamp: str) -> float:
    from datetime import datetime

    # Meilisearch writes nanoseconds; fromisoformat takes at most microseconds.
    head, _, frac = stamp.rstrip("Z").partition(".")
    return datetime.fromisoformat(f"{head}.{(frac + '000000')[:6]}+00:00").timestamp()


async def _last_document_task(
    client: httpx.AsyncClient, meili: Target
) -> tuple[float, float] | None:
    """(enqueued, finished) of the newest document task, as epoch seconds."""
    response = await client.get(
        f"{meili.base_url}/tasks",
        params={"types": "documentAdditionOrUpdate", "limit": 1},
        headers=meili.headers,
    )
    results = response.json().get("results") if response.status_code == 200 else None
    if not results or not results[0].get("finishedAt"):
        return None
    return _epoch(results[0]["enqueuedAt"]), _epoch(results[0]["finishedAt"])


# --------------------------------------------------------------------------------------------
# Report


def _pct(values: list[float], pct: int) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[pct - 1]


def _mib(kib: int) -> str:
    return f"{kib / 1024:.0f} MiB"


def _verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def report(
    args: argparse.Namespace,
    world: World,
    mix: list[Query],
    results: dict[str, Sample],
    fresh: list[float],
    missed: int,
    parts: dict[str, list[float]],
    memory: MemorySampler,
    pinned: bool,
    disk: dict[str, int],
) -> list[str]:
    api, direct = results["api"], results["meilisearch"]
    lines = [
        "",
        f"{world.listings} published listings; {len(mix)} queries x {args.concurrency} workers"
        f" x {args.rounds} rounds per target (after 1 warm-up round), interleaved;"
        f" {'servers pinned to 1 core, client to the rest' if pinned else 'no CPU pinning'}",
        "",
        f"{'search latency':<28} {'requests':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}"
        f" {'errors':>7}",
    ]
    for label, sample in (
        ("our API /api/v1/search", api),
        ("Meilisearch direct", direct),
    ):
        lines.append(
            f"{label:<28} {sample.requests:>8} {sample.pct_ms(50):>8.2f}"
            f" {sample.pct_ms(95):>8.2f} {sample.pct_ms(99):>8.2f}"
            f" {sample.errors + sample.degraded:>7}"
        )
    ratios = {p: api.pct_ms(p) / direct.pct_ms(p) for p in (50, 95, 99)}
    lines.append(
        f"{'ratio API / Meilisearch':<28} {'':>8} {ratios[50]:>7.2f}x {ratios[95]:>7.2f}x"
        f" {ratios[99]:>7.2f}x"
    )
    lines += [
        "",
        f"freshness (publish -> searchable), {len(fresh)} of {args.fresh} listings"
        f" (after {FRESH_WARMUP} unmeasured):"
        f" p50 {_pct(fresh, 50):.3f} s  p95 {_pct(fresh, 95):.3f} s"
        f"  max {max(fresh, default=float('nan')):.3f} s"
        + (f"  ({missed} not searchable after {FRESH_TIMEOUT:.0f} s)" if missed else ""),
        f"  of which publish -> task in Meilisearch: p50 {_pct(parts['ours'], 50):.3f} s"
        f"  p95 {_pct(parts['ours'], 95):.3f} s;"
        f" Meilisearch task enqueued -> indexed: p50 {_pct(parts['meilisearch'], 50):.3f} s"
        f"  p95 {_pct(parts['meilisearch'], 95):.3f} s",
        "",
        "peak memory (resident, process and its children):",
    ]
    for name in memory.roots:
        lines.append(
            f"  {name:<12} sampled peak {_mib(memory.peak_kib[name]):>8}"
            f"   VmHWM {_mib(memory.hwm_kib[name]):>8}"
        )
    lines.append(
        "on disk: Meilisearch database"
        f" {_mib(disk.get('meilisearch', 0) // 1024)}"
        f" (in use {_mib(disk.get('meilisearch_used', 0) // 1024)}),"
        f" PostgreSQL database {_mib(disk.get('postgres', 0) // 1024)}"
    )
    lines.append("")
    if world.listings >= 10_000:
        ok = ratios[95] <= GOAL_P95_RATIO
        lines.append(
            f"goal: API p95 <= {GOAL_P95_RATIO}x Meilisearch p95: {_verdict(ok)}"
            f" ({ratios[95]:.2f}x)"
        )
    fresh_p95 = _pct(fresh, 95)
    ok = bool(fresh) and not missed and fresh_p95 < GOAL_FRESH_P95
    lines.append(f"goal: freshness p95 < {GOAL_FRESH_P95} s: {_verdict(ok)} ({fresh_p95:.3f} s)")
    return lines


# --------------------------------------------------------------------------------------------
# Main


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listings", type=int, default=10_000, help="published listings")
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight")
    parser.add_argument("--rounds", type=int, default=5, help="measured rounds per target")
    parser.add_argument("--fresh", type=int, default=30, help="listings timed for freshness")
    parser.add_argument("--pg", default=PG_ADMIN_URL, help="PostgreSQL admin URL")
    args = parser.parse_args(argv)
    if min(args.listings, args.concurrency, args.rounds, args.fresh) < 1:
        parser.error("--listings, --concurrency, --rounds and --fresh must be positive")
    return args


def _run(coro: Any) -> Any:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)


def _worker_ready(redis_url: str, queue_name: str) -> Callable[[Running], bool]:
    """The arq worker writes `<queue>:health-check` once it polls its queue."""

    def ready(_running: Running) -> bool:
        client = redis_lib.Redis.from_url(redis_url, socket_timeout=1)
        try:
            return bool(client.exists(f"{queue_name}:health-check"))
        except (redis_lib.RedisError, OSError):
            return False
        finally:
            client.close()

    return ready


async def disk_sizes(meili: Target, database_url: str) -> dict[str, int]:
    """Bytes on disk: Meilisearch's database (all of it, and the part in use) and ours."""
    import asyncpg

    sizes: dict[str, int] = {}
    async with httpx.AsyncClient(trust_env=False, headers=meili.headers, timeout=10) as client:
        response = await client.get(f"{meili.base_url}/stats")
        if response.status_code == 200:
            stats = response.json()
            sizes["meilisearch"] = int(stats.get("databaseSize") or 0)
            sizes["meilisearch_used"] = int(stats.get("usedDatabaseSize") or 0)
    conn = await asyncpg.connect(database_url, timeout=5)
    try:
        sizes["postgres"] = int(await conn.fetchval("SELECT pg_database_size(current_database())"))
    finally:
        await conn.close()
    return sizes


async def _meili_idle(meili: Target, limit_s: float = 120) -> None:
    """Wait until Meilisearch has no enqueued or processing task (e.g. the app's settings)."""
    deadline = time.monotonic() + limit_s
    async with httpx.AsyncClient(trust_env=False, headers=meili.headers, timeout=5) as client:
        while time.monotonic() < deadline:
            response = await client.get(
                f"{meili.base_url}/tasks", params={"statuses": "enqueued,processing", "limit": 1}
            )
            if response.status_code == 200 and not response.json().get("results"):
                return
            await asyncio.sleep(0.1)
    raise RuntimeError(f"Meilisearch still had tasks to run after {limit_s:.0f} s")


def start_web_and_worker(
    stack: contextlib.ExitStack, services: MarketServices, work: Path
) -> tuple[Running, Running]:
    """`market serve` (one process) and `market worker` on the benchmark's services, stopped
    with `stack`; ServiceError when either does not start."""
    web = stack.enter_context(
        _start_http(
            "market",
            lambda port: [
                *services.market,
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                "1",
            ],
            services.env,
            work,
        )
    )
    worker = stack.enter_context(
        start_command(
            "worker",
            [*services.market, "worker"],
            log_path=work / "worker.log",
            env=services.env,
            ready=_worker_ready(services.redis.url, services.queue_name),
        )
    )
    return web, worker


def benchmark(args: argparse.Namespace, work: Path, database_url: str) -> int:
    with contextlib.ExitStack() as stack:
        try:
            services = start_market_services(stack, "search", work, database_url, INDEX)
        except ServiceError as exc:
            print(f"search: {exc}", file=sys.stderr)
            return 2
        meili, redis = services.meili, services.redis
        meili_key = services.meili_key
        world = _run(setup(args.listings, database_url))
        mix = build_mix()
        api_target_url = ""
        try:
            web, worker = start_web_and_worker(stack, services, work)
        except ServiceError as exc:
            print(f"search: a server did not start: {exc}", file=sys.stderr)
            return 2
        api_target_url = web.url
        memory = MemorySampler({"web": web.pid, "worker": worker.pid, "meilisearch": meili.pid})
        memory.start()
        stack.callback(memory.stop)

        cpus = sorted(os.sched_getaffinity(0))
        pinned = len(cpus) >= 2
        if pinned:
            # Servers (ours and Meilisearch alike) on one core, the load generator on the rest.
            for running in (web, worker, meili, redis):
                _pin(running.pid, {cpus[0]})
            os.sched_setaffinity(0, set(cpus[1:]))

        api = Target("api", api_target_url)
        direct = Target("meilisearch", meili.url, meili_key)
        _run(_meili_idle(direct))
        hits = _run(probe_hits(api, mix))
        empty = [label for label, total in hits.items() if total == 0]
        failed = [label for label, total in hits.items() if total < 0]
        print(
            f"query mix: {len(mix)} queries, {sum(max(t, 0) for t in hits.values())} hits in all;"
            f" no hits for: {', '.join(empty) or 'none'}",
            file=sys.stderr,
        )
        if failed:
            print(f"search: the API refused: {', '.join(failed)}", file=sys.stderr)
            return 1

        results = _run(measure([api, direct], mix, args.concurrency, args.rounds))
        fresh, missed, parts = _run(freshness(world, args.fresh, direct))

        for running in (web, worker, meili, redis):
            if not running.alive():
                print(
                    f"search: {running.name} died during the run; log {running.log_path}:\n"
                    f"{running.log_tail()}",
                    file=sys.stderr,
                )
                return 2
        memory.stop()
        disk: dict[str, int] = {}
        with contextlib.suppress(Exception):  # a figure missing must not lose the others
            disk = _run(disk_sizes(direct, database_url))
        print(
            "\n".join(report(args, world, mix, results, fresh, missed, parts, memory, pinned, disk))
        )

    code = 0
    for name, sample in results.items():
        bad = sample.errors + sample.degraded
        if sample.first_error:
            print(f"{name}: first error: {sample.first_error}")
        if not sample.requests or bad / sample.requests > MAX_ERROR_RATE:
            print(f"{name}: {bad} failed or degraded in {sample.requests} requests (limit 1%)")
            code = 1
    if missed:
        code = 1
    return code


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    return run_on_a_database(
        "search",
        args.pg,
        lambda work, database_url: benchmark(args, work, database_url),
    )


if __name__ == "__main__":
    sys.exit(main())
