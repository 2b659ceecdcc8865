"""Publish -> searchable while listings are approved in a burst through the API.

    .venv/bin/python bench/index_burst.py [--listings 10000] [--rate 20] [--seconds 60]
                                          [--pg postgres://postgres@127.0.0.1:5432/postgres]

Set-up as in bench/search.py (a temporary database, a private Meilisearch and Redis, N imported
and published listings, a reindex), then `rate x seconds` drafts are created and submitted
(none of it measured), each with a title holding a word shared by the burst and one of its own.
`market serve` (one uvicorn worker) and `market worker` run as children, pinned to one core
with Meilisearch and Redis, the client on the rest (with two cores or more).

The burst: an administrator's API token approves the drafts through
`POST /api/v1/admin/listings/{id}/approve`, one every 1/rate seconds on a fixed schedule (each
request its own task, so a slow answer does not hold the next one back). Meanwhile one search
for the shared word (`limit` above the burst's size, ids only) is sent straight to
Meilisearch every POLL seconds, and the first time a listing appears in it is its searchable
time. Publish -> searchable runs from the moment its approve request is sent to that poll.

It prints the approvals' API latency, publish -> searchable p50 / p95 / max, how long after
the last approval the index had caught up, and how many document tasks Meilisearch was given
for the burst (one per listing before issue 16's batching).

Exit status: 0 ok (whether or not the goal is met), 1 an approval failed or a listing was
not searchable within CATCH_UP_LIMIT after the last approval, 2 a service did not start.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import ssl
import string
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import redis as redis_lib  # noqa: E402

from bench.http_pages import (  # noqa: E402  (also applies its sniffio work-around)
    _pin,
    start_market_services,
)
from bench.search import (  # noqa: E402
    INDEX,
    MemorySampler,
    Target,
    World,
    _client,
    _epoch,
    _meili_idle,
    _mib,
    _pct,
    _run,
    setup,
    start_web_and_worker,
)
from bench.support import PG_ADMIN_URL, run_on_a_database  # noqa: E402
from market.app.processes import (  # noqa: E402
    ServiceError,
)

POLL = 0.05
CATCH_UP_LIMIT = 180.0
GOAL_P95 = 1.0
DOCUMENT_TASKS = "documentAdditionOrUpdate,documentDeletion"


def _word() -> str:
    return "zq" + "".join(secrets.choice(string.ascii_lowercase) for _ in range(12))


async def prepare(world: World, count: int, shared: str) -> tuple[str, list[str]]:
    """An administrator's API token and `count` submitted drafts whose titles hold `shared`."""
    from listings import service as listings
    from listings.schemas import ListingIn
    from market import outbox
    from market.accounts import service
    from market.accounts.models import User
    from market.accounts.schemas import TokenIn
    from market.config import get_settings
    from market.db import close_db, init_db

    settings = get_settings()
    await init_db(settings)
    # As the web app does: the drafts' events go to the worker's queue right after commit, so
    # the worker works them off before the burst (the sweep would trickle them in during it).
    outbox.configure(settings.redis_url, settings.queue_name)
    try:
        owner = await service.actor_for(await User.get(email=world.owner_email), ip="bench")
        admin = await service.actor_for(await User.get(email=world.admin_email), ip="bench")
        _, token = await service.create_api_token(admin, TokenIn(name="burst"))
        drafts = []
        for i in range(count):
            data = ListingIn.model_validate(
                {
                    "title": f"Burst {shared} {_word()} sintered membrane filter {i}",
                    "summary": "A sintered metal membrane filter for hot process gas.",
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
            drafts.append(str(listing.id))
    finally:
        await outbox.shutdown()
        await close_db()
    return token, drafts


@dataclass
class Burst:
    sent: dict[str, float] = field(default_factory=dict)  # id -> approve request sent
    answered: dict[str, float] = field(default_factory=dict)  # id -> API latency
    found: dict[str, float] = field(default_factory=dict)  # id -> first seen in a search
    failed: list[str] = field(default_factory=list)
    last_sent: float = 0.0
    caught_up: float | None = None  # seconds after the last approval until all were found
    first_task: int = 0
    document_tasks: int = 0
    documents: int = 0
    deleted_ids: int = 0
    task_waits: list[float] = field(default_factory=list)  # enqueued -> started, seconds
    task_runs: list[float] = field(default_factory=list)  # started -> finished, seconds


async def _latest_task_uid(client: httpx.AsyncClient, meili: Target) -> int:
    response = await client.get(
        f"{meili.base_url}/tasks", params={"limit": 1}, headers=meili.headers
    )
    results = response.json().get("results") or []
    return int(results[0]["uid"]) if results else -1


async def _document_tasks(
    client: httpx.AsyncClient, meili: Target, after_uid: int, result: Burst
) -> tuple[int, int]:
    """(tasks, documents) of document additions and deletions with a uid above `after_uid`;
    their waiting and running times go to `result`."""
    tasks = documents = 0
    start: int | None = None
    while True:
        params: dict[str, str | int] = {"types": DOCUMENT_TASKS, "limit": 1000}
        if start is not None:
            params["from"] = start
        body = (
            await client.get(f"{meili.base_url}/tasks", params=params, headers=meili.headers)
        ).json()
        for task in body.get("results") or []:
            if task["uid"] <= after_uid:
                return tasks, documents
            tasks += 1
            if task.get("startedAt") and task.get("finishedAt"):
                started = _epoch(task["startedAt"])
                result.task_waits.append(started - _epoch(task["enqueuedAt"]))
                result.task_runs.append(_epoch(task["finishedAt"]) - started)
            details = task.get("details") or {}
            documents += int(details.get("receivedDocuments") or details.get("providedIds") or 0)
            result.deleted_ids += int(details.get("providedIds") or 0)
        start = body.get("next")
        if start is None:
            return tasks, documents


async def burst(
    api_url: str, token: str, drafts: list[str], rate: float, meili: Target, shared: str
) -> Burst:
    result = Burst()
    tls = ssl.create_default_context()
    wanted = set(drafts)
    search_body = json.dumps(
        {"q": shared, "attributesToRetrieve": ["id"], "limit": len(drafts) + 10}
    )
    stop = asyncio.Event()

    async def poll(client: httpx.AsyncClient) -> None:
        url = f"{meili.base_url}/indexes/{INDEX}/search"
        while not stop.is_set():
            response = await client.post(url, content=search_body, headers=meili.headers)
            now = time.perf_counter()
            if response.status_code == 200:
                for hit in response.json().get("hits", []):
                    listing_id = hit.get("id")
                    if listing_id in wanted and listing_id not in result.found:
                        result.found[listing_id] = now
            if wanted <= result.found.keys() and len(result.sent) == len(drafts):
                return
            await asyncio.sleep(POLL)

    # Enough connections that the schedule never waits for a free one.
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        httpx.AsyncClient(
            limits=limits, timeout=30, trust_env=False, verify=tls, headers=headers
        ) as api,
        _client(tls) as searcher,
    ):
        result.first_task = await _latest_task_uid(searcher, meili)
        poller = asyncio.create_task(poll(searcher))

        async def approve(listing_id: str) -> None:
            t0 = time.perf_counter()
            result.sent[listing_id] = t0
            try:
                response = await api.post(f"{api_url}/api/v1/admin/listings/{listing_id}/approve")
                ok = response.status_code == 200
                detail = f"HTTP {response.status_code}: {response.text[:200]}"
            except httpx.HTTPError as exc:
                ok, detail = False, f"{type(exc).__name__}: {exc}"
            result.answered[listing_id] = time.perf_counter() - t0
            if not ok:
                result.failed.append(f"{listing_id}: {detail}")
                wanted.discard(listing_id)  # never published: not waited for

        started = time.perf_counter()
        requests = []
        for i, listing_id in enumerate(drafts):
            delay = started + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            requests.append(asyncio.create_task(approve(listing_id)))
        result.last_sent = time.perf_counter()
        await asyncio.gather(*requests)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(poller), CATCH_UP_LIMIT)
        stop.set()
        await poller
        if wanted <= result.found.keys():
            result.caught_up = max(result.found[i] for i in wanted) - result.last_sent
        with contextlib.suppress(RuntimeError):  # counted all the same, then
            await _meili_idle(meili)
        result.document_tasks, result.documents = await _document_tasks(
            searcher, meili, result.first_task, result
        )
    return result


