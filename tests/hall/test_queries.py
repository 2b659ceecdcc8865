"""Every list of the hall sends as many statements to the database with 1 item as with 50:
the events list and the hall of booths, as pages and in the API, and the event page's
pavilions with their booths, as an exhibitor taking part sees them."""

from __future__ import annotations

import pytest

from market.accounts.models import Membership, User
from tests.builders import copies, organizations
from tests.hall.builders import a_booth, a_participant, an_event
from tests.queries import Build, Listed, assert_constant_queries


async def events() -> Listed:
    event = await an_event()

    async def more(n: int) -> list[str]:
        made = await copies(event, n, lambda i: {"name": f"{event.name} (copy {i})"})
        return [str(x.id) for x in made]

    return Listed({}, [str(event.id)], more)


async def booths() -> Listed:
    event = await an_event()
    booth = await a_booth(event)

    async def more(n: int) -> list[str]:
        others = await organizations(n, verification="verified")
        made = await copies(booth, n, lambda i: {"organization_id": others[i - 1].id})
        return [str(x.id) for x in made]

    return Listed({}, [str(booth.id)], more, {"event_id": str(event.id)})


async def pavilions() -> Listed:
    event = await an_event()
    booth = await a_booth(event)
    await booth.fetch_related("pavilion")
    owner = await Membership.filter(organization_id=booth.organization_id).first()
    exhibitor = await User.get(id=owner.user_id)  # type: ignore[union-attr]
    await a_participant(event, exhibitor)

    async def more(n: int) -> list[str]:
        made = await copies(booth.pavilion, n, lambda i: {"name": f"Pavilion {i}"})
        others = await organizations(n, verification="verified")
        await copies(
            booth, n, lambda i: {"organization_id": others[i - 1].id, "pavilion_id": made[i - 1].id}
        )
        return [f"pavilion={x.id}" for x in made]

    return Listed(
        {"exhibitor": exhibitor.email},
        [f"pavilion={booth.pavilion.id}"],
        more,
        {"event_id": str(event.id)},
    )


# (path, who asks, what is listed, how many of 50 it shows: its page size, or all)
CASES: list[tuple[str, str, Build, int | None]] = [
    ("/events", "anonymous", events, 20),
    ("/api/v1/events?per_page=50", "anonymous", events, None),
    ("/events/{event_id}/hall", "anonymous", booths, 20),
    ("/api/v1/events/{event_id}/booths?per_page=50", "anonymous", booths, None),
    ("/events/{event_id}", "exhibitor", pavilions, None),
]


@pytest.mark.parametrize(
    ("path", "role", "build", "shows"), CASES, ids=[f"{p} as {r}" for p, r, _, _ in CASES]
)
async def test_queries_do_not_grow_with_the_list(
    client, path: str, role: str, build: Build, shows: int | None
) -> None:
    await assert_constant_queries(client, path, role, build, shows)
