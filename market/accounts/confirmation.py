"""Signing up, and proving the address: the public registration and the confirmation link.

Registration answers the same whether or not the address has an account, so the form cannot
tell a stranger who is registered: a new address gets a confirmation link, a known one a mail
saying someone tried to register with it (and how to log in or reset the password instead).
Either way the answer is "check your mail", and the password is hashed either way, so the
time taken does not tell either.

Until the link is followed the account can log in and look after its own profile, and nothing
else (`market/accounts/roles.py`); the administrators hear of the new organisation then."""

from __future__ import annotations

from market import audit, outbox, throttle
from market.accounts import links
from market.accounts.models import EmailVerification, MemberRole, Membership, User
from market.accounts.passwords import hash_password
from market.accounts.schemas import RegisterIn, password_problem
from market.accounts.service import (
    CONFIRMATION_HOURS,
    EmailTaken,
    ask_to_confirm,
    register,
    registration_bucket,
    require_user,
)
from market.actor import Actor
from market.clock import utcnow
from market.config import get_settings
from market.db import unit_of_work
from market.errors import Conflict, validation_error
from market.mail import mail_to
from market.outbox import OutboxEvent
from market.throttle import Bucket

WHAT = "confirmation link"
CHECK_YOUR_MAIL = (
    "Check your mail: we sent a link to the address you gave. Follow it to confirm the "
    "address, then log in."
)
REGISTRATION_REPEATED = "user.registration_repeated"
EVENTS = outbox.declare(REGISTRATION_REPEATED)
# Every registration with an address is a mail to it: a few an hour, whoever asks.
REGISTRATIONS_PER_ADDRESS = Bucket(
    "register.address",
    3,
    3600,
    "Several registrations used this address lately; check its mail, or try in {wait}.",
)
# Asking for the link again, per address and per network.
RESENDS_PER_ADDRESS = Bucket(
    "confirm.address", 3, 3600, "A link went to this address recently; try again in {wait}."
)
RESENDS_PER_IP = Bucket(
    "confirm.ip", 10, 3600, "Too many confirmation requests from your network; try in {wait}."
)


async def sign_up(data: RegisterIn, *, ip: str = "", locale: str = "en") -> None:
    """The public registration: an account waiting for its address to be confirmed, or, for
    an address that has one, a mail to it; the caller cannot tell which."""
    problem = password_problem(data.password, data.email)
    if problem:
        raise validation_error("password", problem)
    # Counted before the address is looked up: a known address counts too.
    claims = [(REGISTRATIONS_PER_ADDRESS, throttle.subject_of(data.email))]
    if ip:
        claims.append((registration_bucket(get_settings()), ip))
    await throttle.claim(*claims)
    try:
        await register(data, ip=ip, locale=locale)
    except EmailTaken:
        await hash_password(data.password)  # as long as a new account takes
        user = await User.get_or_none(email=data.email)
        if user is not None:
            async with unit_of_work():
                await outbox.emit(REGISTRATION_REPEATED, {"user_id": str(user.id)})


async def mail_confirmation(event: OutboxEvent) -> None:
    """Mail the confirmation link (after the registration commits)."""
    link = await EmailVerification.get_or_none(id=event.payload["verification_id"])
    if link is None:
        return
    user = await User.get(id=link.user_id)  # type: ignore[attr-defined]
    if user.email_verified:
        return
    token = await links.fresh_token(EmailVerification, link.id)
    if token is None:
        return
    base = get_settings().base_url.rstrip("/")
    await mail_to(
        user, "email_confirmation", link=f"{base}/confirm-email/{token}", hours=CONFIRMATION_HOURS
    )


async def mail_registration_repeated(event: OutboxEvent) -> None:
    """Tell an address's owner that someone registered with it again: what they can do."""
    user = await User.get_or_none(id=event.payload["user_id"], is_active=True)
    if user is None:
        return
    base = get_settings().base_url.rstrip("/")
    await mail_to(
        user, "registration_repeated", link=f"{base}/login", reset=f"{base}/password-reset"
    )


async def check_link(token: str) -> EmailVerification:
    return await links.open_link(EmailVerification, token, WHAT)


async def confirm_address(token: str, *, ip: str = "") -> User:
    """Follow a confirmation link: the address is the user's. The first confirmation of a
    registrant tells the administrators of the organisation they registered."""
    link = await check_link(token)
    user = await User.get(id=link.user_id)  # type: ignore[attr-defined]
    async with unit_of_work():
        await links.use(EmailVerification, link.id, WHAT)
        if user.email_verified:
            return user
        user.email_verified_at = utcnow()
        await User.filter(id=user.id).update(email_verified_at=user.email_verified_at)
        await audit.record(Actor(user=user, ip=ip), "user.email_confirmed", "user", user.id)
        owned = await Membership.filter(user_id=user.id, role=MemberRole.OWNER)
        for membership in owned:
            await outbox.emit(
                "organization.registered",
                {"organization_id": str(membership.organization_id)},  # type: ignore[attr-defined]
            )
    return user


async def send_again(actor: Actor) -> None:
    """A new confirmation link for the actor's own address."""
    user = require_user(actor)
    if user.email_verified:
        raise Conflict("Your address is confirmed already.", state="confirmed")
    claims = [(RESENDS_PER_ADDRESS, throttle.subject_of(user.email))]
    if actor.ip:
        claims.append((RESENDS_PER_IP, actor.ip))
    await throttle.claim(*claims)
    async with unit_of_work():
        await ask_to_confirm(user)
