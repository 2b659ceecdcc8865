"""Account and organisation use cases. Each takes the acting party first."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any
from uuid import UUID

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q

from market import audit, notify, outbox, rows, throttle
from market.accounts import roles, states
from market.accounts.models import (
    ApiToken,
    EmailVerification,
    MemberRole,
    Membership,
    Organization,
    OrganizationKind,
    Session,
    User,
    Verification,
)
from market.accounts.passwords import hash_password, needs_rehash, verify_password
from market.accounts.roles import Permission, may
from market.accounts.schemas import (
    LoginIn,
    OrganizationUpdate,
    ProfileIn,
    RegisterIn,
    TokenIn,
    password_problem,
)
from market.actor import Actor
from market.clock import utcnow
from market.config import Settings, get_settings
from market.db import unit_of_work
from market.errors import (
    Conflict,
    Forbidden,
    NotAuthenticated,
    NotFound,
    ValidationFailed,
    validation_error,
)
from market.i18n import LANGUAGES
from market.locks import lock, lock_existing
from market.throttle import Bucket
from market.transitions import Lifecycle, apply, events_of
from market.validation import object_id

# A confirmation link for a user's address waits to be mailed.
EMAIL_CONFIRMATION_REQUESTED = "user.email_confirmation_requested"
# How long a mailed confirmation link works.
CONFIRMATION_HOURS = 48
EVENTS = outbox.declare(
    EMAIL_CONFIRMATION_REQUESTED,
    "organization.registered",
    "organization.identity_proposed",
    "organization.identity_approved",
    "organization.identity_rejected",
    *events_of(states.VERIFICATION),
)
PLATFORM_NAME = "techmarket platform"
TOKEN_PREFIX = "tm_"
BAD_LOGIN = "Wrong e-mail or password."


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def org_snapshot(org: Organization) -> dict[str, str]:
    return {"verification": str(org.verification), "name": org.name}


# --- registration and login -------------------------------------------------------------


def login_buckets(settings: Settings) -> tuple[Bucket, Bucket]:
    """Failed logins per account (the e-mail typed, known or not) and per address."""
    window = settings.login_window_minutes * 60
    return (
        Bucket(
            "login.account",
            settings.login_max_failures_per_account,
            window,
            "Too many failed logins for this account. Try again in {wait}.",
        ),
        Bucket(
            "login.ip",
            settings.login_max_failures_per_ip,
            window,
            "Too many failed logins from your network. Try again in {wait}.",
        ),
    )


def registration_bucket(settings: Settings) -> Bucket:
    return Bucket(
        "register.ip",
        settings.registrations_per_ip_per_hour,
        3600,
        "Too many registrations from your network. Try again in {wait}.",
    )


class EmailTaken(ValidationFailed):
    """The address has an account already. Only our own callers see this: the public sign-up
    (market/accounts/confirmation.py) answers as for a new address and mails the owner."""


async def register(
    data: RegisterIn, *, ip: str = "", confirmed: bool = False, locale: str = "en"
) -> tuple[User, Organization]:
    """Make a user, their organisation and its first owner. `confirmed`: the address needs no
    confirmation (our own callers: the demo seed, the test builders); otherwise the account
    waits for the link `EMAIL_CONFIRMATION_REQUESTED` mails, and the administrators hear of the
    organisation once its address is confirmed."""
    problem = password_problem(data.password, data.email)
    if problem:
        raise validation_error("password", problem)
    if await account_exists(data.email):
        raise _email_taken()
    password_hash = await hash_password(data.password)
    try:
        async with unit_of_work():
            org = await Organization.create(**data.organization.model_dump(exclude_none=True))
            user = await User.create(
                email=data.email,
                name=data.name,
                password_hash=password_hash,
                email_verified_at=utcnow() if confirmed else None,
                # The language registered in: the confirmation mail and the pages speak it.
                locale=locale,
            )
            await Membership.create(
                user=user, organization=org, role=MemberRole.OWNER, can_sign=True
            )
            actor = Actor(user=user, organization=org, role=MemberRole.OWNER, ip=ip, can_sign=True)
            await audit.record(
                actor, "organization.registered", "organization", org.id, after=org_snapshot(org)
            )
            await audit.record(
                actor, "user.registered", "user", user.id, after={"email": user.email}
            )
            if confirmed:
                await outbox.emit("organization.registered", {"organization_id": str(org.id)})
            else:
                await ask_to_confirm(user)
    except IntegrityError:
        # Two registrations with one address raced; the unique index let one through.
        raise _email_taken() from None
    return user, org


async def ask_to_confirm(user: User) -> None:
    """Open a confirmation link for the user's address; its mail goes after the commit."""
    link = await EmailVerification.create(
        user=user, expires_at=utcnow() + timedelta(hours=CONFIRMATION_HOURS)
    )
    await outbox.emit(EMAIL_CONFIRMATION_REQUESTED, {"verification_id": str(link.id)})