def _wait_for_empty_queue(redis_url: str, queue_name: str, limit_s: float = 300) -> None:
    client = redis_lib.Redis.from_url(redis_url, socket_timeout=5)
    try:
        deadline = time.monotonic() + limit_s
        # Outbox jobs only: arq keeps an in-progress key per cron run as a lock.
        while client.zcard(queue_name) or client.keys("arq:in-progress:outbox:*"):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the worker's queue was not empty after {limit_s:.0f} s")
            time.sleep(0.2)
    finally:
        client.close()


def report(
    args: argparse.Namespace, world: World, result: Burst, memory: MemorySampler, pinned: bool
) -> list[str]:
    delays = [result.found[i] - result.sent[i] for i in result.found if i in result.sent]
    api = [s * 1000 for s in result.answered.values()]
    count = len(result.sent)
    lines = [
        "",
        f"{world.listings} published listings before the burst; {count} approved through the"
        f" API at {args.rate:g}/s for {args.seconds} s;"
        f" {'servers pinned to 1 core, client to the rest' if pinned else 'no CPU pinning'}",
        f"approve API latency: p50 {_pct(api, 50):.0f} ms  p95 {_pct(api, 95):.0f} ms"
        f"  max {max(api, default=float('nan')):.0f} ms  ({len(result.failed)} failed)",
        f"publish -> searchable, {len(delays)} of {count} listings:"
        f" p50 {_pct(delays, 50):.3f} s  p95 {_pct(delays, 95):.3f} s"
        f"  max {max(delays, default=float('nan')):.3f} s",
        "index caught up "
        + (
            f"{result.caught_up:.2f} s after the last approval"
            if result.caught_up is not None
            else f"NOT within {CATCH_UP_LIMIT:.0f} s of the last approval"
        ),
        f"Meilisearch document tasks for the burst: {result.document_tasks}"
        f" ({result.documents} documents or ids, {result.deleted_ids} of them deletions;"
        f" {count} listings published);"
        f" each waited p50 {_pct(result.task_waits, 50):.3f} s  p95"
        f" {_pct(result.task_waits, 95):.3f} s and ran p50 {_pct(result.task_runs, 50):.3f} s"
        f"  p95 {_pct(result.task_runs, 95):.3f} s in Meilisearch",
        "peak memory (resident, process and its children): "
        + ", ".join(f"{name} {_mib(memory.hwm_kib[name])}" for name in memory.roots),
        "",
    ]
    p95 = _pct(delays, 95)
    ok = len(delays) == count and p95 < GOAL_P95
    lines.append(
        f"goal: publish -> searchable p95 < {GOAL_P95:g} s during the burst:"
        f" {'met' if ok else 'NOT met'} ({p95:.3f} s)"
    )
    return lines


