"""Getting back into an account, and keeping others out of it: password change, reset by
e-mail, and the user's own sessions (list, revoke one, log out everywhere).

A reset link holds a random token; only its hash is kept, and it is made when the mail goes
out (a re-sent mail makes a new one). It works once, for an hour, and using it ends every
session and API token of the account: whoever knew the old password is out. It also clears
the account's failed-login count, so a stranger who fails logins on purpose cannot keep the
owner of the address out."""

from __future__ import annotations

from datetime import timedelta

from market import audit, outbox, throttle
from market.accounts import links
from market.accounts.models import PasswordReset, Session, User
from market.accounts.passwords import hash_password, verify_password
from market.accounts.schemas import password_problem
from market.accounts.service import digest, end_access, login_buckets, require_user
from market.actor import Actor
from market.clock import utcnow
from market.config import get_settings
from market.db import unit_of_work
from market.errors import NotFound, validation_error
from market.mail import mail_to
from market.outbox import OutboxEvent
from market.throttle import Bucket
from market.validation import object_id

RESET_MINUTES = 60
WHAT = "reset link"
RESET_REQUESTED = "password.reset_requested"
EVENTS = outbox.declare(RESET_REQUESTED)
# Asked for per address and per network: each ask is an e-mail to someone.
RESETS_PER_ADDRESS = Bucket(
    "reset.address", 3, 3600, "A reset link was sent to this address recently; try in {wait}."
)
RESETS_PER_IP = Bucket(
    "reset.ip", 10, 3600, "Too many reset requests from your network; try again in {wait}."
)


async def request_reset(email: str, *, ip: str = "") -> None:
    """Mail a reset link if the address has an active account. The answer is the same either
    way, so the form does not tell who has an account."""
    address = email.strip().lower()
    claims = [(RESETS_PER_ADDRESS, throttle.subject_of(address))]
    if ip:
        claims.append((RESETS_PER_IP, ip))
    await throttle.claim(*claims)
    user = await User.get_or_none(email=address, is_active=True)
    if user is None:
        return
    async with unit_of_work():
        reset = await PasswordReset.create(
            user=user, expires_at=utcnow() + timedelta(minutes=RESET_MINUTES)
        )
        await outbox.emit(RESET_REQUESTED, {"reset_id": str(reset.id)})


async def mail_reset(event: OutboxEvent) -> None:
    """Mail the link (after the request commits), with a token made now and kept only hashed."""
    reset = await PasswordReset.get_or_none(id=event.payload["reset_id"])
    if reset is None or reset.used_at is not None or reset.expires_at <= utcnow():
        return
    token = await links.fresh_token(PasswordReset, reset.id)
    if token is None:
        return
    user = await User.get(id=reset.user_id)  # type: ignore[attr-defined]
    await mail_to(
        user,
        "password_reset",
        link=f"{get_settings().base_url.rstrip('/')}/password-reset/{token}",
        minutes=RESET_MINUTES,
    )


async def reset_for(token: str) -> PasswordReset:
    """The open reset a link names; a clear refusal for a forged, used or expired one."""
    return await links.open_link(PasswordReset, token, WHAT)


async def reset_password(token: str, password: str, *, ip: str = "") -> User:
    """Set a new password through a reset link: every session and token of the account ends,
    and its failed-login count is cleared."""
    reset = await reset_for(token)
    user = await User.get(id=reset.user_id)  # type: ignore[attr-defined]
    problem = password_problem(password, user.email)
    if problem:
        raise validation_error("password", problem)
    new_hash = await hash_password(password)
    async with unit_of_work():
        await links.use(PasswordReset, reset.id, WHAT)
        # The link came to the address: it is the user's, if that was not known yet.
        await User.filter(id=user.id).update(
            password_hash=new_hash, email_verified_at=user.email_verified_at or utcnow()
        )
        await end_access(user.id)
        await audit.record(Actor(user=user, ip=ip), "user.password_reset", "user", user.id)
    account, _ = login_buckets(get_settings())
    await throttle.forget(account, throttle.subject_of(user.email))
    return user


async def change_password(actor: Actor, current: str, password: str, *, keep: str = "") -> None:
    """Change the password, given the current one; every other session ends (`keep` is the
    cookie token of the one in use)."""
    user = await User.get(id=require_user(actor).id)
    if not await verify_password(user.password_hash, current):
        raise validation_error("current_password", "This is not your current password.")
    problem = password_problem(password, user.email)
    if problem:
        raise validation_error("password", problem)
    new_hash = await hash_password(password)
    async with unit_of_work():
        await User.filter(id=user.id).update(password_hash=new_hash)
        await (
            Session.filter(user_id=user.id, revoked_at=None)
            .exclude(token_hash=digest(keep))
            .update(revoked_at=utcnow())
        )
        await audit.record(actor, "user.password_changed", "user", user.id)


# --- the user's own sessions ----------------------------------------------------------------


async def list_sessions(actor: Actor) -> list[Session]:
    """The user's live sessions (not ended, expired or idle too long), newest first."""
    user = require_user(actor)
    idle_since = utcnow() - timedelta(hours=get_settings().session_idle_hours)
    found = await Session.filter(
        user_id=user.id, revoked_at=None, expires_at__gt=utcnow()
    ).order_by("-created_at")
    return [s for s in found if (s.last_seen_at or s.created_at) > idle_since]


async def revoke_session(actor: Actor, session_id: str) -> None:
    user = require_user(actor)
    changed = await Session.filter(
        id=object_id(session_id, "session"), user_id=user.id, revoked_at=None
    ).update(revoked_at=utcnow())
    if not changed:
        raise NotFound("No such session.")


async def log_out_everywhere(actor: Actor) -> int:
    """End every session of the user, this one included; returns how many ended."""
    user = require_user(actor)
    async with unit_of_work():
        ended = await Session.filter(user_id=user.id, revoked_at=None).update(revoked_at=utcnow())
        await audit.record(actor, "user.logged_out_everywhere", "user", user.id)
    return ended
