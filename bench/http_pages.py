"""HTTP throughput and latency of our app against a bare Starlette app, both under uvicorn.

    .venv/bin/python bench/http_pages.py [--seconds N] [--concurrency C] [--rounds R] [--warmup W]

Starts `market serve` (SQLite in a fresh temporary MARKET_VAR_DIR, migrated and demo-seeded)
and `uvicorn bench.bare_app:app` with the same uvicorn options, then loads `/healthz` and `/`
of each from this process with httpx over keep-alive connections. Targets are measured in
interleaved rounds and the median round is reported, because one noisy moment on a shared
machine should not decide the result. Exit status: 0 ok, 1 more than 1% errors, 2 a server
did not start or died.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import os
import secrets
import shutil
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from market.app.processes import (
    HOST,
    ROOT,
    Running,
    ServiceError,
    free_port,
    http_answers,
    install_stop_signals,
    start_command,
    start_meilisearch,
    start_redis,
)
from market.config import get_settings

# httpcore imports sniffio on every lock it creates and falls back to asyncio when that fails;
# anyio >= 4.11 no longer installs sniffio, and Python does not cache failed imports, so each
# request pays a sys.path search (encode/httpcore#1103). Marking it absent makes the failure
# instant and changes nothing else: we run on asyncio either way.
if importlib.util.find_spec("sniffio") is None:
    sys.modules["sniffio"] = None  # type: ignore[assignment]

MAX_ERROR_RATE = 0.01
SATURATED = 0.8
REQUEST_TIMEOUT = 10.0
# start_command() takes the port we chose; another process may grab it before the child binds.
PORT_ATTEMPTS = 3
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Target:
    label: str
    server: str
    path: str


TARGETS = (
    Target("market /healthz", "market", "/healthz"),
    Target("bare   /healthz (text)", "bare", "/healthz"),
    Target("market / (home)", "market", "/"),
    Target("bare   / (html)", "bare", "/"),
)


@dataclass
class Sample:
    """One measured window against one target."""

    seconds: float
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    first_error: str = ""
    server_cpu: float = 0.0
    client_cpu: float = 0.0

    @property
    def requests(self) -> int:
        return len(self.latencies) + self.errors

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.seconds

    def percentile_ms(self, pct: int) -> float:
        if len(self.latencies) < 2:
            return float("nan")
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[pct - 1] * 1000

    @property
    def server_busy(self) -> float:
        """Share of one core the server used; near 1.0 means the server was the bottleneck."""
        return self.server_cpu / self.seconds

    @property
    def client_busy(self) -> float:
        return self.client_cpu / self.seconds

    @property
    def server_us_per_request(self) -> float:
        # Unlike rps this does not depend on how fast the load generator is, so it still
        # compares the two servers fairly when the client, not the server, is saturated.
        done = len(self.latencies)
        return self.server_cpu / done * 1e6 if done else float("nan")


# --------------------------------------------------------------------------------------------
# Servers


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads), from /proc."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return float("nan")
    # The command name may contain spaces and parentheses; the fields after the last ')' don't.
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def _pin(pid: int, cpus: set[int]) -> None:
    """Pin every thread of `pid` (affinity is per thread; later threads inherit it)."""
    with contextlib.suppress(OSError):
        for tid in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError):
                os.sched_setaffinity(int(tid), cpus)


def _base_env() -> dict[str, str]:
    # The uvicorn CLI reads UVICORN_* but `market serve` (uvicorn.run) does not: dropping them
    # keeps a developer's shell from giving only the bare app different options.
    return {k: v for k, v in os.environ.items() if not k.startswith("UVICORN_")}


def _market_env(var_dir: Path) -> dict[str, str]:
    env = _base_env()
    env["MARKET_VAR_DIR"] = str(var_dir)
    # Explicit, so a DATABASE_URL from the shell or .env cannot point the benchmark at Postgres
    # or at someone's real data.
    env["DATABASE_URL"] = f"sqlite://{var_dir / 'market.sqlite3'}"
    env["SECRET_KEY"] = secrets.token_urlsafe(48)
    return env


def _market_argv() -> list[str]:
    script = Path(sys.executable).with_name("market")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "market"]


def _run_checked(argv: list[str], env: dict[str, str]) -> None:
    result = subprocess.run(
        argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    if result.returncode != 0:
        raise ServiceError(
            f"`{' '.join(argv)}` exited with {result.returncode}:\n"
            f"{(result.stdout + result.stderr).strip()[-2000:]}"
        )


@dataclass
class MarketServices:
    """What a benchmark's own `market` processes run against (see `start_market_services`)."""

    env: dict[str, str]
    meili: Running
    meili_key: str
    redis: Running
    queue_name: str
    market: list[str]  # the `market` command's argv


