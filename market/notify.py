"""In-app notifications and e-mail.

`notify()` stores a notification and, in the same transaction, an outbox event that mails it;
the mail job sends it once and marks it sent. So an outbox handler that runs twice notifies
once, and an SMTP server that is down delays the mail (retried with back-off) without losing
the notification or failing the handler that made it. E-mail goes through SMTP when
`SMTP_HOST` is set, to the log otherwise (development).
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

import jinja2
from tortoise import fields
from tortoise.models import Model

from market import outbox, rows
from market.accounts.models import User
from market.clock import utcnow
from market.config import ROOT, get_settings
from market.db import unit_of_work
from market.errors import NotFound
from market.validation import object_id

log = logging.getLogger(__name__)

MAIL_EVENT = "notification.created"
EVENTS = outbox.declare(MAIL_EVENT)
SUBJECT_MAX = 200


class Notification(Model):
    id = fields.UUIDField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="notifications", on_delete=fields.CASCADE
    )
    subject = fields.CharField(max_length=200)
    body = fields.TextField()
    # Where the notification leads (absolute, so the e-mail can carry it too); may be empty.
    link = fields.CharField(max_length=500, default="")
    # One notification per (event, user): a handler that runs twice cannot notify twice.
    dedup_key = fields.CharField(max_length=120, unique=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    read_at = fields.DatetimeField(null=True)
    # Set by the mail job once the e-mail is out, so a retried job does not send it again.
    emailed_at = fields.DatetimeField(null=True)

    class Meta:
        table = "notification"
        ordering = ["-created_at"]
        # The unread badge on every page and the newest-first list of one user.
        indexes = (("user_id", "read_at"), ("user_id", "created_at"))


# --- e-mail templates ----------------------------------------------------------------------

_mail_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(ROOT / "templates" / "emails"),
    # Plain text goes out as written; HTML escapes every value, so no user text becomes markup.
    autoescape=jinja2.select_autoescape(
        enabled_extensions=("html",), default_for_string=False, default=False
    ),
    # A missing value is a bug in the handler, not a blank in a stranger's inbox.
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    auto_reload=False,
)


@dataclass(frozen=True)
class Mail:
    subject: str
    text: str
    html: str | None = None


def _one_line(text: str) -> str:
    # A subject is one header line: user text in it must not add lines (or headers).
    return " ".join(text.split())[:SUBJECT_MAX]


def render_message(name: str, **context: Any) -> tuple[str, str]:
    """The subject and plain-text body of `templates/emails/<name>.txt`, whose `subject` and
    `body` blocks write them."""
    template = _mail_env.get_template(f"{name}.txt")
    ctx = template.new_context(context)
    subject = "".join(template.blocks["subject"](ctx))
    body = "".join(template.blocks["body"](ctx))
    return _one_line(subject), body.strip() + "\n"


def render_mail(subject: str, body: str, *, link: str = "", name: str = "", **extra: Any) -> Mail:
    """Wrap a notification's text in the e-mail layout: a greeting, the link back, a footer;
    plain text and an HTML alternative (every value escaped)."""
    settings = get_settings()
    context = {
        "subject": _one_line(subject),
        "body": body.strip(),
        "paragraphs": [p.strip() for p in body.strip().split("\n\n") if p.strip()],
        "link": link,
        "name": name,
        "base_url": settings.base_url.rstrip("/"),
        **extra,
    }
    text = _mail_env.get_template("layout.txt").render(context)
    html = _mail_env.get_template("layout.html").render(context)
    return Mail(subject=context["subject"], text=text, html=html)


# --- notifying -----------------------------------------------------------------------------


async def notify(user: User, subject: str, body: str, *, dedup_key: str, link: str = "") -> bool:
    """Store an in-app notification and queue its e-mail; False if it was already made."""
    async with unit_of_work():
        note, created = await Notification.get_or_create(
            dedup_key=dedup_key,
            defaults={"user": user, "subject": _one_line(subject), "body": body, "link": link},
        )
        if created:
            await outbox.emit(MAIL_EVENT, {"notification_id": str(note.id)})
    return created


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
    mail = render_mail(note.subject, note.body, link=note.link, name=user.name)
    await send_mail(user.email, mail.subject, mail.text, html=mail.html)
    await Notification.filter(id=note.id, emailed_at=None).update(emailed_at=utcnow())


async def send_mail(to: str, subject: str, body: str, *, html: str | None = None) -> None:
    """Send a plain-text e-mail (with an optional HTML alternative) through SMTP, or write it
    to the log when no SMTP host is configured."""
    settings = get_settings()
    if not settings.smtp_host:
        log.info("mail to %s: %s\n%s", to, subject, body)
        return
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
    if html is not None:
        message.add_alternative(html, subtype="html")

    def deliver() -> None:
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=10) as smtp:
            if settings.smtp_user:
                smtp.starttls()
                smtp.login(settings.smtp_user, settings.smtp_password)
            smtp.send_message(message)

    await asyncio.to_thread(deliver)


# --- the notification centre ---------------------------------------------------------------


async def unread_count(user: User | None) -> int:
    """The number on the navigation's badge: one COUNT on an index."""
    if user is None:
        return 0
    return await Notification.filter(user_id=user.id, read_at=None).count()


_RECENT = rows.Statement(
    "SELECT {n} FROM notification n WHERE n.user_id = $1 ORDER BY n.created_at DESC, n.id DESC"
    " LIMIT $2",
    n=Notification,
)


async def recent(user: User, n: int = 10) -> list[Notification]:
    """The user's newest notifications, for the dashboard (written out: market/rows.py)."""
    return [rows.build(Notification, row, "n") for row in await _RECENT.fetch([user.id, n])]  # type: ignore[misc]


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
