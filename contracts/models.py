"""Offers (with every version of their terms and a message thread), the rights a listing has
granted, the contracts accepted offers become (document versions and signatures), and the money
that moves for them: payments, refunds, payouts, the ledger and the Stripe events received."""

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


# --- contracts -----------------------------------------------------------------------------


class ContractState(StrEnum):
    DRAFTED = "drafted"  # its document is being (re)generated by the worker
    PENDING_APPROVAL = "pending_approval"
    APPROVED = "approved"
    AWAITING_SIGNATURES = "awaiting_signatures"
    SIGNED = "signed"  # both signed; the worker makes the final document
    AWAITING_PAYMENT = "awaiting_payment"
    ACTIVE = "active"
    COMPLETED = "completed"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


class DocumentKind(StrEnum):
    AGREEMENT = "agreement"  # a version of the agreement the parties read and sign
    SIGNED = "signed"  # the signed agreement with its signature page


class Contract(Model):
    """The agreement an accepted offer becomes: one per offer, enforced by the database."""

    id = fields.UUIDField(primary_key=True)
    offer: fields.OneToOneRelation[Offer] = fields.OneToOneField(
        "models.Offer", related_name="contract", on_delete=fields.RESTRICT
    )
    reference = fields.CharField(max_length=32, unique=True)
    listing: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "models.Listing", related_name="contracts", on_delete=fields.RESTRICT
    )
    seller: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "models.Organization", related_name="contracts_as_seller", on_delete=fields.RESTRICT
    )
    buyer: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "models.Organization", related_name="contracts_as_buyer", on_delete=fields.RESTRICT
    )
    # The offer's terms version the agreement was drawn from.
    terms_number = fields.IntField()
    license_type = fields.CharField(max_length=16)
    state = fields.CharEnumField(ContractState, max_length=24, default=ContractState.DRAFTED)
    # The current agreement version (ContractDocument.number) and the hash the parties sign.
    document_number = fields.IntField(default=0)
    document_sha256 = fields.CharField(max_length=64, default="")
    # The signed document (with its signature page), once the worker made it.
    signed_number = fields.IntField(null=True)
    # What the buyer owes once signed: the upfront fee for now.
    amount_due = fields.BigIntField()
    currency = fields.CharField(max_length=3)
    # The administrator's reason (rejection, changes asked for) or why it was cancelled.
    reason = fields.TextField(default="")
    signing_opened_at = fields.DatetimeField(null=True)
    reminded_at = fields.DatetimeField(null=True)
    signed_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "contract"
        indexes = (("state", "signing_opened_at"), ("seller_id", "state"), ("buyer_id", "state"))


class ContractDocument(Model):
    """One version of a contract's document: never changed, so older versions stay readable."""

    id = fields.UUIDField(primary_key=True)
    contract: fields.ForeignKeyRelation[Contract] = fields.ForeignKeyField(
        "models.Contract", related_name="documents", on_delete=fields.CASCADE
    )
    number = fields.IntField()
    kind = fields.CharEnumField(DocumentKind, max_length=16, default=DocumentKind.AGREEMENT)
    html = fields.TextField()
    # SHA-256 of the exact HTML text (UTF-8) the parties read and sign.
    sha256 = fields.CharField(max_length=64)
    pdf = fields.BinaryField()
    # Why this version was made (the changes an administrator asked for), empty for the first.
    reason = fields.TextField(default="")
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "contract_document"
        unique_together = (("contract", "number"),)
        ordering = ["number"]


class Signature(Model):
    """One party's signature: who, as what name, when, from where, on which exact document."""

    id = fields.UUIDField(primary_key=True)
    contract: fields.ForeignKeyRelation[Contract] = fields.ForeignKeyField(
        "models.Contract", related_name="signatures", on_delete=fields.CASCADE
    )
    side = fields.CharEnumField(Side, max_length=8)
    organization: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "models.Organization", related_name="signatures", on_delete=fields.RESTRICT
    )
    user: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "models.User", related_name="signatures", on_delete=fields.RESTRICT
    )
    full_name = fields.CharField(max_length=200)
    email = fields.CharField(max_length=254)
    document_number = fields.IntField()
    document_sha256 = fields.CharField(max_length=64)
    ip = fields.CharField(max_length=64, default="")
    user_agent = fields.CharField(max_length=300, default="")
    signed_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "contract_signature"
        # Each party signs a contract once.
        unique_together = (("contract", "side"),)
        ordering = ["signed_at"]


# --- money ------------------------------------------------------------------------------------


class PaymentMethod(StrEnum):
    CARD = "card"
    BANK_TRANSFER = "bank_transfer"


class PaymentState(StrEnum):
    PENDING = "pending"  # nothing confirmed yet (or a declined card being tried again)
    PROCESSING = "processing"  # Stripe is working on a confirmed intent
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # the last attempt failed; the buyer may try again on the same payment
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"


PAID_STATES = (PaymentState.SUCCEEDED, PaymentState.PARTIALLY_REFUNDED, PaymentState.REFUNDED)


