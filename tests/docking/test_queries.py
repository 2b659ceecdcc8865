"""Every list of needs sends as many statements to the database with 1 item as with 50: the
public index, the enterprise's own, the moderation queue, the API's lists, and the need page's
matches and questions."""

from __future__ import annotations

import pytest

from docking import service
from docking.models import Match, Need, NeedQuestion
from market.accounts.models import User
from tests.builders import (
    a_draft_need,
    a_proposal,
    a_published_listing,
    a_published_need,
    actor_of,
    an_admin,
    copies,
    listings_like,
    needs_like,
    proposals_like,
)
from tests.queries import Build, Listed, assert_constant_queries


async def published() -> Listed:
    need = await a_published_need()
    owner = await User.get(id=need.created_by_id)

    async def more(n: int) -> list[str]:
        return [str(x.id) for x in await needs_like(need, n)]

    return Listed({"seeker": owner.email}, [str(need.id)], more)


async def submitted() -> Listed:
    draft = await a_draft_need()
    owner = await actor_of(await User.get(id=draft.created_by_id))
    need = await service.submit_need(owner, str(draft.id))
    await an_admin()

    async def more(n: int) -> list[str]:
        return [str(x.id) for x in await needs_like(need, n)]

    return Listed({"admin": "admin@example.org"}, [str(need.id)], more)


async def proposals_to_a_need() -> Listed:
    proposal = await a_proposal()
    need = await Need.get(id=proposal.need_id)
    seeker = await User.get(id=need.created_by_id)

    async def more(n: int) -> list[str]:
        return [str(x.id) for x in await proposals_like(proposal, n, to="need")]

    return Listed({"seeker": seeker.email}, [str(proposal.id)], more, {"need_id": str(need.id)})


async def proposals_of_an_institute() -> Listed:
    proposal = await a_proposal()
    author = await User.get(id=proposal.created_by_id)

    async def more(n: int) -> list[str]:
        return [str(x.id) for x in await proposals_like(proposal, n, to="proposer")]

    return Listed({"proposer": author.email}, [str(proposal.id)], more)


async def matches_and_questions_of_a_need() -> Listed:
    need = await a_published_need()
    seeker = await User.get(id=need.created_by_id)
    listing = await a_published_listing()
    match = await Match.create(need_id=need.id, listing_id=listing.id, score=60, reasons=[])
    question = await NeedQuestion.create(need_id=need.id, body="How long does it last?")

    async def more(n: int) -> list[str]:
        made = await listings_like(listing, n)
        await copies(match, n, lambda i: {"listing_id": made[i - 1].id})
        await copies(question, n)
        return [f"/listings/{x.id}" for x in made]

    return Listed(
        {"seeker": seeker.email}, [f"/listings/{listing.id}"], more, {"need_id": str(need.id)}
    )


# (path, who asks, what is listed, how many of 50 it shows: its page size, or all)
CASES: list[tuple[str, str, Build, int | None]] = [
    ("/needs", "anonymous", published, 20),
    ("/needs/mine", "seeker", published, 20),
    ("/admin/needs", "admin", submitted, None),
    ("/api/v1/needs?per_page=50", "anonymous", published, None),
    ("/api/v1/needs?mine=1&per_page=50", "seeker", published, None),
    ("/api/v1/admin/needs", "admin", submitted, None),
    ("/api/v1/needs/{need_id}/proposals?per_page=50", "seeker", proposals_to_a_need, None),
    ("/api/v1/proposals?mine=1&per_page=50", "proposer", proposals_of_an_institute, None),
    ("/needs/{need_id}", "seeker", matches_and_questions_of_a_need, None),
]


@pytest.mark.parametrize(
    ("path", "role", "build", "shows"), CASES, ids=[f"{p} as {r}" for p, r, _, _ in CASES]
)
async def test_queries_do_not_grow_with_the_list(
    client, path: str, role: str, build: Build, shows: int | None
) -> None:
    await assert_constant_queries(client, path, role, build, shows)
