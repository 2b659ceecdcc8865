from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from contracts.models import LedgerAccount, PaymentMethod, PaymentState, RefundState
from json import dumps, loads
from tortoise.fields.base import OnDelete
from uuid import uuid4
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0005_contracts')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Payment',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('contract', fields.ForeignKeyField('models.Contract', source_field='contract_id', db_constraint=True, to_field='id', related_name='payments', on_delete=OnDelete.RESTRICT)),
                ('item', fields.CharField(max_length=24)),
                ('amount', fields.BigIntField()),
                ('currency', fields.CharField(max_length=3)),
                ('method', fields.CharEnumField(description='CARD: card\nBANK_TRANSFER: bank_transfer', enum_type=PaymentMethod, max_length=16)),
                ('state', fields.CharEnumField(default=PaymentState.PENDING, description='PENDING: pending\nPROCESSING: processing\nSUCCEEDED: succeeded\nFAILED: failed\nPARTIALLY_REFUNDED: partially_refunded\nREFUNDED: refunded', enum_type=PaymentState, max_length=24)),
                ('reference', fields.CharField(unique=True, max_length=32)),
                ('intent_id', fields.CharField(null=True, unique=True, max_length=64)),
                ('attempt', fields.IntField(default=0)),
                ('creating_until', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('failure_message', fields.TextField(default='', unique=False)),
                ('bank_reference', fields.CharField(default='', max_length=64)),
                ('started_by', fields.ForeignKeyField('models.User', source_field='started_by_id', null=True, db_constraint=True, to_field='id', related_name='payments_started', on_delete=OnDelete.SET_NULL)),
                ('confirmed_by', fields.ForeignKeyField('models.User', source_field='confirmed_by_id', null=True, db_constraint=True, to_field='id', related_name='payments_confirmed', on_delete=OnDelete.SET_NULL)),
                ('paid_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'payment', 'app': 'models', 'unique_together': (('contract', 'item'),), 'indexes': [Index(fields=['state', 'updated_at'])], 'pk_attr': 'id', 'table_description': 'One amount a contract owes (its upfront fee, or one milestone), paid by one method.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='LedgerTransaction',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('key', fields.CharField(unique=True, max_length=80)),
                ('kind', fields.CharField(max_length=16)),
                ('payment', fields.ForeignKeyField('models.Payment', source_field='payment_id', null=True, db_constraint=True, to_field='id', related_name='ledger_transactions', on_delete=OnDelete.RESTRICT)),
                ('memo', fields.TextField(default='', unique=False)),
                ('created_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'ledger_transaction', 'app': 'models', 'pk_attr': 'id', 'table_description': 'One movement of money, whose entries sum to zero. `key` makes each business event'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='LedgerEntry',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('transaction', fields.ForeignKeyField('models.LedgerTransaction', source_field='transaction_id', db_constraint=True, to_field='id', related_name='entries', on_delete=OnDelete.RESTRICT)),
                ('account', fields.CharEnumField(description='STRIPE: cash_stripe\nBANK: cash_bank\nFEES: platform_fees\nPAYABLE: institute_payable', enum_type=LedgerAccount, max_length=24)),
                ('organization', fields.ForeignKeyField('models.Organization', source_field='organization_id', null=True, db_constraint=True, to_field='id', related_name='ledger_entries', on_delete=OnDelete.RESTRICT)),
                ('amount', fields.BigIntField()),
                ('currency', fields.CharField(max_length=3)),
            ],
            options={'table': 'ledger_entry', 'app': 'models', 'indexes': [Index(fields=['account', 'organization_id', 'currency'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Payout',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('organization', fields.ForeignKeyField('models.Organization', source_field='organization_id', db_constraint=True, to_field='id', related_name='payouts', on_delete=OnDelete.RESTRICT)),
                ('amount', fields.BigIntField()),
                ('currency', fields.CharField(max_length=3)),
                ('reference', fields.CharField(max_length=64)),
                ('created_by', fields.ForeignKeyField('models.User', source_field='created_by_id', null=True, db_constraint=True, to_field='id', related_name='payouts_recorded', on_delete=OnDelete.SET_NULL)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'payout', 'app': 'models', 'pk_attr': 'id', 'table_description': 'Money the platform sent an institute (by bank, outside Stripe), as an administrator'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Refund',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('payment', fields.ForeignKeyField('models.Payment', source_field='payment_id', db_constraint=True, to_field='id', related_name='refunds', on_delete=OnDelete.RESTRICT)),
                ('amount', fields.BigIntField()),
                ('currency', fields.CharField(max_length=3)),
                ('reason', fields.TextField(unique=False)),
                ('state', fields.CharEnumField(default=RefundState.PENDING, description='PENDING: pending\nSUCCEEDED: succeeded\nFAILED: failed', enum_type=RefundState, max_length=16)),
                ('stripe_refund_id', fields.CharField(null=True, unique=True, max_length=64)),
                ('failure_message', fields.TextField(default='', unique=False)),
                ('created_by', fields.ForeignKeyField('models.User', source_field='created_by_id', null=True, db_constraint=True, to_field='id', related_name='refunds_made', on_delete=OnDelete.SET_NULL)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'refund', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='StripeEvent',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('event_id', fields.CharField(unique=True, max_length=80)),
                ('event_type', fields.CharField(max_length=64)),
                ('object_id', fields.CharField(db_index=True, max_length=80)),
                ('payload', fields.JSONField(encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('received_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('handled_at', fields.DatetimeField(null=True, db_index=True, auto_now=False, auto_now_add=False)),
                ('attempts', fields.IntField(default=0)),
                ('last_error', fields.TextField(default='', unique=False)),
            ],
            options={'table': 'stripe_event', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A verified webhook from Stripe, stored once by its event id before anything acts on it.'},
            bases=['Model'],
        ),
    ]
