from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from contracts.models import OfferState, Side
from json import dumps, loads
from tortoise.fields.base import OnDelete
from uuid import uuid4
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0002_listings')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Offer',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('listing', fields.ForeignKeyField('models.Listing', source_field='listing_id', db_constraint=True, to_field='id', related_name='offers', on_delete=OnDelete.RESTRICT)),
                ('seller', fields.ForeignKeyField('models.Organization', source_field='seller_id', db_constraint=True, to_field='id', related_name='offers_received', on_delete=OnDelete.RESTRICT)),
                ('buyer', fields.ForeignKeyField('models.Organization', source_field='buyer_id', db_constraint=True, to_field='id', related_name='offers_made', on_delete=OnDelete.RESTRICT)),
                ('created_by', fields.ForeignKeyField('models.User', source_field='created_by_id', null=True, db_constraint=True, to_field='id', related_name='offers', on_delete=OnDelete.SET_NULL)),
                ('state', fields.CharEnumField(default=OfferState.OPEN, description='OPEN: open\nCOUNTERED: countered\nACCEPTED: accepted\nREJECTED: rejected\nWITHDRAWN: withdrawn\nEXPIRED: expired\nDECLINED: declined', enum_type=OfferState, max_length=16)),
                ('terms_number', fields.IntField(default=1)),
                ('license_type', fields.CharField(max_length=16)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('reminded_for', fields.IntField(default=0)),
                ('closed_reason', fields.TextField(default='', unique=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'offer', 'app': 'models', 'indexes': [Index(fields=['state', 'expires_at']), Index(fields=['buyer_id', 'state']), Index(fields=['seller_id', 'state'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Grant',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('listing', fields.ForeignKeyField('models.Listing', source_field='listing_id', db_constraint=True, to_field='id', related_name='grants', on_delete=OnDelete.RESTRICT)),
                ('grantee', fields.ForeignKeyField('models.Organization', source_field='grantee_id', db_constraint=True, to_field='id', related_name='grants', on_delete=OnDelete.RESTRICT)),
                ('offer', fields.ForeignKeyField('models.Offer', source_field='offer_id', null=True, db_constraint=True, to_field='id', related_name='grants', on_delete=OnDelete.RESTRICT)),
                ('license_type', fields.CharField(max_length=16)),
                ('territories', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('fields_of_use', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('basis', fields.CharField(default='accepted', max_length=16)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'listing_grant', 'app': 'models', 'unique_together': (('offer', 'basis'),), 'pk_attr': 'id', 'table_description': 'A right a listing has given away: one cell block of licence type x territory x field.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='OfferMessage',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('offer', fields.ForeignKeyField('models.Offer', source_field='offer_id', db_constraint=True, to_field='id', related_name='messages', on_delete=OnDelete.CASCADE)),
                ('side', fields.CharEnumField(description='BUYER: buyer\nSELLER: seller', enum_type=Side, max_length=8)),
                ('author', fields.ForeignKeyField('models.User', source_field='author_id', null=True, db_constraint=True, to_field='id', related_name='offer_messages', on_delete=OnDelete.SET_NULL)),
                ('body', fields.TextField(unique=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'offer_message', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='OfferTerms',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('offer', fields.ForeignKeyField('models.Offer', source_field='offer_id', db_constraint=True, to_field='id', related_name='versions', on_delete=OnDelete.CASCADE)),
                ('number', fields.IntField()),
                ('side', fields.CharEnumField(description='BUYER: buyer\nSELLER: seller', enum_type=Side, max_length=8)),
                ('author', fields.ForeignKeyField('models.User', source_field='author_id', null=True, db_constraint=True, to_field='id', related_name='offer_terms', on_delete=OnDelete.SET_NULL)),
                ('license_type', fields.CharField(max_length=16)),
                ('territories', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('fields_of_use', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('term_months', fields.IntField()),
                ('upfront_amount', fields.BigIntField()),
                ('currency', fields.CharField(max_length=3)),
                ('royalty_percent', fields.DecimalField(null=True, max_digits=6, decimal_places=3)),
                ('milestones', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('conditions', fields.TextField(default='', unique=False)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'offer_terms', 'app': 'models', 'unique_together': (('offer', 'number'),), 'pk_attr': 'id', 'table_description': "One version of an offer's terms: the first offer, then each counter-offer. Never changed."},
            bases=['Model'],
        ),
    ]
