from tortoise import migrations
from tortoise.migrations import operations as ops
from docking.models import NeedState, Visibility
from orjson import loads
from tortoise.fields.base import OnDelete
from tortoise.fields.data import JSON_DUMPS
from uuid import uuid4
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0016_onboarding')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Need',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('seeker', fields.ForeignKeyField('models.Organization', source_field='seeker_id', db_constraint=True, to_field='id', related_name='needs', on_delete=OnDelete.RESTRICT)),
                ('created_by', fields.ForeignKeyField('models.User', source_field='created_by_id', null=True, db_constraint=True, to_field='id', related_name='needs', on_delete=OnDelete.SET_NULL)),
                ('title', fields.CharField(max_length=200)),
                ('problem', fields.TextField(unique=False)),
                ('background', fields.TextField(default='', unique=False)),
                ('must_have', fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
                ('nice_to_have', fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
                ('out_of_scope', fields.TextField(default='', unique=False)),
                ('trl_min', fields.SmallIntField()),
                ('trl_max', fields.SmallIntField()),
                ('ipc_codes', fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
                ('keywords', fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
                ('budget_min', fields.BigIntField(null=True)),
                ('budget_max', fields.BigIntField(null=True)),
                ('budget_currency', fields.CharField(null=True, max_length=3)),
                ('cooperation', fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
                ('territories', fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
                ('deadline', fields.DateField()),
                ('feedback_by', fields.DateField(null=True)),
                ('visibility', fields.CharEnumField(default=Visibility.PUBLIC, description='PUBLIC: public\nANONYMOUS: anonymous\nAFTER_CONFIDENTIALITY: after_confidentiality', enum_type=Visibility, max_length=24)),
                ('language', fields.CharField(default='en', max_length=2)),
                ('state', fields.CharEnumField(default=NeedState.DRAFT, description='DRAFT: draft\nSUBMITTED: submitted\nPUBLISHED: published\nREJECTED: rejected\nCLOSED: closed\nAWARDED: awarded\nWITHDRAWN: withdrawn', enum_type=NeedState, max_length=16)),
                ('rejection_reason', fields.TextField(default='', unique=False)),
                ('closed_reason', fields.TextField(default='', unique=False)),
                ('version', fields.IntField(default=1)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
                ('published_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('closed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'need', 'app': 'models', 'indexes': [Index(fields=['state', 'published_at']), Index(fields=['seeker_id', 'state']), Index(fields=['state', 'deadline'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
    ]
