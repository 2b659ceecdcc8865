"""The money that moves for contracts: payments, refunds, payouts, the ledger and the Stripe
events received."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

from tortoise import fields
from tortoise.models import Model

from contracts.agreements.models import Contract


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

# The decimal places `Payment.fee_percent` keeps (as a royalty's percent does).
FEE_PERCENT_PLACES = 3


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
    # The platform's fee in percent: PLATFORM_FEE_PERCENT when the payment was created, set
    # explicitly then. The ledger, every refund and the receipt read it here, never today's
    # setting. (The default only fills rows older than the column.)
    fee_percent = fields.DecimalField(
        max_digits=6,
        decimal_places=FEE_PERCENT_PLACES,
        default=Decimal(5),
        description="The platform fee in percent, fixed when the payment was created",
    )
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


class Receipt(Model):
    """A payment's receipt as first rendered, served as stored from then on: the PDF bytes and
    their SHA-256. The receipt lists the refunds, so each refund that succeeds makes a new
    edition, one row per payment and number of refunds listed."""

    id = fields.BigIntField(primary_key=True)
    payment: fields.ForeignKeyRelation[Payment] = fields.ForeignKeyField(
        "models.Payment", related_name="receipts", on_delete=fields.RESTRICT
    )
    refunds = fields.IntField()
    sha256 = fields.CharField(max_length=64)
    pdf = fields.BinaryField()
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "payment_receipt"
        unique_together = (("payment", "refunds"),)


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
