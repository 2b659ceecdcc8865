"""Instructions per request of each main page, ours and the bare handler's, under valgrind.

    .venv/bin/python bench/instructions.py [--requests 100] [--page listing ...]
                                           [--pg postgres://postgres@127.0.0.1:5432/postgres]

`bench/pages.py` measures req/s and CPU, which move by a third between runs on a shared
machine. This counts the CPU instructions a request executes, which do not: valgrind's
callgrind counts the same total for the same code and data whatever else the machine does
(the same page twice differed by 0.1%). Use it to tell whether a change made a page cheaper;
use pages.py for what a server does under load (network, uvicorn, concurrency).

Set-up as in bench/pages.py (a temporary database, `market seed --demo`, a reindex, the demo
enterprise logged in). Then, for each page and each of `market` (our app) and `bare`
(bench/bare_app.py), a child process runs under `valgrind --tool=callgrind
--instr-atstart=no`: it builds the app in process, sends 50 requests unmeasured, switches
counting on (`callgrind_control -i on`), sends `--requests` requests straight to the ASGI app
(no HTTP server, no client library in the count), and switches it off. Only user-space
instructions are counted: time the kernel spends on the database's socket is not.

Exit status: 0 ok, 1 a page did not answer 200, 2 valgrind or a service is missing.
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
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import uvloop  # noqa: E402

from bench.http_pages import _run_checked, start_market_services  # noqa: E402
from bench.pages import INDEX, LOGIN, SEARCH_QUERY, _world  # noqa: E402
from bench.support import PG_ADMIN_URL, run_on_a_database  # noqa: E402
from market.app.processes import ServiceError  # noqa: E402
from market.app.seed import DEMO_PASSWORD  # noqa: E402

WARM_UP = 50
PAGES = ("listing", "index", "search", "offers", "contract", "dashboard", "need", "event")
_COUNTED = re.compile(r"Collected\s*:\s*([\d,]+)")


def paths_of(world: dict[str, Any]) -> dict[str, list[str]]:
    return {
        "listing": [f"/listings/{i}" for i in world["listings"]],
        "index": ["/listings"],
        "search": [f"/search?{SEARCH_QUERY}"],
        "offers": ["/offers"],
        "contract": [f"/contracts/{world['contract']}"],
        "dashboard": ["/dashboard"],
        "need": [f"/needs/{world['need']}"],
        "event": [f"/events/{world['event']}"],
    }


# --- the child: one page, one app, under valgrind ---------------------------------------------


async def _child(target: str, paths: list[str], requests: int, world: dict[str, Any]) -> int:
    import httpx

    from market.app.asgi import create_app

    app: Any = create_app()
    async with contextlib.AsyncExitStack() as stack:
        await stack.enter_async_context(app.router.lifespan_context(app))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            page = await client.get("/login")
            token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
            assert token is not None, "no CSRF token on /login"
            await client.post(
                "/login",
                data={"email": LOGIN, "password": DEMO_PASSWORD, "csrf_token": token[1]},
            )
            cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
        if target == "bare":
            from bench.bare_app import pages_app

            app = pages_app()
            await stack.enter_async_context(app.router.lifespan_context(app))

        async def get(path: str) -> int:
            bare_path, _, query = path.partition("?")
            scope = {
                "type": "http",
                "asgi": {"version": "3.0"},
                "http_version": "1.1",
                "method": "GET",
                "scheme": "http",
                "path": bare_path,
                "raw_path": bare_path.encode(),
                "query_string": query.encode(),
                "root_path": "",
                "headers": [(b"host", b"127.0.0.1"), (b"cookie", cookie.encode())],
                "client": ("127.0.0.1", 5000),
                "server": ("127.0.0.1", 80),
                "state": {},
            }
            status: list[int] = []

            async def receive() -> dict[str, Any]:
                return {"type": "http.request", "body": b"", "more_body": False}

            async def send(message: dict[str, Any]) -> None:
                if message["type"] == "http.response.start":
                    status.append(message["status"])

            await app(scope, receive, send)
            return status[0]

        for n in range(WARM_UP):
            if (answer := await get(paths[n % len(paths)])) != 200:
                print(f"instructions: {target} {paths[n % len(paths)]}: HTTP {answer}")
                return 1
        _counting("on")
        for n in range(requests):
            await get(paths[n % len(paths)])
        _counting("off")
    return 0


def _counting(state: str) -> None:
    # Blocking on purpose: nothing of the app may run while the switch is thrown.
    subprocess.run(
        ["callgrind_control", "-i", state, str(os.getpid())], check=True, capture_output=True
    )


# --- the parent ------------------------------------------------------------------------------


def _count(target: str, page: str, setup: Path, requests: int, work: Path, env: dict) -> int:
    out = work / f"callgrind.{target}.{page}.out"
    argv = [
        "valgrind",
        "--tool=callgrind",
        "--instr-atstart=no",
        f"--callgrind-out-file={out}",
        sys.executable,
        __file__,
        "--child",
        target,
        page,
        str(setup),
        "--requests",
        str(requests),
    ]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=900)
    found = _COUNTED.search(done.stderr)
    if done.returncode != 0 or found is None:
        raise ServiceError(f"{target} {page}: {done.stdout[-500:]} {done.stderr[-1500:]}")
    return int(found[1].replace(",", "")) // requests


def benchmark(args: argparse.Namespace, work: Path, database_url: str) -> int:
    with contextlib.ExitStack() as stack:
        try:
            services = start_market_services(stack, "instructions", work, database_url, INDEX)
            _run_checked([*services.market, "seed", "--demo"], services.env)
            world = asyncio.run(_world(database_url))
        except ServiceError as exc:
            print(f"instructions: {exc}", file=sys.stderr)
            return 2
        setup = work / "world.json"
        env = {
            **services.env,
            "BARE_DATABASE_URL": database_url,
            "BARE_MEILI_URL": services.meili.url,
            "BARE_MEILI_KEY": services.meili_key,
            "BARE_MEILI_INDEX": INDEX,
            "BARE_SEARCH_BODY": json.dumps(world["search_body"]),
        }
        setup.write_text(json.dumps(world))
        print(f"{'page':12} {'ours':>12} {'bare':>12}  ours/bare  (instructions per request)")
        for page in args.page or PAGES:
            try:
                ours = _count("market", page, setup, args.requests, work, env)
                bare = _count("bare", page, setup, args.requests, work, env)
            except ServiceError as exc:
                print(f"instructions: {exc}", file=sys.stderr)
                return 1
            print(f"{page:12} {ours:12,} {bare:12,}  x{ours / bare:.2f}", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--page", action="append", choices=PAGES)
    parser.add_argument("--pg", default=PG_ADMIN_URL)
    parser.add_argument("--child", nargs=3, metavar=("TARGET", "PAGE", "WORLD"))
    args = parser.parse_args(argv)
    if args.child:
        target, page, setup = args.child
        world = json.loads(Path(setup).read_text())
        # uvloop, as `market serve` runs.
        return uvloop.run(_child(target, paths_of(world)[page], args.requests, world))
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        print("instructions: valgrind is not installed (`apt-get install -y valgrind`)")
        return 2
    return run_on_a_database(
        "instructions", args.pg, lambda work, url: benchmark(args, work, url), unreachable=2
    )


if __name__ == "__main__":
    sys.exit(main())
