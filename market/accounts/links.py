"""Single-use links mailed to a user's address: a password reset, an address confirmation.

The row is made when the user asks; the token is made when the mail goes out and only its hash
is kept, so a re-sent mail makes a new token and the earlier link stops working. A link works
once, until its row's `expires_at`."""

from __future__ import annotations

import secrets
from typing import Any, TypeVar

from tortoise.models import Model

from market.accounts.service import digest
from market.clock import utcnow
from market.errors import Conflict, NotFound
from market.i18n import Msg

Link = TypeVar("Link", bound=Model)


async def fresh_token(model: type[Model], link_id: Any) -> str | None:
    """A new token for a link still open; None when it was used or has expired meanwhile."""
    token = secrets.token_urlsafe(32)
    changed = await model.filter(id=link_id, used_at=None, expires_at__gt=utcnow()).update(
        token_hash=digest(token)
    )
    return token if changed else None


async def open_link(model: type[Link], token: str, what: str) -> Link:
    """The open link a token names; a clear refusal for a forged, replaced, used or expired
    one. `what` names it in the refusal ("reset link")."""
    link = await model.get_or_none(token_hash=digest(token)) if token else None
    if link is None:
        raise NotFound(
            f"This {what} is not valid: a newer one may have replaced it. Ask for a new one."
        )
    if link.used_at is not None:  # type: ignore[attr-defined]
        raise Conflict(
            Msg("This %(what)s has been used already. Ask for a new one.", what=what), state="used"
        )
    if link.expires_at <= utcnow():  # type: ignore[attr-defined]
        raise Conflict(
            Msg("This %(what)s has expired. Ask for a new one.", what=what), state="expired"
        )
    return link


async def use(model: type[Model], link_id: Any, what: str) -> None:
    """Mark the link used, inside the caller's unit of work: of two uses at one moment, one
    finds it used and is refused."""
    if not await model.filter(id=link_id, used_at=None).update(used_at=utcnow()):
        raise Conflict(Msg("This %(what)s has been used already.", what=what), state="used")
