"""An organisation's team: its members and their roles, and invitations to join it.

Every change to an organisation's members locks the organisation's row first, so two owners
demoting each other at once cannot leave it with none, and an invitation accepted while its
inviter is being removed is decided one after the other. What each role may do is
market/accounts/roles.py's table."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from tortoise.exceptions import IntegrityError

from market import audit, outbox, throttle
from market.accounts import roles
from market.accounts.models import (
    Invitation,
    MemberRole,
    Membership,
    Organization,
    User,
)
from market.accounts.passwords import hash_password
from market.accounts.roles import Permission
from market.accounts.schemas import AcceptIn, InvitationIn, MemberPatch, password_problem
from market.accounts.service import account_exists, digest, end_access, require_org
from market.actor import Actor
from market.clock import utcnow
from market.config import get_settings
from market.db import unit_of_work
from market.errors import Conflict, Forbidden, NotAuthenticated, NotFound, validation_error
from market.i18n import Msg
from market.locks import lock_existing
from market.mail import mail_to
from market.outbox import OutboxEvent
from market.throttle import Bucket
from market.validation import object_id

INVITATION_DAYS = 7
INVITED = "member.invited"
EVENTS = outbox.declare(INVITED)
# Invitations an organisation may send (or re-send) an hour: a team grows by a few people,
# and each one is an e-mail to an address the platform does not know yet.
INVITATIONS_PER_HOUR = Bucket(
    "invitations.org", 30, 3600, "Your organisation sent many invitations; try again in {wait}."
)


# --- reading ------------------------------------------------------------------------------


async def list_members(actor: Actor) -> list[Membership]:
    """The organisation's members with their users, owners first; any member may see them."""
    org = require_org(actor)
    found = await Membership.filter(organization_id=org.id).select_related("user")
    rank = {MemberRole.OWNER: 0, MemberRole.ADMIN: 1, MemberRole.MEMBER: 2}
    return sorted(found, key=lambda m: (rank[MemberRole(m.role)], m.user.name.lower()))


async def list_invitations(actor: Actor) -> list[Invitation]:
    """The invitations still waiting for an answer; for those who manage members."""
    org = require_org(actor)
    roles.require(actor, Permission.MANAGE_MEMBERS)
    return await _pending(org.id).order_by("-created_at")


# --- inviting -----------------------------------------------------------------------------


async def invite(actor: Actor, data: InvitationIn) -> Invitation:
    """Invite an address to the organisation with a role; the link goes by e-mail."""
    org = require_org(actor)
    roles.require(actor, Permission.MANAGE_MEMBERS)
    if data.role == MemberRole.OWNER:
        roles.require(actor, Permission.MANAGE_OWNERS, "invite owners")
    await throttle.claim((INVITATIONS_PER_HOUR, str(org.id)))
    async with unit_of_work():
        await lock_existing(Organization, org.id)
        if await Membership.filter(organization_id=org.id, user__email=data.email).exists():
            raise Conflict(
                Msg("%(email)s is already a member of %(name)s.", email=data.email, name=org.name)
            )
        if await _pending(org.id).filter(email=data.email).exists():
            raise Conflict(
                f"{data.email} has an invitation already; re-send it or revoke it first."
            )
        invitation = await Invitation.create(
            organization_id=org.id,
            email=data.email,
            role=data.role,
            invited_by_id=actor.user_id,
            expires_at=utcnow() + timedelta(days=INVITATION_DAYS),
        )
        await audit.record(
            actor,
            "member.invited",
            "invitation",
            invitation.id,
            after={"email": data.email, "role": data.role},
            organization_id=org.id,
        )
        await outbox.emit(INVITED, {"invitation_id": str(invitation.id)})
    return invitation


async def resend(actor: Actor, invitation_id: str) -> Invitation:
    """Mail a pending invitation again, with a new link and another seven days; the old link
    stops working."""
    org = require_org(actor)
    roles.require(actor, Permission.MANAGE_MEMBERS)
    await throttle.claim((INVITATIONS_PER_HOUR, str(org.id)))
    async with unit_of_work():
        await lock_existing(Organization, org.id)
        invitation = await _own_pending(org, invitation_id)
        invitation.expires_at = utcnow() + timedelta(days=INVITATION_DAYS)
        await invitation.save(update_fields=["expires_at"])
        await audit.record(
            actor, "member.invitation_resent", "invitation", invitation.id, organization_id=org.id
        )
        await outbox.emit(INVITED, {"invitation_id": str(invitation.id)})
    return invitation