def start_market_services(
    stack: contextlib.ExitStack, name: str, work: Path, database_url: str, index: str
) -> MarketServices:
    """Meilisearch and Redis of the benchmark's own (stopped with `stack`), the database
    migrated, and the children's settings applied to this process too (it imports, reindexes
    and seeds with them). ServiceError, saying what failed, when any of it does not work."""
    meili_key = secrets.token_urlsafe(24)
    try:
        meili = stack.enter_context(start_meilisearch(work / "meili", meili_key))
        redis = stack.enter_context(start_redis(work / "redis"))
    except ServiceError as exc:
        raise ServiceError(f"a service did not start: {exc}") from exc
    var_dir = work / "var"
    var_dir.mkdir()
    ours = dict(
        DATABASE_URL=database_url,
        MARKET_VAR_DIR=str(var_dir),
        SECRET_KEY=secrets.token_urlsafe(48),
        MEILI_URL=meili.url,
        MEILI_KEY=meili_key,
        MEILI_INDEX=index,
        REDIS_URL=redis.url,
        QUEUE_NAME=f"bench-{name}:{secrets.token_hex(4)}",
    )
    env = {**_base_env(), **ours}
    os.environ.update(ours)
    get_settings.cache_clear()
    market = _market_argv()
    _run_checked([*market, "migrate"], env)
    return MarketServices(env, meili, meili_key, redis, ours["QUEUE_NAME"], market)


def _start_http(
    name: str, argv_for_port: Callable[[int], list[str]], env: dict[str, str], log_dir: Path
) -> Running:
    last: ServiceError | None = None
    for _ in range(PORT_ATTEMPTS):
        port = free_port()
        try:
            return start_command(
                name,
                argv_for_port(port),
                log_path=log_dir / f"{name}.log",
                env=env,
                url=f"http://{HOST}:{port}",
                ready=lambda running: http_answers(running.url + "/healthz"),
            )
        except ServiceError as exc:
            last = exc
    assert last is not None
    raise last


def start_market(work: Path) -> Running:
    """`market migrate`, `market seed --demo`, then `market serve` on a free port."""
    var_dir = work / "var"
    var_dir.mkdir()
    env = _market_env(var_dir)
    market = _market_argv()
    _run_checked([*market, "migrate"], env)
    _run_checked([*market, "seed", "--demo"], env)
    return _start_http(
        "market",
        lambda port: [*market, "serve", "--host", HOST, "--port", str(port), "--workers", "1"],
        env,
        work,
    )


def start_bare(work: Path) -> Running:
    """The bare app under the uvicorn options `market serve` passes to uvicorn.run()."""
    # Mirrors market/app/cli.py `serve`: proxy_headers=False, log_level="info" and uvicorn's
    # default access log (it has no switch to turn that off), so both pay the same logging.
    return _start_http(
        "bare",
        lambda port: [
            sys.executable,
            "-m",
            "uvicorn",
            "bench.bare_app:app",
            "--host",
            HOST,
            "--port",
            str(port),
            "--workers",
            "1",
            "--no-proxy-headers",
            "--log-level",
            "info",
        ],
        _base_env(),
        work,
    )


# --------------------------------------------------------------------------------------------
# Load


