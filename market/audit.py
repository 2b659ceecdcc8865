"""The append-only audit trail: who did what to which object, when, from where."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from tortoise import fields
from tortoise.models import Model

from market.actor import Actor


class AppendOnlyError(RuntimeError):
    pass


class AuditEntry(Model):
    id = fields.BigIntField(primary_key=True)
    # Plain ids, not foreign keys: the trail must outlive whatever it describes.
    actor_id = fields.UUIDField(null=True, db_index=True)
    actor_email = fields.CharField(max_length=254, default="")
    organization_id = fields.UUIDField(null=True, db_index=True)
    action = fields.CharField(max_length=64, db_index=True)
    object_type = fields.CharField(max_length=64, db_index=True)
    object_id = fields.CharField(max_length=64, db_index=True)
    state_before = fields.JSONField(null=True)
    state_after = fields.JSONField(null=True)
    ip = fields.CharField(max_length=64, default="")
    created_at = fields.DatetimeField(auto_now_add=True, db_index=True)

    class Meta:
        table = "audit_entry"
        ordering = ["-id"]

    async def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._saved_in_db:
            await super().save(*args, **kwargs)
            return
        raise AppendOnlyError("audit entries cannot be changed")

    async def delete(self, *args: Any, **kwargs: Any) -> None:
        raise AppendOnlyError("audit entries cannot be deleted")


def plain(values: dict[str, Any]) -> dict[str, Any]:
    """Dates (and times) as ISO text, for an entry's JSON `before` and `after`."""
    return {k: v.isoformat() if isinstance(v, date) else v for k, v in values.items()}


async def record(
    actor: Actor,
    action: str,
    object_type: str,
    object_id: Any,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    organization_id: Any = None,
) -> AuditEntry:
    """Write one entry; call it inside the use case's transaction."""
    org = organization_id if organization_id is not None else actor.organization_id
    return await AuditEntry.create(
        actor_id=actor.user_id,
        actor_email=actor.user.email if actor.user else "",
        organization_id=str(org) if org else None,
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        state_before=before,
        state_after=after,
        ip=actor.ip[:64],
    )


async def browse(
    *,
    action: str = "",
    object_type: str = "",
    object_id: str = "",
    actor_email: str = "",
    since: datetime | None = None,
    until: datetime | None = None,
    page: int = 1,
    per_page: int = 50,
) -> tuple[list[AuditEntry], int]:
    query = AuditEntry.all()
    if action:
        query = query.filter(action=action)
    if object_type:
        query = query.filter(object_type=object_type)
    if object_id:
        query = query.filter(object_id=object_id)
    if actor_email:
        query = query.filter(actor_email=actor_email.strip().lower())
    if since:
        query = query.filter(created_at__gte=since)
    if until:
        query = query.filter(created_at__lt=until)
    total = await query.count()
    items = await query.order_by("-id").offset((page - 1) * per_page).limit(per_page)
    return items, total
