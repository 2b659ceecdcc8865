"""In-app notifications, and their e-mail.

`notify()` stores a notification and, in the same transaction, an outbox event that mails it;
the mail job sends it once and marks it sent. So an outbox handler that runs twice notifies
once, and an SMTP server that is down delays the mail (retried with back-off) without losing
the notification or failing the handler that made it. `tell()` writes the notification from
a mail template in the user's language (market/mail.py), and the mail job wraps it in the
layout of that language.

A notification that asks for something is `about` the thing (`about("offer", id)`), and is
settled (marked read) once someone handles it: `settle(about, actor)`, in the unit of work of
the change, marks read the unread notices about it of everyone on the actor's side (the
actor's organisation; the administrators for an administrator; everyone for the system).
`transitions.apply` settles the row it moves, so every state change of a listing, need,
organisation, offer, contract or payment clears the notices that asked for it; a change that
is no transition (a signature that is not the last) calls `settle` itself. A notice that
arrives because of the change is written after it (by the outbox), so it stays unread.
"""

from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.expressions import Subquery
from tortoise.models import Model

from market import outbox, rows
from market.accounts.models import Membership, User
from market.actor import Actor
from market.clock import utcnow
from market.db import unit_of_work
from market.errors import NotFound
from market.mail import locale_of, one_line, render_mail, render_message, send_mail
from market.validation import object_id

MAIL_EVENT = "notification.created"
EVENTS = outbox.declare(MAIL_EVENT)


