"""The whole trade, end to end, in a real headless Chromium against the app served over HTTP,
with the real worker, Meilisearch, Redis, PostgreSQL and localstripe.

An institute registers and an administrator verifies it; the institute creates a listing with
an image and submits it; the administrator approves it; an enterprise registers and is
verified, searches with a typo, narrows by a facet, opens the listing and makes an offer; the
institute counters; the enterprise accepts; the worker draws up the contract; the administrator
approves the trade; both sign; the enterprise pays by card through Stripe Elements; the webhook
arrives and the worker handles it; the contract is active; both are notified; the
administrator's ledger shows what is owed to the institute.

Each main step saves a full-page screenshot under `<tmp_root>/trade/` (printed at the end),
and also into `$TECHMARKET_SCREENSHOTS` when it is set (a relative path is taken from the
repository's root), which is how the README's screenshots are made:

    TECHMARKET_SCREENSHOTS=docs/screenshots pytest tests/browser/test_trade.py
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
import redis
from PIL import Image, ImageDraw
from playwright.async_api import Browser, BrowserContext, Locator, Page, expect

from contracts.agreements.models import Contract
from contracts.offers.models import Offer, OfferTerms
from contracts.payments import ledger
from contracts.payments.models import LedgerAccount, LedgerEntry, Payment, StripeEvent
from listings import search
from listings.models import Listing, ListingMedia
from market.accounts import links
from market.accounts.models import EmailVerification, Organization
from market.app import processes
from market.config import Settings
from market.money import Money
from market.notify import Notification
from market.outbox import OutboxEvent
from tests.builders import PASSWORD, a_published_listing, an_admin
from tests.waiting import eventually, eventually_sync

pytestmark = pytest.mark.browser

VIEWPORT = {"width": 1280, "height": 900}
# Each wait for the worker, Meilisearch or Stripe is bounded; on a loaded 2-core machine these
# take a second or two, so a limit means something is broken, not slow.
WAIT_S = 30.0
# Stripe.js loads, and localstripe answers, within seconds (as in test_pay.py).
STRIPE_WAIT_MS = 60_000
SHOTS_ENV = "TECHMARKET_SCREENSHOTS"

TITLE = "Magnetocaloric heat pump alloy with low hysteresis"
TYPO = "magnetokaloric"  # one letter wrong: Meilisearch's typo tolerance still finds it
DECOY = "Magnetocaloric cycle simulation toolkit"
IMAGE_NAME = "alloy-test-bench.png"

INSTITUTE = {
    "email": "chen.jing@magnetics.example.org",
    "password": "cold iron quiet spring",
    "name": "Chen Jing",
    "organization": "Ningbo Institute of Magnetic Materials",
    "kind": "institute",
    "country": "CN",
    "region": "Zhejiang",
}
ENTERPRISE = {
    "email": "lena.fischer@nordkaelte.example.com",
    "password": "blue fjord winter orchard",
    "name": "Lena Fischer",
    "organization": "Nordkälte Kühltechnik GmbH",
    "kind": "enterprise",
    "country": "DE",
    "region": "Hamburg",
}
OFFERED_FEE = 50_000  # USD, the enterprise's first offer
COUNTER_FEE = 60_000  # USD, the institute's counter-offer, which the enterprise accepts


# --- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def worker(settings: Settings, live_server: str, tmp_root: Path) -> Iterator[processes.Running]:
    """`market worker` (arq) as a child on the run's queue, with the live server's settings.

    Stopped when the module ends, after what it was doing is done: later tests run their own
    burst workers on the same queue and must not race a background one."""
    env = {**os.environ, "BASE_URL": live_server}
    running = processes.start_command(
        "worker",
        [sys.executable, "-m", "market", "worker"],
        env=env,
        log_path=tmp_root / "trade-worker.log",
    )
    try:
        yield running
        _wait_for_empty_queue(settings)
    finally:
        running.stop()


def _wait_for_empty_queue(settings: Settings) -> None:
    """Until no job is due on the queue (deferred retries and crons do not count)."""
    client = redis.Redis.from_url(settings.redis_url)
    try:
        eventually_sync(
            lambda: not client.zcount(settings.queue_name, "-inf", time.time() * 1000),
            what="the trade's worker to empty the queue",
            within=WAIT_S,
        )
    finally:
        client.close()


@pytest.fixture(scope="module")
def stripe_webhooks(
    settings: Settings, localstripe: processes.Running, live_server: str
) -> Iterator[str]:
    """localstripe sends its signed events to the live server while this module runs; then to
    a closed port, so later tests get nothing they did not ask for (those that need webhooks
    point "market" at their own server)."""
    url = live_server + "/webhooks/stripe"
    processes.point_localstripe_webhook(localstripe.url, url, settings.stripe_webhook_secret)
    try:
        yield url
    finally:
        dead = f"http://127.0.0.1:{processes.free_port()}/webhooks/stripe"
        processes.point_localstripe_webhook(localstripe.url, dead, settings.stripe_webhook_secret)


# --- helpers ---------------------------------------------------------------------------------


class Shots:
    """Numbered full-page screenshots in the artefact directory (and $TECHMARKET_SCREENSHOTS)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        for old in self.directory.glob("*.png"):
            if re.match(r"^\d\d-", old.name):
                old.unlink()
        extra = os.environ.get(SHOTS_ENV, "").strip()
        self.extra: Path | None = None
        if extra:
            path = Path(extra)
            self.extra = path if path.is_absolute() else processes.ROOT / path
            self.extra.mkdir(parents=True, exist_ok=True)
        self.taken: list[str] = []

    async def take(self, page: Page, name: str) -> None:
        filename = f"{len(self.taken) + 1:02d}-{name}.png"
        path = self.directory / filename
        await page.screenshot(path=path, full_page=True, animations="disabled")
        if self.extra is not None:
            compact(path, self.extra / filename)
        self.taken.append(filename)


