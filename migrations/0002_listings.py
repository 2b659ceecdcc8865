from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from listings.models import ImportState, ListingKind, ListingState, MediaKind, RevisionState
from tortoise.fields.base import OnDelete
from uuid import uuid4
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0001_initial')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Listing',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('institute', fields.ForeignKeyField('models.Organization', source_field='institute_id', db_constraint=True, to_field='id', related_name='listings', on_delete=OnDelete.RESTRICT)),
                ('created_by', fields.ForeignKeyField('models.User', source_field='created_by_id', null=True, db_constraint=True, to_field='id', related_name='listings', on_delete=OnDelete.SET_NULL)),
                ('title', fields.CharField(max_length=200)),
                ('summary', fields.TextField(unique=False)),
                ('description', fields.TextField(default='', unique=False)),
                ('kind', fields.CharEnumField(description='PATENT: patent\nPATENT_APPLICATION: patent_application\nSOFTWARE: software\nKNOW_HOW: know_how\nMATERIAL: material\nDESIGN: design\nOTHER: other', enum_type=ListingKind, max_length=24)),
                ('patent_numbers', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('ipc_codes', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('trl', fields.SmallIntField(null=True)),
                ('keywords', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('inventors', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('license_types', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('territories', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('fields_of_use', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('price_model', fields.CharField(default='offers', max_length=16)),
                ('asking_amount', fields.BigIntField(null=True)),
                ('asking_currency', fields.CharField(null=True, max_length=3)),
                ('language', fields.CharField(default='en', max_length=2)),
                ('contact_name', fields.CharField(default='', max_length=120)),
                ('contact_email', fields.CharField(default='', max_length=254)),
                ('state', fields.CharEnumField(default=ListingState.DRAFT, description='DRAFT: draft\nSUBMITTED: submitted\nPUBLISHED: published\nREJECTED: rejected\nWITHDRAWN: withdrawn\nLICENSED: licensed', enum_type=ListingState, max_length=16)),
                ('rejection_reason', fields.TextField(default='', unique=False)),
                ('source_ref', fields.CharField(null=True, max_length=120)),
                ('version', fields.IntField(default=1)),
                ('view_count', fields.IntField(default=0)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
                ('published_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'listing', 'app': 'models', 'unique_together': (('institute', 'source_ref'),), 'indexes': [Index(fields=['state', 'published_at']), Index(fields=['institute_id', 'state'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ListingImport',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('institute', fields.ForeignKeyField('models.Organization', source_field='institute_id', db_constraint=True, to_field='id', related_name='imports', on_delete=OnDelete.CASCADE)),
                ('created_by', fields.ForeignKeyField('models.User', source_field='created_by_id', null=True, db_constraint=True, to_field='id', related_name='imports', on_delete=OnDelete.SET_NULL)),
                ('filename', fields.CharField(max_length=255)),
                ('stored_name', fields.CharField(max_length=64)),
                ('options', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('state', fields.CharEnumField(default=ImportState.QUEUED, description='QUEUED: queued\nRUNNING: running\nDONE: done\nFAILED: failed', enum_type=ImportState, max_length=16)),
                ('total', fields.IntField(default=0)),
                ('processed', fields.IntField(default=0)),
                ('created', fields.IntField(default=0)),
                ('skipped', fields.IntField(default=0)),
                ('refused', fields.IntField(default=0)),
                ('report', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('error', fields.TextField(default='', unique=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('finished_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'listing_import', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ListingMedia',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('listing', fields.ForeignKeyField('models.Listing', source_field='listing_id', db_constraint=True, to_field='id', related_name='media', on_delete=OnDelete.CASCADE)),
                ('kind', fields.CharEnumField(description='IMAGE: image\nPDF: pdf', enum_type=MediaKind, max_length=8)),
                ('content_type', fields.CharField(max_length=64)),
                ('original_name', fields.CharField(max_length=255)),
                ('stored_name', fields.CharField(unique=True, max_length=64)),
                ('size', fields.IntField()),
                ('sha256', fields.CharField(max_length=64)),
                ('confidential', fields.BooleanField(default=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'listing_media', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ListingRevision',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('listing', fields.ForeignKeyField('models.Listing', source_field='listing_id', db_constraint=True, to_field='id', related_name='revisions', on_delete=OnDelete.CASCADE)),
                ('author', fields.ForeignKeyField('models.User', source_field='author_id', null=True, db_constraint=True, to_field='id', related_name='listing_revisions', on_delete=OnDelete.SET_NULL)),
                ('changes', fields.JSONField(encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('state', fields.CharEnumField(default=RevisionState.PENDING, description='PENDING: pending\nAPPROVED: approved\nREJECTED: rejected', enum_type=RevisionState, max_length=16)),
                ('reason', fields.TextField(default='', unique=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('decided_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'listing_revision', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
    ]
