"""A need published after confidentiality: its details reach an organisation only once one of
its members accepts the clause, and then every member of it, and nobody else."""

from __future__ import annotations

import asyncio
import re

import pytest

from docking import service
from docking.models import ClauseAcceptance
from market.accounts.models import Organization
from market.audit import AuditEntry
from market.errors import Conflict, Forbidden
from tests.builders import (
    PASSWORD,
    a_colleague,
    a_published_listing,
    a_published_need,
    a_user,
    a_verified_enterprise,
    a_verified_institute,
    actor_of,
    log_in,
    proposal_data,
)

SECRET = "Operates at 80 °C in <b>brine</b>"


async def a_confidential_need():
    seeker, _ = await a_verified_enterprise()
    need = await a_published_need(
        seeker, visibility="after_confidentiality", must_have=[SECRET], background="Our plant."
    )
    return seeker, need


async def test_the_details_reach_an_organisation_once_it_accepts_and_then_all_its_members(
    client,
) -> None:
    _, need = await a_confidential_need()
    institute, org = await a_verified_institute()
    colleague = await a_colleague(org, password=PASSWORD)
    other, _ = await a_verified_institute()

    csrf = await log_in(client, institute.email)
    before = (await client.get(f"/api/v1/needs/{need.id}")).json()["need"]
    assert before["must_have"] == [] and before["details_hidden"] is True

    accepted = await client.post(
        f"/api/v1/needs/{need.id}/confidentiality", headers={"X-CSRF-Token": csrf}
    )
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["need"]["must_have"] == [SECRET]
    # Accepting again changes nothing.
    again = await client.post(
        f"/api/v1/needs/{need.id}/confidentiality", headers={"X-CSRF-Token": csrf}
    )
    assert again.status_code == 200
    assert await ClauseAcceptance.filter(need_id=need.id).count() == 1
    assert await AuditEntry.filter(action="need.clause_accepted").count() == 1

    # A colleague sees the details; another institute does not.
    seen = await service.get_need(await actor_of(colleague), str(need.id))
    assert service.public_view(seen, await actor_of(colleague))["must_have"] == [SECRET]
    theirs = await service.get_need(await actor_of(other), str(need.id))
    assert service.public_view(theirs, await actor_of(other))["details_hidden"] is True


async def test_who_may_not_accept_is_told_why_and_nothing_is_written(client) -> None:
    seeker, need = await a_confidential_need()
    with pytest.raises(Conflict, match="posted this need"):
        await service.accept_clause(await actor_of(seeker), str(need.id))

    pending, org = await a_user()
    await Organization.filter(id=org.id).update(verification="pending")
    with pytest.raises(Forbidden, match="verified"):
        await service.accept_clause(await actor_of(pending), str(need.id))

    public = await a_published_need(seeker)
    institute, _ = await a_verified_institute()
    with pytest.raises(Conflict, match="no confidentiality clause"):
        await service.accept_clause(await actor_of(institute), str(public.id))

    await service.close_need(await actor_of(seeker), str(need.id), "Solved in house.")
    with pytest.raises(Conflict, match="not open"):
        await service.accept_clause(await actor_of(institute), str(need.id))

    anonymous = await client.post(f"/api/v1/needs/{need.id}/confidentiality")
    assert anonymous.status_code in (401, 403)
    assert await ClauseAcceptance.all().count() == 0


async def test_racing_acceptances_of_one_organisation_leave_one_row() -> None:
    _, need = await a_confidential_need()
    institute, org = await a_verified_institute()
    members = [institute] + [await a_colleague(org) for _ in range(4)]
    actors = [await actor_of(m) for m in members]
    results = await asyncio.gather(
        *(service.accept_clause(a, str(need.id)) for a in actors), return_exceptions=True
    )
    assert not [r for r in results if isinstance(r, BaseException)], results
    assert await ClauseAcceptance.filter(need_id=need.id).count() == 1


async def test_a_proposal_to_a_confidential_need_waits_for_the_clause(client) -> None:
    _, need = await a_confidential_need()
    institute, _ = await a_verified_institute()
    listing = await a_published_listing(institute)
    csrf = await log_in(client, institute.email)
    # Before accepting, the institute cannot even see what the must-haves are.
    refused = await client.post(
        f"/api/v1/needs/{need.id}/proposals",
        json=proposal_data(need, [str(listing.id)]),
        headers={"X-CSRF-Token": csrf},
    )
    assert refused.status_code == 403 and "confidentiality clause" in refused.text
    await client.post(f"/api/v1/needs/{need.id}/confidentiality", headers={"X-CSRF-Token": csrf})
    made = await client.post(
        f"/api/v1/needs/{need.id}/proposals",
        json=proposal_data(need, [str(listing.id)]),
        headers={"X-CSRF-Token": csrf},
    )
    assert made.status_code == 201, made.text


async def test_the_need_page_offers_the_clause_and_then_shows_the_details_escaped(client) -> None:
    _, need = await a_confidential_need()
    institute, _ = await a_verified_institute()
    page_before = await client.get(f"/needs/{need.id}")
    assert "Log in to accept the clause." in page_before.text and "brine" not in page_before.text

    await client.post(
        "/login",
        data={
            "email": institute.email,
            "password": PASSWORD,
            "csrf_token": _csrf((await client.get("/login")).text),
        },
    )
    page = await client.get(f"/needs/{need.id}")
    assert "Accept the clause and see the details" in page.text and "brine" not in page.text
    accepted = await client.post(
        f"/needs/{need.id}/confidentiality", data={"csrf_token": _csrf(page.text)}
    )
    assert accepted.status_code == 303 and accepted.headers["location"] == f"/needs/{need.id}"
    shown = await client.get(f"/needs/{need.id}")
    assert "You accepted the confidentiality clause" in shown.text
    assert "&lt;b&gt;brine&lt;/b&gt;" in shown.text and "<b>brine</b>" not in shown.text
    assert "Accept the clause and see the details" not in shown.text


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page carries no CSRF token"
    return found.group(1)
