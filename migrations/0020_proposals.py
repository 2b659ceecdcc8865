from tortoise import migrations
from tortoise.migrations import operations as ops
from docking.models import ProposalStage
from orjson import loads
from tortoise.fields.base import OnDelete
from tortoise.fields.data import JSON_DUMPS
from uuid import uuid4
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0019_enquiries')]

    initial = False

    operations = [
        ops.CreateModel(
            name='NeedQuestion',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('need', fields.ForeignKeyField('models.Need', source_field='need_id', db_constraint=True, to_field='id', related_name='questions', on_delete=OnDelete.CASCADE)),
                ('asked_by', fields.ForeignKeyField('models.User', source_field='asked_by_id', null=True, db_constraint=True, to_field='id', related_name='need_questions', on_delete=OnDelete.SET_NULL)),
                ('body', fields.TextField(unique=False)),
                ('answer', fields.TextField(default='', unique=False)),
                ('answered_by', fields.ForeignKeyField('models.User', source_field='answered_by_id', null=True, db_constraint=True, to_field='id', related_name='need_answers', on_delete=OnDelete.SET_NULL)),
                ('answered_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'need_question', 'app': 'models', 'indexes': [Index(fields=['need_id', 'answered_at'])], 'pk_attr': 'id', 'table_description': 'A public question on a published need. Once the seeker answers it, everyone sees both'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Proposal',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('need', fields.ForeignKeyField('models.Need', source_field='need_id', db_constraint=True, to_field='id', related_name='proposals', on_delete=OnDelete.CASCADE)),
                ('proposer', fields.ForeignKeyField('models.Organization', source_field='proposer_id', db_constraint=True, to_field='id', related_name='proposals', on_delete=OnDelete.RESTRICT)),
                ('created_by', fields.ForeignKeyField('models.User', source_field='created_by_id', null=True, db_constraint=True, to_field='id', related_name='proposals', on_delete=OnDelete.SET_NULL)),
                ('summary', fields.TextField(unique=False)),
                ('requirements', fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
                ('trl', fields.SmallIntField()),
                ('listing_ids', fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
                ('stage', fields.CharEnumField(default=ProposalStage.NEW, description='NEW: new\nSHORTLISTED: shortlisted\nFINALIST: finalist\nDECLINED: declined\nWITHDRAWN: withdrawn\nCONVERTED: converted', enum_type=ProposalStage, max_length=16)),
                ('decline_reason', fields.CharField(default='', max_length=32)),
                ('decline_note', fields.TextField(default='', unique=False)),
                ('offer_id', fields.UUIDField(null=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'proposal', 'app': 'models', 'unique_together': (('need', 'proposer'),), 'indexes': [Index(fields=['proposer_id', 'updated_at']), Index(fields=['need_id', 'stage'])], 'pk_attr': 'id', 'table_description': 'The answer of a verified institute to a published need: one per organisation and need.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ProposalMessage',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('proposal', fields.ForeignKeyField('models.Proposal', source_field='proposal_id', db_constraint=True, to_field='id', related_name='messages', on_delete=OnDelete.CASCADE)),
                ('side', fields.CharField(max_length=8)),
                ('author', fields.ForeignKeyField('models.User', source_field='author_id', null=True, db_constraint=True, to_field='id', related_name='proposal_messages', on_delete=OnDelete.SET_NULL)),
                ('body', fields.TextField(unique=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'proposal_message', 'app': 'models', 'pk_attr': 'id', 'table_description': 'The question thread of one proposal, between the seeker and the proposer.'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Offer',
            name='proposal',
            field=fields.ForeignKeyField('models.Proposal', source_field='proposal_id', null=True, db_constraint=True, to_field='id', related_name='offers', on_delete=OnDelete.SET_NULL),
        ),
    ]
