"""The listing pages end to end: real PostgreSQL, the ASGI app through httpx, no mocks."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from tortoise.connection import connections

from listings import markdown, service
from listings.models import Listing, ListingRevision, ListingState
from listings.schemas import ListingPatch
from market.accounts.models import User
from tests.builders import (
    PASSWORD,
    a_draft_listing,
    a_published_listing,
    a_verified_institute,
    actor_of,
    an_admin,
    listing_data,
)
from tests.html import Page

HOSTILE = '<script>alert("x")</script>'
ESCAPED = "&lt;script&gt;alert("


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "the page carries no CSRF token"
    return match.group(1)


async def page_login(client: httpx.AsyncClient, email: str, password: str = PASSWORD):
    client.cookies.clear()
    token = csrf_of((await client.get("/login")).text)
    response = await client.post(
        "/login", data={"email": email, "password": password, "csrf_token": token}
    )
    assert response.status_code == 303, response.text
    return response


def listing_form(**overrides: Any) -> dict[str, Any]:
    """listing_data() as the HTML form sends it."""
    data = listing_data()
    form: dict[str, Any] = {
        "title": data["title"],
        "summary": data["summary"],
        "description": data["description"],
        "kind": data["kind"],
        "patent_numbers": "\n".join(data["patent_numbers"]),
        "ipc_codes": "\n".join(data["ipc_codes"]),
        "trl": str(data["trl"]),
        "keywords": "membrane; desalination",
        "inventors": "\n".join(data["inventors"]),
        "license_types": data["license_types"],
        "territories": "WORLD",
        "fields_of_use": "all",
        "price_model": data["price_model"],
        "asking_price.amount": "150,000.00",
        "asking_price.currency": "USD",
        "language": "en",
        "contact_name": "Li Wei",
        "contact_email": "li.wei@example.org",
    }
    form.update(overrides)
    return form


async def an_institute_logged_in(client: httpx.AsyncClient, email: str) -> User:
    user, _ = await a_verified_institute(email=email)
    await page_login(client, email)
    return user


async def post_form(client: httpx.AsyncClient, page: str, action: str, data: dict[str, Any]):
    html = (await client.get(page)).text
    return await client.post(action, data={**data, "csrf_token": csrf_of(html)})


def field_error(html: str, field_id: str) -> str:
    match = re.search(rf'id="{re.escape(field_id)}-error">(.*?)</p>', html, re.S)
    assert match, f"no error shown for {field_id}"
    return match.group(1)


def control_value(html: str, name: str) -> str:
    match = re.search(rf'<input[^>]*name="{re.escape(name)}"[^>]*value="([^"]*)"', html, re.S)
    assert match, f"no input {name}"
    return match.group(1)


def textarea_value(html: str, name: str) -> str:
    match = re.search(rf'<textarea[^>]*name="{re.escape(name)}"[^>]*>(.*?)</textarea>', html, re.S)
    assert match, f"no textarea {name}"
    return match.group(1)


# --- creating and editing -----------------------------------------------------------------


async def test_create_through_the_form_then_see_it_on_my_listings(client) -> None:
    await an_institute_logged_in(client, "inst@example.org")
    home = (await client.get("/")).text
    assert 'href="/listings/mine"' in home and 'href="/listings"' in home
    assert 'href="/admin/listings"' not in home

    response = await post_form(client, "/listings/new", "/listings/new", listing_form())
    assert response.status_code == 303, response.text
    listing = await Listing.get()
    assert response.headers["location"] == f"/listings/{listing.id}"
    assert listing.state == ListingState.DRAFT
    assert listing.asking_amount == 15_000_000 and listing.asking_currency == "USD"
    assert listing.keywords == ["membrane", "desalination"]
    assert listing.ipc_codes == ["B01D 69/12", "C02F 1/44"]
    assert listing.license_types == ["exclusive", "non_exclusive"]
    assert listing.trl == 5 and listing.inventors == ["Li Wei", "Zhang Min"]

    mine = await client.get("/listings/mine")
    assert mine.status_code == 200
    assert listing.title in mine.text and f'href="/listings/{listing.id}"' in mine.text
    assert 'href="/listings/new"' in mine.text and 'href="/listings/import"' in mine.text
    assert re.search(r"Draft <span class=\"count\">\(1\)</span>", mine.text)
    drafts = await client.get("/listings/mine", params={"state": "published"})
    assert listing.title not in drafts.text

    # The edit form comes back filled in with what was saved.
    edit = (await client.get(f"/listings/{listing.id}/edit")).text
    assert control_value(edit, "asking_price.amount") == "150000.00"
    assert textarea_value(edit, "ipc_codes") == "B01D 69/12\nC02F 1/44"
    assert 'value="exclusive" checked' in edit and 'value="sole">' in edit


async def test_bad_input_comes_back_with_messages_and_creates_nothing(client) -> None:
    await an_institute_logged_in(client, "bad@example.org")
    form = listing_form(
        title="",
        summary="Short " + HOSTILE,
        trl="10",
        ipc_codes="XX99",
        **{"asking_price.amount": "-5"},
    )
    response = await post_form(client, "/listings/new", "/listings/new", form)
    assert response.status_code == 422
    html = response.text
    assert ESCAPED in html and HOSTILE not in html
    assert "Short &lt;script&gt;" in textarea_value(html, "summary")
    assert "XX99" in textarea_value(html, "ipc_codes")
    assert "At least 3 characters." in field_error(html, "title")
    assert "9" in field_error(html, "trl")
    assert "IPC" in field_error(html, "ipc_codes")
    assert "negative" in field_error(html, "asking_price-amount")
    assert control_value(html, "asking_price.amount") == "-5"
    assert 'aria-invalid="true"' in html
    assert 'value="exclusive" checked' in html
    assert await Listing.all().count() == 0


@pytest.mark.parametrize(
    ("amount", "currency", "field", "words"),
    [
        ("-100", "USD", "asking_price-amount", "negative"),
        ("99999999999999", "USD", "asking_price-amount", "limit"),
        ("lots", "USD", "asking_price-amount", "number"),
        ("1e9", "USD", "asking_price-amount", "number"),
        ("12.345", "USD", "asking_price-amount", "decimal"),
        ("12.5", "JPY", "asking_price-amount", "decimals"),
        ("100", "XYZ", "asking_price-currency", "currency"),
        ("100", "", "asking_price-currency", "currency"),
    ],
)
async def test_bad_prices_are_refused_on_their_field(client, amount, currency, field, words):
    await an_institute_logged_in(client, "price@example.org")
    form = listing_form(
        title="Bad price " + HOSTILE,
        **{"asking_price.amount": amount, "asking_price.currency": currency},
    )
    response = await post_form(client, "/listings/new", "/listings/new", form)
    assert response.status_code == 422
    assert words in field_error(response.text, field)
    assert control_value(response.text, "asking_price.amount") == amount
    assert (
        control_value(response.text, "title")
        == "Bad price &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;"
    )
    assert await Listing.all().count() == 0


async def test_a_script_in_a_valid_title_is_stored_as_typed_and_shown_escaped(client) -> None:
    user = await an_institute_logged_in(client, "typed@example.org")
    response = await post_form(
        client, "/listings/new", "/listings/new", listing_form(title="Membrane " + HOSTILE)
    )
    assert response.status_code == 303
    listing = await Listing.get()
    assert listing.title == "Membrane " + HOSTILE
    published = await a_published_listing(user, title="Public " + HOSTILE)
    client.cookies.clear()
    for path in [f"/listings/{published.id}", "/listings"]:
        html = (await client.get(path)).text
        assert "Public &lt;script&gt;" in html and HOSTILE not in html


async def test_markdown_renders_but_hostile_markup_stays_inert(client) -> None:
    description = (
        "# Results\n\nThe membrane **works** and *scales*; see `GO-1`.\n\n"
        "- first point\n- second point\n\n"
        "<script>alert(1)</script> <img src=x onerror=alert(1)>\n\n"
        "[bad](javascript:alert(1)) and [paper](https://example.org/paper?a=1&b=2)"
    )
    listing = await a_published_listing(description=description)
    html = (await client.get(f"/listings/{listing.id}")).text
    assert "<h3>Results</h3>" in html
    assert "<ul><li>first point</li><li>second point</li></ul>" in html
    assert "<strong>works</strong>" in html and "<em>scales</em>" in html
    assert "<code>GO-1</code>" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert(1)" not in html
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert 'href="javascript:' not in html.lower()
    assert (
        '<a href="https://example.org/paper?a=1&amp;b=2" rel="nofollow noopener">paper</a>' in html
    )


HOSTILE_MARKDOWN = {
    "brackets": lambda n: "[" * n,
    "heading of spaces": lambda n: "#" + " " * (n - 2) + "x",
    "emphasis": lambda n: "**a " * (n // 4),
    "stars": lambda n: "*" * n,
    "unclosed links": lambda n: "[a](http://" * (n // 11),
}


def test_a_description_is_parsed_once_and_the_cache_stays_bounded() -> None:
    markdown.render.cache_clear()
    first = markdown.render("**bold** text")
    assert markdown.render("**bold** text") is first
    assert markdown.render.cache_info().hits == 1
    for n in range(1000):
        markdown.render(f"text {n}")
    assert markdown.render.cache_info().currsize == markdown.render.cache_info().maxsize == 256


@pytest.mark.parametrize("hostile", HOSTILE_MARKDOWN.values(), ids=HOSTILE_MARKDOWN.keys())
def test_markdown_takes_linear_time_on_hostile_input(hostile: Callable[[int], str]) -> None:
    # Growth, not a stopwatch: eight times the input takes about eight times as long when the
    # renderer is linear and sixty-four times when it is quadratic. The best of five runs of
    # each size leaves out pauses the machine adds, and no absolute limit depends on its speed.
    parse = markdown.render.__wrapped__  # the parsing itself, not the cache of its results

    def best_time(text: str) -> float:
        runs = []
        for _ in range(5):
            started = time.perf_counter()
            html = parse(text)
            runs.append(time.perf_counter() - started)
            assert "<script" not in html
        return min(runs)

    small, large = hostile(12_000), hostile(96_000)
    ratio = best_time(large) / best_time(small)
    assert ratio < 24, f"8x the input took {ratio:.0f}x the time"


async def test_editing_another_institutes_listing_is_refused(client) -> None:
    published = await a_published_listing()
    draft = await a_draft_listing()
    await an_institute_logged_in(client, "stranger@example.org")
    assert (await client.get(f"/listings/{published.id}/edit")).status_code == 403
    token = csrf_of((await client.get("/listings/mine")).text)
    response = await client.post(
        f"/listings/{published.id}/edit",
        data={**listing_form(title="Hijacked title"), "csrf_token": token},
    )
    assert response.status_code == 403
    # Someone else's draft does not exist for a stranger.
    assert (await client.get(f"/listings/{draft.id}/edit")).status_code == 404
    response = await client.post(
        f"/listings/{draft.id}/edit",
        data={**listing_form(title="Hijacked title"), "csrf_token": token},
    )
    assert response.status_code == 404
    assert (await Listing.get(id=published.id)).title == published.title
    assert (await Listing.get(id=draft.id)).title == draft.title
    assert await ListingRevision.all().count() == 0


# --- the lifecycle through the pages --------------------------------------------------------


async def test_submit_then_the_admin_approves_from_the_moderation_page(client) -> None:
    owner = await an_institute_logged_in(client, "owner@example.org")
    draft = await a_draft_listing(owner, title="Solid-state electrolyte")
    page = await client.get(f"/listings/{draft.id}")
    assert page.status_code == 200
    assert f'action="/listings/{draft.id}/submit"' in page.text
    assert f'href="/listings/{draft.id}/edit"' in page.text
    assert "/approve" not in page.text
    submitted = await client.post(
        f"/listings/{draft.id}/submit", data={"csrf_token": csrf_of(page.text)}
    )
    assert submitted.status_code == 303
    assert (await Listing.get(id=draft.id)).state == ListingState.SUBMITTED
    owner_view = (await client.get(f"/listings/{draft.id}")).text
    assert "/approve" not in owner_view and "/submit" not in owner_view
    assert (await client.get("/admin/listings")).status_code == 403

    await page_login(client, "admin@example.org")
    queue = await client.get("/admin/listings")
    assert queue.status_code == 200
    assert "Solid-state electrolyte" in queue.text and f'href="/listings/{draft.id}"' in queue.text
    assert f'action="/admin/listings/{draft.id}/reject"' in queue.text
    approved = await client.post(
        f"/admin/listings/{draft.id}/approve", data={"csrf_token": csrf_of(queue.text)}
    )
    assert approved.status_code == 303 and approved.headers["location"] == "/admin/listings"
    assert "is published" in (await client.get("/admin/listings")).text

    client.cookies.clear()
    public = await client.get(f"/listings/{draft.id}")
    assert public.status_code == 200 and "Solid-state electrolyte" in public.text
    assert "150,000.00 USD" in public.text
    assert "B01D 69/12" in public.text
    assert "/approve" not in public.text and "/withdraw" not in public.text
    assert "Solid-state electrolyte" in (await client.get("/listings")).text


async def test_the_admin_rejects_with_a_reason_the_owner_then_reads(client) -> None:
    owner, _ = await a_verified_institute(email="rejected@example.org")
    draft = await a_draft_listing(owner)
    await page_login(client, "rejected@example.org")
    page = await client.get(f"/listings/{draft.id}")
    await client.post(f"/listings/{draft.id}/submit", data={"csrf_token": csrf_of(page.text)})

    await page_login(client, "admin@example.org")
    queue = (await client.get("/admin/listings")).text
    empty = await client.post(
        f"/admin/listings/{draft.id}/reject", data={"reason": " ", "csrf_token": csrf_of(queue)}
    )
    assert empty.status_code == 303
    assert (await Listing.get(id=draft.id)).state == ListingState.SUBMITTED
    reason = "The patent number does not match the title " + HOSTILE
    rejected = await client.post(
        f"/admin/listings/{draft.id}/reject", data={"reason": reason, "csrf_token": csrf_of(queue)}
    )
    assert rejected.status_code == 303
    assert (await Listing.get(id=draft.id)).state == ListingState.REJECTED

    await page_login(client, "rejected@example.org")
    for path in [f"/listings/{draft.id}", "/listings/mine?state=rejected"]:
        html = (await client.get(path)).text
        assert "The patent number does not match the title &lt;script&gt;" in html
        assert HOSTILE not in html
    assert (
        f'action="/listings/{draft.id}/submit"' in (await client.get(f"/listings/{draft.id}")).text
    )


async def test_an_incomplete_listing_cannot_be_submitted(client) -> None:
    owner = await an_institute_logged_in(client, "incomplete@example.org")
    draft = await a_draft_listing(owner, trl=None, license_types=[])
    page = await client.get(f"/listings/{draft.id}")
    response = await client.post(
        f"/listings/{draft.id}/submit", data={"csrf_token": csrf_of(page.text)}
    )
    assert response.status_code == 303
    assert (await Listing.get(id=draft.id)).state == ListingState.DRAFT
    notice = (await client.get(response.headers["location"])).text
    assert "not complete" in notice and "readiness level" in notice


async def test_editing_a_published_title_waits_for_review(client) -> None:
    owner = await an_institute_logged_in(client, "reviser@example.org")
    listing = await a_published_listing(owner, title="Old title for the membrane")
    edit = await client.get(f"/listings/{listing.id}/edit")
    assert edit.status_code == 200 and "review" in edit.text
    assert f'action="/listings/{listing.id}/media"' in edit.text
    assert 'enctype="multipart/form-data"' in edit.text
    response = await client.post(
        f"/listings/{listing.id}/edit",
        data={**listing_form(title="New title " + HOSTILE), "csrf_token": csrf_of(edit.text)},
    )
    assert response.status_code == 303, response.text
    assert (await Listing.get(id=listing.id)).title == "Old title for the membrane"
    revision = await ListingRevision.get(listing_id=listing.id)
    # Only what the owner changed is proposed (the form sends every field).
    assert revision.changes == {"title": "New title " + HOSTILE}
    again = (await client.get(f"/listings/{listing.id}/edit")).text
    assert (
        control_value(again, "title") == "New title &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;"
    )

    client.cookies.clear()
    public = (await client.get(f"/listings/{listing.id}")).text
    assert "Old title for the membrane" in public and "New title" not in public

    await page_login(client, "admin@example.org")
    queue = (await client.get("/admin/listings")).text
    assert "Old title for the membrane" in queue
    assert "New title &lt;script&gt;" in queue and HOSTILE not in queue
    approved = await client.post(
        f"/admin/revisions/{revision.id}/approve", data={"csrf_token": csrf_of(queue)}
    )
    assert approved.status_code == 303

    client.cookies.clear()
    public = (await client.get(f"/listings/{listing.id}")).text
    assert "New title &lt;script&gt;" in public and "Old title for the membrane" not in public


async def test_other_changes_to_a_published_listing_apply_at_once(client) -> None:
    owner = await an_institute_logged_in(client, "direct@example.org")
    listing = await a_published_listing(owner)
    edit = (await client.get(f"/listings/{listing.id}/edit")).text
    response = await client.post(
        f"/listings/{listing.id}/edit",
        data={**listing_form(keywords="membrane, graphene"), "csrf_token": csrf_of(edit)},
    )
    assert response.status_code == 303
    assert (await Listing.get(id=listing.id)).keywords == ["membrane", "graphene"]
    assert await ListingRevision.all().count() == 0


async def test_the_admin_rejects_a_revision_and_the_published_text_stays(client) -> None:
    owner = await an_institute_logged_in(client, "refused@example.org")
    listing = await a_published_listing(owner)
    edit = (await client.get(f"/listings/{listing.id}/edit")).text
    await client.post(
        f"/listings/{listing.id}/edit",
        data={
            **listing_form(summary="A much better summary of the membrane."),
            "csrf_token": csrf_of(edit),
        },
    )
    revision = await ListingRevision.get(listing_id=listing.id)
    await page_login(client, "admin@example.org")
    queue = (await client.get("/admin/listings")).text
    response = await client.post(
        f"/admin/revisions/{revision.id}/reject",
        data={"reason": "Overstated claims.", "csrf_token": csrf_of(queue)},
    )
    assert response.status_code == 303
    assert (await ListingRevision.get(id=revision.id)).state == "rejected"
    assert (await Listing.get(id=listing.id)).summary == listing.summary
    assert "No changes are waiting" in (await client.get("/admin/listings")).text


# --- visibility and buttons ----------------------------------------------------------------


async def test_an_unpublished_listing_is_hidden_from_strangers(client) -> None:
    owner, _ = await a_verified_institute(email="hidden@example.org")
    draft = await a_draft_listing(owner, title="Secret draft")
    assert (await client.get(f"/listings/{draft.id}")).status_code == 404
    assert "Secret draft" not in (await client.get("/listings")).text
    await an_institute_logged_in(client, "other@example.org")
    assert (await client.get(f"/listings/{draft.id}")).status_code == 404
    await page_login(client, "hidden@example.org")
    assert (await client.get(f"/listings/{draft.id}")).status_code == 200
    await page_login(client, "admin@example.org")
    admin_view = await client.get(f"/listings/{draft.id}")
    assert admin_view.status_code == 200
    # A draft offers the admin nothing to decide yet, and no edit link.
    assert "/approve" not in admin_view.text and "/edit" not in admin_view.text
    assert (await client.get("/listings/not-a-uuid")).status_code == 404


async def test_buttons_follow_the_lifecycle_table(client) -> None:
    owner = await an_institute_logged_in(client, "buttons@example.org")
    published = await a_published_listing(owner)
    html = (await client.get(f"/listings/{published.id}")).text
    assert f'action="/listings/{published.id}/withdraw"' in html
    assert "/approve" not in html and "/reject" not in html and "/submit" not in html
    withdrawn = await client.post(
        f"/listings/{published.id}/withdraw", data={"csrf_token": csrf_of(html)}
    )
    assert withdrawn.status_code == 303
    html = (await client.get(f"/listings/{published.id}")).text
    assert f'action="/listings/{published.id}/submit"' in html and "/withdraw" not in html
    # A second withdrawal is a conflict, shown as the error page.
    again = await client.post(
        f"/listings/{published.id}/withdraw", data={"csrf_token": csrf_of(html)}
    )
    assert again.status_code == 409
    # Forms without the token change nothing.
    assert (await client.post(f"/listings/{published.id}/submit")).status_code == 403
    assert (await Listing.get(id=published.id)).state == ListingState.WITHDRAWN


async def test_pages_need_the_right_person(client) -> None:
    for path in ["/listings/mine", "/listings/new", "/admin/listings"]:
        response = await client.get(path)
        assert response.status_code == 303 and response.headers["location"].startswith("/login")
    await an_admin()
    await page_login(client, "admin@example.org")
    home = (await client.get("/")).text
    assert 'href="/admin/listings"' in home and 'href="/listings/mine"' not in home
    assert (await client.get("/listings/new")).status_code == 403


async def test_media_forms_on_the_edit_page_and_the_gallery(client) -> None:
    owner = await an_institute_logged_in(client, "media@example.org")
    listing = await a_published_listing(owner)
    edit = (await client.get(f"/listings/{listing.id}/edit")).text
    token = csrf_of(edit)
    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
    uploads = [
        ("diagram " + HOSTILE + ".png", png, {}),
        ("brochure.pdf", b"%PDF-1.4\n%%EOF\n", {"confidential": "1"}),
    ]
    for name, body, extra in uploads:
        response = await client.post(
            f"/listings/{listing.id}/media",
            data={"csrf_token": token, **extra},
            files={"file": (name, body)},
        )
        assert response.status_code == 303, response.text
    edit = (await client.get(f"/listings/{listing.id}/edit")).text
    assert edit.count(f'action="/listings/{listing.id}/media/') == 2
    assert "/delete" in edit and "Confidential" in edit

    client.cookies.clear()
    public = (await client.get(f"/listings/{listing.id}")).text
    assert re.search(r'<img src="/media/[0-9a-f-]+" alt="diagram &lt;script&gt;', public)
    assert "brochure.pdf" not in public and HOSTILE not in public
    await page_login(client, "media@example.org")
    own = (await client.get(f"/listings/{listing.id}")).text
    assert re.search(r'<a href="/media/[0-9a-f-]+">brochure.pdf</a>', own)


# --- structure ------------------------------------------------------------------------------


def assert_well_formed(html: str) -> None:
    page = Page(html)
    assert "<script" not in html.lower() and " style=" not in html
    assert len(page.ids) == len(set(page.ids)), "duplicate ids"
    for form in page.forms:
        if form.get("method") == "post":
            assert any(i.get("name") == "csrf_token" for i in form["inputs"]), form
    for control in page.controls:
        if control.get("type") != "hidden":
            assert control.get("id") in page.label_for, f"no label for {control}"
    assert set(page.label_for) <= set(page.ids)
    for ref in re.findall(r'aria-(?:describedby|labelledby)="([^"]+)"', html):
        assert set(ref.split()) <= set(page.ids), ref


async def test_every_listing_page_is_well_formed(client) -> None:
    owner = await an_institute_logged_in(client, "shape@example.org")
    listing = await a_published_listing(owner, title="Shape " + HOSTILE)
    await a_draft_listing(owner)
    await service.update_listing(
        await actor_of(owner), str(listing.id), ListingPatch(summary="Changed " + HOSTILE)
    )
    submitted = await a_draft_listing(owner)
    await service.submit_listing(await actor_of(owner), str(submitted.id))
    paths = ["/listings", "/listings/mine", "/listings/new", f"/listings/{listing.id}"]
    paths.append(f"/listings/{listing.id}/edit")
    for path in paths:
        response = await client.get(path)
        assert response.status_code == 200, path
        assert_well_formed(response.text)
    refused = await post_form(
        client, "/listings/new", "/listings/new", listing_form(title="", trl="x", ipc_codes="Q")
    )
    assert refused.status_code == 422
    assert_well_formed(refused.text)
    await page_login(client, "admin@example.org")
    for path in ["/admin/listings", f"/listings/{listing.id}", f"/listings/{submitted.id}"]:
        response = await client.get(path)
        assert response.status_code == 200, path
        assert_well_formed(response.text)
        assert HOSTILE not in response.text


async def test_the_pages_speak_chinese(client) -> None:
    owner = await an_institute_logged_in(client, "zh@example.org")
    listing = await a_published_listing(owner)
    client.cookies.set("tm_lang", "zh")
    show = (await client.get(f"/listings/{listing.id}")).text
    assert "可提供的权利" in show and "独占许可" in show and "技术成熟度" in show
    assert "发布新成果" in (await client.get("/listings/mine")).text
    form = (await client.get("/listings/new")).text
    assert "保存草稿" in form and "人民币" in form


# --- queries ---------------------------------------------------------------------------------


class QueryCounter:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        conn = connections.get("default")
        for name in ("execute_query", "execute_query_dict"):
            monkeypatch.setattr(conn, name, self._counting(getattr(conn, name)))

    def _counting(self, method):
        async def wrapper(*args, **kwargs):
            self.count += 1
            return await method(*args, **kwargs)

        return wrapper

    async def during(self, request) -> int:
        self.count = 0
        response = await request
        assert response.status_code == 200
        return self.count


async def _populate(owner: User, start: int, stop: int) -> None:
    """Per n: a published listing with a pending revision, and a submitted one."""
    actor = await actor_of(owner)
    for n in range(start, stop):
        published = await a_published_listing(owner, title=f"Published listing {n}")
        await service.update_listing(
            actor, str(published.id), ListingPatch(title=f"Revised listing {n}")
        )
        submitted = await a_draft_listing(owner, title=f"Submitted listing {n}")
        await service.submit_listing(actor, str(submitted.id))


async def test_listing_pages_make_a_fixed_number_of_queries(client, monkeypatch) -> None:
    owner, _ = await a_verified_institute(email="many@example.org")
    counter = QueryCounter(monkeypatch)

    async def measure() -> dict[str, int]:
        counts = {}
        client.cookies.clear()
        counts["public"] = await counter.during(client.get("/listings"))
        await page_login(client, "many@example.org")
        counts["mine"] = await counter.during(client.get("/listings/mine"))
        await page_login(client, "admin@example.org")
        counts["queue"] = await counter.during(client.get("/admin/listings"))
        return counts

    await _populate(owner, 0, 2)
    few = await measure()
    await _populate(owner, 2, 20)
    assert await Listing.filter(state="published").count() == 20
    many = await measure()
    assert many == few, (few, many)