def _email_taken() -> EmailTaken:
    why = "An account with this e-mail address already exists."
    return EmailTaken(why, fields={"email": why})


async def authenticate(data: LoginIn, *, ip: str = "") -> User:
    """The user with this e-mail and password. Every attempt is counted as a failure against
    the account and the address before the password is checked (committed at once, so a
    burst of parallel guesses meets the limit exactly); a right password gives its count back.
    A locked account refuses the right password too until its window ends, while the address
    has counted only the attempts that were checked."""
    email = data.email.strip().lower()
    account, address = login_buckets(get_settings())
    claims = [(account, throttle.subject_of(email))]
    if ip:
        claims.append((address, ip))
    ticket = await throttle.claim(*claims)
    user = await User.get_or_none(email=email)
    ok = await verify_password(user.password_hash if user else None, data.password)
    if not ok or user is None or not user.is_active:
        raise NotAuthenticated(BAD_LOGIN)
    # Only this attempt's count: earlier failures stay until their window ends, so an owner
    # logging in between a guesser's attempts does not give the guesser a fresh allowance.
    await throttle.release(ticket)
    if needs_rehash(user.password_hash):
        user.password_hash = await hash_password(data.password)
        await user.save(update_fields=["password_hash"])
    return user


async def start_session(user: User, *, ip: str = "", user_agent: str = "") -> str:
    """Open a server-side session and return the token for the cookie."""
    token = secrets.token_urlsafe(32)
    async with unit_of_work():
        await Session.create(
            token_hash=digest(token),
            user=user,
            ip=ip[:64],
            user_agent=user_agent[:300],
            expires_at=utcnow() + timedelta(days=get_settings().session_days),
        )
        actor = await actor_for(user, ip=ip)
        await audit.record(actor, "user.logged_in", "user", user.id)
    return token


async def end_session(token: str, *, ip: str = "") -> None:
    session = await Session.get_or_none(token_hash=digest(token), revoked_at=None)
    if session is None:
        return
    async with unit_of_work():
        await Session.filter(id=session.id).update(revoked_at=utcnow())
        user = await User.get(id=session.user_id)  # type: ignore[attr-defined]
        await audit.record(await actor_for(user, ip=ip), "user.logged_out", "user", user.id)


async def actor_for(user: User, *, ip: str = "", via_token: bool = False) -> Actor:
    membership = (
        await Membership.filter(user=user)
        .select_related("organization")
        .order_by("created_at")
        .first()
    )
    if membership is None:
        return Actor(user=user, ip=ip, via_token=via_token)
    return Actor(
        user=user,
        organization=membership.organization,
        role=membership.role,
        ip=ip,
        via_token=via_token,
        can_sign=membership.can_sign,
    )


# The session, its user, the user's first membership with its organisation, and the count on
# the navigation's unread badge: what every page of a logged-in user reads before anything of
# its own, in one statement (see market/rows.py).
_SESSION_ACTOR = rows.Statement(
    """
SELECT s.id AS session_id, s.expires_at AS expires_at, s.created_at AS created_at,
       s.last_seen_at AS last_seen_at, {u}, {m}, {o},
       (SELECT count(*) FROM notification n WHERE n.user_id = u.id AND n.read_at IS NULL)
           AS unread
FROM session s
JOIN "user" u ON u.id = s.user_id
LEFT JOIN membership m ON m.id = COALESCE(
    (SELECT chosen.id FROM membership chosen
     WHERE chosen.user_id = u.id AND chosen.organization_id = s.organization_id),
    (SELECT m1.id FROM membership m1 WHERE m1.user_id = u.id ORDER BY m1.created_at LIMIT 1))
LEFT JOIN organization o ON o.id = m.organization_id
WHERE s.token_hash = $1 AND s.revoked_at IS NULL
""",
    u=User,
    m=Membership,
    o=Organization,
)


