"""Confirming the address: the link works once and in time, the administrators hear of a new
organisation only once its address is confirmed, and asking again is limited."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from market.accounts import confirmation, members, roles
from market.accounts.models import EmailVerification, User
from market.accounts.schemas import AcceptIn, InvitationIn
from market.actor import Actor
from market.audit import AuditEntry
from market.clock import utcnow
from market.errors import Conflict, Forbidden, TooManyRequests
from market.outbox import OutboxEvent
from tests.builders import a_mailed_link, a_user, a_verified_institute, actor_of


async def test_the_administrators_hear_of_an_organisation_once_its_address_is_confirmed(
    settings, mailbox
) -> None:
    user, org = await a_user(confirmed=False, email="new@example.org")
    announced = OutboxEvent.filter(event_type="organization.registered")
    assert not await announced.exists()
    token = await a_mailed_link(settings, mailbox, user.email, "confirm-email")

    confirmed = await confirmation.confirm_address(token, ip="198.51.100.9")
    assert confirmed.email_verified
    assert [e.payload["organization_id"] for e in await announced] == [str(org.id)]
    assert (
        await AuditEntry.filter(action="user.email_confirmed", object_id=str(user.id)).count() == 1
    )


async def test_a_link_works_once_even_when_followed_twice_at_once(settings, mailbox) -> None:
    user, _ = await a_user(confirmed=False)
    token = await a_mailed_link(settings, mailbox, user.email, "confirm-email")
    results = await asyncio.gather(
        *(confirmation.confirm_address(token) for _ in range(2)), return_exceptions=True
    )
    assert sorted(type(r).__name__ for r in results) == ["Conflict", "User"]
    assert await OutboxEvent.filter(event_type="organization.registered").count() == 1


async def test_an_expired_or_replaced_link_is_refused_and_changes_nothing(
    settings, mailbox
) -> None:
    user, _ = await a_user(confirmed=False)
    old = await a_mailed_link(settings, mailbox, user.email, "confirm-email")
    await EmailVerification.filter(user_id=user.id).update(expires_at=utcnow() - timedelta(1))
    with pytest.raises(Conflict, match="has expired"):
        await confirmation.confirm_address(old)
    assert not (await User.get(id=user.id)).email_verified

    await confirmation.send_again(await actor_of(user))
    new = await a_mailed_link(settings, mailbox, user.email, "confirm-email")
    assert new != old
    await confirmation.confirm_address(new)
    assert (await User.get(id=user.id)).email_verified


async def test_asking_again_is_limited_and_pointless_once_confirmed(settings) -> None:
    user, _ = await a_user(confirmed=False)
    actor = await actor_of(user)
    for _ in range(confirmation.RESENDS_PER_ADDRESS.limit):
        await confirmation.send_again(actor)
    with pytest.raises(TooManyRequests):
        await confirmation.send_again(actor)
    confirmed, _ = await a_user()
    with pytest.raises(Conflict, match="confirmed already"):
        await confirmation.send_again(await actor_of(confirmed))


async def test_until_confirmed_the_account_acts_for_nobody(settings, mailbox) -> None:
    """The roles table answers no to everything for an unconfirmed address, owner or not; an
    invitation's link proves the address as the confirmation link does."""
    user, _ = await a_user(confirmed=False)
    actor = await actor_of(user)
    assert not any(roles.may(actor, p) for p in roles.Permission)
    with pytest.raises(Forbidden, match="Confirm your e-mail address first"):
        roles.require(actor, roles.Permission.LIST)

    owner, _ = await a_verified_institute()
    await members.invite(await actor_of(owner), InvitationIn(email="invited@example.org"))
    token = await a_mailed_link(settings, mailbox, "invited@example.org", "invitations")
    joined, _, _ = await members.accept(
        Actor.anonymous(), token, AcceptIn(name="Invited", password="a long new passphrase")
    )
    assert joined.email_verified and roles.may(await actor_of(joined), roles.Permission.LIST)
