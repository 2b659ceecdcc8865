"""The public profile of an organisation, on a page and in the API: verified organisations
to anyone, others only to their members and administrators; its published listings only."""

from __future__ import annotations

from listings import service as listings
from market.accounts import service as accounts
from market.accounts.models import Organization, slug_for
from market.accounts.schemas import OrganizationUpdate
from tests.builders import (
    a_draft_listing,
    a_published_listing,
    a_user,
    a_verified_institute,
    actor_of,
    an_admin,
)
from tests.market.accounts.test_pages import HOSTILE, page_login


def test_slugs_are_readable_stable_and_never_empty() -> None:
    org_id = "3f2a9c11-0000-4000-8000-000000000000"
    assert slug_for("Ningbo Institute of Magnetic Materials", org_id) == (
        "ningbo-institute-of-magnetic-materials-3f2a9c"
    )
    assert slug_for("宁波材料所", org_id) == "org-3f2a9c"
    assert slug_for("Fraunhofer-Institut für Solare Energiesysteme", org_id).startswith(
        "fraunhofer-institut-fur-solare-energiesysteme-"
    )
    assert slug_for(HOSTILE, org_id) == "script-alert-x-script-3f2a9c"


async def test_a_verified_institute_shows_its_published_listings_to_anyone(client) -> None:
    owner, org = await a_verified_institute(organization={"name": "Ningbo Magnetics " + HOSTILE})
    await accounts.update_organization(
        await actor_of(owner),
        OrganizationUpdate(
            name=org.name,
            country="CN",
            about="We make magnets. " + HOSTILE,
            about_zh="我们制造磁体。",
        ),
    )
    published = await a_published_listing(owner, title="Public alloy")
    await a_draft_listing(owner, title="Secret draft")
    org = await Organization.get(id=org.id)
    assert org.slug and org.slug.startswith("ningbo-magnetics-")

    page = await client.get(f"/organizations/{org.slug}")
    assert page.status_code == 200
    assert "Public alloy" in page.text and "Secret draft" not in page.text
    assert f'href="/listings/{published.id}"' in page.text
    assert HOSTILE not in page.text and "We make magnets. &lt;script&gt;" in page.text
    await client.get("/language/zh")
    assert "我们制造磁体。" in (await client.get(f"/organizations/{org.slug}")).text

    for key in (org.slug, str(org.id), org.slug.upper()):
        answer = await client.get(f"/api/v1/organizations/{key}")
        assert answer.status_code == 200, key
        body = answer.json()
        assert body["organization"]["slug"] == org.slug
        assert [x["title"] for x in body["listings"]] == ["Public alloy"]
        assert body["needs"] == [] and body["events"] == []

    for listing_page in (f"/listings/{published.id}", "/listings"):
        assert f'href="/organizations/{org.slug}"' in (await client.get(listing_page)).text
    assert [x.title for x in await listings.published_by(org.id)] == ["Public alloy"]


async def test_an_unverified_organisation_is_only_its_own_members_business(client) -> None:
    user, org = await a_user()  # pending verification
    org = await Organization.get(id=org.id)
    assert (await client.get(f"/organizations/{org.slug}")).status_code == 404
    assert (await client.get(f"/api/v1/organizations/{org.id}")).status_code == 404
    await page_login(client, user.email)
    assert (await client.get(f"/organizations/{org.slug}")).status_code == 200
    admin = await actor_of(await an_admin())
    assert (await accounts.public_organization(admin, org.slug)).id == org.id
    for wrong in ("no-such-org", "x" * 500, "../admin", "00000000-0000-0000-0000-000000000000"):
        assert (await client.get(f"/api/v1/organizations/{wrong}")).status_code == 404, wrong