# How often a session's `last_seen_at` is brought up to date.
SEEN_EVERY = timedelta(minutes=5)
# A login older than this signs a contract only with the password typed again.
REAUTHENTICATE_AFTER = timedelta(minutes=15)


async def confirm_identity(actor: Actor, password: str | None, *, doing: str) -> None:
    """Ask an actor whose login is not recent for their password before something that binds
    their organisation; counted as a login attempt, so a stolen session cannot guess it."""
    if actor.recently_authenticated:
        return
    user = require_user(actor)
    if not password:
        raise validation_error(
            "password", f"Type your password again to {doing}: you logged in a while ago."
        )
    try:
        await authenticate(LoginIn(email=user.email, password=password), ip=actor.ip)
    except NotAuthenticated:
        raise validation_error("password", "That is not your password.") from None


@dataclass(frozen=True)
class SessionReading:
    """Who a session cookie stands for, and their unread notifications when it was read."""

    actor: Actor
    unread: int


async def read_session(token: str, *, ip: str = "") -> SessionReading | None:
    """The live session behind a cookie's token, with its actor; None for an unknown, revoked
    or expired session, or a deactivated user."""
    found = await _SESSION_ACTOR.fetch([digest(token)])
    if not found:
        return None
    row = found[0]
    # Compared here, not in SQL: the one comparison of a datetime that SQLite (as `market dev`
    # stores it, text) and PostgreSQL would each need written their own way.
    when = Session._meta.fields_map["expires_at"].to_python_value
    now = utcnow()
    seen = when(row["last_seen_at"] or row["created_at"])
    user = rows.build(User, row, "u")
    if user is None or not user.is_active or when(row["expires_at"]) <= now:
        return None
    if now - seen > timedelta(hours=get_settings().session_idle_hours):
        return None  # idle too long: as good as ended
    if now - seen > SEEN_EVERY:
        # At most one write per session every few minutes, not one per page.
        await Session.filter(id=row["session_id"]).update(last_seen_at=now)
    membership = rows.build(Membership, row, "m")
    organization = rows.build(Organization, row, "o")
    fresh = now - when(row["created_at"]) <= REAUTHENTICATE_AFTER
    if membership is None or organization is None:
        actor = Actor(user=user, ip=ip, recently_authenticated=fresh)
    else:
        actor = Actor(
            user=user,
            organization=organization,
            role=membership.role,
            ip=ip,
            can_sign=membership.can_sign,
            recently_authenticated=fresh,
        )
    return SessionReading(actor=actor, unread=int(row["unread"]))


async def actor_from_session(token: str, *, ip: str = "") -> Actor | None:
    reading = await read_session(token, ip=ip)
    return reading.actor if reading else None


async def actor_from_api_token(token: str, *, ip: str = "") -> Actor | None:
    if not token.startswith(TOKEN_PREFIX):
        return None
    api_token = (
        await ApiToken.filter(token_hash=digest(token), revoked_at=None)
        .select_related("user")
        .first()
    )
    if api_token is None or not api_token.user.is_active:
        return None
    now = utcnow()
    if api_token.expires_at is not None and api_token.expires_at <= now:
        return None
    if api_token.last_used_at is None or now - api_token.last_used_at > SEEN_EVERY:
        # As for sessions: kept to a few minutes, not written on every call.
        await ApiToken.filter(id=api_token.id).update(last_used_at=now)
    actor = await actor_for(api_token.user, ip=ip, via_token=True)
    # A token proves nothing about who holds it now: signing asks for the password.
    return replace(actor, read_only=api_token.scope == "read", recently_authenticated=False)


# --- personal API tokens ----------------------------------------------------------------


async def create_api_token(actor: Actor, data: TokenIn) -> tuple[ApiToken, str]:
    user = require_user(actor)
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    async with unit_of_work():
        expires_at = (
            utcnow() + timedelta(days=data.expires_in_days) if data.expires_in_days else None
        )
        token = await ApiToken.create(
            user=user,
            name=data.name,
            token_hash=digest(raw),
            prefix=raw[:10],
            scope=data.scope,
            expires_at=expires_at,
        )
        await audit.record(
            actor,
            "api_token.created",
            "api_token",
            token.id,
            after={"name": data.name, "scope": data.scope, "expires_in_days": data.expires_in_days},
        )
    return token, raw


