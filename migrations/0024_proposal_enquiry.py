from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0023_clause_acceptance')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Proposal',
            name='enquiry',
            field=fields.ForeignKeyField('models.Enquiry', source_field='enquiry_id', null=True, db_constraint=True, to_field='id', related_name='proposals', on_delete=OnDelete.SET_NULL),
        ),
    ]
