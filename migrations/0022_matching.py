from tortoise import migrations
from tortoise.migrations import operations as ops
from orjson import loads
from tortoise.fields.base import OnDelete
from tortoise.fields.data import JSON_DUMPS
from uuid import uuid4
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0021_alerts')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Match',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('need', fields.ForeignKeyField('models.Need', source_field='need_id', db_constraint=True, to_field='id', related_name='matches', on_delete=OnDelete.CASCADE)),
                ('listing', fields.ForeignKeyField('models.Listing', source_field='listing_id', db_constraint=True, to_field='id', related_name='need_matches', on_delete=OnDelete.CASCADE)),
                ('score', fields.SmallIntField()),
                ('reasons', fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
                ('dismissed_by_seeker', fields.BooleanField(default=False)),
                ('dismissed_by_institute', fields.BooleanField(default=False)),
                ('notified_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'need_match', 'app': 'models', 'unique_together': (('need', 'listing'),), 'indexes': [Index(fields=['need_id', 'score']), Index(fields=['listing_id', 'score'])], 'pk_attr': 'id', 'table_description': 'A listing that fits a need, found by the worker (docking/matching.py) when either was'},
            bases=['Model'],
        ),
    ]