async def list_api_tokens(actor: Actor) -> list[ApiToken]:
    user = require_user(actor)
    return await ApiToken.filter(user=user, revoked_at=None).order_by("-created_at")


async def revoke_api_token(actor: Actor, token_id: str) -> None:
    user = require_user(actor)
    token_id = object_id(token_id, "token")
    async with unit_of_work():
        updated = await ApiToken.filter(id=token_id, user=user, revoked_at=None).update(
            revoked_at=utcnow()
        )
        if updated != 1:
            raise NotFound("No such token.")
        await audit.record(actor, "api_token.revoked", "api_token", token_id)


# --- profile and organisation -----------------------------------------------------------


async def update_profile(actor: Actor, data: ProfileIn) -> User:
    user = require_user(actor)
    async with unit_of_work():
        before = {"name": user.name, "locale": user.locale}
        await User.filter(id=user.id).update(name=data.name, locale=data.locale)
        await audit.record(
            actor, "user.updated", "user", user.id, before=before, after=data.model_dump()
        )
    return await User.get(id=user.id)


async def set_locale(actor: Actor, lang: str) -> User:
    """The language switch of a logged-in user: pages and mails in `lang` from now on."""
    user = require_user(actor)
    if lang not in LANGUAGES:
        raise ValidationFailed("No such language.", fields={"lang": "Choose English or 中文."})
    if user.locale != lang:
        async with unit_of_work():
            await User.filter(id=user.id).update(locale=lang)
            await audit.record(
                actor,
                "user.updated",
                "user",
                user.id,
                before={"locale": user.locale},
                after={"locale": lang},
            )
        user.locale = lang
    return user


async def update_organization(actor: Actor, data: OrganizationUpdate) -> Organization:
    org = require_org(actor)
    roles.require(actor, Permission.EDIT_ORGANIZATION)
    async with unit_of_work():
        current = await lock_existing(Organization, org.id)
        changes = data.model_dump(exclude_none=True)
        proposed = _identity_changes(current, changes)
        before = {k: getattr(current, k) for k in changes}
        await Organization.filter(id=org.id).update(**changes)
        if proposed:
            await outbox.emit(IDENTITY_PROPOSED, {"organization_id": str(org.id)})
        await audit.record(
            actor,
            "organization.updated",
            "organization",
            org.id,
            before=before,
            after=changes,
        )
    return await Organization.get(id=org.id)


# What verification relied on: a verified organisation's change to these waits for an
# administrator, and the verified values stay in force (and public) until then.
IDENTITY = {"name": "proposed_name", "country": "proposed_country"}
IDENTITY_PROPOSED = "organization.identity_proposed"


def _identity_changes(current: Organization, changes: dict[str, Any]) -> dict[str, str]:
    """Move a verified organisation's new name or country from `changes` into its proposal;
    returns the proposal (empty when nothing verification relied on changed)."""
    if not current.is_verified:
        return {}
    proposed: dict[str, str] = {}
    for field, slot in IDENTITY.items():
        value = changes.pop(field, None)
        if value is not None and value != getattr(current, field):
            proposed[slot] = value
        elif value is not None:
            proposed[slot] = ""  # set back to the verified value: nothing waits
    changes.update(proposed)
    return {k: v for k, v in proposed.items() if v}


async def decide_identity(
    actor: Actor, org_id: str, *, approve: bool, reason: str = ""
) -> Organization:
    """An administrator applies a verified organisation's proposed name and country, or turns
    them down with a reason (the organisation is told either way)."""
    require_admin(actor)
    if not approve and len(reason.strip()) < 3:
        raise validation_error("reason", "Say why, so the organisation can put it right.")
    async with unit_of_work():
        org = await lock(Organization, object_id(org_id, "organization"))
        if org is None or org.kind == OrganizationKind.PLATFORM:
            raise NotFound("No such organisation.")
        if not (org.proposed_name or org.proposed_country):
            raise Conflict("This organisation has no change waiting.", state="none")
        before = {"name": org.name, "country": org.country}
        proposal = {"name": org.proposed_name, "country": org.proposed_country}
        changes: dict[str, Any] = {"proposed_name": "", "proposed_country": ""}
        if approve:
            changes.update({k: v for k, v in proposal.items() if v})
        await Organization.filter(id=org.id).update(**changes)
        event = "organization.identity_approved" if approve else "organization.identity_rejected"
        await audit.record(
            actor,
            event,
            "organization",
            org.id,
            before=before,
            after={**proposal, "reason": reason.strip()},
            organization_id=org.id,
        )
        await outbox.emit(
            event, {"organization_id": str(org.id), "reason": reason.strip(), **proposal}
        )
        await notify.settle(notify.about("organization", org.id), actor)
    return await Organization.get(id=org.id)


