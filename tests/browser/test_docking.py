"""Docking, end to end, in a real headless Chromium against the served app, with the real
worker, Meilisearch, Redis, PostgreSQL and a real SMTP server (issue 18's "Done when").

A verified enterprise whose user reads the market in Chinese posts a technology need in
Chinese through the need form and submits it; an administrator approves it; the worker
matches it against the published listings and tells the institute whose English listing fits
(the glossary bridges 反渗透 / reverse osmosis, 海水淡化 / desalination, 膜 / membrane): the
mail arrives, the notice is in its centre, its matches page says why. The institute opens the
need and proposes that listing; the enterprise shortlists the proposal, makes it a finalist
and turns it into an offer in one step, on the form prefilled from the need; the offer names
the proposal as its origin, and the institute sees it in its offers.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

import pytest
from playwright.async_api import Browser, BrowserContext, Locator, Page, expect

from contracts.offers.models import Offer
from docking import matching
from docking import search as need_search
from docking.models import Match, Need, NeedState, Proposal
from listings import search
from market.accounts.models import User
from market.clock import utcnow
from market.i18n import translations
from market.notify import Notification
from tests.builders import (
    PASSWORD,
    a_published_listing,
    a_verified_enterprise,
    a_verified_institute,
    an_admin,
    run_worker,
)
from tests.waiting import eventually

pytestmark = pytest.mark.browser

T = TypeVar("T")
WAIT_S = 30.0
UUID = r"[0-9a-f-]{36}"

# The enterprise reads the market in Chinese: its pages' words, looked up where they are kept.
ZH = translations("zh")
zh = ZH.gettext

LISTING = {
    "title": "Reverse osmosis membrane with high salt rejection for seawater desalination",
    "summary": "A thin-film polyamide reverse osmosis membrane that keeps 99.6% salt rejection "
    "at high flux; 2,000 hours in a seawater pilot plant.",
    "description": "## Results\n\n- 45 litres per square metre and hour\n- stable from pH 2 to 11",
    "keywords": ["reverse osmosis", "membrane", "desalination"],
    "ipc_codes": ["B01D 69/12", "C02F 1/44"],
    "trl": 6,
    "license_types": ["exclusive", "non_exclusive"],
    "territories": ["WORLD"],
    "language": "en",
}
NEED = {
    "title": "高通量反渗透海水淡化膜",
    "problem": "我们的海水淡化厂在高通量运行时脱盐率下降，需要一种反渗透膜，"
    "在每平方米每小时40升的通量下保持99.5%以上的脱盐率。",
    "background": "两座海水淡化厂位于江苏，每座日产淡水两万立方米。",
    "must_have": ["脱盐率不低于99.5%", "通量不低于每平方米每小时40升"],
    "keywords": "反渗透, 海水淡化, 膜",
    "ipc_codes": "B01D 69/12",
    "territories": "CN",
    "budget_min": "500,000",
    "budget_max": "2,000,000",
    "currency": "CNY",
}
INSTITUTE_NAME = "Qingdao Institute of Membrane Science"
ENTERPRISE_NAME = "江苏清源水务有限公司"


async def a_page(browser: Browser, live_server: str) -> tuple[BrowserContext, Page]:
    context = await browser.new_context(base_url=live_server, locale="en-GB", timezone_id="UTC")
    return context, await context.new_page()


def nav(page: Page) -> Locator:
    return page.get_by_role("navigation", name=re.compile("^(Main|主)"))


def flash(page: Page) -> Locator:
    return page.locator(".flash-notice")


async def log_in(page: Page, email: str) -> None:
    await page.goto("/login")
    await page.get_by_label("E-mail address").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await expect(nav(page).get_by_role("button", name="Log out")).to_be_visible()


async def worker_until(settings: Any, check: Callable[[], Awaitable[T]], what: str) -> T:
    """Run the worker (burst) until `check()` holds: what the outbox handlers do is chained
    (index, match, tell, mail), each step a job of its own."""

    async def after_a_run() -> T:
        await run_worker(settings)
        return await check()

    return await eventually(after_a_run, what=what, within=WAIT_S, every=0.2)


async def test_a_chinese_need_is_matched_proposed_to_shortlisted_and_becomes_an_offer(
    browser: Browser, live_server: str, settings: Any, mailbox: Any, redis_client: Any
) -> None:
    await search.apply_settings(settings)
    await need_search.apply_settings(settings)
    owner, institute_org = await a_verified_institute(
        email="zhao.min@membranes.example.org",
        name="Zhao Min",
        organization={"name": INSTITUTE_NAME},
    )
    listing = await a_published_listing(owner, **LISTING)
    buyer, enterprise_org = await a_verified_enterprise(
        email="liu.yang@qingyuan.example.com",
        name="刘洋",
        organization={"name": ENTERPRISE_NAME, "country": "CN"},
    )
    admin = await an_admin()
    # The listing is in the index before the need is published (its own matching finds no need).
    await worker_until(
        settings,
        lambda: search_has(settings, str(listing.id)),
        "the worker to index the institute's listing",
    )

    contexts: list[BrowserContext] = []
    try:
        enterprise_context, enterprise = await a_page(browser, live_server)
        institute_context, institute = await a_page(browser, live_server)
        admin_context, admin_page = await a_page(browser, live_server)
        contexts += [enterprise_context, institute_context, admin_context]

        # 1. The enterprise's user switches the market to Chinese with the header's switch.
        await log_in(enterprise, buyer.email)
        await enterprise.get_by_role("button", name="中文").click()
        await expect(enterprise.get_by_role("heading", level=1)).to_contain_text("欢迎")
        assert (await User.get(id=buyer.id)).locale == "zh"  # its mail is Chinese too

        # 2. It posts the need in Chinese through the need form, and submits it.
        await nav(enterprise).get_by_role("link", name=zh("My needs")).click()
        await enterprise.get_by_role("link", name=zh("Post a need")).click()
        await expect(enterprise.get_by_role("heading", level=1)).to_have_text("发布技术需求")
        await enterprise.get_by_label(zh("Title")).fill(NEED["title"])
        await enterprise.get_by_label(zh("Problem statement")).fill(NEED["problem"])
        await enterprise.get_by_label(zh("Background")).fill(NEED["background"])
        await enterprise.get_by_label(zh("Language of the need")).select_option("zh")
        await enterprise.get_by_label(zh("Must have")).fill("\n".join(NEED["must_have"]))
        await enterprise.get_by_label(zh("Lowest technology readiness level")).select_option("4")
        await enterprise.get_by_label(zh("Highest technology readiness level")).select_option("7")
        await enterprise.get_by_label(zh("IPC codes")).fill(NEED["ipc_codes"])
        await enterprise.get_by_label(zh("Keywords")).fill(NEED["keywords"])
        await enterprise.get_by_label(zh("Licence"), exact=True).check()
        await enterprise.get_by_label(zh("Territories")).fill(NEED["territories"])
        await enterprise.get_by_label(zh("Budget from")).fill(NEED["budget_min"])
        await enterprise.get_by_label(zh("Budget up to")).fill(NEED["budget_max"])
        await enterprise.get_by_label(zh("Currency of the budget")).select_option(NEED["currency"])
        deadline = (utcnow() + timedelta(days=30)).date().isoformat()
        await enterprise.get_by_label(zh("Deadline for responses")).fill(deadline)
        await enterprise.get_by_role("button", name=zh("Save the draft")).click()
        await expect(flash(enterprise)).to_have_text(zh("The draft is saved."))
        await expect(enterprise).to_have_url(re.compile(rf"/needs/{UUID}$"))
        need_url = enterprise.url
        need_id = need_url.rsplit("/", 1)[1]
        await expect(enterprise.get_by_role("heading", level=1)).to_have_text(NEED["title"])
        await enterprise.get_by_role("button", name=zh("Submit for review")).click()
        await expect(flash(enterprise)).to_have_text(
            zh("The need is submitted; an administrator will review it.")
        )
        need = await Need.get(id=need_id)
        assert need.state == NeedState.SUBMITTED and need.language == "zh"
        assert need.must_have == NEED["must_have"] and need.keywords == ["反渗透", "海水淡化", "膜"]
        assert (need.budget_max, need.budget_currency) == (200_000_000, "CNY")

        # 3. An administrator approves it from the moderation queue.
        await log_in(admin_page, admin.email)
        await nav(admin_page).get_by_role("link", name="Moderate needs").click()
        row = admin_page.get_by_role("row").filter(has_text=NEED["title"])
        await expect(row).to_contain_text(ENTERPRISE_NAME)
        await row.get_by_role("button", name=f"Approve {NEED['title']}").click()
        await expect(flash(admin_page)).to_have_text(f"“{NEED['title']}” is published.")

        # 4. The worker indexes and matches the need and tells both sides of the strong match.
        match = await worker_until(
            settings,
            lambda: Match.get_or_none(
                need_id=need_id, listing_id=listing.id, notified_at__isnull=False
            ),
            "the worker to match the need with the listing and tell both sides",
        )
        assert match.score >= matching.STRONG, match.reasons
        kinds = {r["kind"]: r for r in match.reasons}
        # The need's Chinese terms, by the English names of the concepts they share with the
        # listing: the glossary's bridge.
        bridged = {"reverse osmosis", "desalination", "membrane", "salt rejection"}
        assert bridged <= set(kinds["words"]["terms"]), kinds["words"]
        assert kinds["ipc"] == {"kind": "ipc", "level": "subclass", "codes": ["B01D"]}
        assert kinds["trl"]["inside"] and kinds["rights"]["status"] == "available"
        told = f"A technology need fits your listing “{LISTING['title']}”"
        mail = await worker_until(
            settings,
            lambda: first_mail(mailbox, owner.email, told),
            "the match's mail to reach the institute",
        )
        body = mail.get_body(preferencelist=("plain",)).get_content()
        assert NEED["title"] in body and f"/listings/{listing.id}/matches" in body
        # The enterprise is told too, in its language.
        subject = zh("A listing fits your need “%(title)s”") % {"title": NEED["title"]}
        assert subject == f"有成果与您的需求“{NEED['title']}”匹配"
        await worker_until(
            settings,
            lambda: first_mail(mailbox, buyer.email, subject),
            "the match's mail to reach the enterprise, in Chinese",
        )

        # 5. The institute sees the notice and, on its matches, why the need fits its listing.
        await log_in(institute, owner.email)
        await (
            nav(institute)
            .get_by_role("link", name=re.compile(r"^Notifications \d+ unread$"))
            .click()
        )
        await expect(institute.get_by_role("listitem").filter(has_text=told)).to_be_visible()
        assert await Notification.filter(user_id=owner.id, subject=told).exists()
        await nav(institute).get_by_role("link", name="Matches").click()
        found = institute.locator("li.match").filter(has_text=NEED["title"])
        await expect(found).to_contain_text(f"Score {match.score} of 100")
        await found.get_by_text("Why this match").click()
        await expect(found.locator(".reason-words")).to_contain_text("Words in common:")
        await expect(found.locator(".reason-ipc")).to_have_text("Same IPC subclass: B01D")
        await expect(found.locator(".reason-trl")).to_contain_text("inside the range")
        await expect(found.locator(".reason-rights")).to_contain_text("Rights still available")
        # The need's title, with the Chinese words the English listing matched marked.
        await expect(found.locator("mark").filter(has_text="反渗透")).to_be_visible()
        await expect(found.locator("mark").filter(has_text="海水淡化")).to_be_visible()
        await institute.goto(f"/listings/{listing.id}/matches")
        await expect(institute.locator("li.match").filter(has_text=NEED["title"])).to_have_count(1)

        # 6. It opens the need and proposes its listing.
        await institute.locator("li.match").get_by_role("link", name=NEED["title"]).click()
        await expect(institute).to_have_url(re.compile(rf"/needs/{need_id}$"))
        await expect(institute.get_by_role("heading", level=1)).to_have_text(NEED["title"])
        proposal_form = institute.locator("form.proposal-form")
        await proposal_form.get_by_label("Summary").fill(
            "Our thin-film polyamide RO membrane holds 99.6% salt rejection at 45 LMH over "
            "2,000 hours in a seawater pilot; we license it for plants in China."
        )
        await proposal_form.get_by_label(NEED["must_have"][0]).fill("99.6% in the pilot.")
        await proposal_form.get_by_label(NEED["must_have"][1]).fill("45 LMH at 55 bar.")
        await proposal_form.get_by_label("Technology readiness level").select_option("6")
        await proposal_form.get_by_label(LISTING["title"]).check()
        await proposal_form.get_by_role("button", name="Send the proposal").click()
        await expect(flash(institute)).to_have_text("Your proposal is sent to the seeker.")
        await expect(institute).to_have_url(re.compile(rf"/proposals/{UUID}$"))
        proposal_id = institute.url.rsplit("/", 1)[1]
        proposal = await Proposal.get(id=proposal_id)
        assert proposal.listing_ids == [str(listing.id)] and proposal.stage == "new"

        # 7. The enterprise opens its proposals for the need, shortlists, makes a finalist.
        await enterprise.goto(need_url)
        # Its need page says which listings fit, and why, in Chinese.
        fits = enterprise.locator("#matches li.match").filter(has_text=LISTING["title"])
        await expect(fits).to_contain_text(zh("Score %(score)s of 100") % {"score": match.score})
        await expect(fits.locator(".reason-ipc")).to_have_text(
            zh("Same IPC subclass: %(codes)s") % {"codes": "B01D"}
        )
        received = ZH.ngettext("%(num)s proposal received", "%(num)s proposals received", 1) % {
            "num": 1
        }
        await enterprise.get_by_role("link", name=received).click()
        await expect(enterprise).to_have_url(re.compile(rf"/needs/{need_id}/proposals$"))
        inbox = enterprise.get_by_role("row").filter(has_text=INSTITUTE_NAME)
        await expect(inbox).to_contain_text(zh("New"))
        await inbox.get_by_role("link", name=INSTITUTE_NAME).click()
        await expect(enterprise).to_have_url(re.compile(rf"/proposals/{proposal_id}$"))
        for action, stage in (("Shortlist", "Shortlisted"), ("Make a finalist", "Finalist")):
            await enterprise.get_by_role("button", name=zh(action)).click()
            await expect(flash(enterprise)).to_have_text(zh("The proposal is moved."))
            await expect(enterprise.locator(".listing-meta .badge")).to_have_text(zh(stage))
        assert (await Proposal.get(id=proposal_id)).stage == "finalist"

        # 8. It turns the finalist into an offer on the attached listing, prefilled from the need.
        await enterprise.get_by_role("link", name=zh("Make an offer on this listing")).click()
        await expect(enterprise).to_have_url(
            re.compile(rf"/proposals/{proposal_id}/offer\?listing_id={listing.id}$")
        )
        await expect(enterprise.get_by_label(zh("Licence type"))).to_have_value("non_exclusive")
        await expect(enterprise.get_by_label(zh("Territories"))).to_have_value("CN")
        await expect(enterprise.get_by_label(zh("Upfront fee"))).to_have_value("2000000.00")
        await expect(enterprise.get_by_label(zh("Currency"))).to_have_value("CNY")
        await expect(enterprise.get_by_label(zh("Term in months"))).to_have_value("60")
        await enterprise.get_by_label(zh("Upfront fee")).fill("1,800,000")
        await enterprise.get_by_label(zh("A message to the institute")).fill(
            "我们希望在中国许可贵所的反渗透膜技术。"
        )
        await enterprise.get_by_role("button", name=zh("Send the offer")).click()
        await expect(flash(enterprise)).to_have_text(zh("Your offer is sent to the institute."))
        await expect(enterprise).to_have_url(re.compile(rf"/offers/{UUID}$"))
        offer_id = enterprise.url.rsplit("/", 1)[1]
        origin = enterprise.get_by_role(
            "link", name=zh("Made from a proposal on a technology need")
        )
        await expect(origin).to_have_attribute("href", f"/proposals/{proposal_id}")
        offer = await Offer.get(id=offer_id)
        assert str(offer.proposal_id) == proposal_id  # type: ignore[attr-defined]
        assert offer.listing_id == listing.id  # type: ignore[attr-defined]
        assert (offer.buyer_id, offer.seller_id) == (enterprise_org.id, institute_org.id)  # type: ignore[attr-defined]
        assert (await Proposal.get(id=proposal_id)).stage == "converted"

        # 9. The institute sees the offer, and where it came from.
        await nav(institute).get_by_role("link", name="Offers").click()
        await (
            institute.get_by_role("row")
            .filter(has_text=ENTERPRISE_NAME)
            .get_by_role("link", name=LISTING["title"])
            .click()
        )
        await expect(institute).to_have_url(re.compile(rf"/offers/{offer_id}$"))
        await expect(institute.locator("main")).to_contain_text("1,800,000.00 CNY")
        origin = institute.get_by_role("link", name="Made from a proposal on a technology need")
        await expect(origin).to_have_attribute("href", f"/proposals/{proposal_id}")
    finally:
        for context in contexts:
            await context.close()


async def search_has(settings: Any, listing_id: str) -> bool:
    async with search.Meili(settings) as meili:
        try:
            await meili.call("GET", f"/indexes/{settings.meili_index}/documents/{listing_id}")
        except search.MeiliError as exc:
            if exc.status != 404:
                raise
            return False
    return True


async def first_mail(mailbox: Any, address: str, subject_part: str) -> Any:
    """The first mail the SMTP server took for `address` with `subject_part` in its subject."""
    return next((m for m in mailbox.to(address) if subject_part in str(m["Subject"])), None)
