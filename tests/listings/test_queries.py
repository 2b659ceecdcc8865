"""Every list of listings sends as many statements to the database with 1 item as with 50: the
public index, the institute's own, the moderation queue (with the revisions awaiting review),
the search page's and API's database answer (Meilisearch down), the API's lists, and the
enquiries inbox (both sides, page and API)."""

from __future__ import annotations

import pytest

from listings import service
from listings.models import Listing
from listings.schemas import ListingPatch
from market.accounts.models import User
from market.app import processes
from market.config import get_settings
from tests.builders import (
    a_draft_listing,
    a_published_listing,
    actor_of,
    an_admin,
    an_enquiry,
    copies,
    enquiries_like,
    listings_like,
)
from tests.queries import Build, Listed, assert_constant_queries


def _ids(rows: list) -> list[str]:
    return [str(row.id) for row in rows]


async def published() -> Listed:
    listing = await a_published_listing()
    owner = await User.get(id=listing.created_by_id)
    return Listed(
        {"seller": owner.email},
        [str(listing.id)],
        lambda n: _with_ids(listings_like(listing, n)),
    )


async def _with_ids(made) -> list[str]:
    return _ids(await made)


async def awaiting_review() -> Listed:
    """Submitted listings and revisions of published ones: the moderation page lists both."""
    draft = await a_draft_listing()
    owner = await actor_of(await User.get(id=draft.created_by_id))
    submitted = await service.submit_listing(owner, str(draft.id))
    live = await a_published_listing(owner.user)
    _, revision = await service.update_listing(
        owner, str(live.id), ListingPatch.model_validate({"title": "A better title"})
    )
    assert revision is not None

    async def more(n: int) -> list[str]:
        # Half new submissions, half new revisions: n items in all.
        listings = await listings_like(submitted, n - n // 2)
        revisions = await copies(revision, n // 2)
        return _ids(listings) + _ids(revisions)

    await an_admin()
    return Listed({"admin": "admin@example.org"}, [str(submitted.id)], more)


async def submitted() -> Listed:
    draft = await a_draft_listing()
    owner = await actor_of(await User.get(id=draft.created_by_id))
    listing = await service.submit_listing(owner, str(draft.id))
    await an_admin()
    return Listed(
        {"admin": "admin@example.org"},
        [str(listing.id)],
        lambda n: _with_ids(listings_like(listing, n)),
    )


async def revisions_only() -> Listed:
    live = await a_published_listing()
    owner = await actor_of(await User.get(id=live.created_by_id))
    _, revision = await service.update_listing(
        owner, str(live.id), ListingPatch.model_validate({"summary": "A shorter summary."})
    )
    await an_admin()
    return Listed(
        {"admin": "admin@example.org"},
        [str(revision.id)],
        lambda n: _with_ids(copies(revision, n)),
    )


# (path, who asks, what is listed, how many of 50 it shows: its page size, or all)
async def enquiries() -> Listed:
    """An enquiry, seen by the enterprise that asked (buyer) and the institute (seller)."""
    enquiry = await an_enquiry()
    buyer = await User.get(id=enquiry.created_by_id)
    seller = await User.get(id=(await Listing.get(id=enquiry.listing_id)).created_by_id)

    async def more(n: int) -> list[str]:
        return [str(x.id) for x in await enquiries_like(enquiry, n)]

    return Listed({"buyer": buyer.email, "seller": seller.email}, [str(enquiry.id)], more)


CASES: list[tuple[str, str, Build, int | None]] = [
    ("/listings", "anonymous", published, 20),
    ("/listings/mine", "seller", published, 20),
    ("/admin/listings", "admin", awaiting_review, None),
    ("/search?per_page=50", "anonymous", published, None),
    ("/api/v1/listings?per_page=50", "anonymous", published, None),
    ("/api/v1/listings?mine=1&per_page=50", "seller", published, None),
    ("/api/v1/admin/listings", "admin", submitted, None),
    ("/api/v1/admin/revisions", "admin", revisions_only, None),
    ("/api/v1/search?per_page=50", "anonymous", published, None),
    ("/enquiries", "buyer", enquiries, 20),
    ("/enquiries?side=seller", "seller", enquiries, 20),
    ("/api/v1/enquiries?side=buyer&per_page=50", "buyer", enquiries, None),
    ("/api/v1/enquiries?side=seller&per_page=50", "seller", enquiries, None),
]


@pytest.fixture
def dead_meili(monkeypatch, settings):
    """Search answers from the database: Meilisearch's address is a port nobody listens on
    (the database answer is the part of search that sends queries)."""
    dead = f"http://127.0.0.1:{processes.free_port()}"
    for target in {id(s): s for s in (settings, get_settings())}.values():
        monkeypatch.setattr(target, "meili_url", dead)


@pytest.mark.parametrize(
    ("path", "role", "build", "shows"), CASES, ids=[f"{p} as {r}" for p, r, _, _ in CASES]
)
async def test_queries_do_not_grow_with_the_list(
    client, dead_meili, path: str, role: str, build: Build, shows: int | None
) -> None:
    await assert_constant_queries(client, path, role, build, shows)
