"""The members page and the invitation link's page, through the forms a browser sends."""

from __future__ import annotations

from datetime import timedelta

import httpx

from market.accounts import members
from market.accounts.models import Invitation, MemberRole, Membership, User
from market.accounts.schemas import InvitationIn
from market.accounts.service import digest
from market.clock import utcnow
from tests.builders import PASSWORD, a_colleague, a_verified_institute, actor_of
from tests.html import Page
from tests.market.accounts.test_pages import HOSTILE, csrf_of, page_login

GOOD_PASSWORD = "a long and fresh passphrase"


async def an_invitation(email: str = "new@example.org", role: str = "member") -> tuple:
    """An invitation with a known link (as the mail job makes one), and its inviter."""
    owner, org = await a_verified_institute()
    invitation = await members.invite(await actor_of(owner), InvitationIn(email=email, role=role))
    token = f"known-token-{invitation.id}"
    await Invitation.filter(id=invitation.id).update(token_hash=digest(token))
    return owner, org, token


async def test_an_owner_invites_from_the_members_page(client) -> None:
    owner, org = await a_verified_institute()
    await a_colleague(org, role="admin", name="Ada Admin")
    await page_login(client, owner.email)
    page = await client.get("/organization/members")
    assert page.status_code == 200
    html = page.text
    assert "Ada Admin" in html and "What each role may do" in html
    assert any(f.get("action") == "/organization/members/invite" for f in Page(html).forms)

    # Bad input: the form again, with what was typed (escaped) and why.
    refused = await client.post(
        "/organization/members/invite",
        data={"email": HOSTILE, "role": "member", "csrf_token": csrf_of(html)},
    )
    assert refused.status_code == 422
    assert HOSTILE not in refused.text and "&lt;script&gt;" in refused.text
    assert not await Invitation.filter(organization_id=org.id).exists()

    sent = await client.post(
        "/organization/members/invite",
        data={"email": "colleague@example.org", "role": "admin", "csrf_token": csrf_of(html)},
    )
    assert sent.status_code == 303, sent.text
    after = (await client.get(sent.headers["location"])).text
    assert "colleague@example.org" in after and "Invitations waiting" in after
    invitation = await Invitation.get(organization_id=org.id)
    assert invitation.role == MemberRole.ADMIN

    revoked = await client.post(
        f"/organization/invitations/{invitation.id}/revoke", data={"csrf_token": csrf_of(after)}
    )
    assert revoked.status_code == 303
    assert (await Invitation.get(id=invitation.id)).revoked_at is not None


async def test_a_plain_member_sees_the_team_but_cannot_invite(client) -> None:
    owner, org = await a_verified_institute()
    member = await a_colleague(org, role="member", password=PASSWORD)
    await page_login(client, member.email)
    html = (await client.get("/organization/members")).text
    assert member.email in html
    assert not any(f.get("action") == "/organization/members/invite" for f in Page(html).forms)
    refused = await client.post(
        "/organization/members/invite",
        data={"email": "x@example.org", "role": "member", "csrf_token": csrf_of(html)},
    )
    assert refused.status_code == 403 and "Only an owner or admin" in refused.text
    assert not await Invitation.filter(organization_id=org.id).exists()


async def test_the_last_owner_is_kept_on_the_page_too(client) -> None:
    owner, org = await a_verified_institute()
    await page_login(client, owner.email)
    html = (await client.get("/organization/members")).text
    answer = await client.post(
        f"/organization/members/{owner.id}",
        data={"role": "member", "signing": "shown", "can_sign": "yes", "csrf_token": csrf_of(html)},
    )
    assert answer.status_code == 409 and "at least one owner" in answer.text
    assert (await Membership.get(user_id=owner.id)).role == MemberRole.OWNER


async def test_a_newcomer_joins_through_the_link_page(app) -> None:
    _, org, token = await an_invitation(role="member")
    transport = httpx.ASGITransport(app=app, client=("203.0.113.20", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as browser:
        page = await browser.get(f"/invitations/{token}")
        assert page.status_code == 200 and org.name in page.text
        form = {"name": HOSTILE, "password": "short", "csrf_token": csrf_of(page.text)}
        weak = await browser.post(f"/invitations/{token}", data=form)
        assert weak.status_code == 422 and "&lt;script&gt;" in weak.text
        assert not await User.filter(email="new@example.org").exists()

        form = {"name": "Nina New", "password": GOOD_PASSWORD, "csrf_token": csrf_of(weak.text)}
        joined = await browser.post(f"/invitations/{token}", data=form)
        assert joined.status_code == 303 and joined.headers["location"] == "/dashboard"
        dashboard = await browser.get("/dashboard")
        assert dashboard.status_code == 200 and "Nina New" in dashboard.text
    user = await User.get(email="new@example.org")
    assert await Membership.filter(user_id=user.id, organization_id=org.id).exists()


async def test_a_forged_or_used_link_gets_a_clear_page(client) -> None:
    forged = await client.get("/invitations/not-a-real-token")
    assert forged.status_code == 404 and "not valid" in forged.text
    _, _, token = await an_invitation()
    await Invitation.all().update(expires_at=utcnow() - timedelta(minutes=1))
    expired = await client.get(f"/invitations/{token}")
    assert expired.status_code == 409 and "expired" in expired.text


async def test_the_members_page_speaks_chinese(client) -> None:
    owner, _ = await a_verified_institute()
    await page_login(client, owner.email)
    await client.get("/language/zh")
    html = (await client.get("/organization/members")).text
    assert '<html lang="zh">' in html
    for words in ("各角色的权限", "负责人", "邀请成员", "签署合同"):
        assert words in html, words
    assert "What each role may do" not in html
