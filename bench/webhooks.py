"""Our Stripe webhook endpoint against a bare Starlette handler that only checks the signature.

    .venv/bin/python bench/webhooks.py [--events 2000] [--concurrency 16] [--rounds 4]
                                       [--warmup 200] [--dup-every 10]
                                       [--pg postgres://postgres@127.0.0.1:5432/postgres]
                                       [--redis redis://127.0.0.1:6379/0]

Creates a temporary PostgreSQL database (dropped afterwards), applies the migrations
(`market migrate`) and starts two servers on free 127.0.0.1 ports, each a single uvicorn worker
with the options `market serve` uses:

- `market serve` on that database, with a random `whsec_` STRIPE_WEBHOOK_SECRET, the given
  Redis and a queue name of its own for this run (QUEUE_NAME), so the arq jobs the endpoint
  enqueues sit in a queue no worker reads; the queue and its job keys are deleted at the end;
- `uvicorn --factory bench.webhooks:bare_app`: plain Starlette whose one handler runs
  `stripe.Webhook.construct_event` over the raw body with the same secret and tolerance and
  answers 200 (400 for a bad signature). This is the raw component of our endpoint.

It then POSTs signed `payment_intent.succeeded` events to `/webhooks/stripe` of each, signed
as Stripe signs them (`Stripe-Signature: t=<unix ts>,v1=<hex HMAC-SHA256(secret, "<t>." +
body)>`), from `--concurrency` workers with httpx, each on its own keep-alive connection.
`--events` distinct events go to each target; every `--dup-every`-th request instead repeats
an event the target already acknowledged (a redelivery: same body, fresh signature), which
our endpoint must answer with 200 and `"duplicate": true`. The events are split over
`--rounds` interleaved rounds (which target goes first alternates) after one unmeasured warm-up
round of `--warmup` events per target; p50 / p95 / p99 are over all measured requests and
requests/s is measured requests over the summed round times. Afterwards the stripe_event table
must hold exactly the distinct events sent to our endpoint, and our queue one job per event.

Exit status: 0 ok, 1 more than 1% errors (a non-200 answer, or a wrong `duplicate` flag) or a
table / queue that does not match, 2 a service did not start or died.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import hmac
import json
import os
import platform
import random
import secrets
import shutil
import ssl
import statistics
import sys
import tempfile
import time
import timeit
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import redis as redis_lib  # noqa: E402
import stripe  # noqa: E402
from starlette.applications import Starlette  # noqa: E402
from starlette.requests import Request  # noqa: E402
from starlette.responses import JSONResponse, PlainTextResponse, Response  # noqa: E402
from starlette.routing import Route  # noqa: E402

from bench.http_pages import (  # noqa: E402  (also applies its sniffio work-around)
    _base_env,
    _cpu_seconds,
    _market_argv,
    _pin,
    _run_checked,
    _start_http,
)
from bench.support import PG_ADMIN_URL, create_database, drop_database  # noqa: E402
from market.app.processes import (  # noqa: E402
    HOST,
    ServiceError,
    free_port,
    install_stop_signals,  # noqa: E402
    redis_answers,
)

PATH = "/webhooks/stripe"
REDIS_URL = "redis://127.0.0.1:6379/0"
REQUEST_TIMEOUT = 10.0
MAX_ERROR_RATE = 0.01
SATURATED = 0.8
# Stripe's default, and our settings' (STRIPE_WEBHOOK_TOLERANCE).
TOLERANCE = 300
# The job id our endpoint gives arq (contracts/webhooks.py): `stripe-event:<event id>`. arq keeps
# job keys outside the queue's name (`arq:job:<job id>`), so they are cleaned up by job id.
JOB_PREFIX = "stripe-event:"
ARQ_JOB_KEY = "arq:job:"
ARQ_RESULT_KEY = "arq:result:"


# --------------------------------------------------------------------------------------------
# The raw component, served by uvicorn in its own process


def bare_app() -> Starlette:
    """Stripe's signature check over the raw body and a 200: all our endpoint must do at least.

    A uvicorn factory (`--factory bench.webhooks:bare_app`); reads STRIPE_WEBHOOK_SECRET.
    """
    secret = os.environ["STRIPE_WEBHOOK_SECRET"]

    async def webhook(request: Request) -> Response:
        payload = await request.body()
        try:
            stripe.Webhook.construct_event(
                payload, request.headers.get("stripe-signature", ""), secret, tolerance=TOLERANCE
            )
        except (stripe.SignatureVerificationError, ValueError):
            return JSONResponse({"error": "bad_webhook"}, 400)
        return JSONResponse({"received": True})

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok")

    return Starlette(routes=[Route(PATH, webhook, methods=["POST"]), Route("/healthz", healthz)])


# --------------------------------------------------------------------------------------------
# Events


@dataclass
class Event:
    event_id: str
    intent_id: str
    # Built on the first delivery (so `created` is that delivery's time); a redelivery sends
    # the same bytes with a fresh signature, as Stripe does.
    body: bytes = b""


def event_body(event: Event, created: int) -> bytes:
    return json.dumps(
        {
            "id": event.event_id,
            "object": "event",
            "type": "payment_intent.succeeded",
            "created": created,
            "data": {
                "object": {
                    "id": event.intent_id,
                    "object": "payment_intent",
                    "status": "succeeded",
                    "amount": 1000,
                    "currency": "usd",
                    "metadata": {},
                }
            },
        },
        separators=(",", ":"),
    ).encode()


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    """The Stripe-Signature header Stripe sends: HMAC-SHA256 of `<t>.<body>`, in hex."""
    mac = hmac.new(secret, b"%d." % timestamp + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


# --------------------------------------------------------------------------------------------
# Load


@dataclass
class Sample:
    new: list[float] = field(default_factory=list)
    repeats: list[float] = field(default_factory=list)
    errors: int = 0
    first_error: str = ""
    seconds: float = 0.0
    server_cpu: float = 0.0
    client_cpu: float = 0.0

    @property
    def latencies(self) -> list[float]:
        return self.new + self.repeats

    @property
    def requests(self) -> int:
        return len(self.new) + len(self.repeats) + self.errors

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else float("nan")

    @property
    def server_busy(self) -> float:
        return self.server_cpu / self.seconds if self.seconds else float("nan")

    @property
    def client_busy(self) -> float:
        return self.client_cpu / self.seconds if self.seconds else float("nan")

    @property
    def server_us_per_request(self) -> float:
        done = len(self.latencies)
        return self.server_cpu / done * 1e6 if done else float("nan")

    def merge(self, other: Sample) -> None:
        self.new += other.new
        self.repeats += other.repeats
        self.errors += other.errors
        self.first_error = self.first_error or other.first_error
        self.seconds += other.seconds
        self.server_cpu += other.server_cpu
        self.client_cpu += other.client_cpu


def pct_ms(values: list[float], pct: int) -> float:
    if len(values) < 2:
        return float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[pct - 1] * 1000


@dataclass
class Target:
    name: str
    label: str
    url: str
    pid: int
    # Our endpoint answers `"duplicate": true` to a repeat; the bare handler cannot know.
    checks_duplicates: bool
    tag: str = field(default_factory=lambda: secrets.token_hex(4))
    created: int = 0
    sent: list[str] = field(default_factory=list)
    acknowledged: list[Event] = field(default_factory=list)

    def next_event(self) -> Event:
        self.created += 1
        return Event(f"evt_{self.tag}{self.created:08d}", f"pi_{self.tag}{self.created:08d}")


def plan(new_events: int, dup_every: int) -> list[bool]:
    """One flag per request, True for a repeat: every `dup_every`-th request, `new_events`
    new events in all."""
    flags: list[bool] = []
    while len(flags) - sum(flags) < new_events:
        flags.append(dup_every > 0 and len(flags) % dup_every == dup_every - 1)
    return flags


def _client(tls: ssl.SSLContext) -> httpx.AsyncClient:
    # One keep-alive connection per worker, no proxies from the environment (see http_pages).
    return httpx.AsyncClient(
        limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
        timeout=REQUEST_TIMEOUT,
        trust_env=False,
        verify=tls,
    )


def _check(response: httpx.Response, repeat: bool, strict: bool) -> str:
    """'' for the answer we expect, else what was wrong with it."""
    if response.status_code != 200:
        return f"HTTP {response.status_code}: {response.text[:300]}"
    if not strict:
        return ""
    try:
        answer = response.json()
    except ValueError:
        return f"not JSON: {response.text[:300]}"
    if repeat and (not isinstance(answer, dict) or answer.get("duplicate") is not True):
        return f"a repeated event was not reported as a duplicate: {answer!r:.300}"
    if not repeat and answer != {"received": True}:
        return f"a new event got {answer!r:.300}"
    return ""


async def run_round(
    target: Target, secret: bytes, new_events: int, dup_every: int, concurrency: int, seed: int
) -> Sample:
    """Send `new_events` new events and the repeats between them to one target."""
    sample = Sample()
    rng = random.Random(seed)
    todo = deque(None if repeat else target.next_event() for repeat in plan(new_events, dup_every))
    acknowledged = asyncio.Event()
    if target.acknowledged:
        acknowledged.set()

    async def worker(client: httpx.AsyncClient) -> None:
        while todo:
            item = todo.popleft()
            repeat = item is None
            if item is None:
                # Only an event already answered is repeated, so the answer must say duplicate.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(acknowledged.wait(), REQUEST_TIMEOUT)
                if not target.acknowledged:
                    sample.errors += 1
                    sample.first_error = sample.first_error or "no acknowledged event to repeat"
                    continue
                event = rng.choice(target.acknowledged)
            else:
                event = item
                target.sent.append(event.event_id)
            now = int(time.time())
            if not event.body:
                event.body = event_body(event, now)
            headers = {
                "Content-Type": "application/json",
                "Stripe-Signature": sign(secret, now, event.body),
            }
            t0 = time.perf_counter()
            try:
                response = await client.post(target.url, content=event.body, headers=headers)
                detail = _check(response, repeat, target.checks_duplicates)
            except httpx.HTTPError as exc:
                detail = f"{type(exc).__name__}: {exc}"
            elapsed = time.perf_counter() - t0
            if detail:
                sample.errors += 1
                sample.first_error = sample.first_error or detail
            elif repeat:
                sample.repeats.append(elapsed)
            else:
                sample.new.append(elapsed)
                target.acknowledged.append(event)
                acknowledged.set()

    tls = ssl.create_default_context()
    async with contextlib.AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(_client(tls)) for _ in range(concurrency)]
        server0, client0 = _cpu_seconds(target.pid), time.process_time()
        t0 = time.perf_counter()
        await asyncio.gather(*(worker(client) for client in clients))
        sample.seconds = time.perf_counter() - t0
        sample.server_cpu = _cpu_seconds(target.pid) - server0
        sample.client_cpu = time.process_time() - client0
    return sample


async def measure(
    targets: list[Target], secret: bytes, args: argparse.Namespace
) -> dict[str, Sample]:
    results = {t.name: Sample() for t in targets}
    for target in targets:  # unmeasured: connections, pools, caches, the duplicate path
        if args.warmup:
            await run_round(target, secret, args.warmup, args.dup_every, args.concurrency, 0)
    for round_no in range(1, args.rounds + 1):
        share = args.events // args.rounds + (round_no <= args.events % args.rounds)
        # Alternate who goes first, so a drift over time does not favour one side.
        order = targets if round_no % 2 else list(reversed(targets))
        for target in order:
            sample = await run_round(
                target, secret, share, args.dup_every, args.concurrency, round_no
            )
            results[target.name].merge(sample)
            print(
                f"round {round_no}/{args.rounds}  {target.name:<6} {sample.rps:7.0f} rps"
                f"  p95 {pct_ms(sample.latencies, 95):7.2f} ms  {sample.errors} errors",
                file=sys.stderr,
                flush=True,
            )
    return results


async def probe(target: Target, secret: bytes) -> str:
    """One event with a wrong signature: both servers must refuse it (400) and store nothing."""
    event = Event(f"evt_{target.tag}probe", f"pi_{target.tag}probe")
    event.body = event_body(event, int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "Stripe-Signature": sign(secret + b"-wrong", int(time.time()), event.body),
    }
    async with _client(ssl.create_default_context()) as client:
        try:
            response = await client.post(target.url, content=event.body, headers=headers)
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}"
    return "" if response.status_code == 400 else f"HTTP {response.status_code}: {response.text}"


# --------------------------------------------------------------------------------------------
# Checks and the signature's own cost


async def stored_events(database_url: str) -> set[str]:
    import asyncpg

    conn = await asyncpg.connect(database_url, timeout=5)
    try:
        rows = await conn.fetch("SELECT event_id FROM stripe_event")
    finally:
        await conn.close()
    return {row["event_id"] for row in rows}


async def server_version(database_url: str) -> str:
    import asyncpg

    conn = await asyncpg.connect(database_url, timeout=5)
    try:
        return str(await conn.fetchval("SHOW server_version"))
    finally:
        await conn.close()


def signature_cost(secret: str) -> tuple[float, float, int]:
    """Microseconds per call, best of 5 runs: construct_event and its verify_header part;
    and the body's size."""
    event = Event("evt_timeit0000000000", "pi_timeit0000000000")
    now = int(time.time())
    body = event_body(event, now)
    header = sign(secret.encode(), now, body)
    costs = []
    for call in (
        lambda: stripe.Webhook.construct_event(body, header, secret, tolerance=TOLERANCE),
        lambda: stripe.WebhookSignature.verify_header(body, header, secret, TOLERANCE),
    ):
        timer = timeit.Timer(call)
        number, _ = timer.autorange()
        costs.append(min(timer.repeat(5, number)) / number * 1e6)
    return costs[0], costs[1], len(body)