class NotVerified(Forbidden):
    """What only a verified organisation may do (publish, negotiate, sign), asked for by one
    that is not, with the reason: its own code, so an API client can tell it from a role."""

    code = "not_verified"


def require_verified(actor: Actor, doing: str) -> Organization:
    """Refuse, with the reason, an action only verified organisations may take."""
    org = require_org(actor)
    if org.verification == Verification.REJECTED:
        raise NotVerified(
            f"You cannot {doing}: your organisation's verification was rejected "
            f"({org.rejection_reason}). Correct its profile and ask again."
        )
    if org.verification != Verification.VERIFIED:
        raise NotVerified(
            f"You cannot {doing} yet: an administrator has not verified your organisation."
        )
    return org


def require_may_draft(actor: Actor, doing: str) -> Organization:
    """Drafts wait for nobody: the members of an organisation still waiting for verification
    prepare them at once (publishing waits: `require_verified`). One whose verification was
    rejected corrects its profile first."""
    org = require_org(actor)
    if org.verification == Verification.REJECTED:
        require_verified(actor, doing)
    return org


# --- administration ---------------------------------------------------------------------


def roles_on(actor: Actor, org: Organization) -> set[str]:
    """The actor's standing, and "owner" (the verification table's word) for a member who may
    edit the organisation's profile."""
    held = actor.standing()
    if actor.organization_id == str(org.id) and may(actor, Permission.EDIT_ORGANIZATION):
        held.add("owner")
    return held


VERIFYING = Lifecycle(
    "organization",
    Organization,
    states.VERIFICATION,
    roles=roles_on,
    payload=lambda org, actor: {"organization_id": str(org.id)},
    organization=lambda org, actor: org.id,
    field="verification",
)


async def _move_organization(
    actor: Actor, org_id: str, action: str, *, reason: str = ""
) -> Organization:
    require_user(actor)
    org_id = object_id(org_id, "organisation")
    async with unit_of_work():
        moved = await apply(
            VERIFYING,
            org_id,
            action,
            actor,
            changes={"rejection_reason": reason},
            noted={"reason": reason},
            announced={"reason": reason},
        )
    return moved.row


async def verify_organization(actor: Actor, org_id: str) -> Organization:
    return await _move_organization(actor, org_id, "verify")


async def reject_organization(actor: Actor, org_id: str, reason: str) -> Organization:
    if len(reason.strip()) < 3:
        raise validation_error("reason", "Say why, so the organisation can put it right.")
    return await _move_organization(actor, org_id, "reject", reason=reason.strip())


async def resubmit_organization(actor: Actor) -> Organization:
    org = require_org(actor)
    return await _move_organization(actor, str(org.id), "resubmit")


# The verification queue's filter for verified organisations with a proposed name or country.
CHANGES = "changes"


async def list_organizations(
    actor: Actor, *, state: str | None = None, page: int = 1, per_page: int = 50
) -> tuple[list[Organization], int]:
    require_admin(actor)
    query = Organization.exclude(kind=OrganizationKind.PLATFORM)
    if state == CHANGES:
        query = query.filter(Q(proposed_name__not="") | Q(proposed_country__not=""))
    elif state:
        if state not in {v.value for v in Verification}:
            raise validation_error("state", "Use pending, verified, rejected or changes.")
        query = query.filter(verification=state)
    total = await query.count()
    items = await query.order_by("created_at").offset((page - 1) * per_page).limit(per_page)
    return items, total


async def deactivate_user(actor: Actor, user_id: str) -> User:
    require_admin(actor)
    user_id = object_id(user_id, "user")
    async with unit_of_work():
        user = await lock(User, user_id)
        if user is None:
            raise NotFound("No such user.")
        await User.filter(id=user_id).update(is_active=False)
        # Deactivation ends every way in: sessions and tokens alike.
        await end_access(user_id)
        await audit.record(
            actor,
            "user.deactivated",
            "user",
            user_id,
            before={"is_active": user.is_active},
            after={"is_active": False},
        )
    return await User.get(id=user_id)


