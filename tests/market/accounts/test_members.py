"""Organisations as teams through the API: an owner invites, the link goes through a real SMTP
server, the invitee joins; re-sending, revoking, expiry and every wrong link; roles changed,
the last owner kept, and a removed member's sessions and tokens ended at once."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import pytest

from market.accounts import members
from market.accounts import service as accounts
from market.accounts.models import Invitation, MemberRole, Membership, Organization, User
from market.accounts.schemas import InvitationIn, MemberPatch, TokenIn
from market.audit import AuditEntry
from market.clock import utcnow
from market.errors import Conflict
from tests.builders import (
    PASSWORD,
    a_colleague,
    a_mailed_link,
    a_verified_institute,
    actor_of,
    log_in,
)

NEW_PASSWORD = "a long and fresh passphrase"


async def bearer(user: User) -> dict[str, str]:
    _, raw = await accounts.create_api_token(await actor_of(user), TokenIn(name="tests"))
    return {"Authorization": f"Bearer {raw}"}


async def mailed_link(settings: Any, mailbox: Any, address: str) -> str:
    return await a_mailed_link(settings, mailbox, address, "invitations")


async def state_of(org: Organization) -> dict[str, Any]:
    """What a refused request must leave as it was."""
    return {
        "members": sorted(
            (str(m.user_id), str(m.role), m.can_sign)  # type: ignore[attr-defined]
            for m in await Membership.filter(organization_id=org.id)
        ),
        "invitations": sorted(
            (i.email, str(i.accepted_at), str(i.revoked_at), i.token_hash)
            for i in await Invitation.filter(organization_id=org.id)
        ),
        "users": await User.all().count(),
    }


async def test_an_invitee_joins_through_the_mailed_link(
    app, client, settings, mailbox, redis_client
) -> None:
    owner, org = await a_verified_institute()
    headers = await bearer(owner)
    answer = await client.post(
        "/api/v1/organization/invitations",
        json={"email": "Officer@Example.org", "role": "admin"},
        headers=headers,
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["invitation"]["email"] == "officer@example.org"
    token = await mailed_link(settings, mailbox, "officer@example.org")
    invitation = await Invitation.get(email="officer@example.org")
    assert invitation.token_hash == accounts.digest(token)  # only the hash is kept
    assert token not in str(await AuditEntry.all().values_list("state_after", flat=True))

    transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as newcomer:
        joined = await newcomer.post(
            f"/api/v1/invitations/{token}/accept",
            json={"name": "Olga Officer", "password": NEW_PASSWORD},
        )
        assert joined.status_code == 200, joined.text
        assert joined.json()["role"] == "admin"
        me = (await newcomer.get("/api/v1/me")).json()
        assert me["organization"]["id"] == str(org.id) and me["role"] == "admin"

        # The link works once.
        again = await newcomer.post(
            f"/api/v1/invitations/{token}/accept",
            json={},
            headers={"x-csrf-token": me["csrf_token"]},
        )
        assert again.status_code == 404, again.text

    listed = (await client.get("/api/v1/organization/members", headers=headers)).json()["items"]
    by_email = {m["user"]["email"]: m for m in listed}
    assert by_email["officer@example.org"]["role"] == "admin"
    assert by_email["officer@example.org"]["can_sign"] is False
    assert "pay" in by_email["officer@example.org"]["may"]
    assert by_email[owner.email]["can_sign"] is True
    assert await AuditEntry.filter(action="member.joined").count() == 1


async def test_an_existing_account_joins_logged_in_as_the_invited_address(
    client, settings, mailbox, redis_client
) -> None:
    owner, org = await a_verified_institute()
    other, _ = await a_verified_institute()  # has an account (and an organisation) already
    await members.invite(await actor_of(owner), InvitationIn(email=other.email, role="member"))
    token = await mailed_link(settings, mailbox, other.email)

    stranger, _ = await a_verified_institute()
    # Not logged in: told to log in, nothing joins.
    before = await state_of(org)
    anonymous = await client.post(f"/api/v1/invitations/{token}/accept", json={})
    assert anonymous.status_code == 401 and "log in" in anonymous.json()["error"]["message"]
    assert await state_of(org) == before

    # Logged in as someone else: refused, with the reason.
    csrf = await log_in(client, stranger.email)
    wrong = await client.post(
        f"/api/v1/invitations/{token}/accept", json={}, headers={"x-csrf-token": csrf}
    )
    assert wrong.status_code == 403 and other.email in wrong.json()["error"]["message"]
    assert await state_of(org) == before

    await client.post("/api/v1/auth/logout", headers={"x-csrf-token": csrf})
    csrf = await log_in(client, other.email)
    right = await client.post(
        f"/api/v1/invitations/{token}/accept", json={}, headers={"x-csrf-token": csrf}
    )
    assert right.status_code == 200, right.text
    assert await Membership.filter(user_id=other.id).count() == 2


async def test_resent_revoked_expired_and_forged_links(
    client, settings, mailbox, redis_client
) -> None:
    owner, org = await a_verified_institute()
    headers = await bearer(owner)
    made = await client.post(
        "/api/v1/organization/invitations", json={"email": "late@example.org"}, headers=headers
    )
    invitation_id = made.json()["invitation"]["id"]
    first = await mailed_link(settings, mailbox, "late@example.org")

    resent = await client.post(
        f"/api/v1/organization/invitations/{invitation_id}/resend", headers=headers
    )
    assert resent.status_code == 200, resent.text
    second = await mailed_link(settings, mailbox, "late@example.org")
    assert second != first
    before = await state_of(org)
    old = await client.post(f"/api/v1/invitations/{first}/accept", json={"name": "L"})
    assert old.status_code == 404 and "not valid" in old.json()["error"]["message"]
    forged = await client.post("/api/v1/invitations/forged-token/accept", json={"name": "L"})
    assert forged.status_code == 404
    assert await state_of(org) == before

    # Expired: a clear answer, nothing joins.
    await Invitation.filter(id=invitation_id).update(expires_at=utcnow() - timedelta(seconds=1))
    expired = await client.post(
        f"/api/v1/invitations/{second}/accept", json={"name": "L", "password": NEW_PASSWORD}
    )
    assert expired.status_code == 409 and "expired" in expired.json()["error"]["message"]
    assert await state_of(org) == before
    pending = (await client.get("/api/v1/organization/invitations", headers=headers)).json()
    assert pending["items"] == []

    # Revoked: the link stops working at once; revoking again says why not.
    await Invitation.filter(id=invitation_id).update(expires_at=utcnow() + timedelta(days=1))
    revoked = await client.delete(
        f"/api/v1/organization/invitations/{invitation_id}", headers=headers
    )
    assert revoked.status_code == 200, revoked.text
    gone = await client.post(
        f"/api/v1/invitations/{second}/accept", json={"name": "L", "password": NEW_PASSWORD}
    )
    assert gone.status_code == 404
    twice = await client.delete(
        f"/api/v1/organization/invitations/{invitation_id}", headers=headers
    )
    assert twice.status_code == 409 and twice.json()["error"]["state"] == "revoked"


async def test_who_may_invite_and_whom(client, redis_client) -> None:
    owner, org = await a_verified_institute()
    member = await a_colleague(org, role="member")
    admin = await a_colleague(org, role="admin")
    colleague_email = member.email
    before = await state_of(org)

    cases = [
        (member, {"email": "x@example.org"}, 403, None),  # members do not manage members
        (admin, {"email": "x@example.org", "role": "owner"}, 403, None),  # nor admins owners
        (owner, {"email": colleague_email}, 409, None),  # a member already
        (owner, {"email": "not an address"}, 422, "email"),
        (owner, {"email": "<script>@example.org"}, 422, "email"),
        (owner, {"email": "x@example.org", "role": "emperor"}, 422, "role"),
        (owner, {"email": "x@example.org", "extra": 1}, 422, "extra"),
    ]
    for who, payload, status, field in cases:
        answer = await client.post(
            "/api/v1/organization/invitations", json=payload, headers=await bearer(who)
        )
        assert answer.status_code == status, (payload, answer.text)
        if field:
            assert field in answer.json()["error"]["fields"], answer.text
    assert await state_of(org) == before

    ok = await client.post(
        "/api/v1/organization/invitations",
        json={"email": "x@example.org"},
        headers=await bearer(admin),
    )
    assert ok.status_code == 201
    again = await client.post(
        "/api/v1/organization/invitations",
        json={"email": "x@example.org"},
        headers=await bearer(owner),
    )
    assert again.status_code == 409 and "re-send" in again.json()["error"]["message"]


async def test_roles_change_but_an_organisation_keeps_an_owner(client) -> None:
    owner, org = await a_verified_institute()
    admin = await a_colleague(org, role="admin")
    member = await a_colleague(org, role="member")
    as_owner, as_admin = await bearer(owner), await bearer(admin)

    async def patch(who: dict[str, str], user: User, **change: Any) -> httpx.Response:
        return await client.patch(
            f"/api/v1/organization/members/{user.id}", json=change, headers=who
        )

    # The only owner cannot step down or be removed.
    last = await patch(as_owner, owner, role="member")
    assert last.status_code == 409 and last.json()["error"]["state"] == "last_owner"
    leave = await client.delete(f"/api/v1/organization/members/{owner.id}", headers=as_owner)
    assert leave.status_code == 409
    # Admins manage members but not owners or the signing right.
    assert (await patch(as_admin, member, role="admin")).status_code == 200
    assert (await patch(as_admin, member, role="owner")).status_code == 403
    assert (await patch(as_admin, member, can_sign=True)).status_code == 403
    assert (await patch(as_admin, owner, role="member")).status_code == 403
    # Owners do both.
    granted = await patch(as_owner, member, role="owner", can_sign=True)
    assert granted.status_code == 200, granted.text
    assert granted.json()["member"]["can_sign"] is True
    assert (await patch(as_owner, owner, role="member")).status_code == 200  # one owner left
    assert await Membership.filter(organization_id=org.id, role=MemberRole.OWNER).count() == 1
    bad = await patch(as_admin, member, role="captain")
    assert bad.status_code == 422 and "role" in bad.json()["error"]["fields"]
    nobody = await client.patch(
        "/api/v1/organization/members/00000000-0000-0000-0000-000000000000",
        json={"role": "member"},
        headers=as_admin,
    )
    assert nobody.status_code == 404


async def test_two_owners_demoting_each_other_at_once_leave_one_owner() -> None:
    first, org = await a_verified_institute()
    second = await a_colleague(org, role="owner", can_sign=True)
    a, b = await actor_of(first), await actor_of(second)
    results = await asyncio.gather(
        members.update_member(a, str(second.id), MemberPatch(role="member")),
        members.update_member(b, str(first.id), MemberPatch(role="member")),
        return_exceptions=True,
    )
    assert sorted(type(r).__name__ for r in results) == ["Conflict", "Membership"], results
    assert await Membership.filter(organization_id=org.id, role=MemberRole.OWNER).count() == 1


async def test_a_removed_member_is_out_at_once(app, client) -> None:
    owner, org = await a_verified_institute()
    officer = await a_colleague(org, role="admin", password=PASSWORD)
    token_headers = await bearer(officer)
    csrf = await log_in(client, officer.email)
    assert (await client.get("/api/v1/organization/members")).status_code == 200

    removed = await client.delete(
        f"/api/v1/organization/members/{officer.id}", headers=await bearer(owner)
    )
    assert removed.status_code == 200, removed.text
    assert (await client.get("/api/v1/me")).status_code == 401  # the session ended
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as system:
        assert (await system.get("/api/v1/me", headers=token_headers)).status_code == 401
    assert not await Membership.filter(user_id=officer.id).exists()
    assert csrf  # the session was a real, logged-in one


async def test_a_revocation_racing_an_acceptance_lets_one_win(
    settings, mailbox, redis_client
) -> None:
    owner, org = await a_verified_institute()
    invitation = await members.invite(await actor_of(owner), InvitationIn(email="race@example.org"))
    token = await mailed_link(settings, mailbox, "race@example.org")
    from market.accounts.schemas import AcceptIn
    from market.actor import Actor

    results = await asyncio.gather(
        members.accept(Actor.anonymous(), token, AcceptIn(name="R", password=NEW_PASSWORD)),
        members.revoke(await actor_of(owner), str(invitation.id)),
        return_exceptions=True,
    )
    joined = await Membership.filter(organization_id=org.id, user__email="race@example.org")
    fresh = await Invitation.get(id=invitation.id)
    if isinstance(results[0], BaseException):
        assert isinstance(results[0], Conflict) and not joined and fresh.revoked_at
    else:
        assert isinstance(results[1], Conflict) and len(joined) == 1 and fresh.accepted_at


@pytest.mark.parametrize("role", ["member", "admin"])
async def test_the_members_list_is_for_members_only(client, role: str) -> None:
    _, org = await a_verified_institute()
    colleague = await a_colleague(org, role=role)
    outsider, _ = await a_verified_institute()
    mine = await client.get("/api/v1/organization/members", headers=await bearer(colleague))
    assert mine.status_code == 200 and len(mine.json()["items"]) == 2
    theirs = await client.get("/api/v1/organization/members", headers=await bearer(outsider))
    assert {m["user"]["id"] for m in theirs.json()["items"]} == {str(outsider.id)}
    assert (await client.get("/api/v1/organization/members")).status_code == 401


async def test_one_person_in_two_organisations_switches_between_them(
    client, settings, mailbox, redis_client
) -> None:
    person, first = await a_verified_institute()
    owner, second = await a_verified_institute()
    await members.invite(await actor_of(owner), InvitationIn(email=person.email, role="admin"))
    token = await mailed_link(settings, mailbox, person.email)
    csrf = await log_in(client, person.email)
    headers = {"x-csrf-token": csrf}
    joined = await client.post(f"/api/v1/invitations/{token}/accept", json={}, headers=headers)
    assert joined.status_code == 200, joined.text

    me = (await client.get("/api/v1/me")).json()
    assert me["organization"]["id"] == str(first.id) and me["role"] == "owner"
    switched = await client.post(
        "/api/v1/me/organization", json={"organization_id": str(second.id)}, headers=headers
    )
    assert switched.status_code == 200, switched.text
    me = (await client.get("/api/v1/me")).json()
    assert me["organization"]["id"] == str(second.id) and me["role"] == "admin"
    # What the session acts for, it acts for everywhere: this team's members now.
    listed = (await client.get("/api/v1/organization/members")).json()["items"]
    assert {m["user"]["email"] for m in listed} == {owner.email, person.email}

    page = await client.get("/organization")
    assert first.name in page.text and "You act for it now" in page.text
    outsider, elsewhere = await a_verified_institute()
    refused = await client.post(
        "/api/v1/me/organization", json={"organization_id": str(elsewhere.id)}, headers=headers
    )
    assert refused.status_code == 404
    assert (await client.get("/api/v1/me")).json()["organization"]["id"] == str(second.id)
    back = await client.post(
        "/organization/switch", data={"organization_id": str(first.id), "csrf_token": csrf}
    )
    assert back.status_code == 303
    assert (await client.get("/api/v1/me")).json()["organization"]["id"] == str(first.id)