async def _load(
    url: str, *, concurrency: int, warmup: float, seconds: float, server_pid: int
) -> Sample:
    sample = Sample(seconds=seconds)
    # One client (one keep-alive connection) per worker rather than one pool of `concurrency`:
    # httpcore's pool walks all its connections on every request, which costs the client CPU
    # that the client, the bottleneck on a small machine, does not have.
    # trust_env=False: a developer's HTTP(S)_PROXY must not sit between us and loopback.
    # One shared SSL context: httpx builds one per client otherwise (~40 ms each, unused here).
    tls = ssl.create_default_context()
    async with contextlib.AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(
                httpx.AsyncClient(
                    limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
                    timeout=REQUEST_TIMEOUT,
                    trust_env=False,
                    verify=tls,
                )
            )
            for _ in range(concurrency)
        ]
        await asyncio.gather(*(_first_visit(client, url) for client in clients))
        start = time.perf_counter() + warmup
        end = start + seconds

        async def worker(client: httpx.AsyncClient) -> None:
            while (t0 := time.perf_counter()) < end:
                try:
                    response = await client.get(url)
                    ok = response.status_code == 200
                    detail = "" if ok else f"HTTP {response.status_code}: {response.text[:500]}"
                except httpx.HTTPError as exc:
                    ok, detail = False, f"{type(exc).__name__}: {exc}"
                t1 = time.perf_counter()
                if not ok and not sample.first_error:
                    sample.first_error = detail
                # Counted by completion time, so the window holds exactly `seconds` of work.
                if start <= t1 < end:
                    if ok:
                        sample.latencies.append(t1 - t0)
                    else:
                        sample.errors += 1

        async def cpu_meter() -> None:
            await asyncio.sleep(max(0.0, start - time.perf_counter()))
            server0, client0 = _cpu_seconds(server_pid), time.process_time()
            await asyncio.sleep(max(0.0, end - time.perf_counter()))
            sample.server_cpu = _cpu_seconds(server_pid) - server0
            sample.client_cpu = time.process_time() - client0

        await asyncio.gather(cpu_meter(), *(worker(client) for client in clients))
    return sample


async def _first_visit(client: httpx.AsyncClient, url: str) -> None:
    """Visit once and then send the cookies that visit set as a fixed header.

    Our home page sets an anonymous CSRF cookie on a first visit only, so like a browser we
    come back with it and measure returning visitors. But http.cookiejar costs the client
    ~0.1-0.3 ms a request here, which makes the Python client, not the server, the limit on
    exactly the target that has cookies; a fixed header costs nothing.
    """
    with contextlib.suppress(httpx.HTTPError):  # a failing server shows up as errors later
        await client.get(url)
    cookies = [(cookie.name, cookie.value) for cookie in client.cookies.jar]
    if cookies:
        client.cookies.clear()
        client.headers["cookie"] = "; ".join(f"{name}={value}" for name, value in cookies)


def _run(coro: Coroutine[Any, Any, Sample]) -> Sample:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    # The client is the likelier bottleneck on a small machine; uvloop makes it cheaper.
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)


def _probe(url: str) -> str:
    """Status and size of one response, printed so odd answers are visible before the load."""
    try:
        with httpx.Client(timeout=REQUEST_TIMEOUT, trust_env=False) as client:
            response = client.get(url)
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"
    return f"HTTP {response.status_code}, {len(response.content)} bytes"


# --------------------------------------------------------------------------------------------
# Report


def _median_round(samples: list[Sample]) -> Sample:
    return sorted(samples, key=lambda s: s.rps)[(len(samples) - 1) // 2]


def _ratio(a: float, b: float) -> str:
    return f"x{a / b:.2f}" if b else "x-"


def report(results: dict[Target, list[Sample]]) -> str:
    """The table of median rounds, with errors summed over all rounds, and the ratios."""
    lines = [
        f"{'target':<24} {'rps':>8} {'p50 ms':>8} {'p95 ms':>8} {'errors':>7}"
        f" {'srv cpu':>8} {'srv us/req':>10} {'client cpu':>10}"
    ]
    median = {target: _median_round(samples) for target, samples in results.items()}
    for target, samples in results.items():
        m = median[target]
        errors = sum(s.errors for s in samples)
        lines.append(
            f"{target.label:<24} {m.rps:>8.0f} {m.percentile_ms(50):>8.2f}"
            f" {m.percentile_ms(95):>8.2f} {errors:>7}"
            f" {m.server_busy:>8.0%} {m.server_us_per_request:>10.0f} {m.client_busy:>10.0%}"
        )
    for name, (ours, bare) in {
        "healthz:": (TARGETS[0], TARGETS[1]),
        "home:": (TARGETS[2], TARGETS[3]),
    }.items():
        o, b = median[ours], median[bare]
        lines.append(
            f"ratio market/bare  {name:<8} rps {_ratio(o.rps, b.rps)}"
            f"  p95 {_ratio(o.percentile_ms(95), b.percentile_ms(95))}"
            f"  srv us/req {_ratio(o.server_us_per_request, b.server_us_per_request)}"
        )
    # Below this share of its core the server was waiting for requests: the client (or other
    # load on the machine) set the pace, so rps and latency say little about the server.
    not_saturated = [
        " ".join(t.label.split()) for t, m in median.items() if m.server_busy < SATURATED
    ]
    if not_saturated:
        lines.append(
            f"note: server below {SATURATED:.0%} CPU for {', '.join(not_saturated)}: the client"
            " or other load set the pace there; compare srv us/req rather than rps"
        )
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Main


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="measured window per run")
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per target")
    parser.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds per run")
    args = parser.parse_args(argv)
    if args.seconds <= 0 or args.concurrency < 1 or args.rounds < 1 or args.warmup < 0:
        parser.error("--seconds, --concurrency and --rounds must be positive, --warmup >= 0")
    return args