async def create_admin(email: str, password: str, name: str = "Administrator") -> User:
    email = email.strip().lower()
    problem = password_problem(password, email)
    if problem:
        raise validation_error("password", problem)
    if await User.filter(email=email).exists():
        raise _email_taken()
    password_hash = await hash_password(password)
    async with unit_of_work():
        platform = await Organization.filter(kind=OrganizationKind.PLATFORM).first()
        if platform is None:
            platform = await Organization.create(
                name=PLATFORM_NAME,
                kind=OrganizationKind.PLATFORM,
                country="CN",
                verification=Verification.VERIFIED,
            )
        # Made from the command line by whoever runs the platform: no link to confirm.
        user = await User.create(
            email=email, name=name, password_hash=password_hash, email_verified_at=utcnow()
        )
        await Membership.create(
            user=user, organization=platform, role=MemberRole.OWNER, can_sign=True
        )
        await audit.record(
            Actor.system(),
            "user.admin_created",
            "user",
            user.id,
            after={"email": email},
            organization_id=platform.id,
        )
    return user


def require_admin(actor: Actor) -> None:
    require_user(actor)
    if not actor.is_admin:
        raise Forbidden("Only platform administrators may do this.")


async def end_access(user_id: Any) -> None:
    """End every session and API token of a user at once (deactivated, removed from their
    organisation, or their password reset). Call it inside the use case's unit of work."""
    now = utcnow()
    await Session.filter(user_id=user_id, revoked_at=None).update(revoked_at=now)
    await ApiToken.filter(user_id=user_id, revoked_at=None).update(revoked_at=now)


def require_user(actor: Actor) -> User:
    if actor.user is None:
        raise NotAuthenticated("Log in first.")
    return actor.user


def require_org(actor: Actor) -> Organization:
    require_user(actor)
    if actor.organization is None:
        raise Forbidden("Your account belongs to no organisation.")
    return actor.organization


def require_editor(actor: Actor, doing: str) -> Organization:
    """The organisation whose profile, logo and verification documents the actor may change:
    its owners and admins may; the platform has no profile nor verification to change."""
    org = require_org(actor)
    if org.kind == OrganizationKind.PLATFORM:
        raise Forbidden(f"The platform cannot {doing}: it has no public profile to verify.")
    roles.require(actor, Permission.EDIT_ORGANIZATION, doing)
    return org


async def account_exists(email: str) -> bool:
    """Whether an address has an account (an invitation's page asks, to offer a log-in or a
    registration; the link already proves the visitor reads that address's mail)."""
    return await User.filter(email=email.strip().lower()).exists()


async def public_organization(actor: Actor, id_or_slug: str) -> Organization:
    """An organisation's public profile: verified institutes and enterprises, to anyone; one not
    (yet) verified, only to its members and administrators."""
    key = id_or_slug.strip()
    try:
        org = await Organization.get_or_none(id=UUID(key))
    except ValueError:
        org = await Organization.get_or_none(slug=key.lower()) if len(key) <= 80 else None
    insider = actor.is_admin or (org is not None and actor.organization_id == str(org.id))
    if org is None or org.kind == OrganizationKind.PLATFORM or not (org.is_verified or insider):
        raise NotFound("No such organisation.")
    return org


async def memberships_of(actor: Actor) -> list[Membership]:
    """The organisations the user belongs to, the one they joined first first."""
    user = require_user(actor)
    return (
        await Membership.filter(user_id=user.id)
        .select_related("organization")
        .order_by("created_at")
    )


async def switch_organization(actor: Actor, session_token: str, org_id: str) -> Organization:
    """Act for another of the user's organisations in this session (an API token acts for the
    one the user joined first)."""
    user = require_user(actor)
    if not session_token:
        raise Conflict("Only a logged-in session switches organisations; a token cannot.")
    membership = await Membership.get_or_none(
        user_id=user.id, organization_id=object_id(org_id, "organization")
    ).select_related("organization")
    if membership is None:
        raise NotFound("You are not a member of that organisation.")
    await Session.filter(token_hash=digest(session_token), revoked_at=None).update(
        organization_id=membership.organization.id
    )
    return membership.organization
