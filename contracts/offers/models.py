"""Offers, with every version of their terms and a message thread, and the rights a listing
has granted through accepted offers."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class OfferState(StrEnum):
    OPEN = "open"  # the seller's turn
    COUNTERED = "countered"  # the buyer's turn
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"
    DECLINED = "declined"  # closed by a conflicting grant
    # Waiting while the contract of another, accepted offer for conflicting rights is pending:
    # it comes back as it was (held_from) if that contract falls through.
    ON_HOLD = "on_hold"


LIVE_STATES = (OfferState.OPEN, OfferState.COUNTERED)


class Side(StrEnum):
    BUYER = "buyer"
    SELLER = "seller"


class Offer(Model):
    id = fields.UUIDField(primary_key=True)
    listing: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "models.Listing", related_name="offers", on_delete=fields.RESTRICT
    )
    # The listing's institute at the time of the offer: who sees and answers it.
    seller: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "models.Organization", related_name="offers_received", on_delete=fields.RESTRICT
    )
    buyer: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "models.Organization", related_name="offers_made", on_delete=fields.RESTRICT
    )
    created_by: fields.ForeignKeyNullableRelation = fields.ForeignKeyField(
        "models.User", related_name="offers", null=True, on_delete=fields.SET_NULL
    )
    state = fields.CharEnumField(OfferState, max_length=16, default=OfferState.OPEN)
    # Number of the current terms (OfferTerms.number); each counter adds one.
    terms_number = fields.IntField(default=1)
    # Copied from the current terms so the expiry cron and the conflict checks need no join.
    license_type = fields.CharField(max_length=16)
    expires_at = fields.DatetimeField()
    # The terms number a reminder was last sent for: a counter (new terms) earns a new one.
    reminded_for = fields.IntField(default=0)
    closed_reason = fields.TextField(default="")
    # The last hold: the state the offer was in when it was put on hold, and the accepted offer
    # whose contract (one per offer) holds it. Meaningful while the state is "on_hold".
    held_from = fields.CharField(max_length=16, default="")
    held_by: fields.ForeignKeyNullableRelation[Offer] = fields.ForeignKeyField(
        "models.Offer", related_name="holding", null=True, on_delete=fields.SET_NULL
    )
    # The enquiry (listings.models.Enquiry) the offer was made from, if it was.
    enquiry: fields.ForeignKeyNullableRelation = fields.ForeignKeyField(
        "models.Enquiry", related_name="offers", null=True, on_delete=fields.SET_NULL
    )
    # The need's proposal this offer was made from, when the seeker turned a finalist into an
    # offer (contracts.offers.service.offer_from_proposal).
    proposal: fields.ForeignKeyNullableRelation = fields.ForeignKeyField(
        "models.Proposal", related_name="offers", null=True, on_delete=fields.SET_NULL
    )
    # The exhibition-hall meeting this offer followed (hall.outcomes.offer_from_meeting, above
    # contracts in the flow): the organiser's figures count what came from an event through it.
    meeting: fields.ForeignKeyNullableRelation = fields.ForeignKeyField(
        "models.Meeting", related_name="offers", null=True, on_delete=fields.SET_NULL
    )
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "offer"
        indexes = (("state", "expires_at"), ("buyer_id", "state"), ("seller_id", "state"))


class OfferTerms(Model):
    """One version of an offer's terms: the first offer, then each counter-offer. Never changed."""

    id = fields.UUIDField(primary_key=True)
    offer: fields.ForeignKeyRelation[Offer] = fields.ForeignKeyField(
        "models.Offer", related_name="versions", on_delete=fields.CASCADE
    )
    number = fields.IntField()
    side = fields.CharEnumField(Side, max_length=8)
    author: fields.ForeignKeyNullableRelation = fields.ForeignKeyField(
        "models.User", related_name="offer_terms", null=True, on_delete=fields.SET_NULL
    )
    license_type = fields.CharField(max_length=16)
    territories = fields.JSONField(default=list)
    fields_of_use = fields.JSONField(default=list)
    term_months = fields.IntField()
    upfront_amount = fields.BigIntField()
    currency = fields.CharField(max_length=3)
    royalty_percent = fields.DecimalField(max_digits=6, decimal_places=3, null=True)
    # [{"description": str, "amount": int}] in `currency`.
    milestones = fields.JSONField(default=list)
    conditions = fields.TextField(default="")
    expires_at = fields.DatetimeField()
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "offer_terms"
        unique_together = (("offer", "number"),)
        ordering = ["number"]


class OfferMessage(Model):
    id = fields.UUIDField(primary_key=True)
    offer: fields.ForeignKeyRelation[Offer] = fields.ForeignKeyField(
        "models.Offer", related_name="messages", on_delete=fields.CASCADE
    )
    side = fields.CharEnumField(Side, max_length=8)
    author: fields.ForeignKeyNullableRelation = fields.ForeignKeyField(
        "models.User", related_name="offer_messages", null=True, on_delete=fields.SET_NULL
    )
    body = fields.TextField()
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "offer_message"
        ordering = ["created_at"]


class Grant(Model):
    """A right a listing has given away: one cell block of licence type x territory x field."""

    id = fields.UUIDField(primary_key=True)
    listing: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "models.Listing", related_name="grants", on_delete=fields.RESTRICT
    )
    grantee: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "models.Organization", related_name="grants", on_delete=fields.RESTRICT
    )
    offer: fields.ForeignKeyNullableRelation[Offer] = fields.ForeignKeyField(
        "models.Offer", related_name="grants", null=True, on_delete=fields.RESTRICT
    )
    license_type = fields.CharField(max_length=16)
    territories = fields.JSONField(default=list)
    fields_of_use = fields.JSONField(default=list)
    # "accepted" from an offer; later steps fix it as "signed" from a contract.
    basis = fields.CharField(max_length=16, default="accepted")
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "listing_grant"
        unique_together = (("offer", "basis"),)