def _cpu_split() -> tuple[set[int], set[int]] | None:
    """Server core and load-generator cores, or None when there is only one core to use."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None
    return {cpus[0]}, set(cpus[1:])


def benchmark(args: argparse.Namespace, work: Path) -> int:
    """Start both servers, measure every target in interleaved rounds, print the report."""
    with contextlib.ExitStack() as stack:
        try:
            servers = {
                "market": stack.enter_context(start_market(work)),
                "bare": stack.enter_context(start_bare(work)),
            }
        except ServiceError as exc:
            print(f"http_pages: a server did not start: {exc}", file=sys.stderr)
            return 2

        split = _cpu_split()
        if split is not None:
            # One core for the servers, the rest for us: the client must not steal the
            # server's CPU, or we would measure the two fighting for one core.
            server_cpus, client_cpus = split
            for running in servers.values():
                _pin(running.pid, server_cpus)
            os.sched_setaffinity(0, client_cpus)

        for target in TARGETS:
            url = servers[target.server].url + target.path
            print(f"{target.label:<24} {_probe(url)}", file=sys.stderr)

        results: dict[Target, list[Sample]] = {target: [] for target in TARGETS}
        for round_no in range(1, args.rounds + 1):
            for target in TARGETS:
                running = servers[target.server]
                sample = _run(
                    _load(
                        running.url + target.path,
                        concurrency=args.concurrency,
                        warmup=args.warmup,
                        seconds=args.seconds,
                        server_pid=running.pid,
                    )
                )
                if not running.alive():
                    print(
                        f"http_pages: {running.name} died during the run; log "
                        f"{running.log_path}:\n{running.log_tail()}",
                        file=sys.stderr,
                    )
                    return 2
                results[target].append(sample)
                print(
                    f"round {round_no}/{args.rounds}  {target.label:<24}"
                    f" {sample.rps:8.0f} rps  {sample.errors} errors",
                    file=sys.stderr,
                )

    print(
        f"\n{args.rounds} rounds x {args.seconds:g} s (after {args.warmup:g} s warm-up),"
        f" concurrency {args.concurrency}; median round by rps, errors over all rounds;"
        f" {'server pinned to 1 core, client to the rest' if split else 'no CPU pinning'}\n"
    )
    print(report(results))

    failed = 0
    for target, samples in results.items():
        total = sum(s.requests for s in samples)
        errors = sum(s.errors for s in samples)
        first = next((s.first_error for s in samples if s.first_error), "")
        if first:
            print(f"\n{target.label}: first error: {first}")
        if not total or errors / total > MAX_ERROR_RATE:
            print(f"{target.label}: {errors} errors in {total} requests (limit 1%)")
            failed = 1
    return failed


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    # SIGTERM takes the same path as Ctrl-C, so the servers are stopped either way.
    install_stop_signals()
    work = Path(tempfile.mkdtemp(prefix="bench-http-"))
    code = 130
    try:
        code = benchmark(args, work)
    except KeyboardInterrupt:
        print("http_pages: interrupted", file=sys.stderr)
    finally:
        # The server logs are the only clue to a failed start or to error responses.
        if code in (0, 130):
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"http_pages: server logs kept in {work}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
