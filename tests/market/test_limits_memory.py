"""The real web process (`market serve`) under a 200 MB body: refused while it streams, its
memory does not grow. The body is made while it is sent (the same 1 MiB piece over and over),
so this test does not hold it either."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from market.app import processes
from market.config import Settings

MIB = 1024 * 1024
BODY_MIB = 200
# What the server may gain while refusing a 200 MB body: allocator noise, not the body.
MAX_GROWTH_MIB = 8


@pytest.fixture(scope="module")
def web(settings: Settings, tmp_root: Path) -> Iterator[processes.Running]:
    """`market serve` on a free loopback port, against the run's database."""
    port = processes.free_port()
    url = f"http://127.0.0.1:{port}"
    with processes.start_command(
        "web",
        [sys.executable, "-m", "market", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env={**os.environ, "BASE_URL": url},
        url=url,
        ready=lambda _r: processes.http_answers(url + "/healthz"),
        log_path=tmp_root / "limits_web.log",
    ) as running:
        yield running


def kib(pid: int, field: str) -> int:
    """A VmRSS / VmHWM figure of the process, in KiB, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def reset_peak(pid: int) -> None:
    # "5" resets VmHWM to the current RSS (Linux >= 4.0), so the peak measured afterwards is
    # this request's, not start-up's.
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def a_body(mib: int) -> Iterator[bytes]:
    piece = b" " * MIB
    for _ in range(mib):
        yield piece


def post(url: str, mib: int, headers: dict[str, str]) -> httpx.Response:
    with httpx.Client(timeout=120, trust_env=False) as client:
        return client.post(url, content=a_body(mib), headers=headers)


CASES = {
    "JSON API, chunked": ("/api/v1/auth/register", {"Content-Type": "application/json"}),
    "JSON API, Content-Length": (
        "/api/v1/auth/register",
        {"Content-Type": "application/json", "Content-Length": str(BODY_MIB * MIB)},
    ),
    "Stripe webhook, chunked": (
        "/webhooks/stripe",
        {"Content-Type": "application/json", "Stripe-Signature": "t=1,v1=00"},
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_200_mb_body_is_refused_without_the_server_growing(
    web: processes.Running, case: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path, headers = CASES[case]
    url = web.url + path
    # Warm up: the route, the refusal and the server's buffers exist before we measure.
    chunked = {k: v for k, v in headers.items() if k != "Content-Length"}
    post(url, 3, chunked)

    reset_peak(web.pid)
    before = kib(web.pid, "VmRSS")
    response = post(url, BODY_MIB, headers)
    peak, after = kib(web.pid, "VmHWM"), kib(web.pid, "VmRSS")

    growth_mib = (peak - before) / 1024
    # Shown even when output is captured: the closing note quotes this figure.
    with capsys.disabled():
        print(
            f"\n{case}: {BODY_MIB} MiB body sent; web process RSS {before / 1024:.1f} MiB "
            f"before, peak {peak / 1024:.1f} MiB, {after / 1024:.1f} MiB after: "
            f"growth {growth_mib:.2f} MiB"
        )
    assert web.alive(), web.log_tail()
    assert growth_mib < MAX_GROWTH_MIB, f"{case}: grew {growth_mib:.1f} MiB"
    assert response.status_code == 413, response.text
