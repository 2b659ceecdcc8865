"""What a member may do for their organisation: one table, read by every use case that acts
for an organisation and shown on the members page.

Three roles, and one right beside them: signing contracts binds the organisation, so it is
not part of any role but granted by an owner to the people who may sign (a director, say),
whatever their role. The person who registers an organisation is its first owner and may sign.
"""

from __future__ import annotations

from enum import StrEnum

from market.accounts.models import MemberRole
from market.actor import Actor
from market.errors import Forbidden, NotAuthenticated
from market.i18n import Msg


class Permission(StrEnum):
    # create, edit, submit and withdraw listings; import a portfolio; and post and manage an
    # enterprise's technology needs (a need is its listing of demand: docking/service.py)
    LIST = "list"
    NEGOTIATE = "negotiate"  # make, counter, accept and reject offers; write to the other side
    PAY = "pay"  # pay what the organisation owes on a contract
    EDIT_ORGANIZATION = "edit_organization"  # the organisation's profile
    MANAGE_MEMBERS = "manage_members"  # invite, remove, and change roles below owner
    MANAGE_OWNERS = "manage_owners"  # make and unmake owners, grant and withdraw signing
    SIGN = "sign"  # not a role's: granted to a member (`Membership.can_sign`)


TABLE: dict[MemberRole, frozenset[Permission]] = {
    MemberRole.OWNER: frozenset(
        {
            Permission.LIST,
            Permission.NEGOTIATE,
            Permission.PAY,
            Permission.EDIT_ORGANIZATION,
            Permission.MANAGE_MEMBERS,
            Permission.MANAGE_OWNERS,
        }
    ),
    MemberRole.ADMIN: frozenset(
        {
            Permission.LIST,
            Permission.NEGOTIATE,
            Permission.PAY,
            Permission.EDIT_ORGANIZATION,
            Permission.MANAGE_MEMBERS,
        }
    ),
    MemberRole.MEMBER: frozenset({Permission.LIST, Permission.NEGOTIATE}),
}

# How a refusal names what was asked for.
DOING = {
    Permission.LIST: "list technologies or needs for {org}",
    Permission.NEGOTIATE: "negotiate offers for {org}",
    Permission.PAY: "pay for {org}",
    Permission.EDIT_ORGANIZATION: "change the profile of {org}",
    Permission.MANAGE_MEMBERS: "manage the members of {org}",
    Permission.MANAGE_OWNERS: "make or unmake the owners and signatories of {org}",
    Permission.SIGN: "sign contracts for {org}",
}
# Who may grant what: the roles whose members hold each permission, for the refusal.
HOLDERS = {
    permission: [role.value for role in MemberRole if permission in TABLE[role]]
    for permission in Permission
}


def may(actor: Actor, permission: Permission) -> bool:
    """Whether the actor may do this for the organisation they act for."""
    if actor.organization is None or actor.role is None:
        return False
    if actor.user is not None and not actor.user.email_verified:
        return False  # until the address is confirmed, only the user's own profile
    if permission == Permission.SIGN:
        return actor.can_sign
    return permission in TABLE[MemberRole(actor.role)]


def require(actor: Actor, permission: Permission, doing: str = "") -> None:
    """Refuse, naming who may, what the actor's role does not allow. `doing` names the action
    when it is not the permission's own ("cancel contracts" under the signing right)."""
    if actor.user is None:
        raise NotAuthenticated("Log in first.")
    if actor.organization is None:
        raise Forbidden("Your account belongs to no organisation.")
    if may(actor, permission):
        return
    if not actor.user.email_verified:
        raise Forbidden(
            Msg(
                "Confirm your e-mail address first: follow the link we mailed to %(email)s, or "
                "ask for a new one on your dashboard.",
                email=actor.user.email,
            )
        )
    name = actor.organization.name
    if permission == Permission.SIGN:
        raise Forbidden(
            Msg(
                "Only members who may sign for %(name)s may %(doing)s for it: an owner grants "
                "that right; ask one of them.",
                name=name,
                doing=doing or "sign contracts",
            )
        )
    holders = " or ".join(HOLDERS[permission])
    what = f"{doing} for {name}" if doing else DOING[permission].format(org=name)
    raise Forbidden(
        Msg(
            "Only an %(holders)s may %(what)s; you are a %(role)s there.",
            holders=holders,
            what=what,
            role=actor.role,
        )
    )
