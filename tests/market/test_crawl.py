"""Walk the site as each role would: every same-origin link from the home page, breadth first.

The demo data (plus a notification, an open offer, a contract awaiting signatures and a paid
contract, where the demo lacks them) fills the lists. Each role follows every <a href> and loads
every stylesheet, script, image and frame on our origin, GET only; no answer may be a 4xx or 5xx.
Every HTML page must have a title, an <h1> and navigation, nest its elements properly, show no
template residue ("{{", a bare "None") and say so when a list is empty rather than show nothing.
Query-string variations of one path (pages, sorts, filters) count as a handful, and pages of one
shape (/listings/<id>, ...) as a sample, so each walk takes seconds. One page of each shape is then
read again in Chinese and checked the same way.
"""

from __future__ import annotations

import re
import time
import uuid
from collections import Counter, defaultdict, deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import parse_qsl, urljoin, urlsplit

import httpx
import pytest
from babel.messages.pofile import read_po

from contracts.agreements.models import Contract
from contracts.offers.models import LIVE_STATES, Offer
from contracts.payments import service as payments
from contracts.payments.models import PAID_STATES, Payment
from listings import search
from listings.models import Listing, ListingState
from market import notify
from market.accounts.models import Membership, User
from market.app.seed import ADMIN_EMAIL, DEMO_PASSWORD, seed_demo
from market.config import Settings
from market.i18n import LOCALE_DIR
from market.web import LANG_COOKIE
from tests.builders import (
    a_contract,
    a_user,
    actor_of,
    an_accepted_offer,
    an_admin,
    an_offer,
    log_in,
)
from tests.html import Page

ORIGIN = "testserver"
MAX_PAGES = 600  # per role
# Query-string variations of one path: a couple per set of parameter names (?page=2, ?page=3;
# ?kind=patent, ?kind=software; ?kind=..&page=2, ...), and a handful in all.
PER_PARAMETERS = 2
QUERY_VARIANTS = 12
PER_SHAPE = 30  # concrete paths of one shape: /listings/<id>, /offers/<id>/counter, ...
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

INSTITUTE = "institute@techmarket.example"
ENTERPRISE = "enterprise@techmarket.example"
NEWCOMER = "newcomer@techmarket.example"
ROLES = {
    "anonymous": None,
    "admin": ADMIN_EMAIL,
    "institute": INSTITUTE,
    "enterprise": ENTERPRISE,
    "newcomer": NEWCOMER,
}
# Shapes each walk must reach, or it walked less of the site than it claims to.
MUST_REACH = {
    "anonymous": {"/listings", "/search", "/login", "/register", "/listings/{id}"},
    "admin": {
        "/dashboard",
        "/admin/organizations",
        "/admin/listings",
        "/admin/contracts",
        "/admin/payments",
        "/admin/payments/{id}",
        "/admin/ledger",
        "/admin/audit",
        "/notifications",
    },
    "institute": {
        "/listings/mine",
        "/listings/import",
        "/offers",
        "/offers/{id}",
        "/contracts",
        "/contracts/{id}",
        "/notifications",
    },
    "enterprise": {
        "/offers",
        "/offers/{id}",
        "/contracts/{id}",
        "/payments/{id}",
        "/notifications",
    },
    "newcomer": {"/dashboard", "/organization", "/listings/mine", "/offers", "/contracts"},
}

# Elements without an end tag, and those whose emptiness means a list that shows nothing.
VOID = {
    "area",
    "base",
    "br",
    "col",
    "embed",
    "hr",
    "img",
    "input",
    "link",
    "meta",
    "source",
    "track",
    "wbr",
}
LISTS = {"ul": "li", "ol": "li", "tbody": "tr", "table": "tr"}
RESOURCES = {"link": "href", "script": "src", "img": "src", "iframe": "src"}
# The agreement as drawn up (and hashed, and signed): a document in the parties' language, shown
# in a frame and printed, not a page of the site. It has a title and a heading, but no navigation,
# and its "None" (no milestones, say) is legal text.
DOCUMENTS = {"/contracts/{id}/document.html"}


# --- the data ---------------------------------------------------------------------------------


async def _member(email: str) -> tuple[User, str]:
    user = await User.get(email=email)
    membership = await Membership.get(user=user)
    return user, str(membership.organization_id)


async def _a_fresh_listing(seller_org: str, buyer_org: str) -> Listing:
    """A published listing of the institute the enterprise has made no offer on."""
    found = (
        await Listing.filter(institute_id=seller_org, state=ListingState.PUBLISHED)
        .exclude(offers__buyer_id=buyer_org)
        .order_by("created_at")
        .first()
    )
    assert found is not None, "the demo institute has too few published listings"
    return found


