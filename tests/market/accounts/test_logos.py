"""An organisation's logo: set by its owners and admins (a PNG or JPEG, small), served to whoever
may see its profile, shown on the profile and beside its listings; anything else is refused
naming the field, and nothing is stored."""

from __future__ import annotations

import httpx

from market.accounts.models import Organization
from tests.builders import a_published_listing, a_user, a_verified_institute, log_in
from tests.files import jpeg_bytes, pdf_bytes, png_bytes
from tests.market.accounts.test_pages import csrf_of

API = "/api/v1/organization/logo"


def stored(settings) -> set[str]:
    folder = settings.var_dir / "media" / "logos"
    return {p.name for p in folder.iterdir()} if folder.exists() else set()


async def put_logo(client: httpx.AsyncClient, csrf: str, data: bytes) -> httpx.Response:
    return await client.put(
        API, files={"logo": ("logo.png", data, "image/png")}, headers={"X-CSRF-Token": csrf}
    )


async def test_a_logo_shows_on_the_profile_and_the_listing_page(client, settings) -> None:
    owner, org = await a_verified_institute()
    listing = await a_published_listing(owner)
    csrf = await log_in(client, owner.email)

    first = await put_logo(client, csrf, png_bytes())
    assert first.status_code == 200, first.text
    old_name = (await Organization.get(id=org.id)).logo_name
    # From the organisation page's form too; the new logo replaces the old file.
    page = await client.get("/organization")
    saved = await client.post(
        "/organization/logo",
        files={"logo": ("logo.jpg", jpeg_bytes(), "image/jpeg")},
        data={"csrf_token": csrf_of(page.text)},
    )
    assert saved.status_code == 303
    org = await Organization.get(id=org.id)
    assert org.logo_type == "image/jpeg" and org.logo_name in stored(settings)
    assert old_name not in stored(settings)

    client.cookies.clear()
    for path in (f"/organizations/{org.slug}", f"/listings/{listing.id}"):
        shown = await client.get(path)
        assert f'src="{org.logo_url}"' in shown.text, path
    assert (await client.get(f"/api/v1/organizations/{org.slug}")).json()["organization"][
        "logo_url"
    ] == org.logo_url
    image = await client.get(org.logo_url)
    assert image.status_code == 200 and image.content == jpeg_bytes()
    assert image.headers["content-type"] == "image/jpeg"
    assert "immutable" in image.headers["cache-control"]
    # An address of an older logo gets the current one, kept only a while.
    stale = await client.get(f"/organizations/{org.slug}/logo?v=00000000")
    assert stale.status_code == 200 and "immutable" not in stale.headers["cache-control"]


async def test_what_is_no_small_png_or_jpeg_is_refused_and_nothing_stored(client, settings):
    owner, org = await a_user()  # not verified yet: its logo is its own members' business
    csrf = await log_in(client, owner.email)
    before = stored(settings)
    for data, status in ((pdf_bytes(), 422), (png_bytes() + b"\0" * 512 * 1024, 413)):
        refused = await put_logo(client, csrf, data)
        assert refused.status_code == status and "logo" in refused.json()["error"]["fields"]
    assert stored(settings) == before and (await Organization.get(id=org.id)).logo_name == ""

    assert (await put_logo(client, csrf, png_bytes())).status_code == 200
    org = await Organization.get(id=org.id)
    mine = await client.get(org.logo_url)
    assert mine.status_code == 200 and mine.headers["cache-control"] == "private, no-store"
    client.cookies.clear()
    assert (await client.get(org.logo_url)).status_code == 404

    csrf = await log_in(client, owner.email)
    removed = await client.delete(API, headers={"X-CSRF-Token": csrf})
    assert removed.status_code == 200 and removed.json()["organization"]["logo_url"] is None
    assert stored(settings) == before
