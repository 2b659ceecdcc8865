"""The lists of the ground floor send as many statements to the database with 1 item as with 50:
the organisations to verify, the audit trail, notifications, the dashboard. And every list the
API documents (a GET answering a Page) is counted somewhere: a new one cannot be forgotten."""

from __future__ import annotations

import pytest

from market.accounts.models import User
from tests.alerts import test_queries as alerts_lists
from tests.builders import a_user, an_admin, audit_entries, notifications_for, organizations
from tests.contracts import test_queries as contracts_lists
from tests.docking import test_queries as docking_lists
from tests.hall import test_meeting_queries as meeting_lists
from tests.hall import test_queries as hall_lists
from tests.listings import test_queries as listings_lists
from tests.queries import Build, Listed, assert_constant_queries

ADMIN = "admin@example.org"


async def pending_organizations() -> Listed:
    await an_admin()
    (first,) = await organizations(1)

    async def more(n: int) -> list[str]:
        return [str(o.id) for o in await organizations(n)]

    return Listed({"admin": ADMIN}, [str(first.id)], more)


async def audit_trail() -> Listed:
    """Entries about things of their own (logging in writes some too: the cases filter by
    object type)."""
    await an_admin()
    (first,) = await audit_entries(1)

    async def more(n: int) -> list[str]:
        return [e.object_id for e in await audit_entries(n)]

    return Listed({"admin": ADMIN}, [first.object_id], more)


async def notifications() -> Listed:
    user, _ = await a_user()
    (first,) = await notifications_for(user, 1)

    async def more(n: int) -> list[str]:
        return [f"{x.subject}<" for x in await notifications_for(await User.get(id=user.id), n)]

    # The subject and the tag after it: "Notice 1" must not count as found in "Notice 12".
    return Listed({"member": user.email}, [f"{first.subject}<"], more)


async def notification_ids() -> Listed:
    listed = await notifications()
    user = await User.get(email=listed.people["member"])
    first = await user.notifications.all().first()
    assert first is not None

    async def more(n: int) -> list[str]:
        return [str(x.id) for x in await notifications_for(user, n)]

    return Listed(listed.people, [str(first.id)], more)


# (path, who asks, what is listed, how many of 50 it shows: its page size, or all)
CASES: list[tuple[str, str, Build, int | None]] = [
    ("/admin/organizations", "admin", pending_organizations, 50),
    ("/admin/audit?object_type=thing", "admin", audit_trail, 50),
    ("/notifications", "member", notifications, 20),
    ("/dashboard", "member", notifications, 10),
    ("/api/v1/admin/organizations", "admin", pending_organizations, 50),
    ("/api/v1/admin/audit?object_type=thing", "admin", audit_trail, 50),
    ("/api/v1/notifications?per_page=50", "member", notification_ids, None),
]


@pytest.mark.parametrize(
    ("path", "role", "build", "shows"), CASES, ids=[f"{p} as {r}" for p, r, _, _ in CASES]
)
async def test_queries_do_not_grow_with_the_list(
    client, path: str, role: str, build: Build, shows: int | None
) -> None:
    await assert_constant_queries(client, path, role, build, shows)


async def test_every_list_the_api_documents_is_counted(client) -> None:
    document = (await client.get("/api/v1/openapi.json")).json()
    lists = {
        path
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if method == "get"
        and operation["responses"]["200"]["content"]
        .get("application/json", {})
        .get("schema", {})
        .get("$ref")
        == "#/components/schemas/Page"
    }
    counted = {
        path.split("?")[0]
        for cases in (
            CASES,
            listings_lists.CASES,
            docking_lists.CASES,
            alerts_lists.CASES,
            contracts_lists.CASES,
            meeting_lists.CASES,
            hall_lists.CASES,
        )
        for path, *_ in cases
        if path.startswith("/api/")
    }
    assert lists, "the document names no list"
    assert lists <= counted, f"lists of the API nobody counts: {sorted(lists - counted)}"