def compact(source: Path, target: Path) -> None:
    """A 128-colour copy for the README: a third of the size, still crisp for page text."""
    from PIL import Image

    with Image.open(source) as image:
        image.convert("RGB").quantize(colors=128, method=Image.Quantize.FASTOCTREE).save(
            target, "PNG", optimize=True
        )


async def new_page(browser: Browser, live_server: str) -> tuple[BrowserContext, Page]:
    context = await browser.new_context(
        base_url=live_server, viewport=VIEWPORT, locale="en-GB", timezone_id="UTC"
    )
    return context, await context.new_page()


def flash(page: Page) -> Locator:
    return page.locator(".flash-notice")


def main_nav(page: Page) -> Locator:
    return page.get_by_role("navigation", name="Main")


async def log_in(page: Page, email: str, password: str) -> None:
    await page.goto("/login")
    await page.get_by_label("E-mail address").fill(email)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Log in").click()
    await expect(main_nav(page)).to_contain_text("Log out")


async def register(page: Page, who: dict[str, str], shots: Shots | None = None) -> None:
    await page.goto("/")
    await main_nav(page).get_by_role("link", name="Register").click()
    await page.get_by_label("E-mail address").fill(who["email"])
    await page.get_by_label("Password").fill(who["password"])
    await page.get_by_label("Your name").fill(who["name"])
    await page.get_by_label("Organisation name").fill(who["organization"])
    await page.get_by_label("Type of organisation").select_option(who["kind"])
    await page.get_by_label("Country").select_option(who["country"])
    await page.get_by_label("Region or province").fill(who["region"])
    if shots is not None:
        await shots.take(page, f"register-{who['kind']}")
    await page.get_by_role("button", name="Create account").click()
    await expect(flash(page)).to_contain_text("Check your mail")
    # The link as the mail carries it (a fresh token for the open link, as a re-sent mail
    # makes): the worker of this walk logs mail rather than sending it; the mail itself is
    # read from a real SMTP server in test_onboarding.py.
    link = await eventually(
        lambda: (
            EmailVerification.filter(user__email=who["email"].lower())
            .exclude(token_hash="")
            .first()
        ),
        what=f"the worker mails {who['email']} a confirmation link",
    )
    token = await links.fresh_token(EmailVerification, link.id)
    await page.goto(f"/confirm-email/{token}")
    await page.get_by_role("button", name="Confirm my address").click()
    await expect(flash(page)).to_contain_text("Your address is confirmed")
    await page.get_by_label("E-mail address").fill(who["email"])
    await page.get_by_label("Password").fill(who["password"])
    await page.get_by_role("button", name="Log in").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(f"Welcome, {who['name']}")


