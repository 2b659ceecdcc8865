from listings.models import ListingState
from tests.builders import a_draft_listing, a_published_listing


async def test_builders_make_a_draft_and_a_published_listing() -> None:
    draft = await a_draft_listing()
    assert draft.state == ListingState.DRAFT
    published = await a_published_listing()
    assert published.state == ListingState.PUBLISHED and published.published_at is not None
