"""Listing media: content-checked uploads, size limits, storage under random names, and who may
see or change what. Real PostgreSQL; the fixture files are built here, byte by byte."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable
from urllib.parse import unquote

import httpx
import pytest

from listings import media
from listings import service as listings
from listings.models import ListingMedia
from market import api, files
from market.accounts.models import User
from market.actor import Actor
from market.audit import AuditEntry
from market.errors import Conflict, ValidationFailed
from tests.builders import (
    a_draft_listing,
    a_published_listing,
    a_verified_institute,
    actor_of,
    log_in,
)
from tests.files import GIF, WEBP, jpeg_bytes, pdf_bytes, png_bytes

MEDIA_API = api.PREFIX + "/listings/{listing_id}/media"


GOOD_FILES = [
    ("photo.png", png_bytes(), "image/png", "image"),
    ("photo.jpg", jpeg_bytes(), "image/jpeg", "image"),
    ("anim.gif", GIF, "image/gif", "image"),
    ("pic.webp", WEBP, "image/webp", "image"),
    ("brochure.pdf", pdf_bytes(), "application/pdf", "pdf"),
]
DISGUISED = {
    "elf": ("tool.pdf", b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 56, "application/pdf"),
    "pe": ("setup.pdf", b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 56, "application/pdf"),
    "shell": ("brochure.pdf", b"#!/bin/sh\nrm -rf / --no-preserve-root\n", "application/pdf"),
    "html": ("photo.png", b"<!doctype html><script>alert(document.cookie)</script>", "image/png"),
    "svg": (
        "logo.png",
        b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>',
        "image/svg+xml",
    ),
    "pdf_late": ("late.pdf", b"junk\n%PDF-1.4\n", "application/pdf"),
}


# --- harness -----------------------------------------------------------------------------


Session = Callable[[str], Awaitable[tuple[httpx.AsyncClient, str]]]


@pytest.fixture
async def session_as(app) -> AsyncIterator[Session]:
    """A separate logged-in client per person, so cookies never mix."""
    opened: list[httpx.AsyncClient] = []

    async def open_as(email: str) -> tuple[httpx.AsyncClient, str]:
        transport = httpx.ASGITransport(app=app, client=("203.0.113.8", 40001))
        client = httpx.AsyncClient(transport=transport, base_url="http://testserver")
        opened.append(client)
        return client, await log_in(client, email)

    yield open_as
    for client in opened:
        await client.aclose()


def stored_files(settings) -> set[str]:
    directory = settings.var_dir / "media"
    return {p.name for p in directory.iterdir()} if directory.exists() else set()


async def upload(
    client: httpx.AsyncClient,
    csrf: str,
    listing_id: str,
    filename: str,
    data: bytes,
    content_type: str = "application/octet-stream",
    confidential: str = "false",
) -> httpx.Response:
    return await client.post(
        MEDIA_API.format(listing_id=listing_id),
        files={"file": (filename, data, content_type)},
        data={"confidential": confidential},
        headers={"X-CSRF-Token": csrf},
    )


async def owner_and_listing(published: bool = False):
    user, _ = await a_verified_institute()
    listing = await (a_published_listing(user) if published else a_draft_listing(user))
    return user, listing


async def add_file(user, listing, data: bytes = b"", *, name="f.png", confidential=False):
    return await media.add_media(
        await actor_of(user),
        str(listing.id),
        filename=name,
        content_type_hint="",
        data=data or png_bytes(),
        confidential=confidential,
    )


# --- uploads -----------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "data", "content_type", "kind"), GOOD_FILES)
async def test_each_accepted_type_is_stored_under_a_random_name(
    session_as: Session, settings, name, data, content_type, kind
) -> None:
    user, listing = await owner_and_listing()
    client, csrf = await session_as(user.email)
    # The client's claims are ignored: the bytes decide.
    response = await upload(client, csrf, str(listing.id), name, data, "text/plain")
    assert response.status_code == 201, response.text
    body = response.json()["media"]
    assert body["content_type"] == content_type and body["kind"] == kind
    assert body["size"] == len(data) and body["sha256"] == hashlib.sha256(data).hexdigest()
    assert body["original_name"] == name and body["confidential"] is False
    assert body["url"] == f"/media/{body['id']}"

    row = await ListingMedia.get(id=body["id"])
    assert len(row.stored_name) == 32 and int(row.stored_name, 16) >= 0
    path = settings.var_dir / "media" / row.stored_name
    assert path.read_bytes() == data
    assert not any(n.endswith(".part") for n in stored_files(settings))
    entry = await AuditEntry.get(action="listing.media_added")
    assert entry.object_id == str(listing.id) and entry.state_after["media"] == body["id"]


@pytest.mark.parametrize("case", sorted(DISGUISED))
async def test_disguised_files_are_refused_and_nothing_is_stored(
    session_as: Session, settings, case
) -> None:
    user, listing = await owner_and_listing()
    client, csrf = await session_as(user.email)
    before = stored_files(settings)
    name, data, content_type = DISGUISED[case]
    response = await upload(client, csrf, str(listing.id), name, data, content_type)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert "file" in error["fields"] and "PDF" in error["message"]
    assert await ListingMedia.all().count() == 0
    assert stored_files(settings) == before


async def test_size_limit_is_exact_and_oversize_leaves_nothing(session_as: Session, settings):
    user, listing = await owner_and_listing()
    client, csrf = await session_as(user.email)
    header = png_bytes()
    at_limit = header + b"\x00" * (media.MAX_MEDIA_BYTES - len(header))
    response = await upload(client, csrf, str(listing.id), "big.png", at_limit)
    assert response.status_code == 201, response.text[:300]

    before = stored_files(settings)
    response = await upload(client, csrf, str(listing.id), "huge.png", at_limit + b"\x00")
    assert response.status_code == 413
    error = response.json()["error"]
    assert "10 MiB" in error["message"] and "file" in error["fields"]
    assert await ListingMedia.all().count() == 1
    assert stored_files(settings) == before


async def test_a_body_without_content_length_is_cut_off_at_the_limit(
    session_as: Session, settings
) -> None:
    user, listing = await owner_and_listing()
    client, csrf = await session_as(user.email)
    boundary = "b0undary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="x.png"\r\n'
        "Content-Type: image/png\r\n\r\n"
    ).encode() + png_bytes()
    sent = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal sent
        yield head
        for _ in range(4 * media.MAX_MEDIA_BYTES // 65536):
            sent += 65536
            yield b"\x00" * 65536

    before = stored_files(settings)
    response = await client.post(
        MEDIA_API.format(listing_id=listing.id),
        content=endless(),
        headers={
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "X-CSRF-Token": csrf,
        },
    )
    assert response.status_code == 413, response.text
    assert sent < media.MAX_MEDIA_BYTES + 2 * 65536 + files.ENVELOPE_BYTES
    assert stored_files(settings) == before


async def test_a_declared_oversize_body_is_refused_before_reading(session_as: Session) -> None:
    user, listing = await owner_and_listing()
    client, csrf = await session_as(user.email)
    response = await client.post(
        MEDIA_API.format(listing_id=listing.id),
        content=b"tiny",
        headers={
            "Content-Type": "multipart/form-data; boundary=x",
            "Content-Length": str(media.MAX_MEDIA_BYTES + files.ENVELOPE_BYTES + 1),
            "X-CSRF-Token": csrf,
        },
    )
    assert response.status_code == 413


async def test_empty_or_missing_file_is_refused(session_as: Session, settings) -> None:
    user, listing = await owner_and_listing()
    client, csrf = await session_as(user.email)
    before = stored_files(settings)
    empty = await upload(client, csrf, str(listing.id), "empty.pdf", b"")
    assert empty.status_code == 422 and "empty" in empty.json()["error"]["message"]
    missing = await client.post(
        MEDIA_API.format(listing_id=listing.id),
        data={"confidential": "false"},
        headers={"X-CSRF-Token": csrf},
    )
    assert missing.status_code == 422 and "file" in missing.json()["error"]["fields"]
    assert await ListingMedia.all().count() == 0 and stored_files(settings) == before


async def test_confidential_flag_must_be_a_boolean(session_as: Session) -> None:
    user, listing = await owner_and_listing()
    client, csrf = await session_as(user.email)
    response = await upload(client, csrf, str(listing.id), "a.png", png_bytes(), confidential="?")
    assert response.status_code == 422 and "confidential" in response.json()["error"]["fields"]


async def test_cookie_upload_without_csrf_header_is_refused(session_as: Session) -> None:
    user, listing = await owner_and_listing()
    client, _ = await session_as(user.email)
    response = await client.post(
        MEDIA_API.format(listing_id=listing.id), files={"file": ("a.png", png_bytes())}
    )
    assert response.status_code == 403
    assert await ListingMedia.all().count() == 0


async def test_who_may_upload(session_as: Session, client: httpx.AsyncClient) -> None:
    owner, published = await owner_and_listing(published=True)
    draft = await a_draft_listing(owner)
    stranger, _ = await a_verified_institute()
    other, csrf = await session_as(stranger.email)

    refused = await upload(other, csrf, str(published.id), "a.png", png_bytes())
    assert refused.status_code == 403
    hidden = await upload(other, csrf, str(draft.id), "a.png", png_bytes())
    assert hidden.status_code == 404
    anonymous = await client.post(
        MEDIA_API.format(listing_id=published.id), files={"file": ("a.png", png_bytes())}
    )
    assert anonymous.status_code == 401
    admin, admin_csrf = await session_as("admin@example.org")
    assert (
        await upload(admin, admin_csrf, str(published.id), "a.png", png_bytes())
    ).status_code == 403
    assert await ListingMedia.all().count() == 0

    # The owner may add files to a published listing too.
    mine, my_csrf = await session_as(owner.email)
    assert (await upload(mine, my_csrf, str(published.id), "a.png", png_bytes())).status_code == 201


async def test_licensed_listing_files_are_frozen() -> None:
    owner, listing = await owner_and_listing(published=True)
    item = await add_file(owner, listing)
    await listings.license_listing(Actor.system(), str(listing.id))
    with pytest.raises(Conflict):
        await add_file(owner, listing)
    with pytest.raises(Conflict):
        await media.remove_media(await actor_of(owner), str(listing.id), str(item.id))


async def test_at_most_twenty_files_and_the_refused_one_leaves_no_file(settings) -> None:
    owner, listing = await owner_and_listing()
    for _ in range(media.MAX_MEDIA_PER_LISTING):
        await add_file(owner, listing)
    before = stored_files(settings)
    with pytest.raises(ValidationFailed) as refused:
        await add_file(owner, listing)
    assert "file" in refused.value.fields
    assert await ListingMedia.filter(listing_id=listing.id).count() == 20
    assert stored_files(settings) == before


async def test_a_failed_database_write_removes_the_file(monkeypatch, settings) -> None:
    owner, listing = await owner_and_listing()
    before = stored_files(settings)

    async def broken(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(media.audit, "record", broken)
    with pytest.raises(RuntimeError):
        await add_file(owner, listing)
    assert await ListingMedia.all().count() == 0
    assert stored_files(settings) == before


# --- downloads ---------------------------------------------------------------------------


async def test_public_media_of_a_published_listing(client: httpx.AsyncClient) -> None:
    owner, listing = await owner_and_listing(published=True)
    image = await add_file(owner, listing, name="diagram.png")
    brochure = await add_file(owner, listing, pdf_bytes(), name="Brochure 2024 (中文).pdf")

    got = await client.get(f"/media/{image.id}")
    assert got.status_code == 200 and got.content == png_bytes()
    assert got.headers["content-type"] == "image/png"
    assert "nosniff" in got.headers.get_list("x-content-type-options")
    assert got.headers["content-disposition"] == "inline; filename*=UTF-8''diagram.png"
    assert "no-store" not in got.headers["cache-control"]

    pdf = await client.get(f"/media/{brochure.id}")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    disposition = pdf.headers["content-disposition"]
    assert disposition.startswith("attachment; filename*=UTF-8''")
    assert unquote(disposition.split("''", 1)[1]) == "Brochure 2024 (中文).pdf"


async def test_media_of_an_unpublished_listing_is_for_owner_and_admins(
    client: httpx.AsyncClient, session_as: Session
) -> None:
    owner, draft = await owner_and_listing()
    item = await add_file(owner, draft)
    stranger, _ = await a_verified_institute()

    assert (await client.get(f"/media/{item.id}")).status_code == 404
    other, _ = await session_as(stranger.email)
    assert (await other.get(f"/media/{item.id}")).status_code == 404
    for email in (owner.email, "admin@example.org"):
        viewer, _ = await session_as(email)
        got = await viewer.get(f"/media/{item.id}")
        assert got.status_code == 200 and got.headers["cache-control"] == "private, no-store"


async def test_confidential_media_even_on_a_published_listing(
    client: httpx.AsyncClient, session_as: Session
) -> None:
    owner, listing = await owner_and_listing(published=True)
    secret = await add_file(owner, listing, pdf_bytes(), name="terms.pdf", confidential=True)
    stranger, _ = await a_verified_institute()

    anonymous = await client.get(f"/media/{secret.id}")
    assert anonymous.status_code == 404 and b"%PDF" not in anonymous.content
    other, _ = await session_as(stranger.email)
    assert (await other.get(f"/media/{secret.id}")).status_code == 404
    for email in (owner.email, "admin@example.org"):
        viewer, _ = await session_as(email)
        got = await viewer.get(f"/media/{secret.id}")
        assert got.status_code == 200 and got.content == pdf_bytes()
        assert got.headers["cache-control"] == "private, no-store"


async def test_unknown_or_malformed_media_ids_are_not_found(client: httpx.AsyncClient) -> None:
    assert (await client.get("/media/0b7e1f3c-3f7e-4a43-9d7b-0c9b3e7f1a11")).status_code == 404
    assert (await client.get("/media/..%2F..%2Fetc%2Fpasswd")).status_code == 404


async def test_hostile_filename_is_only_data(
    client: httpx.AsyncClient, session_as: Session, settings
) -> None:
    owner, listing = await owner_and_listing(published=True)
    owner_client, csrf = await session_as(owner.email)
    hostile = "../../etc/passwd<script>.png"
    response = await upload(owner_client, csrf, str(listing.id), hostile, png_bytes())
    assert response.status_code == 201, response.text
    row = await ListingMedia.get(id=response.json()["media"]["id"])
    assert row.original_name == hostile
    assert (settings.var_dir / "media" / row.stored_name).is_file()
    assert not (settings.var_dir / "etc").exists()
    assert not (settings.var_dir.parent / "etc").exists()

    got = await client.get(f"/media/{row.id}")
    disposition = got.headers["content-disposition"]
    assert disposition == "inline; filename*=UTF-8''..%2F..%2Fetc%2Fpasswd%3Cscript%3E.png"
    assert "<" not in disposition and '"' not in disposition


async def test_download_name_gets_the_real_extension() -> None:
    owner, listing = await owner_and_listing()
    item = await add_file(owner, listing, name="page.html")
    assert media.download_name(item) == "page.html.png"


# --- listing and removing ----------------------------------------------------------------


async def test_api_list_shows_only_what_the_caller_may_see(
    client: httpx.AsyncClient, session_as: Session
) -> None:
    owner, listing = await owner_and_listing(published=True)
    public = await add_file(owner, listing, name="public.png")
    secret = await add_file(owner, listing, pdf_bytes(), name="secret.pdf", confidential=True)
    stranger, _ = await a_verified_institute()
    url = MEDIA_API.format(listing_id=listing.id)

    anonymous = await client.get(url)
    assert [x["id"] for x in anonymous.json()["items"]] == [str(public.id)]
    other, _ = await session_as(stranger.email)
    assert [x["id"] for x in (await other.get(url)).json()["items"]] == [str(public.id)]
    mine, _ = await session_as(owner.email)
    items = (await mine.get(url)).json()["items"]
    assert [x["id"] for x in items] == [str(public.id), str(secret.id)]
    assert items[1]["confidential"] is True and items[1]["kind"] == "pdf"

    draft = await a_draft_listing(owner)
    await add_file(owner, draft)
    assert (await client.get(MEDIA_API.format(listing_id=draft.id))).status_code == 404
    assert await media.visible_media(Actor.anonymous(), draft) == []
    admin = await actor_of(await User.get(email="admin@example.org"))
    assert len(await media.visible_media(admin, draft)) == 1


async def test_api_delete_removes_row_and_file(session_as: Session, settings) -> None:
    owner, listing = await owner_and_listing(published=True)
    item = await add_file(owner, listing)
    path = settings.var_dir / "media" / item.stored_name
    assert path.is_file()
    stranger, _ = await a_verified_institute()
    other, other_csrf = await session_as(stranger.email)
    url = MEDIA_API.format(listing_id=listing.id) + f"/{item.id}"

    refused = await other.delete(url, headers={"X-CSRF-Token": other_csrf})
    assert refused.status_code == 403 and path.is_file()

    mine, csrf = await session_as(owner.email)
    response = await mine.delete(url, headers={"X-CSRF-Token": csrf})
    assert response.status_code == 200, response.text
    assert not await ListingMedia.exists(id=item.id)
    assert not path.exists()
    entry = await AuditEntry.get(action="listing.media_removed")
    assert entry.state_before["sha256"] == item.sha256
    again = await mine.delete(url, headers={"X-CSRF-Token": csrf})
    assert again.status_code == 404


async def test_media_of_another_listing_cannot_be_removed_through_mine(
    session_as: Session,
) -> None:
    owner, listing = await owner_and_listing()
    their_owner, theirs = await owner_and_listing()
    their_file = await add_file(their_owner, theirs)
    mine, csrf = await session_as(owner.email)
    url = MEDIA_API.format(listing_id=listing.id) + f"/{their_file.id}"
    assert (await mine.delete(url, headers={"X-CSRF-Token": csrf})).status_code == 404
    assert await ListingMedia.exists(id=their_file.id)


# --- the edit page's forms ---------------------------------------------------------------


async def test_page_form_upload_and_delete(session_as: Session, settings) -> None:
    owner, listing = await owner_and_listing()
    page, csrf = await session_as(owner.email)
    edit = f"/listings/{listing.id}/edit"

    response = await page.post(
        f"/listings/{listing.id}/media",
        files={"file": ("plan.pdf", pdf_bytes(), "application/pdf")},
        data={"csrf_token": csrf, "confidential": "on"},
    )
    assert response.status_code == 303 and response.headers["location"] == edit
    assert unquote(response.cookies["tm_flash"]) == "File added."
    item = await ListingMedia.get(listing_id=listing.id)
    assert item.confidential is True and item.kind == "pdf"

    before = stored_files(settings)
    bad = await page.post(
        f"/listings/{listing.id}/media",
        files={"file": ("plan.pdf", b"\x7fELF\x02\x01\x01", "application/pdf")},
        data={"csrf_token": csrf},
    )
    assert bad.status_code == 303 and bad.headers["location"] == edit
    assert "PDF" in unquote(bad.cookies["tm_flash"])
    forged = await page.post(
        f"/listings/{listing.id}/media",
        files={"file": ("a.png", png_bytes(), "image/png")},
        data={"csrf_token": "forged"},
    )
    assert forged.status_code == 403
    assert await ListingMedia.all().count() == 1 and stored_files(settings) == before

    no_token = await page.post(f"/listings/{listing.id}/media/{item.id}/delete")
    assert no_token.status_code == 403 and await ListingMedia.exists(id=item.id)
    removed = await page.post(
        f"/listings/{listing.id}/media/{item.id}/delete", data={"csrf_token": csrf}
    )
    assert removed.status_code == 303 and removed.headers["location"] == edit
    assert not await ListingMedia.exists(id=item.id)
    assert not (settings.var_dir / "media" / item.stored_name).exists()


async def test_page_form_refuses_strangers_before_reading(session_as: Session) -> None:
    _, draft = await owner_and_listing()
    stranger, _ = await a_verified_institute()
    page, csrf = await session_as(stranger.email)
    response = await page.post(
        f"/listings/{draft.id}/media",
        files={"file": ("a.png", png_bytes(), "image/png")},
        data={"csrf_token": csrf},
    )
    assert response.status_code == 404
    assert await ListingMedia.all().count() == 0
