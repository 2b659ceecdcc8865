"""The `market` command, run as a real process the way an operator runs it."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

import httpx
import pytest

from market.accounts.models import User
from market.app import processes
from market.app.seed import (
    DEMO_LOGINS,
    DEMO_PASSWORD,
    SeedRefused,
    foreign_organizations,
    seed_demo,
)
from market.config import ROOT
from tests.builders import a_user
from tests.waiting import eventually_sync

MARKET = [sys.executable, "-m", "market"]
# Settings the session fixture put in the environment; a command under test gets its own.
OURS = {
    "DATABASE_URL",
    "REDIS_URL",
    "QUEUE_NAME",
    "MEILI_URL",
    "MEILI_KEY",
    "STRIPE_SECRET_KEY",
    "STRIPE_API_BASE",
    "STRIPE_WEBHOOK_SECRET",
    "SECRET_KEY",
    "BASE_URL",
    "MARKET_VAR_DIR",
}


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in OURS}
    env.update(extra)
    return env


def market(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*MARKET, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )


def test_commands_refuse_with_a_one_line_reason(tmp_path: Path) -> None:
    env = clean_env(MARKET_VAR_DIR=str(tmp_path))
    serve = market("serve", "--port", str(processes.free_port()), env=env)
    assert serve.returncode != 0
    assert serve.stderr.strip().splitlines()[-1].startswith("market: SECRET_KEY is not set")

    bad_url = market("migrate", env={**env, "DATABASE_URL": "mysql://x"})
    assert bad_url.returncode != 0
    assert "DATABASE_URL" in bad_url.stderr and len(bad_url.stderr.strip().splitlines()) == 1

    seed = market("seed", env=env)
    assert seed.returncode != 0 and "--demo" in seed.stderr

    # Card payments on without the webhook's secret: web, worker and dev refuse to start.
    cards = {**env, "SECRET_KEY": "k" * 40, "STRIPE_SECRET_KEY": "sk_test_x"}
    for command in (["serve", "--port", str(processes.free_port())], ["worker"], ["dev"]):
        refused = market(*command, env={**cards, "STRIPE_WEBHOOK_SECRET": ""})
        assert refused.returncode == 1, (command, refused.stderr)
        [line] = refused.stderr.strip().splitlines()
        assert line.startswith("market: STRIPE_WEBHOOK_SECRET is not set"), command


def test_check_names_each_service_and_why(tmp_path: Path, settings) -> None:
    env = clean_env(
        MARKET_VAR_DIR=str(tmp_path),
        SECRET_KEY="k" * 40,
        REDIS_URL=settings.redis_url,
        MEILI_URL=f"http://127.0.0.1:{processes.free_port()}",
    )
    assert market("migrate", env=env).returncode == 0
    result = market("check", env=env)
    assert result.returncode == 1
    lines = {line.split()[0]: line for line in result.stdout.splitlines()}
    assert " ok" in lines["database"] and " ok" in lines["redis"]
    assert "UNREACHABLE" in lines["meilisearch"] and "Connect" in lines["meilisearch"]
    assert "STRIPE_SECRET_KEY is not set" in lines["stripe"]


def test_create_admin_and_its_refusals(tmp_path: Path) -> None:
    env = clean_env(MARKET_VAR_DIR=str(tmp_path), SECRET_KEY="k" * 40)
    assert market("migrate", env=env).returncode == 0
    made = market(
        "create-admin",
        "--email",
        "Boss@Example.org",
        "--password",
        "a long admin passphrase",
        env=env,
    )
    assert made.returncode == 0, made.stderr
    assert "boss@example.org" in made.stdout
    again = market(
        "create-admin",
        "--email",
        "boss@example.org",
        "--password",
        "a long admin passphrase",
        env=env,
    )
    assert again.returncode == 1 and "already exists" in again.stderr
    prompted = subprocess.run(
        [*MARKET, "create-admin", "--email", "second@example.org"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        input="another long passphrase\nanother long passphrase\n",
    )
    assert prompted.returncode == 0, prompted.stderr
    assert "Password" in prompted.stderr and "passphrase" not in prompted.stdout + prompted.stderr
    weak = market("create-admin", "--email", "x@example.org", "--password", "short", env=env)
    assert weak.returncode == 1 and "10 characters" in weak.stderr


def test_seed_demo_refuses_a_database_with_organisations_of_its_own(tmp_path: Path) -> None:
    env = clean_env(MARKET_VAR_DIR=str(tmp_path), SECRET_KEY="k" * 40)
    assert market("migrate", env=env).returncode == 0
    made = market(
        "create-admin", "--email", "ops@example.org", "--password", "a long passphrase", env=env
    )
    assert made.returncode == 0, made.stderr
    seed = market("seed", "--demo", env=env)
    assert seed.returncode == 1 and seed.stdout == ""
    [line] = seed.stderr.strip().splitlines()
    assert line.startswith("market: the database holds 1 organisation(s)") and "--force" in line
    # Nothing was loaded: the demo administrator's address is still free.
    free = market(
        "create-admin",
        "--email",
        "admin@techmarket.example",
        "--password",
        "a long passphrase",
        env=env,
    )
    assert free.returncode == 0, free.stderr


async def test_seed_demo_is_loaded_into_such_a_database_only_when_forced(
    settings, redis_client
) -> None:
    await a_user(email="real@example.org")
    with pytest.raises(SeedRefused, match="--force"):
        await seed_demo(DEMO_PASSWORD, match=False)
    assert not await User.filter(email__in=list(DEMO_LOGINS)).exists()
    assert await foreign_organizations() == 1

    assert await seed_demo(DEMO_PASSWORD, force=True, match=False) is True
    assert await User.filter(email__in=list(DEMO_LOGINS)).count() == len(DEMO_LOGINS)
    # Loaded once, a demo database: reruns (each `market dev` start) need no force.
    assert await seed_demo(DEMO_PASSWORD, match=False) is False


def _children_of(marker: str) -> list[int]:
    """Processes whose command line or environment mentions the run's own var dir."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            blob = (proc / "cmdline").read_bytes() + (proc / "environ").read_bytes()
        except OSError:
            continue
        if marker.encode() in blob:
            found.append(int(proc.name))
    return found


