"""An institute as a team, in a real headless Chromium against the served app: the owner
invites a colleague from the members page, the invitation goes through a real SMTP server, the
colleague joins through the link, drafts and submits a listing, answers an enterprise's offer;
when the contract is ready, the colleague is told who signs and only the owner can sign."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect

from contracts.agreements import service as agreements
from contracts.offers.models import Offer
from listings.models import Listing, ListingState
from market.accounts.models import MemberRole, Membership, User
from tests.builders import (
    PASSWORD,
    a_mailed_link,
    a_published_listing,
    a_verified_enterprise,
    a_verified_institute,
    actor_of,
    an_admin,
    an_offer,
)

pytestmark = pytest.mark.browser

COLLEAGUE = {
    "email": "wang.lei@magnetics.example.org",
    "name": "Wang Lei",
    "password": "north wind copper kettle",
}


async def a_page(browser: Browser, live_server: str) -> tuple[BrowserContext, Page]:
    context = await browser.new_context(base_url=live_server, locale="en-GB", timezone_id="UTC")
    return context, await context.new_page()


def nav(page: Page) -> Any:
    return page.get_by_role("navigation", name="Main")


def flash(page: Page) -> Any:
    return page.locator(".flash-notice")


async def test_an_owner_invites_a_colleague_who_lists_and_negotiates_but_only_the_owner_signs(
    browser: Browser, live_server: str, settings: Any, mailbox: Any, redis_client: Any
) -> None:
    owner, institute = await a_verified_institute()
    listing = await a_published_listing(owner, title="Superelastic nickel-titanium stent wire")
    buyer, _ = await a_verified_enterprise()

    owner_context, owner_page = await a_page(browser, live_server)
    colleague_context, colleague_page = await a_page(browser, live_server)
    try:
        # 1. The owner invites a colleague from the members page.
        await owner_page.goto("/login")
        await owner_page.get_by_label("E-mail address").fill(owner.email)
        await owner_page.get_by_label("Password").fill(PASSWORD)
        await owner_page.get_by_role("button", name="Log in").click()
        await nav(owner_page).get_by_role("link", name="Members").click()
        await expect(owner_page.get_by_role("heading", level=1)).to_have_text("Members")
        invite = owner_page.locator("form[action='/organization/members/invite']")
        await invite.get_by_label("E-mail address").fill(COLLEAGUE["email"])
        await invite.get_by_label("Role").select_option("member")
        await invite.get_by_role("button", name="Send the invitation").click()
        await expect(flash(owner_page)).to_contain_text(COLLEAGUE["email"])

        # 2. The link arrives by e-mail (the worker sends it through SMTP).
        token = await a_mailed_link(settings, mailbox, COLLEAGUE["email"], "invitations")

        # 3. The colleague opens it, creates an account and is in the institute.
        await colleague_page.goto(f"/invitations/{token}")
        await expect(colleague_page.locator("main")).to_contain_text(institute.name)
        await colleague_page.get_by_label("Your name").fill(COLLEAGUE["name"])
        await colleague_page.get_by_label("Password").fill(COLLEAGUE["password"])
        await colleague_page.get_by_role("button", name="Create the account and join").click()
        await expect(flash(colleague_page)).to_contain_text(f"Welcome to {institute.name}")
        colleague = await User.get(email=COLLEAGUE["email"])
        membership = await Membership.get(user_id=colleague.id, organization_id=institute.id)
        assert membership.role == MemberRole.MEMBER and not membership.can_sign

        # 4. The colleague drafts a listing and submits it for review.
        await nav(colleague_page).get_by_role("link", name="My listings").click()
        await colleague_page.get_by_role("link", name="New listing").click()
        await colleague_page.get_by_label("Title").fill("Rare-earth-free magnet recycling")
        await colleague_page.get_by_label("Summary").fill(
            "Recovers magnet alloy from motor scrap without rare-earth losses."
        )
        await colleague_page.get_by_label("Kind").select_option("know_how")
        await colleague_page.get_by_label("Technology readiness level").select_option("4")
        await colleague_page.get_by_label("Non-exclusive licence").check()
        await colleague_page.get_by_label("Territories").fill("WORLD")
        await colleague_page.get_by_label("Fields of use").fill("all")
        await colleague_page.get_by_label("Price model").select_option("offers")
        await colleague_page.get_by_label("Contact name").fill(COLLEAGUE["name"])
        await colleague_page.get_by_label("Contact e-mail").fill(COLLEAGUE["email"])
        await colleague_page.get_by_role("button", name="Save the draft").click()
        await expect(flash(colleague_page)).to_have_text("The draft is saved.")
        await colleague_page.get_by_role("button", name="Submit for review").click()
        await expect(flash(colleague_page)).to_have_text(
            "The listing is submitted; an administrator will review it."
        )
        drafted = await Listing.get(title="Rare-earth-free magnet recycling")
        assert drafted.institute_id == institute.id  # type: ignore[attr-defined]
        assert drafted.state == ListingState.SUBMITTED

        # 5. An enterprise makes an offer; the colleague answers it by accepting.
        offer = await an_offer(listing, buyer)
        await nav(colleague_page).get_by_role("link", name="Offers").click()
        await colleague_page.get_by_role("link", name=listing.title).first.click()
        await colleague_page.get_by_role("button", name="Accept these terms").click()
        await expect(flash(colleague_page)).to_have_text("You accepted the offer.")
        assert (await Offer.get(id=offer.id)).state == "accepted"

        # 6. The contract is drawn up and approved; signing opens.
        contract = await agreements.generate_contract(str(offer.id))
        assert contract is not None
        await agreements.approve_contract(await actor_of(await an_admin()), str(contract.id))
        await agreements.open_signing(str(contract.id))

        # 7. The colleague may not sign, and is told who does; the owner signs.
        await colleague_page.goto(f"/contracts/{contract.id}")
        await expect(colleague_page.get_by_role("form", name="Sign the contract")).to_have_count(0)
        await expect(colleague_page.locator("main")).to_contain_text(
            "Waiting for a member who may sign"
        )
        await owner_page.goto(f"/contracts/{contract.id}")
        sign = owner_page.get_by_role("form", name="Sign the contract")
        await sign.get_by_label("Your full name").fill(owner.name)
        await sign.get_by_role("checkbox").check()
        await sign.get_by_role("button", name="Sign the contract").click()
        await expect(flash(owner_page)).to_have_text("You signed the contract.")
    finally:
        await owner_context.close()
        await colleague_context.close()
