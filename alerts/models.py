"""Saved searches and what their digests have sent.

A saved search keeps a search's query string as the page that made it would (the listings
search or the needs list), with how often its owner wants a digest of what is new. Every item
a digest names is remembered in `AlertSent`, unique per saved search, so no listing or need is
ever sent twice for one saved search, whatever runs twice.
"""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class Frequency(StrEnum):
    DAILY = "daily"
    WEEKLY = "weekly"


class SearchKind(StrEnum):
    LISTINGS = "listings"
    NEEDS = "needs"


class SavedSearch(Model):
    id = fields.UUIDField(primary_key=True)
    user: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "models.User", related_name="saved_searches", on_delete=fields.CASCADE
    )
    name = fields.CharField(max_length=120)
    kind = fields.CharEnumField(SearchKind, max_length=16, default=SearchKind.LISTINGS)
    # The canonical query string (without "?"), as the search page builds it.
    query = fields.CharField(max_length=2000)
    frequency = fields.CharEnumField(Frequency, max_length=8, default=Frequency.DAILY)
    # False once the owner unsubscribed from the e-mail; choosing a frequency again resumes.
    active = fields.BooleanField(default=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    last_digest_at = fields.DatetimeField(null=True)
    # When the next digest is due; the cron takes the active ones past it.
    next_digest_at = fields.DatetimeField()
    digests_sent = fields.IntField(default=0)

    class Meta:
        table = "saved_search"
        indexes = (("active", "next_digest_at"), ("user_id", "created_at"))


class AlertSent(Model):
    id = fields.BigIntField(primary_key=True)
    saved_search: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "models.SavedSearch", related_name="sent", on_delete=fields.CASCADE
    )
    # A listing's or a need's id (the saved search's kind says which).
    item_id = fields.UUIDField()
    sent_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "alert_sent"
        unique_together = (("saved_search", "item_id"),)