def _no_children_left(marker: str) -> None:
    """Children may take a moment to exit after market dev has; none may stay."""
    eventually_sync(
        lambda: not _children_of(marker),
        what="every process market dev started to exit",
        within=15,
        explain=lambda: f"still running: {_children_of(marker)}",
    )


def _worker_delivers_a_verification(base: str) -> None:
    """The admin verifies the waiting institute; the worker's notification reaches its owner."""
    password = "demo-password-2026"
    with httpx.Client(base_url=base, timeout=10) as admin:
        admin.post(
            "/api/v1/auth/login", json={"email": "admin@techmarket.example", "password": password}
        ).raise_for_status()
        csrf = admin.get("/api/v1/me").json()["csrf_token"]
        pending = admin.get("/api/v1/admin/organizations?state=pending").json()["items"]
        assert [o["name"] for o in pending] == ["Kansai Robotics Lab"]
        admin.post(
            f"/api/v1/admin/organizations/{pending[0]['id']}/verify", headers={"X-CSRF-Token": csrf}
        ).raise_for_status()
    with httpx.Client(base_url=base, timeout=10) as owner:
        owner.post(
            "/api/v1/auth/login",
            json={"email": "newcomer@techmarket.example", "password": password},
        ).raise_for_status()
        eventually_sync(
            lambda: "Your organisation is verified" in owner.get("/dashboard").text,
            what="the worker to deliver the verification notice",
            every=0.3,
        )


def _a_newcomer_confirms_with_the_link_in_the_worker_log(base: str, var: Path) -> None:
    """Without SMTP the worker writes each mail to its log: a newcomer finds the link that
    confirms their address there."""
    with httpx.Client(base_url=base, timeout=10) as visitor:
        visitor.post(
            "/api/v1/auth/register",
            json={
                "email": "fresh@example.org",
                "password": "a newcomer's passphrase",
                "name": "Fresh",
                "organization": {"name": "Fresh Lab", "kind": "institute", "country": "CN"},
            },
        ).raise_for_status()
        log = var / "log" / "worker.log"
        found = eventually_sync(
            lambda: re.search(r"/confirm-email/([A-Za-z0-9_-]+)", log.read_text()),
            what="the worker to write the confirmation mail to var/log/worker.log",
            every=0.3,
        )
        answer = visitor.post("/api/v1/auth/verify-email", json={"token": found.group(1)})
        assert answer.status_code == 200 and answer.json()["user"]["email_verified"], answer.text