@pytest.fixture
async def search_index(settings: Settings) -> AsyncIterator[None]:
    """A fresh search index for the walk (the search page's facets and filters are links too),
    named through the setting every search call reads; dropped afterwards."""
    saved = settings.meili_index
    settings.meili_index = f"test_crawl_{uuid.uuid4().hex[:12]}"
    try:
        yield
    finally:
        await search.close_search_clients()
        async with search.Meili(settings) as meili:
            body = await meili.call("GET", "/indexes", params={"limit": 1000})
            for found in body["results"]:
                if found["uid"].startswith(settings.meili_index):
                    await meili.call("DELETE", f"/indexes/{found['uid']}")
        settings.meili_index = saved


async def populate() -> None:
    """The demo, and what the demo may not (yet) have between its institute and enterprise."""
    await seed_demo(DEMO_PASSWORD)
    institute, seller_org = await _member(INSTITUTE)
    enterprise, buyer_org = await _member(ENTERPRISE)
    between = {"seller_id": seller_org, "buyer_id": buyer_org}
    if not await Offer.filter(**between, state__in=LIVE_STATES).exists():
        await an_offer(await _a_fresh_listing(seller_org, buyer_org), enterprise)
    if not await Contract.filter(**between, state="awaiting_signatures").exists():
        offer = await an_accepted_offer(await _a_fresh_listing(seller_org, buyer_org), enterprise)
        await a_contract("awaiting_signatures", offer=offer)
    if not await Payment.filter(contract__seller_id=seller_org, state__in=PAID_STATES).exists():
        offer = await an_accepted_offer(await _a_fresh_listing(seller_org, buyer_org), enterprise)
        contract = await a_contract("awaiting_payment", offer=offer)
        started = await payments.start_payment(
            await actor_of(enterprise), str(contract.id), "bank_transfer"
        )
        admin = await actor_of(await an_admin(ADMIN_EMAIL))
        await payments.confirm_transfer(admin, str(started.payment.id), "BANK-CRAWL-0001")
    offer = await Offer.filter(**between).first()
    for user in [institute, enterprise, await User.get(email=ADMIN_EMAIL)]:
        await notify.notify(
            user,
            "An offer to look at",
            "The crawl's notification.",
            dedup_key=f"crawl:{user.id}",
            link=f"http://{ORIGIN}/offers/{offer.id}",
        )
    await search.reindex()


# --- one page ---------------------------------------------------------------------------------


class Reader(HTMLParser):
    """A page's links, resources, title, headings and navigation, and what is wrong with it."""

    def __init__(self, html: str, document: bool = False) -> None:
        super().__init__(convert_charrefs=True)
        self.document = document
        self.links: list[str] = []
        self.resources: list[str] = []
        self.title = ""
        self.h1: list[str] = []
        self.navs = 0
        self.problems: list[str] = []
        self._stack: list[tuple[str, dict]] = []  # (tag, attributes + "_items" for lists)
        self._ids: Counter[str] = Counter()
        self.feed(html)
        self.close()
        for tag, _ in self._stack:
            self.problems.append(f"<{tag}> is never closed")
        self.problems += [f'the id "{i}" is used {n} times' for i, n in self._ids.items() if n > 1]

    def _inside(self, tag: str) -> dict | None:
        for open_tag, attrs in reversed(self._stack):
            if open_tag == tag:
                return attrs
        return None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        for name, value in a.items():
            if value.strip() == "None" or "{{" in value or "{%" in value:
                self.problems.append(f'<{tag} {name}="{value}"> shows template residue')
        if "id" in a:
            self._ids[a["id"]] += 1
        if tag == "a" and "href" in a:
            self.links.append(a["href"])
        elif tag in RESOURCES and a.get(RESOURCES[tag]):
            self.resources.append(a[RESOURCES[tag]])
        if tag == "nav":
            self.navs += 1
        for container, item in LISTS.items():
            if tag == item and (holder := self._inside(container)) is not None:
                holder["_items"] += 1
        if tag not in VOID:
            self._stack.append((tag, {**a, "_items": 0, "_text": ""}))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        if not self._stack or self._stack[-1][0] != tag:
            open_tags = "/".join(t for t, _ in self._stack[-3:])
            self.problems.append(f"</{tag}> does not close the open <{open_tags or 'nothing'}>")
            if self._inside(tag) is None:
                return
            while self._stack[-1][0] != tag:  # recover: close what was left open
                self._stack.pop()
        _, attrs = self._stack.pop()
        text = " ".join(attrs["_text"].split())
        if tag == "title":
            self.title = text
        elif tag == "h1":
            self.h1.append(text)
        elif tag in LISTS and attrs["_items"] == 0 and self._inside("main") is not None:
            self.problems.append(f"an empty <{tag}> (a list that shows nothing)")
        if self._stack:  # the text of an element is its parent's text too
            self._stack[-1][1]["_text"] += " " + attrs["_text"]

    def handle_data(self, data: str) -> None:
        if "{{" in data or "{%" in data:
            self.problems.append(f"template residue in the text: {data.strip()[:80]!r}")
        if self._stack:
            tag, attrs = self._stack[-1]
            # "None" as a whole text is a Python None rendered; the muted label is on purpose.
            if (
                data.strip() == "None"
                and "muted" not in attrs.get("class", "")
                and not self.document
            ):
                self.problems.append(f"<{tag}> shows a bare None")
            if tag not in ("script", "style"):
                attrs["_text"] += data