class Payment(Model):
    """One amount a contract owes (its upfront fee, or one milestone), paid by one method."""

    id = fields.UUIDField(primary_key=True)
    contract: fields.ForeignKeyRelation[Contract] = fields.ForeignKeyField(
        "models.Contract", related_name="payments", on_delete=fields.RESTRICT
    )
    # "upfront", or "milestone-<n>" for the n-th milestone of the contract's terms.
    item = fields.CharField(max_length=24)
    amount = fields.BigIntField()
    currency = fields.CharField(max_length=3)
    method = fields.CharEnumField(PaymentMethod, max_length=16)
    state = fields.CharEnumField(PaymentState, max_length=24, default=PaymentState.PENDING)
    # What the buyer quotes on a bank transfer, and what the receipt carries.
    reference = fields.CharField(max_length=32, unique=True)
    # The current Stripe PaymentIntent. A declined charge retires its intent and the retry
    # gets the next attempt's (see contracts/payments.py).
    intent_id = fields.CharField(max_length=64, null=True, unique=True)
    attempt = fields.IntField(default=0)
    # A request creating the intent holds this lease, so concurrent clicks create one intent
    # without a database lock held across the call to Stripe.
    creating_until = fields.DatetimeField(null=True)
    failure_message = fields.TextField(default="")
    # The bank's own reference for a transfer an administrator confirmed.
    bank_reference = fields.CharField(max_length=64, default="")
    started_by: fields.ForeignKeyNullableRelation = fields.ForeignKeyField(
        "models.User", related_name="payments_started", null=True, on_delete=fields.SET_NULL
    )
    confirmed_by: fields.ForeignKeyNullableRelation = fields.ForeignKeyField(
        "models.User", related_name="payments_confirmed", null=True, on_delete=fields.SET_NULL
    )
    paid_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "payment"
        unique_together = (("contract", "item"),)
        indexes = (("state", "updated_at"),)


class RefundState(StrEnum):
    PENDING = "pending"  # recorded; Stripe not yet asked (or its answer lost)
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class Refund(Model):
    id = fields.UUIDField(primary_key=True)
    payment: fields.ForeignKeyRelation[Payment] = fields.ForeignKeyField(
        "models.Payment", related_name="refunds", on_delete=fields.RESTRICT
    )
    amount = fields.BigIntField()
    currency = fields.CharField(max_length=3)
    reason = fields.TextField()
    state = fields.CharEnumField(RefundState, max_length=16, default=RefundState.PENDING)
    stripe_refund_id = fields.CharField(max_length=64, null=True, unique=True)
    failure_message = fields.TextField(default="")
    created_by: fields.ForeignKeyNullableRelation = fields.ForeignKeyField(
        "models.User", related_name="refunds_made", null=True, on_delete=fields.SET_NULL
    )
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "refund"


class Payout(Model):
    """Money the platform sent an institute (by bank, outside Stripe), as an administrator
    recorded it."""

    id = fields.UUIDField(primary_key=True)
    organization: fields.ForeignKeyRelation = fields.ForeignKeyField(
        "models.Organization", related_name="payouts", on_delete=fields.RESTRICT
    )
    amount = fields.BigIntField()
    currency = fields.CharField(max_length=3)
    reference = fields.CharField(max_length=64)
    created_by: fields.ForeignKeyNullableRelation = fields.ForeignKeyField(
        "models.User", related_name="payouts_recorded", null=True, on_delete=fields.SET_NULL
    )
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "payout"


class LedgerAccount(StrEnum):
    # Money the platform holds, by where it sits.
    STRIPE = "cash_stripe"
    BANK = "cash_bank"
    # The platform's own income.
    FEES = "platform_fees"
    # What the platform owes an institute (entries carry the organisation).
    PAYABLE = "institute_payable"


class LedgerTransaction(Model):
    """One movement of money, whose entries sum to zero. `key` makes each business event
    (a payment, a refund, a payout) post exactly once."""

    # (No semicolon in this docstring: it becomes the table's comment, and SQLite's migration
    # runner splits statements on semicolons.)

    id = fields.BigIntField(primary_key=True)
    key = fields.CharField(max_length=80, unique=True)
    kind = fields.CharField(max_length=16)
    payment: fields.ForeignKeyNullableRelation[Payment] = fields.ForeignKeyField(
        "models.Payment", related_name="ledger_transactions", null=True, on_delete=fields.RESTRICT
    )
    memo = fields.TextField(default="")
    created_at = fields.DatetimeField(auto_now_add=True, db_index=True)

    class Meta:
        table = "ledger_transaction"


class LedgerEntry(Model):
    id = fields.BigIntField(primary_key=True)
    transaction: fields.ForeignKeyRelation[LedgerTransaction] = fields.ForeignKeyField(
        "models.LedgerTransaction", related_name="entries", on_delete=fields.RESTRICT
    )
    account = fields.CharEnumField(LedgerAccount, max_length=24)
    organization: fields.ForeignKeyNullableRelation = fields.ForeignKeyField(
        "models.Organization", related_name="ledger_entries", null=True, on_delete=fields.RESTRICT
    )
    # Signed minor units: positive debits, negative credits.
    amount = fields.BigIntField()
    currency = fields.CharField(max_length=3)

    class Meta:
        table = "ledger_entry"
        indexes = (("account", "organization_id", "currency"),)


class StripeEvent(Model):
    """A verified webhook from Stripe, stored once by its event id before anything acts on it."""

    id = fields.BigIntField(primary_key=True)
    event_id = fields.CharField(max_length=80, unique=True)
    event_type = fields.CharField(max_length=64)
    # The object the event is about (a PaymentIntent id); handlers re-read it from Stripe.
    object_id = fields.CharField(max_length=80, db_index=True)
    payload = fields.JSONField()
    received_at = fields.DatetimeField(auto_now_add=True)
    handled_at = fields.DatetimeField(null=True, db_index=True)
    attempts = fields.IntField(default=0)
    last_error = fields.TextField(default="")

    class Meta:
        table = "stripe_event"