def _start_dev(env: dict[str, str], port: int) -> tuple[subprocess.Popen, list[str]]:
    proc = subprocess.Popen(
        [*MARKET, "dev", "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    deadline = time.monotonic() + 120
    assert proc.stdout is not None
    # Lines come through a thread: a readline with no deadline would hang the run on a child
    # that stops printing, and the thread keeps draining the pipe so the child never blocks.
    received: queue.Queue[str] = queue.Queue()

    def pump(stream: IO[str]) -> None:
        for text in stream:
            received.put(text)
        received.put("")  # end of output

    threading.Thread(target=pump, args=(proc.stdout,), daemon=True).start()
    while (left := deadline - time.monotonic()) > 0:
        try:
            line = received.get(timeout=left)
        except queue.Empty:
            break
        if not line:
            break
        lines.append(line.rstrip())
        if line.startswith("Press Ctrl-C"):
            return proc, lines
    proc.kill()
    pytest.fail("market dev did not start within 120 s:\n" + "\n".join(lines))


def _stop_dev(proc: subprocess.Popen, sig: signal.Signals) -> None:
    proc.send_signal(sig)
    try:
        assert proc.wait(timeout=30) == 0 or sig == signal.SIGTERM
    finally:
        if proc.poll() is None:
            proc.kill()


def _the_demo_has_deals_in_progress(base: str) -> None:
    """What a visitor finds as the demo enterprise: a negotiation waiting for its answer, a
    contract to sign and a paid one."""
    with httpx.Client(base_url=base, timeout=10) as client:
        login = client.post(
            "/api/v1/auth/login",
            json={"email": "enterprise@techmarket.example", "password": "demo-password-2026"},
        )
        assert login.status_code == 200
        offers = client.get("/api/v1/offers?side=buyer").json()["items"]
        assert "countered" in {o["state"] for o in offers}
        contracts = client.get("/api/v1/contracts").json()["items"]
        assert {c["state"] for c in contracts} == {"awaiting_signatures", "active"}


def _the_demo_has_needs_with_matches(base: str) -> None:
    """The demand side of the demo: the enterprise's open needs, each with matching listings
    from the start (the seed matched them before the worker ran), and the institute's
    shortlisted proposal."""
    with httpx.Client(base_url=base, timeout=10) as client:
        login = client.post(
            "/api/v1/auth/login",
            json={"email": "enterprise@techmarket.example", "password": "demo-password-2026"},
        )
        assert login.status_code == 200
        needs = client.get("/api/v1/needs?mine=1").json()["items"]
        assert len(needs) == 3 and {n["state"] for n in needs} == {"published"}
        for need in needs:
            matches = client.get(f"/api/v1/needs/{need['id']}/matches").json()["items"]
            assert matches, need["title"]
    with httpx.Client(base_url=base, timeout=10) as client:
        client.post(
            "/api/v1/auth/login",
            json={"email": "institute@techmarket.example", "password": "demo-password-2026"},
        ).raise_for_status()
        [proposal] = client.get("/api/v1/proposals").json()["items"]
        assert proposal["stage"] == "shortlisted"
        page = client.get("/matches")
        assert page.status_code == 200
        assert all(f'href="/needs/{need["id"]}"' in page.text for need in needs)


def test_market_dev_serves_the_marketplace_on_sqlite_and_stops_cleanly(
    tmp_path: Path, settings
) -> None:
    var = tmp_path / "devvar"
    env = clean_env(
        MARKET_VAR_DIR=str(var),
        REDIS_URL=settings.redis_url,
        QUEUE_NAME=f"{settings.queue_name}:dev",
    )
    port = processes.free_port()
    proc, lines = _start_dev(env, port)
    try:
        text = "\n".join(lines)
        assert f"http://127.0.0.1:{port}" in text
        assert "admin@techmarket.example" in text and "demo-password" in text
        assert "(localstripe)" in text and "meilisearch  http://127.0.0.1:" in text
        home = httpx.get(f"http://127.0.0.1:{port}/", timeout=10)
        assert home.status_code == 200 and "techmarket" in home.text
        ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=10)
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"]["database"]["detail"] == "sqlite"
        login = httpx.post(
            f"http://127.0.0.1:{port}/api/v1/auth/login",
            json={"email": "institute@techmarket.example", "password": "demo-password-2026"},
            timeout=10,
        )
        assert login.status_code == 200
        _the_demo_has_deals_in_progress(f"http://127.0.0.1:{port}")
        _the_demo_has_needs_with_matches(f"http://127.0.0.1:{port}")
        assert (var / "market.sqlite3").exists() and (var / "secret_key").exists()
        _worker_delivers_a_verification(f"http://127.0.0.1:{port}")
        _a_newcomer_confirms_with_the_link_in_the_worker_log(f"http://127.0.0.1:{port}", var)
    finally:
        _stop_dev(proc, signal.SIGINT)
    _no_children_left(str(var))

    # A second start works, keeps the data and does not seed twice.
    proc, lines = _start_dev(env, port)
    try:
        assert any("already present" in line for line in lines)
        assert httpx.get(f"http://127.0.0.1:{port}/", timeout=10).status_code == 200
    finally:
        _stop_dev(proc, signal.SIGTERM)
    _no_children_left(str(var))