def page_problems(html: str, document: bool = False) -> tuple[Reader, list[str]]:
    page = Reader(html, document)
    problems = list(page.problems)
    name = page.title.rsplit("·", 1)[0].strip() if "·" in page.title else page.title
    if not name:
        problems.append(f"no title (the <title> is {page.title!r})")
    if not any(page.h1):
        problems.append("no <h1> with text")
    if not page.navs and not document:
        problems.append("no <nav>")
    return page, problems


# --- the walk ---------------------------------------------------------------------------------


def shape(path: str) -> str:
    return UUID.sub("{id}", path)


def normalize(base: str, href: str) -> str | None:
    """The path and query of a same-origin link; None for what the walk leaves alone."""
    href = href.strip()
    if not href or href.startswith("#"):
        return None
    parts = urlsplit(urljoin(base, href))
    if parts.scheme not in ("http", "https") or parts.hostname != ORIGIN:
        return None  # mailto:, javascript:, tel:, another host
    if parts.path == "/logout":
        return None
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


@dataclass
class Walk:
    role: str
    visited: dict[str, int] = field(default_factory=dict)  # url -> status
    html_pages: list[str] = field(default_factory=list)
    skipped: int = 0
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def shapes(self) -> set[str]:
        return {shape(urlsplit(u).path) for u in self.visited}

    def summary(self) -> str:
        return (
            f"{self.role}: {len(self.visited)} URLs ({len(self.html_pages)} HTML pages, "
            f"{len(self.shapes)} shapes), {self.skipped} near-duplicates left out, "
            f"{self.seconds:.1f} s"
        )


async def fetch(client: httpx.AsyncClient, url: str) -> httpx.Response:
    """GET, with an error the app raised (the transport re-raises it) as the 500 it sent."""
    try:
        return await client.get(url)
    except Exception as exc:
        return httpx.Response(500, text=f"{type(exc).__name__}: {exc}")


def is_html(response: httpx.Response) -> bool:
    return response.headers.get("content-type", "").startswith("text/html")


def failure(response: httpx.Response) -> str:
    """The status and why: the error page's message, or what the app raised."""
    if is_html(response):
        found = re.search(r'role="alert">([^<]*)<', response.text)
        return f"HTTP {response.status_code}: {found.group(1) if found else ''}"
    return f"HTTP {response.status_code}: {response.text[:300]}"


async def walk(client: httpx.AsyncClient, role: str) -> Walk:
    result = Walk(role)
    started = time.monotonic()
    queue: deque[tuple[str, str]] = deque([("/", "(the home page)")])
    queued: set[str] = {"/"}
    variants: defaultdict[str, int] = defaultdict(int)
    by_parameters: defaultdict[tuple[str, frozenset[str]], int] = defaultdict(int)
    per_shape: defaultdict[str, set[str]] = defaultdict(set)

    def offer(url: str | None, referrer: str) -> None:
        if url is None or url in queued:
            return
        path, _, query = url.partition("?")
        kind = (path, frozenset(name for name, _ in parse_qsl(query, keep_blank_values=True)))
        same_shape = per_shape[shape(path)]
        if (
            query and (variants[path] >= QUERY_VARIANTS or by_parameters[kind] >= PER_PARAMETERS)
        ) or (path not in same_shape and len(same_shape) >= PER_SHAPE):
            result.skipped += 1
            return
        queued.add(url)
        if query:
            variants[path] += 1
            by_parameters[kind] += 1
        same_shape.add(path)
        queue.append((url, referrer))

    while queue and len(result.visited) < MAX_PAGES:
        url, referrer = queue.popleft()
        response = await fetch(client, url)
        if url.startswith("/language/"):  # a preference, not a page: the walk stays in English
            client.cookies.delete(LANG_COOKIE)
        result.visited[url] = response.status_code
        where = f"{role}: {url} (linked from {referrer})"
        if response.status_code >= 400:
            result.problems.append(f"{where}: {failure(response)}")
            continue
        if response.is_redirect:
            target = normalize(f"http://{ORIGIN}{url}", response.headers["location"])
            offer(target, f"{referrer}, redirected by {url}")
            continue
        if not is_html(response):
            continue
        result.html_pages.append(url)
        page, problems = page_problems(response.text, shape(url.partition("?")[0]) in DOCUMENTS)
        result.problems += [f"{where}: {p}" for p in problems]
        base = f"http://{ORIGIN}{url}"
        for href in page.links + page.resources:
            offer(normalize(base, href), url)
    result.skipped += len(queue)
    result.seconds = time.monotonic() - started
    return result