class Notification(Model):
    id = fields.UUIDField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="notifications", on_delete=fields.CASCADE
    )
    subject = fields.CharField(max_length=200)
    body = fields.TextField()
    # Where the notification leads (absolute, so the e-mail can carry it too); may be empty.
    link = fields.CharField(max_length=500, default="")
    # What it is about ("offer:<id>"), so handling that thing settles it; may be empty.
    about = fields.CharField(max_length=80, default="", db_index=True)
    # One notification per (event, user): a handler that runs twice cannot notify twice.
    dedup_key = fields.CharField(max_length=120, unique=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    read_at = fields.DatetimeField(null=True)
    # Set by the mail job once the e-mail is out, so a retried job does not send it again.
    emailed_at = fields.DatetimeField(null=True)
    # An address that stops this kind of notification's e-mail with one POST (a saved
    # search's digest); its mail carries it as List-Unsubscribe. Empty for most.
    unsubscribe = fields.CharField(max_length=500, default="")

    class Meta:
        table = "notification"
        ordering = ["-created_at"]
        # The unread badge on every page and the newest-first list of one user.
        indexes = (("user_id", "read_at"), ("user_id", "created_at"))


# --- notifying -----------------------------------------------------------------------------


def about(kind: str, thing_id: Any) -> str:
    """The key of what a notification is about: the lifecycle's name and the row's id."""
    return f"{kind}:{thing_id}"


async def notify(
    user: User,
    subject: str,
    body: str,
    *,
    dedup_key: str,
    link: str = "",
    about: str = "",
    unsubscribe: str = "",
) -> bool:
    """Store an in-app notification and queue its e-mail; False if it was already made."""
    async with unit_of_work():
        note, created = await Notification.get_or_create(
            dedup_key=dedup_key,
            defaults={
                "user": user,
                "subject": one_line(subject),
                "body": body,
                "link": link,
                "about": about,
                "unsubscribe": unsubscribe,
            },
        )
        if created:
            await outbox.emit(MAIL_EVENT, {"notification_id": str(note.id)})
    return created


async def tell(
    user: User,
    template: str,
    *,
    dedup_key: str,
    link: str = "",
    about: str = "",
    unsubscribe: str = "",
    **context: Any,
) -> bool:
    """`notify()` with the subject and body of `templates/emails/<template>.txt`, written in
    the user's language; the template sees `unsubscribe` too."""
    subject, body = render_message(
        template, locale=locale_of(user), link=link, unsubscribe=unsubscribe, **context
    )
    return await notify(
        user,
        subject,
        body,
        dedup_key=dedup_key,
        link=link,
        about=about,
        unsubscribe=unsubscribe,
    )


async def settle(subject: str, actor: Actor) -> int:
    """Mark read the unread notices about `subject` of everyone on the actor's side: it has
    been handled. Runs in the caller's unit of work; one UPDATE; returns how many."""
    query = Notification.filter(about=subject, read_at=None)
    if not actor.is_system:
        if actor.organization is None:
            return 0
        side = Membership.filter(organization_id=actor.organization.id).values("user_id")
        query = query.filter(user_id__in=Subquery(side))
    return await query.update(read_at=utcnow())


async def mail_notification(event: outbox.OutboxEvent) -> None:
    """Send one notification's e-mail, once: a failure raises, and the outbox retries it. No
    row is locked while SMTP answers; the outbox's lease on this delivery keeps a second worker
    from sending it at the same time, and `emailed_at` keeps a rerun from sending it again."""
    note = await Notification.get_or_none(id=event.payload["notification_id"])
    if note is None or note.emailed_at is not None:
        return
    user = await User.get(id=note.user_id)  # type: ignore[attr-defined]
    if not user.is_active:  # a deactivated account keeps its inbox but gets no mail
        return
    mail = render_mail(
        note.subject, note.body, locale=locale_of(user), link=note.link, name=user.name
    )
    await send_mail(
        user.email, mail.subject, mail.text, html=mail.html, unsubscribe=note.unsubscribe
    )
    await Notification.filter(id=note.id, emailed_at=None).update(emailed_at=utcnow())


# --- the notification centre ---------------------------------------------------------------


async def unread_count(user: User | None) -> int:
    """The number on the navigation's badge: one COUNT on an index."""
    if user is None:
        return 0
    return await Notification.filter(user_id=user.id, read_at=None).count()


# What the dashboard shows of each: not its body (a whole e-mail's text).
RECENT_FIELDS = ("id", "subject", "link", "created_at")
_RECENT = rows.Statement(
    "SELECT {n} FROM notification n WHERE n.user_id = $1 AND n.read_at IS NULL"
    " ORDER BY n.created_at DESC, n.id DESC LIMIT $2",
    n=(Notification, RECENT_FIELDS),
)


async def recent(user: User, n: int = 10) -> list[Notification]:
    """The user's newest unread notifications, for the dashboard (written out:
    market/rows.py): what was read or settled is off it. Only `RECENT_FIELDS` of each."""
    found = await _RECENT.fetch([user.id, n])
    return [rows.build(Notification, row, "n", RECENT_FIELDS) for row in found]  # type: ignore[misc]


async def list_notifications(
    user: User, *, page: int = 1, per_page: int = 20, unread_only: bool = False
) -> tuple[list[Notification], int]:
    """One user's notifications, newest first, a page at a time."""
    query = Notification.filter(user_id=user.id)
    if unread_only:
        query = query.filter(read_at=None)
    total = await query.count()
    items = await query.order_by("-created_at", "-id").offset((page - 1) * per_page).limit(per_page)
    return items, total


async def mark_read(user: User, notification_id: str | None = None) -> int:
    """Mark one of the user's notifications read, or all of them; returns how many changed.
    Another user's notification is not found, exactly like one that does not exist."""
    query = Notification.filter(user_id=user.id)
    if notification_id:
        nid = object_id(notification_id, "notification")
        if not await query.filter(id=nid).exists():
            raise NotFound("No such notification.")
        query = query.filter(id=nid)
    return await query.filter(read_at=None).update(read_at=utcnow())


def notification_json(note: Notification) -> dict[str, Any]:
    return {
        "id": str(note.id),
        "subject": note.subject,
        "body": note.body,
        "link": note.link,
        "created_at": note.created_at.isoformat(),
        "read_at": note.read_at.isoformat() if note.read_at else None,
    }