async def verify(admin: Page, org_name: str, shots: Shots | None = None) -> None:
    await main_nav(admin).get_by_role("link", name="Verify organisations").click()
    row = admin.get_by_role("row").filter(has_text=org_name)
    await expect(row).to_contain_text("Pending verification")
    if shots is not None:
        await shots.take(admin, "admin-verifies-institute")
    await row.get_by_role("button", name=f"Verify {org_name}").click()
    await expect(flash(admin)).to_have_text(f"{org_name} is verified.")


def the_png(path: Path) -> Path:
    """A small, recognisable picture of a test bench: made here, so nothing binary is stored."""
    image = Image.new("RGB", (480, 300), (236, 242, 248))
    draw = ImageDraw.Draw(image)
    for x in range(480):  # a cold-to-warm gradient across the bottom, like a thermal image
        shade = (int(40 + 200 * x / 479), 90, int(230 - 190 * x / 479))
        draw.line([(x, 220), (x, 299)], fill=shade)
    draw.rectangle([60, 60, 200, 200], fill=(120, 128, 140), outline=(40, 44, 52), width=4)
    draw.rectangle([280, 60, 420, 200], fill=(150, 160, 172), outline=(40, 44, 52), width=4)
    draw.line([(200, 130), (280, 130)], fill=(40, 44, 52), width=6)
    draw.ellipse([215, 105, 265, 155], outline=(200, 40, 40), width=5)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, format="PNG")
    return path


class Waiter:
    """Bounded polling for what the worker (or Stripe) does in the background; a timeout says
    what was awaited and shows the worker's log."""

    def __init__(self, worker: processes.Running) -> None:
        self.worker = worker

    def _explain(self) -> str:
        state = "running" if self.worker.alive() else f"exited ({self.worker.process.poll()})"
        return f"the worker is {state}, its log {self.worker.log_path}:\n{self.worker.log_tail(40)}"

    async def idle(self) -> None:
        """Until every outbox event is processed (mails of the last notifications, ...)."""

        async def none_pending() -> bool:
            return not await OutboxEvent.filter(processed_at=None, failed_at=None).exists()

        await eventually(
            none_pending,
            what="the worker to process every outbox event",
            within=WAIT_S,
            every=0.25,
            explain=self._explain,
        )

    async def visible(
        self, page: Page, locator: Locator, what: str, url: str | None = None
    ) -> None:
        """Reload `url` (or the page) until `locator` shows."""
        first = True

        async def shown() -> bool:
            nonlocal first
            if not first:
                await (page.reload() if url is None else page.goto(url))
            first = False
            return bool(await locator.count() and await locator.first.is_visible())

        await eventually(shown, what=what, within=WAIT_S, every=0.5, explain=self._explain)


async def image_loaded(page: Page, image: Locator) -> None:
    await image.scroll_into_view_if_needed()
    await expect(image).to_be_visible()
    handle = await image.element_handle()
    await page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=handle)


# --- the walk --------------------------------------------------------------------------------