async def revoke(actor: Actor, invitation_id: str) -> Invitation:
    """Withdraw a pending invitation: its link stops working at once."""
    org = require_org(actor)
    roles.require(actor, Permission.MANAGE_MEMBERS)
    async with unit_of_work():
        await lock_existing(Organization, org.id)
        invitation = await _own_pending(org, invitation_id)
        invitation.revoked_at = utcnow()
        invitation.token_hash = ""
        await invitation.save(update_fields=["revoked_at", "token_hash"])
        await audit.record(
            actor,
            "member.invitation_revoked",
            "invitation",
            invitation.id,
            before={"email": invitation.email},
            organization_id=org.id,
        )
    return invitation


async def mail_invitation(event: OutboxEvent) -> None:
    """Mail the link (the worker runs this after the invitation commits). Each mailing makes a
    new token and keeps only its hash, so no link is ever stored; a retried job mails a new
    link, and only the newest one works."""
    invitation = await Invitation.get_or_none(id=event.payload["invitation_id"])
    if invitation is None or not _is_pending(invitation):
        return
    token = secrets.token_urlsafe(32)
    changed = await Invitation.filter(id=invitation.id, accepted_at=None, revoked_at=None).update(
        token_hash=digest(token), sent_at=utcnow()
    )
    if not changed:
        return
    org = await Organization.get(id=invitation.organization_id)  # type: ignore[attr-defined]
    inviter = await User.get_or_none(id=invitation.invited_by_id)  # type: ignore[attr-defined]
    await mail_to(
        invitation.email,
        "invitation",
        link=f"{get_settings().base_url.rstrip('/')}/invitations/{token}",
        org=org,
        inviter=inviter,
        role=str(invitation.role),
        expires=f"{invitation.expires_at:%Y-%m-%d %H:%M}",
    )


# --- answering ----------------------------------------------------------------------------


async def invitation_for(token: str) -> tuple[Invitation, Organization]:
    """The pending invitation a link's token names, with its organisation; a clear refusal for
    a link that is forged, used, revoked or expired."""
    invitation = await Invitation.get_or_none(token_hash=digest(token)) if token else None
    if invitation is None:
        raise NotFound(
            "This invitation link is not valid: it may have been replaced by a newer e-mail, "
            "revoked, or mistyped. Ask the organisation to send it again."
        )
    if invitation.accepted_at is not None:
        raise Conflict("This invitation has been accepted already; log in to continue.")
    if invitation.expires_at <= utcnow():
        raise Conflict(
            "This invitation has expired. Ask the organisation to send it again.",
            state="expired",
        )
    org = await Organization.get(id=invitation.organization_id)  # type: ignore[attr-defined]
    return invitation, org


async def accept(
    actor: Actor, token: str, data: AcceptIn, *, ip: str = ""
) -> tuple[User, Organization, MemberRole]:
    """Join the organisation the invitation names: logged in as the invited address, or (not
    logged in) creating that address's account with the name and password given."""
    invitation, org = await invitation_for(token)
    password_hash = ""
    if actor.user is not None:
        if actor.user.email != invitation.email:
            raise Forbidden(
                f"This invitation is for {invitation.email}, and you are logged in as "
                f"{actor.user.email}. Log out and open the link again."
            )
    else:
        if await account_exists(invitation.email):
            raise NotAuthenticated(
                f"{invitation.email} has an account already: log in, then open the link again."
            )
        if not data.name:
            raise validation_error("name", "Give your name.")
        if not data.password:
            raise validation_error("password", "Choose a password.")
        problem = password_problem(data.password, invitation.email)
        if problem:
            raise validation_error("password", problem)
        password_hash = await hash_password(data.password)
    try:
        async with unit_of_work():
            await lock_existing(Organization, org.id)
            # Decided under the organisation's lock: a revocation or a second acceptance that
            # came first wins.
            current = await Invitation.get(id=invitation.id)
            if not _is_pending(current) or current.token_hash != invitation.token_hash:
                raise Conflict("This invitation is no longer open.")
            user = actor.user
            # The link came to the address: whoever follows it reads that mail.
            if user is None:
                user = await User.create(
                    email=invitation.email,
                    name=data.name,
                    password_hash=password_hash,
                    email_verified_at=utcnow(),
                )
            elif await Membership.filter(user_id=user.id, organization_id=org.id).exists():
                raise Conflict(Msg("You are a member of %(name)s already.", name=org.name))
            elif not user.email_verified:
                await User.filter(id=user.id).update(email_verified_at=utcnow())
            await Membership.create(user=user, organization=org, role=invitation.role)
            current.accepted_at = utcnow()
            current.accepted_by_id = user.id  # type: ignore[attr-defined]
            current.token_hash = ""
            await current.save(update_fields=["accepted_at", "accepted_by_id", "token_hash"])
            joined = Actor(user=user, organization=org, role=invitation.role, ip=ip)
            await audit.record(
                joined,
                "member.joined",
                "organization",
                org.id,
                after={"user_id": str(user.id), "role": invitation.role},
            )
    except IntegrityError:
        # The same address created an account in between: the unique index let one through.
        raise Conflict(
            Msg("%(email)s has an account already: log in first.", email=invitation.email)
        ) from None
    return user, org, MemberRole(invitation.role)


