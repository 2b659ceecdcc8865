import pytest

from market import audit
from market.actor import Actor
from market.audit import AppendOnlyError, AuditEntry
from market.db import unit_of_work
from tests.builders import a_user, actor_of


async def test_entries_record_actor_organisation_states_and_ip() -> None:
    user, org = await a_user()
    actor = await actor_of(user, ip="192.0.2.44")
    async with unit_of_work():
        await audit.record(actor, "thing.moved", "thing", 42, before={"s": "a"}, after={"s": "b"})
    entry = await AuditEntry.get(action="thing.moved")
    assert entry.actor_id == user.id and entry.organization_id == org.id
    assert (entry.state_before, entry.state_after) == ({"s": "a"}, {"s": "b"})
    assert entry.ip == "192.0.2.44" and entry.object_id == "42" and entry.created_at


async def test_the_trail_is_append_only() -> None:
    async with unit_of_work():
        entry = await audit.record(Actor.system(), "thing.made", "thing", 1)
    entry.action = "thing.forged"
    with pytest.raises(AppendOnlyError):
        await entry.save()
    with pytest.raises(AppendOnlyError):
        await entry.delete()
    assert (await AuditEntry.get(id=entry.id)).action == "thing.made"


async def test_an_entry_of_a_rolled_back_use_case_is_not_kept() -> None:
    with pytest.raises(ZeroDivisionError):
        async with unit_of_work():
            await audit.record(Actor.system(), "thing.made", "thing", 1)
            1 / 0  # noqa: B018
    assert await AuditEntry.all().count() == 0


async def test_browse_filters_and_pages() -> None:
    async with unit_of_work():
        for i in range(7):
            await audit.record(Actor.system(), "a.one" if i % 2 else "a.two", "thing", i)
    items, total = await audit.browse(action="a.one", per_page=2, page=1)
    assert total == 3 and len(items) == 2
    assert [e.object_id for e in items] == ["5", "3"]  # newest first
    items, _ = await audit.browse(object_type="thing", object_id="4")
    assert [e.action for e in items] == ["a.two"]
