"""Register, log out, log in and see the dashboard, in a real headless Chromium."""

from __future__ import annotations

from playwright.async_api import Page, expect

from market.accounts.models import User


async def test_register_log_in_and_see_the_dashboard(page: Page) -> None:
    await page.goto("/")
    await page.get_by_role("link", name="Register").first.click()
    await page.get_by_label("E-mail address").fill("Browser@Example.org")
    await page.get_by_label("Password").fill("tall oak reading lamp")
    await page.get_by_label("Your name").fill("Ada Browser")
    await page.get_by_label("Organisation name").fill("Lab of Real Browsers")
    await page.get_by_label("Type of organisation").select_option("institute")
    await page.get_by_label("Country").select_option("CN")
    await page.get_by_role("button", name="Create account").click()

    await expect(page.get_by_role("heading", level=1)).to_contain_text("Ada Browser")
    assert page.url.split("?")[0].endswith("/dashboard")
    assert await User.filter(email="browser@example.org").exists()

    await page.get_by_role("button", name="Log out").click()
    await expect(page.get_by_role("link", name="Log in").first).to_be_visible()

    await page.goto("/dashboard")
    assert "/login" in page.url
    await page.get_by_label("E-mail address").fill("browser@example.org")
    await page.get_by_label("Password").fill("tall oak reading lamp")
    await page.get_by_role("button", name="Log in").click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text("Ada Browser")
    await expect(page.get_by_text("Lab of Real Browsers").first).to_be_visible()
    assert page.url.split("?")[0].endswith("/dashboard")
