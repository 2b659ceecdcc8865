"""A real server process and a real headless Chromium (Debian's package) for end-to-end tests."""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright

from market.app import processes
from market.config import Settings

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def live_server(settings: Settings, tmp_root: Path) -> Iterator[str]:
    """`market serve` on a free port, against the run's PostgreSQL database and Redis."""
    port = processes.free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "BASE_URL": url}
    with processes.start_command(
        "web",
        [sys.executable, "-m", "market", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        url=url,
        ready=lambda _r: processes.http_answers(url + "/healthz"),
        log_path=tmp_root / "live_server.log",
    ):
        yield url


@pytest.fixture(scope="session")
def chromium() -> str:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: apt-get install -y chromium", False)
    return CHROMIUM


@pytest.fixture(scope="session")
async def browser(chromium: str) -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium, args=FLAGS)
        yield browser
        await browser.close()


@pytest.fixture
async def page(browser: Browser, live_server: str) -> AsyncIterator[Page]:
    context = await browser.new_context(base_url=live_server)
    page = await context.new_page()
    yield page
    await context.close()