async def test_a_trade_from_registration_to_the_ledger(
    browser: Browser,
    live_server: str,
    settings: Settings,
    tmp_root: Path,
    worker: processes.Running,
    stripe_webhooks: str,
) -> None:
    started = time.monotonic()
    shots = Shots(tmp_root / "trade")
    waiter = Waiter(worker)
    image_path = the_png(tmp_root / "trade-upload" / IMAGE_NAME)

    # Another institute's listing with the same rare word, so the facet has something to do.
    await search.apply_settings(settings)
    decoy = await a_published_listing(
        title=DECOY, kind="software", patent_numbers=[], summary="Open models of AMR cycles."
    )
    await search.upsert([decoy.id], settings, wait=True)

    admin_user = await an_admin()
    contexts: list[BrowserContext] = []
    try:
        admin_context, admin = await new_page(browser, live_server)
        institute_context, institute = await new_page(browser, live_server)
        enterprise_context, enterprise = await new_page(browser, live_server)
        contexts += [admin_context, institute_context, enterprise_context]
        await log_in(admin, admin_user.email, PASSWORD)

        # 1. The institute registers; an administrator verifies it.
        await register(institute, INSTITUTE, shots)
        await expect(institute.get_by_text("An administrator must verify")).to_be_visible()
        await verify(admin, INSTITUTE["organization"], shots)
        org = await Organization.get(name=INSTITUTE["organization"])
        assert org.verification == "verified" and org.kind == "institute"

        # 2. The institute creates a listing through the form...
        await main_nav(institute).get_by_role("link", name="My listings").click()
        await institute.get_by_role("link", name="New listing").click()
        await expect(institute.get_by_role("heading", level=1)).to_have_text("New listing")
        await institute.get_by_label("Title").fill(TITLE)
        await institute.get_by_label("Summary").fill(
            "A gadolinium-free La(Fe,Si)13 alloy for magnetic refrigeration: a 6 K adiabatic "
            "temperature change at 1.5 T and under 1 K of thermal hysteresis."
        )
        await institute.get_by_label("Description").fill(
            "## Advantages\n\n- no rare earths beyond lanthanum\n- 40% less hysteresis loss\n"
            "- made by ordinary arc melting and annealing\n\n"
            "Proven over 10 million field cycles on our test bench."
        )
        await institute.get_by_label("Kind").select_option("patent")
        await institute.get_by_label("Patent numbers").fill("CN 114512345 A")
        await institute.get_by_label("IPC codes").fill("F25B 21/00, H01F 1/01")
        await institute.get_by_label("Technology readiness level").select_option("5")
        await institute.get_by_label("Keywords").fill("magnetic refrigeration, heat pump")
        await institute.get_by_label("Inventors").fill("Chen Jing\nWang Lei")
        await institute.get_by_label("Non-exclusive licence").check()
        await institute.get_by_label("Exclusive licence", exact=True).check()
        await institute.get_by_label("Territories").fill("WORLD")
        await institute.get_by_label("Fields of use").fill("all")
        await institute.get_by_label("Price model").select_option("negotiable")
        await institute.get_by_label("Asking price").fill("80,000")
        await institute.get_by_label("Currency").select_option("USD")
        await institute.get_by_label("Contact name").fill(INSTITUTE["name"])
        await institute.get_by_label("Contact e-mail").fill(INSTITUTE["email"])
        await shots.take(institute, "new-listing")
        await institute.get_by_role("button", name="Save the draft").click()
        await expect(flash(institute)).to_have_text("The draft is saved.")
        await expect(institute.get_by_role("heading", level=1)).to_have_text(TITLE)
        listing_url = institute.url
        listing_id = re.search(r"/listings/([0-9a-f-]{36})$", listing_url).group(1)

        # ... adds an image on the edit page ...
        await institute.get_by_role("link", name="Edit", exact=True).click()
        await institute.get_by_label("Image or PDF").set_input_files(image_path)
        await institute.get_by_role("button", name="Upload").click()
        await expect(flash(institute)).to_have_text("File added.")
        await image_loaded(institute, institute.locator(f'.media-manage img[alt="{IMAGE_NAME}"]'))
        await shots.take(institute, "listing-image")

        # ... and submits it for review.
        await institute.goto(listing_url)
        await institute.get_by_role("button", name="Submit for review").click()
        await expect(flash(institute)).to_have_text(
            "The listing is submitted; an administrator will review it."
        )
        await expect(institute.locator(".listing-meta")).to_contain_text("Awaiting review")
        await image_loaded(institute, institute.locator(f'.media-images img[alt="{IMAGE_NAME}"]'))
        media = await ListingMedia.filter(listing_id=listing_id)
        assert [(m.kind, m.content_type, m.original_name) for m in media] == [
            ("image", "image/png", IMAGE_NAME)
        ]

        # 3. The administrator approves it.
        await main_nav(admin).get_by_role("link", name="Moderate listings").click()
        queue = admin.get_by_role("row").filter(has_text=TITLE)
        await expect(queue).to_contain_text(INSTITUTE["organization"])
        await shots.take(admin, "admin-approves-listing")
        await queue.get_by_role("button", name=f"Approve {TITLE}").click()
        await expect(flash(admin)).to_have_text(f"“{TITLE}” is published.")
        assert (await Listing.get(id=listing_id)).state == "published"

        # 4. An enterprise registers and is verified.
        await register(enterprise, ENTERPRISE)
        await verify(admin, ENTERPRISE["organization"])
        await enterprise.reload()
        await expect(enterprise.get_by_text("An administrator must verify")).to_have_count(0)
        assert (await Organization.get(name=ENTERPRISE["organization"])).verification == (
            "verified"
        )

        # 5. It searches with a typo (once the worker has indexed the listing) ...
        results = enterprise.locator("#search-results")
        hit = results.get_by_role("link", name=TITLE)
        await waiter.visible(
            enterprise, hit, "the worker to index the listing", url=f"/search?q={TYPO}"
        )
        await main_nav(enterprise).get_by_role("link", name="Search", exact=True).click()
        async with enterprise.expect_response(
            lambda r: "/search?" in r.url and TYPO in r.url
        ) as typed:
            await enterprise.get_by_role("searchbox").press_sequentially(TYPO, delay=40)
        assert (await typed.value).ok
        # The fragment is swapped in (and the URL pushed) just after the response.
        await expect(enterprise).to_have_url(re.compile(rf"/search\?q={TYPO}&"))
        await expect(results.locator(".chip").filter(has_text=TYPO)).to_be_visible()
        await expect(hit).to_be_visible()
        await expect(results.get_by_role("link", name=DECOY)).to_be_visible()
        await expect(results.locator(".search-total")).to_have_text("2 listings found")
        await shots.take(enterprise, "search-with-a-typo")

        # ... narrows by a facet ...
        kinds = results.get_by_role("group", name="Kind", exact=True)
        # A click, not check(): htmx swaps the results (and this box) as soon as it changes.
        async with enterprise.expect_response(lambda r: "kind=patent" in r.url) as narrowed:
            await kinds.get_by_role("checkbox", name=re.compile(r"^Patent \(1\)$")).click()
        assert (await narrowed.value).ok
        await expect(results.locator(".chip").filter(has_text="Kind: Patent")).to_be_visible()
        await expect(results.get_by_role("link", name=DECOY)).to_have_count(0)
        await expect(results.locator(".search-total")).to_have_text("1 listing found")
        await expect(hit).to_be_visible()
        assert "kind=patent" in enterprise.url
        await shots.take(enterprise, "search-narrowed-by-a-facet")

        # ... opens the listing ...
        await hit.click()
        await expect(enterprise.get_by_role("heading", level=1)).to_have_text(TITLE)
        await image_loaded(enterprise, enterprise.get_by_role("img", name=IMAGE_NAME))
        await shots.take(enterprise, "listing")

        # ... and makes an offer.
        await enterprise.get_by_role("link", name="Make an offer").click()
        await enterprise.get_by_label("Licence type").select_option("non_exclusive")
        await expect(enterprise.get_by_label("Territories")).to_have_value("WORLD")
        await enterprise.get_by_label("Term in months").fill("60")
        await enterprise.get_by_label("Upfront fee").fill(f"{OFFERED_FEE:,}")
        await expect(enterprise.get_by_label("Currency")).to_have_value("USD")
        await enterprise.get_by_label("Royalty in percent").fill("3.5")
        await enterprise.get_by_label("Milestone 1: what must happen").fill(
            "First commercial sale of a heat pump"
        )
        await enterprise.get_by_label("Milestone 1: amount").fill("20,000")
        await enterprise.get_by_label("Other conditions").fill(
            "Two weeks of technical support at our Hamburg plant."
        )
        await enterprise.get_by_label("A message to the institute").fill(
            "We build commercial heat pumps and would like to license the alloy."
        )
        await enterprise.get_by_role("button", name="Send the offer").click()
        await expect(flash(enterprise)).to_have_text("Your offer is sent to the institute.")
        offer_url = enterprise.url
        offer_id = re.search(r"/offers/([0-9a-f-]{36})$", offer_url).group(1)
        await expect(enterprise.locator(".details")).to_contain_text("Waiting for the institute")
        await shots.take(enterprise, "offer-sent")

        # 6. The institute counters through its form (the offer is in its inbox).
        await main_nav(institute).get_by_role("link", name="Offers").click()
        await (
            institute.get_by_role("row")
            .filter(has_text=ENTERPRISE["organization"])
            .get_by_role("link", name=TITLE)
            .click()
        )
        await expect(institute.locator(".details")).to_contain_text("Your turn")
        await institute.get_by_role("link", name="Make a counter-offer").click()
        await expect(institute.get_by_label("Upfront fee")).to_have_value("50000.00")
        await institute.get_by_label("Upfront fee").fill(f"{COUNTER_FEE:,}")
        await institute.get_by_label("Other conditions").fill(
            "Two weeks of technical support at your Hamburg plant, and a sample batch of 5 kg."
        )
        await institute.get_by_role("button", name="Send the counter-offer").click()
        await expect(flash(institute)).to_have_text("Your counter-offer is sent.")
        versions = institute.get_by_role("table", name="Every version of the terms")
        await expect(versions).to_contain_text("Version 2")
        await expect(versions.locator("td.changed")).to_have_count(2)  # the fee and conditions
        await shots.take(institute, "counter-offer")

        # 7. The enterprise accepts.
        await enterprise.goto(offer_url)
        await expect(enterprise.locator(".details")).to_contain_text("Your turn")
        await enterprise.get_by_role("button", name="Accept these terms").click()
        await expect(flash(enterprise)).to_have_text("You accepted the offer.")
        await expect(enterprise.locator(".details")).to_contain_text("Accepted")
        offer = await Offer.get(id=offer_id)
        assert offer.state == "accepted"
        accepted = await OfferTerms.get(offer_id=offer_id, number=offer.terms_number)
        assert accepted.upfront_amount == COUNTER_FEE * 100 and accepted.currency == "USD"

        # 8. The worker draws up the contract; it appears on the offer page.
        contract_link = enterprise.get_by_role("link", name="The contract this offer became")
        await waiter.visible(enterprise, contract_link, "the worker to draw up the contract")
        await contract_link.click()
        contract_url = enterprise.url
        contract_id = re.search(r"/contracts/([0-9a-f-]{36})$", contract_url).group(1)
        contract = await Contract.get(id=contract_id)
        assert contract.amount_due == COUNTER_FEE * 100 and contract.currency == "USD"
        summary = enterprise.locator(".details").first
        await expect(summary).to_contain_text("Awaiting approval")
        await expect(summary).to_contain_text("60,000.00 USD")
        await shots.take(enterprise, "contract-awaiting-approval")

        # 9. The administrator approves the trade.
        await main_nav(admin).get_by_role("link", name="Approve contracts").click()
        await expect(admin.get_by_text(contract.reference).first).to_be_visible()
        await expect(admin.locator("main")).to_contain_text(ENTERPRISE["organization"])
        await shots.take(admin, "admin-approves-trade")
        await admin.get_by_role("button", name="Approve the trade").click()
        await expect(flash(admin)).to_have_text(f"Contract {contract.reference} is approved.")

        # 10. Both sign (each the owner of its organisation), once the worker opens signing.
        for page, who in ((institute, INSTITUTE), (enterprise, ENTERPRISE)):
            sign_form = page.get_by_role("form", name="Sign the contract")
            await waiter.visible(
                page, sign_form, f"signing to open for {who['name']}", url=contract_url
            )
            await sign_form.get_by_label("Your full name").fill(who["name"])
            await sign_form.get_by_role("checkbox").check()
            await sign_form.get_by_role("button", name="Sign the contract").click()
            await expect(flash(page)).to_have_text("You signed the contract.")
        signatures = enterprise.get_by_role("table", name="Signatures")
        await expect(signatures).to_contain_text(INSTITUTE["name"])
        await expect(signatures).to_contain_text(ENTERPRISE["name"])

        # 11. The enterprise pays by card, through localstripe's Stripe Elements form.
        pay = enterprise.get_by_role("link", name="Pay", exact=True)
        await waiter.visible(enterprise, pay, "the worker to finish the signed contract")
        await expect(summary).to_contain_text("Awaiting payment")
        await shots.take(enterprise, "contract-signed")
        await pay.click()
        await enterprise.get_by_label("Card", exact=True).check()
        await enterprise.get_by_role("button", name="Continue to payment").click()
        await expect(enterprise).to_have_url(re.compile(r"/payments/[0-9a-f-]{36}$"))
        card = enterprise.locator("#card-element")
        number = card.get_by_placeholder("number", exact=True)
        failed_to_load = enterprise.locator("#card-errors").filter(has_text="could not be loaded")
        await expect(number.or_(failed_to_load)).to_be_visible(timeout=STRIPE_WAIT_MS)
        if await failed_to_load.is_visible():
            pytest.fail(f"Stripe.js did not load from {settings.stripe_js_url}", pytrace=False)
        await number.fill("4242424242424242")
        await card.get_by_placeholder("exp_month").fill("12")
        await card.get_by_placeholder("exp_year").fill("31")
        await card.get_by_placeholder("cvc").fill("123")
        await card.get_by_placeholder("postal_code").fill("20095")
        await shots.take(enterprise, "card-payment")
        await enterprise.get_by_role("button", name="Pay 60,000.00 USD").click()
        state = enterprise.locator(".payment-state")
        await expect(state).to_have_text(re.compile("Processing|Paid"), timeout=STRIPE_WAIT_MS)

        # 12. localstripe's webhook arrives, the worker handles it: the contract is active.
        payment = await Payment.get(contract_id=contract_id)
        assert payment.method == "card" and payment.amount == COUNTER_FEE * 100
        active = enterprise.locator(".badge-contract-active")
        await waiter.visible(
            enterprise, active, "the webhook to activate the contract", contract_url
        )
        await expect(summary).to_contain_text("The agreement is in force.")
        await expect(enterprise.get_by_role("table", name="Payments")).to_contain_text("Paid")
        await shots.take(enterprise, "contract-active")
        events = await StripeEvent.filter(object_id=payment.intent_id)
        assert "payment_intent.succeeded" in {e.event_type for e in events}
        assert all(e.handled_at is not None for e in events), [e.event_type for e in events]
        assert (await Payment.get(id=payment.id)).state == "succeeded"
        assert (await Contract.get(id=contract_id)).state == "active"

        # 13. Both are notified, with the unread count in the navigation.
        subject = f"Payment received for contract {contract.reference}"
        for page, who in ((enterprise, ENTERPRISE), (institute, INSTITUTE)):
            item = page.get_by_role("listitem").filter(has_text=subject)
            await waiter.visible(page, item, f"{who['name']}'s notification", "/notifications")
            await expect(item).to_have_class("notification-unread")
            await expect(item).to_contain_text("60,000.00 USD")
            assert await Notification.filter(user__email=who["email"], read_at=None).exists()
            badge = main_nav(page).get_by_role(
                "link", name=re.compile(r"^Notifications \d+ unread$")
            )
            await expect(badge).to_be_visible()
        await shots.take(institute, "notifications")

        # 14. The administrator's ledger: the institute is owed the amount less the fee.
        fee = int(
            (Decimal(COUNTER_FEE * 100) * settings.platform_fee_percent / 100).quantize(Decimal(1))
        )
        owed = COUNTER_FEE * 100 - fee
        assert settings.platform_fee_percent == Decimal(5) and owed == 5_700_000
        await main_nav(admin).get_by_role("link", name="Ledger").click()
        row = admin.get_by_role("row").filter(has_text=INSTITUTE["organization"]).first
        await expect(row.locator(".owed-amount")).to_have_text(
            Money(amount=owed, currency="USD").format()
        )
        await shots.take(admin, "admin-ledger")
        assert await ledger.owed_to(org.id, "USD") == owed
        payable = await LedgerEntry.filter(account=LedgerAccount.PAYABLE, organization_id=org.id)
        assert [e.amount for e in payable] == [-owed]
        assert await ledger.unbalanced_transactions() == []

        # Nothing is left for the worker: the module's teardown stops it.
        await waiter.idle()
    finally:
        for context in contexts:
            await context.close()

    print(
        f"\ntrade walk: {len(shots.taken)} screenshots in {shots.directory}"
        + (f" and {shots.extra}" if shots.extra else "")
        + f" ({time.monotonic() - started:.1f} s)"
    )
    for name in shots.taken:
        print(f"  {name}")
