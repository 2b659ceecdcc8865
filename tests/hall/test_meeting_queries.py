"""The participant directory (page and API) sends as many statements to the database with 1
participant as with 50."""

from __future__ import annotations

import pytest

from hall.models import Participant
from market.accounts.models import Membership, User
from tests.builders import a_verified_enterprise, a_verified_institute, copies
from tests.hall.builders import a_participant, an_event
from tests.queries import Build, Listed, assert_constant_queries


async def participants() -> Listed:
    event = await an_event()
    institute_user, _ = await a_verified_institute()
    first = await a_participant(event, institute_user)
    # The one who looks, of an organisation whose name sorts after every other.
    viewer, _ = await a_verified_enterprise(organization={"name": "Zz Observer GmbH"})
    await a_participant(event, viewer)

    async def more(n: int) -> list[str]:
        membership = await Membership.get(user_id=institute_user.id)
        users = await copies(await User.get(id=institute_user.id), n)
        await copies(membership, n, lambda i: {"user_id": users[i - 1].id})
        made = await copies(
            await Participant.get(id=first.id), n, lambda i: {"user_id": users[i - 1].id}
        )
        return [f"/participants/{p.id}/request" for p in made]

    return Listed(
        {"viewer": viewer.email},
        [f"/participants/{first.id}/request"],
        more,
        {"event_id": str(event.id)},
    )


async def participant_ids() -> Listed:
    listed = await participants()
    first = listed.markers[0].split("/")[2]

    async def more(n: int) -> list[str]:
        return [f'"{m.split("/")[2]}"' for m in await listed.more(n)]

    return Listed(listed.people, [f'"{first}"'], more, listed.params)


# (path, who asks, what is listed, how many of 50 it shows: its page size, or all)
CASES: list[tuple[str, str, Build, int | None]] = [
    ("/events/{event_id}/participants", "viewer", participants, 20),
    ("/api/v1/events/{event_id}/participants?per_page=100", "viewer", participant_ids, None),
]


@pytest.mark.parametrize(
    ("path", "role", "build", "shows"), CASES, ids=[f"{p} as {r}" for p, r, _, _ in CASES]
)
async def test_queries_do_not_grow_with_the_list(
    client, path: str, role: str, build: Build, shows: int | None
) -> None:
    await assert_constant_queries(client, path, role, build, shows)
