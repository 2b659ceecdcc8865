"""Search in a real browser: results as you type (htmx), and the same page without JavaScript."""

from __future__ import annotations

import uuid

from playwright.async_api import Browser, expect

from listings import search
from tests.builders import a_published_listing


async def _indexed(settings, **overrides):
    await search.apply_settings(settings)
    listing = await a_published_listing(**overrides)
    await search.upsert([listing.id], settings, wait=True)
    return listing


async def test_results_update_as_you_type(page, settings) -> None:
    word = "zq" + uuid.uuid4().hex[:8]
    listing = await _indexed(settings, title=f"Perovskite {word} tandem solar cell")
    other = await _indexed(settings, title="Ceramic bearing for wind turbines")
    await page.goto("/search")
    results = page.locator("#search-results")
    await expect(results.get_by_text("Ceramic bearing").first).to_be_visible()

    async with page.expect_response(
        lambda r: "/search?" in r.url and r.request.headers.get("hx-request") == "true"
    ) as fragment:
        await page.get_by_role("searchbox").press_sequentially(word, delay=30)
    assert (await fragment.value).ok
    await expect(results.get_by_text(f"Perovskite {word}").first).to_be_visible()
    await expect(results.get_by_text("Ceramic bearing")).to_have_count(0)
    html = await results.inner_html()
    assert str(listing.id) in html and str(other.id) not in html
    assert word in page.url  # the URL carries the search, so it can be shared


async def test_the_search_page_works_without_javascript(
    browser: Browser, live_server: str, settings
) -> None:
    word = "zq" + uuid.uuid4().hex[:8]
    await _indexed(settings, title=f"Desalination {word} membrane")
    context = await browser.new_context(base_url=live_server, java_script_enabled=False)
    try:
        page = await context.new_page()
        await page.goto("/search")
        await page.get_by_role("searchbox").fill(word)
        await page.get_by_role("searchbox").press("Enter")
        await expect(page.get_by_text(f"Desalination {word}").first).to_be_visible()
        assert f"q={word}" in page.url
    finally:
        await context.close()