def _queue_jobs(redis_url: str, queue: str) -> int:
    client = redis_lib.Redis.from_url(redis_url, socket_timeout=5)
    try:
        return int(client.zcard(queue))
    finally:
        client.close()


def _existing_job_keys(redis_url: str) -> int:
    """Job or result keys `stripe-event:<id>` already in this Redis, left by an earlier run
    that was killed before its cleanup (this run's event ids are new, so they do not clash)."""
    client = redis_lib.Redis.from_url(redis_url, socket_timeout=5)
    try:
        found = 0
        for prefix in (ARQ_JOB_KEY, ARQ_RESULT_KEY):
            found += sum(1 for _ in client.scan_iter(f"{prefix}{JOB_PREFIX}*", count=1000))
        return found
    finally:
        client.close()


def clear_queue(redis_url: str, queue: str) -> int:
    """Delete our queue, the job keys of the jobs in it and any key named after it."""
    removed = 0
    with contextlib.suppress(redis_lib.RedisError, OSError):
        client = redis_lib.Redis.from_url(redis_url, socket_timeout=5)
        try:
            # Only ids that are members of our queue: arq added each with its job key, and
            # refuses an id whose key exists, so these keys are ours and nobody else's.
            jobs = [m.decode() for m in client.zrange(queue, 0, -1)]
            for start in range(0, len(jobs), 500):
                chunk = jobs[start : start + 500]
                removed += client.delete(*(ARQ_JOB_KEY + job for job in chunk))
            named = [queue, *client.scan_iter(f"{queue}:*", count=1000)]
            removed += client.delete(*named)
        finally:
            client.close()
    return removed


