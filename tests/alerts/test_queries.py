"""The saved searches page and the API's list send as many statements with 1 saved search as
with 50 (a user keeps at most 50)."""

from __future__ import annotations

import pytest

from alerts.models import SavedSearch
from market.clock import utcnow
from tests.builders import a_user, copies
from tests.queries import Build, Listed, assert_constant_queries


async def saved_searches() -> Listed:
    user, _ = await a_user()
    first = await SavedSearch.create(
        user=user, name="Search 0|", query="q=graphene", next_digest_at=utcnow()
    )

    async def more(n: int) -> list[str]:
        made = await copies(first, n, lambda i: {"name": f"Search {i}|"})
        return [s.name for s in made]

    # The name and the tag after it: "Search 1" must not count as found in "Search 12".
    return Listed({"member": user.email}, [first.name], more)


async def saved_search_ids() -> Listed:
    listed = await saved_searches()
    first = await SavedSearch.get()

    async def more(n: int) -> list[str]:
        made = await copies(first, n, lambda i: {"name": f"Search {i}|"})
        return [str(s.id) for s in made]

    return Listed(listed.people, [str(first.id)], more)


# (path, who asks, what is listed, how many of 50 it shows: its page size, or all)
CASES: list[tuple[str, str, Build, int | None]] = [
    ("/saved-searches", "member", saved_searches, None),
    ("/api/v1/saved-searches", "member", saved_search_ids, None),
]


@pytest.mark.parametrize(
    ("path", "role", "build", "shows"), CASES, ids=[f"{p} as {r}" for p, r, _, _ in CASES]
)
async def test_queries_do_not_grow_with_the_list(
    client, path: str, role: str, build: Build, shows: int | None
) -> None:
    await assert_constant_queries(client, path, role, build, shows)