# --- changing and removing members --------------------------------------------------------


async def update_member(actor: Actor, user_id: str, patch: MemberPatch) -> Membership:
    """Change a member's role or signing right. Owners make and unmake owners and signatories;
    an organisation keeps at least one owner."""
    org = require_org(actor)
    roles.require(actor, Permission.MANAGE_MEMBERS)
    async with unit_of_work():
        await lock_existing(Organization, org.id)
        member = await _member(org, user_id)
        before = {"role": str(member.role), "can_sign": member.can_sign}
        touches_owners = MemberRole.OWNER in (member.role, patch.role)
        if patch.can_sign is not None and patch.can_sign != member.can_sign:
            roles.require(actor, Permission.MANAGE_OWNERS, "grant or withdraw the signing right")
        if patch.role is not None and patch.role != member.role:
            if touches_owners:
                roles.require(actor, Permission.MANAGE_OWNERS, "make or unmake owners")
            if member.role == MemberRole.OWNER:
                await _keep_an_owner(org, member)
            member.role = MemberRole(patch.role)
        if patch.can_sign is not None:
            member.can_sign = patch.can_sign
        await member.save(update_fields=["role", "can_sign"])
        after = {"role": str(member.role), "can_sign": member.can_sign}
        if after != before:
            await audit.record(
                actor,
                "member.changed",
                "user",
                member.user_id,  # type: ignore[attr-defined]
                before=before,
                after=after,
                organization_id=org.id,
            )
    return member


async def remove_member(actor: Actor, user_id: str) -> None:
    """Take a member out of the organisation; their sessions and API tokens end at once. A
    member may also leave on their own. An organisation keeps at least one owner."""
    org = require_org(actor)
    leaving = str(actor.user_id) == str(user_id)
    if not leaving:
        roles.require(actor, Permission.MANAGE_MEMBERS)
    async with unit_of_work():
        await lock_existing(Organization, org.id)
        member = await _member(org, user_id)
        if member.role == MemberRole.OWNER:
            if not leaving:
                roles.require(actor, Permission.MANAGE_OWNERS, "remove owners")
            await _keep_an_owner(org, member)
        await Membership.filter(id=member.id).delete()
        # A session or token acts for the member's organisation: it ends with the membership.
        await end_access(member.user_id)  # type: ignore[attr-defined]
        await audit.record(
            actor,
            "member.removed",
            "user",
            member.user_id,  # type: ignore[attr-defined]
            before={"role": str(member.role), "can_sign": member.can_sign},
            organization_id=org.id,
        )


# --- helpers ------------------------------------------------------------------------------


def _pending(org_id: Any) -> Any:
    return Invitation.filter(
        organization_id=org_id, accepted_at=None, revoked_at=None, expires_at__gt=utcnow()
    )


def _is_pending(invitation: Invitation) -> bool:
    return (
        invitation.accepted_at is None
        and invitation.revoked_at is None
        and invitation.expires_at > utcnow()
    )


async def _own_pending(org: Organization, invitation_id: str) -> Invitation:
    invitation = await Invitation.get_or_none(
        id=object_id(invitation_id, "invitation"), organization_id=org.id
    )
    if invitation is None:
        raise NotFound("No such invitation.")
    if not _is_pending(invitation):
        state = "accepted" if invitation.accepted_at else "revoked"
        if invitation.accepted_at is None and invitation.revoked_at is None:
            state = "expired"
        raise Conflict(
            Msg("This invitation is %(state)s; invite the address again.", state=state), state=state
        )
    return invitation


async def _member(org: Organization, user_id: str) -> Membership:
    member = await Membership.get_or_none(
        organization_id=org.id, user_id=object_id(user_id, "member")
    )
    if member is None:
        raise NotFound("No such member.")
    return member


async def _keep_an_owner(org: Organization, member: Membership) -> None:
    others = await Membership.filter(organization_id=org.id, role=MemberRole.OWNER).exclude(
        id=member.id
    )
    if not others:
        raise Conflict(
            f"{org.name} needs at least one owner: make someone else an owner first.",
            state="last_owner",
        )
