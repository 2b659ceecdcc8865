"""Listings of technology achievements, their pending revisions, media and imports."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class ListingKind(StrEnum):
    PATENT = "patent"
    PATENT_APPLICATION = "patent_application"
    SOFTWARE = "software"
    KNOW_HOW = "know_how"
    MATERIAL = "material"
    DESIGN = "design"
    OTHER = "other"


class ListingState(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    PUBLISHED = "published"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"
    LICENSED = "licensed"


class Listing(Model):
    id = fields.UUIDField(primary_key=True)
    institute: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "models.Organization", related_name="listings", on_delete=fields.RESTRICT
    )
    created_by: fields.ForeignKeyNullableRelation = fields.ForeignKeyField(
        "models.User", related_name="listings", null=True, on_delete=fields.SET_NULL
    )
    title = fields.CharField(max_length=200)
    summary = fields.TextField()
    description = fields.TextField(default="")
    kind = fields.CharEnumField(ListingKind, max_length=24)
    patent_numbers = fields.JSONField(default=list)
    ipc_codes = fields.JSONField(default=list)
    trl = fields.SmallIntField(null=True)
    keywords = fields.JSONField(default=list)
    inventors = fields.JSONField(default=list)
    license_types = fields.JSONField(default=list)
    territories = fields.JSONField(default=list)
    fields_of_use = fields.JSONField(default=list)
    price_model = fields.CharField(max_length=16, default="offers")
    asking_amount = fields.BigIntField(null=True)
    asking_currency = fields.CharField(max_length=3, null=True)
    language = fields.CharField(max_length=2, default="en")
    contact_name = fields.CharField(max_length=120, default="")
    contact_email = fields.CharField(max_length=254, default="")
    state = fields.CharEnumField(ListingState, max_length=16, default=ListingState.DRAFT)
    rejection_reason = fields.TextField(default="")
    # Where an imported listing came from (a patent or record id); re-imports skip it.
    source_ref = fields.CharField(max_length=120, null=True)
    # Bumped on every change the search index must see; drift is checked by id and version.
    version = fields.IntField(default=1)
    view_count = fields.IntField(default=0)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)
    published_at = fields.DatetimeField(null=True)

    class Meta:
        table = "listing"
        unique_together = (("institute", "source_ref"),)
        indexes = (("state", "published_at"), ("institute_id", "state"))


class ListingView(Model):
    """One counted visit of a listing's page, waiting to be added to its `view_count`.

    Append-only, so a page view takes no lock on the listing: it inserts here and the worker's
    `flush_listing_views` cron folds these rows into the listings' counts. No foreign key on
    purpose: checking one takes FOR KEY SHARE on the listing row, which waits behind any
    transaction holding it FOR UPDATE. On PostgreSQL the table is UNLOGGED (migration 0013):
    no WAL, no fsync per view; a crash empties it, and losing a few views is acceptable."""

    id = fields.BigIntField(primary_key=True)
    listing_id = fields.UUIDField()

    class Meta:
        table = "listing_view"


class RevisionState(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


# A change to a published listing's substance, waiting for an administrator.
class ListingRevision(Model):
    id = fields.UUIDField(primary_key=True)
    listing: fields.ForeignKeyRelation[Listing] = fields.ForeignKeyField(
        "models.Listing", related_name="revisions", on_delete=fields.CASCADE
    )
    author: fields.ForeignKeyNullableRelation = fields.ForeignKeyField(
        "models.User", related_name="listing_revisions", null=True, on_delete=fields.SET_NULL
    )
    changes = fields.JSONField()
    state = fields.CharEnumField(RevisionState, max_length=16, default=RevisionState.PENDING)
    reason = fields.TextField(default="")
    created_at = fields.DatetimeField(auto_now_add=True)
    decided_at = fields.DatetimeField(null=True)

    class Meta:
        table = "listing_revision"


class MediaKind(StrEnum):
    IMAGE = "image"
    PDF = "pdf"


class ListingMedia(Model):
    id = fields.UUIDField(primary_key=True)
    listing: fields.ForeignKeyRelation[Listing] = fields.ForeignKeyField(
        "models.Listing", related_name="media", on_delete=fields.CASCADE
    )
    kind = fields.CharEnumField(MediaKind, max_length=8)
    content_type = fields.CharField(max_length=64)
    original_name = fields.CharField(max_length=255)
    # A random name under var/media: nothing a user typed reaches the file system.
    stored_name = fields.CharField(max_length=64, unique=True)
    size = fields.IntField()
    sha256 = fields.CharField(max_length=64)
    confidential = fields.BooleanField(default=False)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "listing_media"


class ImportState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class ListingImport(Model):
    id = fields.UUIDField(primary_key=True)
    institute: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "models.Organization", related_name="imports", on_delete=fields.CASCADE
    )
    created_by: fields.ForeignKeyNullableRelation = fields.ForeignKeyField(
        "models.User", related_name="imports", null=True, on_delete=fields.SET_NULL
    )
    filename = fields.CharField(max_length=255)
    stored_name = fields.CharField(max_length=64)
    options = fields.JSONField(default=dict)
    state = fields.CharEnumField(ImportState, max_length=16, default=ImportState.QUEUED)
    total = fields.IntField(default=0)
    processed = fields.IntField(default=0)
    created = fields.IntField(default=0)
    skipped = fields.IntField(default=0)
    refused = fields.IntField(default=0)
    # [{"row": 12, "ref": "US123", "errors": {"title": "..."}}], refused and warned rows only.
    report = fields.JSONField(default=list)
    error = fields.TextField(default="")
    created_at = fields.DatetimeField(auto_now_add=True)
    finished_at = fields.DatetimeField(null=True)

    class Meta:
        table = "listing_import"


class EnquiryState(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class EnquirySide(StrEnum):
    BUYER = "buyer"  # the enterprise that asks
    SELLER = "seller"  # the listing's institute, which answers


class Enquiry(Model):
    """A question about a published listing before any offer: a thread between the enterprise
    that asks and the listing's institute, binding nobody and naming no terms. An offer made
    from it names it as its origin (`Offer.enquiry`); a need's proposal may link it the same
    way later."""

    id = fields.UUIDField(primary_key=True)
    listing: fields.ForeignKeyRelation[Listing] = fields.ForeignKeyField(
        "models.Listing", related_name="enquiries", on_delete=fields.RESTRICT
    )
    # The listing's institute when the question was asked: who sees and answers it.
    seller: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "models.Organization", related_name="enquiries_received", on_delete=fields.RESTRICT
    )
    buyer: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "models.Organization", related_name="enquiries_made", on_delete=fields.RESTRICT
    )
    created_by: fields.ForeignKeyNullableRelation = fields.ForeignKeyField(
        "models.User", related_name="enquiries", null=True, on_delete=fields.SET_NULL
    )
    state = fields.CharEnumField(EnquiryState, max_length=8, default=EnquiryState.OPEN)
    # Which side closed it, once closed.
    closed_by = fields.CharField(max_length=8, default="")
    created_at = fields.DatetimeField(auto_now_add=True)
    # The last message's time: the inbox shows the liveliest threads first.
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "enquiry"
        indexes = (("buyer_id", "updated_at"), ("seller_id", "updated_at"))


class EnquiryMessage(Model):
    id = fields.UUIDField(primary_key=True)
    enquiry: fields.ForeignKeyRelation[Enquiry] = fields.ForeignKeyField(
        "models.Enquiry", related_name="messages", on_delete=fields.CASCADE
    )
    side = fields.CharEnumField(EnquirySide, max_length=8)
    author: fields.ForeignKeyNullableRelation = fields.ForeignKeyField(
        "models.User", related_name="enquiry_messages", null=True, on_delete=fields.SET_NULL
    )
    body = fields.TextField()
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "enquiry_message"
        ordering = ["created_at"]
