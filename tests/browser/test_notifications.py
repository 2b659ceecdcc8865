"""The unread badge and the notification centre, in a real headless Chromium."""

from __future__ import annotations

import os

from playwright.async_api import Page, expect

from market.notify import Notification
from tests.builders import PASSWORD, a_user


async def test_the_badge_leads_to_the_centre_where_notifications_are_marked_read(
    page: Page,
) -> None:
    user, _ = await a_user()
    for n in range(3):
        await Notification.create(
            user=user,
            subject=f"Offer news {n}",
            body=f"Something happened to offer {n}.",
            link=f"http://127.0.0.1/offers/{n}",
            dedup_key=f"browser:{user.id}:{n}",
        )

    await page.goto("/login")
    await page.get_by_label("E-mail address").fill(user.email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    nav = page.get_by_role("navigation", name="Main")
    await expect(nav.get_by_role("link", name="Notifications 3 unread")).to_be_visible()

    await nav.get_by_role("link", name="Notifications 3 unread").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Notifications")
    await expect(page.get_by_text("3 unread notifications")).to_be_visible()
    if shot := os.environ.get("TM_SCREENSHOT"):  # for a person to look at the page
        await page.screenshot(path=shot, full_page=True)

    item = page.get_by_role("listitem").filter(has_text="Offer news 1")
    await item.get_by_role("button", name="Mark as read").click()
    await expect(nav.get_by_role("link", name="Notifications 2 unread")).to_be_visible()
    await expect(item.get_by_role("button")).to_have_count(0)
    await expect(item).to_have_class("notification-read")

    await page.get_by_role("button", name="Mark all as read").click()
    await expect(page.get_by_text("2 notifications marked as read.")).to_be_visible()
    await expect(nav.get_by_role("link", name="Notifications", exact=True)).to_be_visible()
    assert await Notification.filter(user=user, read_at=None).count() == 0
