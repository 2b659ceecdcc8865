from tortoise import migrations
from tortoise.migrations import operations as ops
from contracts.models import ContractState, DocumentKind, Side
from tortoise.fields.base import OnDelete
from uuid import uuid4
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0004_notifications')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Contract',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('offer', fields.OneToOneField('models.Offer', source_field='offer_id', db_constraint=True, to_field='id', related_name='contract', on_delete=OnDelete.RESTRICT)),
                ('reference', fields.CharField(unique=True, max_length=32)),
                ('listing', fields.ForeignKeyField('models.Listing', source_field='listing_id', db_constraint=True, to_field='id', related_name='contracts', on_delete=OnDelete.RESTRICT)),
                ('seller', fields.ForeignKeyField('models.Organization', source_field='seller_id', db_constraint=True, to_field='id', related_name='contracts_as_seller', on_delete=OnDelete.RESTRICT)),
                ('buyer', fields.ForeignKeyField('models.Organization', source_field='buyer_id', db_constraint=True, to_field='id', related_name='contracts_as_buyer', on_delete=OnDelete.RESTRICT)),
                ('terms_number', fields.IntField()),
                ('license_type', fields.CharField(max_length=16)),
                ('state', fields.CharEnumField(default=ContractState.DRAFTED, description='DRAFTED: drafted\nPENDING_APPROVAL: pending_approval\nAPPROVED: approved\nAWAITING_SIGNATURES: awaiting_signatures\nSIGNED: signed\nAWAITING_PAYMENT: awaiting_payment\nACTIVE: active\nCOMPLETED: completed\nREJECTED: rejected\nCANCELLED: cancelled', enum_type=ContractState, max_length=24)),
                ('document_number', fields.IntField(default=0)),
                ('document_sha256', fields.CharField(default='', max_length=64)),
                ('signed_number', fields.IntField(null=True)),
                ('amount_due', fields.BigIntField()),
                ('currency', fields.CharField(max_length=3)),
                ('reason', fields.TextField(default='', unique=False)),
                ('signing_opened_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('reminded_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('signed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'contract', 'app': 'models', 'indexes': [Index(fields=['state', 'signing_opened_at']), Index(fields=['seller_id', 'state']), Index(fields=['buyer_id', 'state'])], 'pk_attr': 'id', 'table_description': 'The agreement an accepted offer becomes: one per offer, enforced by the database.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ContractDocument',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('contract', fields.ForeignKeyField('models.Contract', source_field='contract_id', db_constraint=True, to_field='id', related_name='documents', on_delete=OnDelete.CASCADE)),
                ('number', fields.IntField()),
                ('kind', fields.CharEnumField(default=DocumentKind.AGREEMENT, description='AGREEMENT: agreement\nSIGNED: signed', enum_type=DocumentKind, max_length=16)),
                ('html', fields.TextField(unique=False)),
                ('sha256', fields.CharField(max_length=64)),
                ('pdf', fields.BinaryField()),
                ('reason', fields.TextField(default='', unique=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'contract_document', 'app': 'models', 'unique_together': (('contract', 'number'),), 'pk_attr': 'id', 'table_description': "One version of a contract's document: never changed, so older versions stay readable."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Signature',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('contract', fields.ForeignKeyField('models.Contract', source_field='contract_id', db_constraint=True, to_field='id', related_name='signatures', on_delete=OnDelete.CASCADE)),
                ('side', fields.CharEnumField(description='BUYER: buyer\nSELLER: seller', enum_type=Side, max_length=8)),
                ('organization', fields.ForeignKeyField('models.Organization', source_field='organization_id', db_constraint=True, to_field='id', related_name='signatures', on_delete=OnDelete.RESTRICT)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name='signatures', on_delete=OnDelete.RESTRICT)),
                ('full_name', fields.CharField(max_length=200)),
                ('email', fields.CharField(max_length=254)),
                ('document_number', fields.IntField()),
                ('document_sha256', fields.CharField(max_length=64)),
                ('ip', fields.CharField(default='', max_length=64)),
                ('user_agent', fields.CharField(default='', max_length=300)),
                ('signed_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'contract_signature', 'app': 'models', 'unique_together': (('contract', 'side'),), 'pk_attr': 'id', 'table_description': "One party's signature: who, as what name, when, from where, on which exact document."},
            bases=['Model'],
        ),
    ]
