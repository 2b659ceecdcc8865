"""The pages render the demo listings drawn from the real records, in English and Chinese."""

import re

from listings.models import Listing, ListingState
from market.seed import seed_demo
from tests.builders import log_in

DEMO_PASSWORD = "demo-password-2026"


async def test_the_pages_render_the_demo_listings(client) -> None:
    await seed_demo(DEMO_PASSWORD)
    index = await client.get("/listings")
    assert index.status_code == 200
    ids = re.findall(r'href="/listings/([0-9a-f-]{36})"', index.text)
    assert len(set(ids)) >= 10

    published = await Listing.filter(state=ListingState.PUBLISHED).all()
    for listing in published[:: max(1, len(published) // 25)]:  # a spread of every source
        page = await client.get(f"/listings/{listing.id}")
        assert page.status_code == 200, (listing.id, page.status_code)
        assert listing.summary[:40].replace("&", "&amp;").replace("<", "&lt;")[:20] in page.text

    chinese = await Listing.filter(state=ListingState.PUBLISHED, language="zh").first()
    assert chinese is not None
    page = await client.get(f"/listings/{chinese.id}", headers={"Accept-Language": "zh-CN"})
    assert page.status_code == 200 and chinese.title in page.text


async def test_the_demo_logins_see_their_dashboards(client) -> None:
    await seed_demo(DEMO_PASSWORD)
    await log_in(client, "institute@techmarket.example", DEMO_PASSWORD)
    mine = await client.get("/listings/mine")
    assert mine.status_code == 200
    assert len(set(re.findall(r'href="/listings/([0-9a-f-]{36})"', mine.text))) >= 10
    client.cookies.clear()
    await log_in(client, "admin@techmarket.example", DEMO_PASSWORD)
    for path in ["/admin/listings", "/admin/organizations", "/admin/audit"]:
        assert (await client.get(path)).status_code == 200, path