def _redis_version(redis_url: str) -> str:
    client = redis_lib.Redis.from_url(redis_url, socket_timeout=5)
    try:
        return str(client.info("server").get("redis_version", "?"))
    finally:
        client.close()


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


# --------------------------------------------------------------------------------------------
# Report


def _ratio(a: float, b: float) -> str:
    return f"x{a / b:.2f}" if b else "x-"


def header(
    args: argparse.Namespace, versions: dict[str, str], cpus: list[int], repeats: int
) -> str:
    """`cpus`: the ones this process could use before it pinned anything."""
    pinned = len(cpus) >= 2
    pinning = "pinned to 1 core, the client to the rest" if pinned else "no CPU pinning"
    load = f"load: {args.events} distinct payment_intent.succeeded events per target"
    if args.dup_every:
        load += f" + {repeats} repeats (every {args.dup_every}th request)"
    return "\n".join(
        [
            f"machine: {os.cpu_count()} CPUs ({len(cpus)} usable), {_cpu_model()};"
            f" {platform.system()} {platform.release()}; Python {platform.python_version()};"
            f" PostgreSQL {versions['pg']}, Redis {versions['redis']}, stripe {stripe.VERSION};"
            f" load average {os.getloadavg()[0]:.2f} before the load",
            f"servers: one uvicorn worker each, {pinning}"
            " (PostgreSQL and Redis are shared and not pinned)",
            load,
            f"      concurrency {args.concurrency}, {args.rounds} interleaved rounds after"
            f" {args.warmup} unmeasured events per target",
        ]
    )


