"""A verified organisation's new name or country waits for an administrator; the verified
ones stay in force and public until then (issue 17, point 6)."""

from __future__ import annotations

import pytest

from market.accounts import service as accounts
from market.accounts.models import Organization
from market.accounts.schemas import OrganizationUpdate
from market.errors import Conflict, Forbidden, ValidationFailed
from market.notify import Notification
from tests.builders import a_colleague, a_user, a_verified_institute, actor_of, an_admin, run_worker
from tests.market.accounts.test_pages import HOSTILE, csrf_of, page_login


def update(org: Organization, **changes: str) -> OrganizationUpdate:
    values = {"name": org.name, "country": org.country, "region": org.region, "website": ""}
    return OrganizationUpdate(**{**values, **changes})


async def test_a_rename_waits_for_an_administrator_and_the_old_name_stays_public(
    client, settings, redis_client
) -> None:
    owner, org = await a_verified_institute(organization={"name": "Old Name Institute"})
    me = await actor_of(owner)
    saved = await accounts.update_organization(
        me, update(org, name="New Name " + HOSTILE, country="FR", region="Alsace")
    )
    # The region is not what verification relied on: it changes at once.
    assert saved.region == "Alsace"
    assert (saved.name, saved.country) == ("Old Name Institute", org.country)
    assert (saved.proposed_name, saved.proposed_country) == ("New Name " + HOSTILE, "FR")
    assert saved.is_verified  # it keeps trading meanwhile
    public = await client.get(f"/organizations/{saved.slug}")
    assert "Old Name Institute" in public.text and "New Name" not in public.text

    admin_user = await an_admin()
    await run_worker(settings)
    assert await Notification.filter(user_id=admin_user.id, subject__contains="Old Name").exists()

    # The queue shows it; an administrator approves it.
    await page_login(client, admin_user.email)
    queue = await client.get("/admin/organizations?state=changes")
    assert queue.status_code == 200 and "New Name &lt;script&gt;" in queue.text
    approved = await client.post(
        f"/admin/organizations/{org.id}/identity/approve", data={"csrf_token": csrf_of(queue.text)}
    )
    assert approved.status_code == 303
    org = await Organization.get(id=org.id)
    assert (org.name, org.country, org.proposed_name) == ("New Name " + HOSTILE, "FR", "")
    await run_worker(settings)
    assert await Notification.filter(user_id=owner.id, subject__contains="approved").exists()
    again = await client.post(
        f"/admin/organizations/{org.id}/identity/approve", data={"csrf_token": csrf_of(queue.text)}
    )
    assert again.status_code == 303  # back to the queue, saying why
    assert "no change waiting" in (await client.get(again.headers["location"])).text


async def test_a_turned_down_change_leaves_the_verified_details(redis_client) -> None:
    owner, org = await a_verified_institute()
    admin = await actor_of(await an_admin())
    await accounts.update_organization(await actor_of(owner), update(org, name="Renamed Ltd"))
    with pytest.raises(ValidationFailed):
        await accounts.decide_identity(admin, str(org.id), approve=False, reason="")
    refused = await accounts.decide_identity(
        admin, str(org.id), approve=False, reason="The register shows another name."
    )
    assert (refused.name, refused.proposed_name) == (org.name, "")
    with pytest.raises(Conflict):
        await accounts.decide_identity(admin, str(org.id), approve=True)
    with pytest.raises(Forbidden):
        await accounts.decide_identity(await actor_of(owner), str(org.id), approve=True)


async def test_setting_the_verified_name_back_withdraws_the_change() -> None:
    owner, org = await a_verified_institute()
    me = await actor_of(owner)
    await accounts.update_organization(me, update(org, name="Renamed Ltd"))
    back = await accounts.update_organization(me, update(org, name=org.name))
    assert back.proposed_name == "" and back.name == org.name


async def test_an_organisation_not_yet_verified_changes_at_once() -> None:
    user, org = await a_user()  # pending: verification will look at what it says anyway
    changed = await accounts.update_organization(await actor_of(user), update(org, name="Fixed"))
    assert (changed.name, changed.proposed_name) == ("Fixed", "")


async def test_only_those_who_edit_the_organisation_propose() -> None:
    _, org = await a_verified_institute()
    member = await actor_of(await a_colleague(org, role="member"))
    with pytest.raises(Forbidden):
        await accounts.update_organization(member, update(org, name="Hijacked"))
    assert (await Organization.get(id=org.id)).proposed_name == ""
