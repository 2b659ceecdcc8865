from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from uuid import uuid4
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0022_matching')]

    initial = False

    operations = [
        ops.CreateModel(
            name='ClauseAcceptance',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('need', fields.ForeignKeyField('models.Need', source_field='need_id', db_constraint=True, to_field='id', related_name='clause_acceptances', on_delete=OnDelete.CASCADE)),
                ('organization', fields.ForeignKeyField('models.Organization', source_field='organization_id', db_constraint=True, to_field='id', related_name='clause_acceptances', on_delete=OnDelete.RESTRICT)),
                ('accepted_by', fields.ForeignKeyField('models.User', source_field='accepted_by_id', null=True, db_constraint=True, to_field='id', related_name='clause_acceptances', on_delete=OnDelete.SET_NULL)),
                ('accepted_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'need_clause_acceptance', 'app': 'models', 'unique_together': (('need', 'organization'),), 'pk_attr': 'id', 'table_description': "An organisation's acceptance of a need's confidentiality clause: from then on its"},
            bases=['Model'],
        ),
    ]