def report(results: dict[str, Sample], targets: list[Target]) -> list[str]:
    lines = [
        f"{'POST ' + PATH:<30} {'requests':>8} {'rps':>7} {'p50 ms':>7} {'p95 ms':>7}"
        f" {'p99 ms':>7} {'errors':>6} {'srv cpu':>7} {'srv us/req':>10} {'client cpu':>10}"
    ]

    def row(label: str, values: list[float], sample: Sample | None, errors: int) -> str:
        text = f"{label:<30} {len(values) + errors:>8}"
        text += f" {sample.rps:>7.0f}" if sample else f" {'':>7}"
        text += f" {pct_ms(values, 50):>7.2f} {pct_ms(values, 95):>7.2f} {pct_ms(values, 99):>7.2f}"
        if sample:
            text += (
                f" {errors:>6} {sample.server_busy:>7.0%} {sample.server_us_per_request:>10.0f}"
                f" {sample.client_busy:>10.0%}"
            )
        return text

    for target in targets:
        sample = results[target.name]
        lines.append(row(target.label, sample.latencies, sample, sample.errors))
        lines.append(row("  of which new events", sample.new, None, 0))
        lines.append(row("  of which repeats", sample.repeats, None, 0))
    ours, bare = results[targets[0].name], results[targets[1].name]
    lines.append(
        f"ratio ours/bare: rps {_ratio(ours.rps, bare.rps)}"
        f"  p50 {_ratio(pct_ms(ours.latencies, 50), pct_ms(bare.latencies, 50))}"
        f"  p95 {_ratio(pct_ms(ours.latencies, 95), pct_ms(bare.latencies, 95))}"
        f"  p99 {_ratio(pct_ms(ours.latencies, 99), pct_ms(bare.latencies, 99))}"
        f"  srv us/req {_ratio(ours.server_us_per_request, bare.server_us_per_request)}"
    )
    lines.append(
        "  (srv us/req is the web process only; the PostgreSQL and Redis work of our endpoint"
        " runs in their own processes)"
    )
    not_saturated = [t.name for t in targets if results[t.name].server_busy < SATURATED]
    if not_saturated:
        lines.append(
            f"note: server below {SATURATED:.0%} CPU for {', '.join(not_saturated)}: the client,"
            " the database or other load set the pace there; compare srv us/req rather than rps"
        )
    return lines