def benchmark(args: argparse.Namespace, work: Path, database_url: str) -> int:
    with contextlib.ExitStack() as stack:
        try:
            services = start_market_services(stack, "index_burst", work, database_url, INDEX)
        except ServiceError as exc:
            print(f"index_burst: {exc}", file=sys.stderr)
            return 2
        meili, redis = services.meili, services.redis
        meili_key = services.meili_key
        world = _run(setup(args.listings, database_url))
        shared = _word()
        count = int(args.rate * args.seconds)
        print(f"creating and submitting {count} drafts", file=sys.stderr, flush=True)
        token, drafts = _run(prepare(world, count, shared))
        try:
            web, worker = start_web_and_worker(stack, services, work)
        except ServiceError as exc:
            print(f"index_burst: a server did not start: {exc}", file=sys.stderr)
            return 2
        memory = MemorySampler({"web": web.pid, "worker": worker.pid, "meilisearch": meili.pid})
        memory.start()
        stack.callback(memory.stop)
        cpus = sorted(os.sched_getaffinity(0))
        pinned = len(cpus) >= 2
        if pinned:
            for running in (web, worker, meili, redis):
                _pin(running.pid, {cpus[0]})
            os.sched_setaffinity(0, set(cpus[1:]))
        direct = Target("meilisearch", meili.url, meili_key)
        # Submitting the drafts queued one event each (listing.changed): the worker works them
        # off before the burst, so the burst is measured alone.
        _wait_for_empty_queue(redis.url, services.queue_name)
        _run(_meili_idle(direct, limit_s=300))
        print(f"approving {count} listings at {args.rate:g}/s", file=sys.stderr, flush=True)
        result = _run(burst(web.url, token, drafts, args.rate, direct, shared))
        for running in (web, worker, meili, redis):
            if not running.alive():
                print(
                    f"index_burst: {running.name} died; log {running.log_path}:\n"
                    f"{running.log_tail()}",
                    file=sys.stderr,
                )
                return 2
        memory.stop()
        print("\n".join(report(args, world, result, memory, pinned)))
    for failure in result.failed[:3]:
        print(f"failed approval: {failure}")
    return 1 if result.failed or result.caught_up is None else 0


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listings", type=int, default=10_000, help="published beforehand")
    parser.add_argument("--rate", type=float, default=20.0, help="approvals per second")
    parser.add_argument("--seconds", type=int, default=60, help="length of the burst")
    parser.add_argument("--pg", default=PG_ADMIN_URL, help="PostgreSQL admin URL")
    args = parser.parse_args(argv)
    if min(args.listings, args.rate, args.seconds) <= 0:
        parser.error("--listings, --rate and --seconds must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    return run_on_a_database(
        "index_burst",
        args.pg,
        lambda work, database_url: benchmark(args, work, database_url),
    )


if __name__ == "__main__":
    sys.exit(main())
