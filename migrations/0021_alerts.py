from tortoise import migrations
from tortoise.migrations import operations as ops
from alerts.models import Frequency, SearchKind
from tortoise.fields.base import OnDelete
from uuid import uuid4
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0020_proposals')]

    initial = False

    operations = [
        ops.CreateModel(
            name='SavedSearch',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name='saved_searches', on_delete=OnDelete.CASCADE)),
                ('name', fields.CharField(max_length=120)),
                ('kind', fields.CharEnumField(default=SearchKind.LISTINGS, description='LISTINGS: listings\nNEEDS: needs', enum_type=SearchKind, max_length=16)),
                ('query', fields.CharField(max_length=2000)),
                ('frequency', fields.CharEnumField(default=Frequency.DAILY, description='DAILY: daily\nWEEKLY: weekly', enum_type=Frequency, max_length=8)),
                ('active', fields.BooleanField(default=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('last_digest_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('next_digest_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('digests_sent', fields.IntField(default=0)),
            ],
            options={'table': 'saved_search', 'app': 'models', 'indexes': [Index(fields=['active', 'next_digest_at']), Index(fields=['user_id', 'created_at'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='AlertSent',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('saved_search', fields.ForeignKeyField('models.SavedSearch', source_field='saved_search_id', db_constraint=True, to_field='id', related_name='sent', on_delete=OnDelete.CASCADE)),
                ('item_id', fields.UUIDField()),
                ('sent_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'alert_sent', 'app': 'models', 'unique_together': (('saved_search', 'item_id'),), 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Notification',
            name='unsubscribe',
            field=fields.CharField(default='', max_length=500),
        ),
    ]