# --------------------------------------------------------------------------------------------
# Main


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=2000, help="distinct events per target")
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight")
    parser.add_argument("--rounds", type=int, default=4, help="interleaved rounds per target")
    parser.add_argument(
        "--warmup", type=int, default=200, help="unmeasured events per target first"
    )
    parser.add_argument(
        "--dup-every", type=int, default=10, help="every Nth request repeats an event (0: none)"
    )
    parser.add_argument("--pg", default=PG_ADMIN_URL, help="PostgreSQL admin URL")
    parser.add_argument("--redis", default=REDIS_URL, help="Redis URL (a queue of its own)")
    args = parser.parse_args(argv)
    if min(args.events, args.concurrency, args.rounds) < 1 or args.warmup < 0:
        parser.error("--events, --concurrency and --rounds must be positive, --warmup >= 0")
    if args.dup_every == 1 or args.dup_every < 0:
        parser.error("--dup-every must be 0 (no repeats) or at least 2")
    if args.events < args.rounds:
        parser.error("--events must be at least --rounds")
    return args


def _run(coro: Any) -> Any:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    # The client is the likelier bottleneck on a small machine; uvloop makes it cheaper.
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)


def _uvicorn_bare(port: int) -> list[str]:
    # The uvicorn options `market serve` passes to uvicorn.run() (see http_pages.start_bare).
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "bench.webhooks:bare_app",
        "--factory",
        "--host",
        HOST,
        "--port",
        str(port),
        "--workers",
        "1",
        "--no-proxy-headers",
        "--log-level",
        "info",
    ]