async def in_chinese(client: httpx.AsyncClient, result: Walk) -> list[str]:
    """One page of each shape, read again in Chinese."""
    firsts: dict[str, str] = {}
    for url in result.html_pages:
        if shape(urlsplit(url).path) not in DOCUMENTS:
            firsts.setdefault(shape(urlsplit(url).path), url)
    problems = []
    client.cookies.set(LANG_COOKIE, "zh")
    try:
        for url in firsts.values():
            response = await fetch(client, url)
            where = f"{result.role} (zh): {url}"
            if response.status_code >= 400:
                problems.append(f"{where}: {failure(response)}")
                continue
            if 'lang="zh"' not in response.text:
                problems.append(f"{where}: not in Chinese")
            problems += [f"{where}: {p}" for p in page_problems(response.text)[1]]
    finally:
        client.cookies.delete(LANG_COOKIE)
    return problems


async def test_every_page_each_role_can_reach_works(
    client: httpx.AsyncClient, search_index: None
) -> None:
    """One set of data, one walk per role (the walks only read, so they can share it)."""
    await populate()
    problems: list[str] = []
    for role, email in ROLES.items():
        client.cookies.clear()
        if email:
            await log_in(client, email, DEMO_PASSWORD)
        result = await walk(client, role)
        print(result.summary())
        problems += result.problems + await in_chinese(client, result)
        if len(result.visited) >= MAX_PAGES:
            problems.append(f"{role}: the walk hit its cap; collapse more near-duplicates")
        if missing := MUST_REACH[role] - result.shapes:
            problems.append(f"{role}: never reached {sorted(missing)}")
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems[:80])


# --- what the walks found -----------------------------------------------------------------


async def test_an_unverified_institute_is_sent_to_the_import_of_drafts(client) -> None:
    user, _ = await a_user()  # an institute, not verified yet: it imports drafts meanwhile
    await log_in(client, user.email)
    for path in ["/", "/listings/mine"]:
        page = await client.get(path)
        assert page.status_code == 200 and "/listings/import" in Page(page.text).links, path
    assert "Create a draft now" in page.text  # the empty list says what can be done meanwhile
    imports = await client.get("/listings/import")
    assert imports.status_code == 200 and "not verified yet" in imports.text


def test_every_chinese_string_survives_the_formatting_pages_give_it() -> None:
    """Jinja's gettext formats each translation with %, so a bare "%" in one breaks its page."""

    class Anything(dict):
        def __missing__(self, key: str) -> str:
            return "1"

    with (LOCALE_DIR / "zh" / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        catalog = read_po(handle, locale="zh")
    broken = []
    for message in catalog:
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        for text in strings:
            try:
                text % Anything()
            except (ValueError, TypeError) as exc:
                broken.append(f"{text!r}: {exc}")
    assert not broken, broken


# --- the checker itself -----------------------------------------------------------------------


def test_the_checker_sees_what_is_wrong() -> None:
    good = (
        "<html><head><title>Offers · techmarket</title></head><body><nav><ul><li>x</li></ul>"
        '</nav><main><h1>Offers</h1><p class="empty">None yet.</p>'
        '<span class="muted">None</span><img src="/a.png"><br/></main></body></html>'
    )
    page, problems = page_problems(good)
    assert problems == [] and page.resources == ["/a.png"]
    bad = (
        '<html><head><title> · techmarket</title></head><body><main><div id="x"><p id="x">'
        '<a href="None">{{ name }}</a></div><ul></ul><td>None</td></main></body></html>'
    )
    _, problems = page_problems(bad)
    text = "\n".join(problems)
    for expected in [
        "no title",
        "no <h1>",
        "no <nav>",
        'href="None"',
        "template residue in the text",
        "</div> does not close",
        "an empty <ul>",
        "bare None",
        'the id "x" is used 2 times',
    ]:
        assert expected in text, (expected, problems)
    assert normalize("http://testserver/a/b", "c?x=1#f") == "/a/c?x=1"
    for outside in ["mailto:a@b.org", "https://example.org/x", "#top", "/logout", "javascript:x"]:
        assert normalize("http://testserver/", outside) is None
    assert shape("/offers/0b7f3c3e-2a55-4a0e-9d8e-1f1d1e2a3b4c/counter") == "/offers/{id}/counter"
