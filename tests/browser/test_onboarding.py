"""Register, confirm the address by the mailed link, log in, see the dashboard, log out and in
again, in a real headless Chromium."""

from __future__ import annotations

from typing import Any

from playwright.async_api import Page, expect

from market.accounts.models import User
from tests.builders import a_mailed_link


async def test_register_confirm_log_in_and_see_the_dashboard(
    page: Page, settings: Any, mailbox: Any
) -> None:
    await page.goto("/")
    await page.get_by_role("link", name="Register").first.click()
    await page.get_by_label("E-mail address").fill("Browser@Example.org")
    await page.get_by_label("Password").fill("tall oak reading lamp")
    await page.get_by_label("Your name").fill("Ada Browser")
    await page.get_by_label("Organisation name").fill("Lab of Real Browsers")
    await page.get_by_label("Type of organisation").select_option("institute")
    await page.get_by_label("Country").select_option("CN")
    await page.get_by_label("Registration number").fill("91440300MA5FUTURE1")
    await page.get_by_role("button", name="Create account").click()
    await expect(page.get_by_role("status").first).to_contain_text("Check your mail")
    assert await User.filter(email="browser@example.org").exists()

    token = await a_mailed_link(settings, mailbox, "browser@example.org", "confirm-email")
    await page.goto(f"/confirm-email/{token}")
    await page.get_by_role("button", name="Confirm my address").click()
    await expect(page.get_by_role("status").first).to_contain_text("Your address is confirmed")
    await page.get_by_label("E-mail address").fill("browser@example.org")
    await page.get_by_label("Password").fill("tall oak reading lamp")
    await page.get_by_role("button", name="Log in").click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text("Ada Browser")
    assert page.url.split("?")[0].endswith("/dashboard")
    await expect(page.get_by_text("Confirm your e-mail address")).to_have_count(0)

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

    # Waiting for verification: the checklist, marked from what is done.
    checklist = page.get_by_role("region", name="Getting your organisation verified")
    await expect(checklist.locator('[data-step="confirm_email"]')).to_have_class("done")
    await expect(checklist.locator('[data-step="document"]')).to_have_class("todo")

    # The header's switch stores the language: another browser, a new login, still Chinese.
    await page.get_by_role("button", name="中文").click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text("欢迎")
    assert (await User.get(email="browser@example.org")).locale == "zh"
    await page.context.clear_cookies()
    await page.goto("/login")
    await page.get_by_label("E-mail address").fill("browser@example.org")
    await page.get_by_label("Password").fill("tall oak reading lamp")
    await page.get_by_role("button", name="Log in").click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text("欢迎，Ada Browser")