def benchmark(args: argparse.Namespace, work: Path, database_url: str, queue: str) -> int:
    secret = "whsec_" + secrets.token_urlsafe(32)
    var_dir = work / "var"
    var_dir.mkdir()
    ours = dict(
        DATABASE_URL=database_url,
        MARKET_VAR_DIR=str(var_dir),
        SECRET_KEY=secrets.token_urlsafe(48),
        STRIPE_WEBHOOK_SECRET=secret,
        STRIPE_WEBHOOK_TOLERANCE=str(TOLERANCE),
        REDIS_URL=args.redis,
        QUEUE_NAME=queue,
        # Nothing listens there: the app's start-up index set-up fails fast and harmlessly
        # instead of touching a developer's Meilisearch.
        MEILI_URL=f"http://{HOST}:{free_port()}",
    )
    env = {**_base_env(), **ours}
    market = _market_argv()
    try:
        _run_checked([*market, "migrate"], env)
    except ServiceError as exc:
        print(f"webhooks: {exc}", file=sys.stderr)
        return 2
    leftovers = _existing_job_keys(args.redis)
    if leftovers:
        print(
            f"webhooks: note: {args.redis} holds {leftovers} arq keys for job ids"
            f" {JOB_PREFIX}<event id> left by an earlier run; they do not clash with this one",
            file=sys.stderr,
        )

    with contextlib.ExitStack() as stack:
        try:
            web = stack.enter_context(
                _start_http(
                    "market",
                    lambda port: [
                        *market,
                        "serve",
                        "--host",
                        HOST,
                        "--port",
                        str(port),
                        "--workers",
                        "1",
                    ],
                    env,
                    work,
                )
            )
            bare = stack.enter_context(
                _start_http(
                    "bare",
                    _uvicorn_bare,
                    {**_base_env(), "STRIPE_WEBHOOK_SECRET": secret},
                    work,
                )
            )
        except ServiceError as exc:
            print(f"webhooks: a server did not start: {exc}", file=sys.stderr)
            return 2

        cpus = sorted(os.sched_getaffinity(0))
        pinned = len(cpus) >= 2
        if pinned:
            for running in (web, bare):
                _pin(running.pid, {cpus[0]})
            os.sched_setaffinity(0, set(cpus[1:]))

        targets = [
            Target("ours", "ours   market serve", web.url + PATH, web.pid, True),
            Target("bare", "bare   construct_event only", bare.url + PATH, bare.pid, False),
        ]
        key = secret.encode()
        for target in targets:
            refused = _run(probe(target, key))
            print(
                f"{target.name}: wrong signature -> {refused or 'HTTP 400 (refused)'}",
                file=sys.stderr,
            )
            if refused:
                print(f"webhooks: {target.name} did not refuse a bad signature", file=sys.stderr)
                return 1

        versions = {"pg": _run(server_version(database_url)), "redis": _redis_version(args.redis)}
        repeats = sum(
            sum(plan(args.events // args.rounds + (r <= args.events % args.rounds), args.dup_every))
            for r in range(1, args.rounds + 1)
        )
        print(header(args, versions, cpus, repeats), flush=True)

        results = _run(measure(targets, key, args))
        for running in (web, bare):
            if not running.alive():
                print(
                    f"webhooks: {running.name} died during the run; log {running.log_path}:\n"
                    f"{running.log_tail()}",
                    file=sys.stderr,
                )
                return 2
        construct, verify, size = signature_cost(secret)
        stored = _run(stored_events(database_url))
        jobs = _queue_jobs(args.redis, queue)

    sent = set(targets[0].sent)
    print()
    print("\n".join(report(results, targets)))
    per_request = results["ours"].server_us_per_request
    print(
        f"signature check, timeit in this process: construct_event {construct:.1f} us per call"
        f" (of which verify_header {verify:.1f} us), {size}-byte body"
        + (f"; {construct / per_request:.1%} of our srv us/req" if per_request > 0 else "")
    )
    table_ok = stored == sent
    print(
        f"stripe_event rows: {len(stored)} for {len(sent)} distinct events sent"
        f" (warm-up included): {'OK' if table_ok else 'MISMATCH'}"
        + (
            ""
            if table_ok
            else f" ({len(sent - stored)} sent but not stored, {len(stored - sent)} unexpected)"
        )
    )
    jobs_ok = jobs == len(sent)
    print(f"arq jobs in queue {queue}: {jobs} for {len(sent)}: {'OK' if jobs_ok else 'MISMATCH'}")

    code = 0 if table_ok and jobs_ok else 1
    for target in targets:
        sample = results[target.name]
        if sample.first_error:
            print(f"{target.name}: first error: {sample.first_error}")
        if not sample.requests or sample.errors / sample.requests > MAX_ERROR_RATE:
            print(f"{target.name}: {sample.errors} errors in {sample.requests} requests (limit 1%)")
            code = 1
    return code


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    # SIGTERM takes the same path as Ctrl-C: servers stopped, queue deleted, database dropped.
    install_stop_signals()
    if not redis_answers(args.redis):
        print(f"webhooks: Redis at {args.redis} does not answer", file=sys.stderr)
        return 2
    try:
        name, database_url = asyncio.run(create_database(args.pg))
    except OSError as exc:
        print(f"webhooks: PostgreSQL at {args.pg} is not reachable: {exc}", file=sys.stderr)
        return 1
    work = Path(tempfile.mkdtemp(prefix="bench-webhooks-"))
    queue = f"bench-webhooks:{secrets.token_hex(4)}"
    code = 130
    try:
        code = benchmark(args, work, database_url, queue)
    except KeyboardInterrupt:
        print("webhooks: interrupted", file=sys.stderr)
    finally:
        removed = clear_queue(args.redis, queue)
        print(f"webhooks: deleted {removed} Redis keys of queue {queue}", file=sys.stderr)
        asyncio.run(drop_database(args.pg, name))
        if code in (0, 130):
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"webhooks: logs kept in {work}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
