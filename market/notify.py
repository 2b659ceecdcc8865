"""In-app notifications and e-mail (written to the log unless SMTP is configured)."""

from __future__ import annotations

import asyncio
import logging
import smtplib
from email.message import EmailMessage

from tortoise import fields
from tortoise.models import Model

from market.accounts.models import User
from market.config import get_settings

log = logging.getLogger(__name__)


class Notification(Model):
    id = fields.UUIDField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="notifications", on_delete=fields.CASCADE
    )
    subject = fields.CharField(max_length=200)
    body = fields.TextField()
    # One notification per (event, user): a handler that runs twice cannot notify twice.
    dedup_key = fields.CharField(max_length=120, unique=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    read_at = fields.DatetimeField(null=True)

    class Meta:
        table = "notification"
        ordering = ["-created_at"]


async def notify(user: User, subject: str, body: str, *, dedup_key: str) -> bool:
    """Store an in-app notification and send the e-mail; False if it was already sent."""
    _, created = await Notification.get_or_create(
        dedup_key=dedup_key, defaults={"user": user, "subject": subject, "body": body}
    )
    if created:
        await send_mail(user.email, subject, body)
    return created


async def send_mail(to: str, subject: str, body: str) -> None:
    settings = get_settings()
    if not settings.smtp_host:
        log.info("mail to %s: %s\n%s", to, subject, body)
        return
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)

    def deliver() -> None:
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=10) as smtp:
            if settings.smtp_user:
                smtp.starttls()
                smtp.login(settings.smtp_user, settings.smtp_password)
            smtp.send_message(message)

    await asyncio.to_thread(deliver)
