from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0010_contract_snapshot')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Receipt',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('payment', fields.ForeignKeyField('models.Payment', source_field='payment_id', db_constraint=True, to_field='id', related_name='receipts', on_delete=OnDelete.RESTRICT)),
                ('refunds', fields.IntField()),
                ('sha256', fields.CharField(max_length=64)),
                ('pdf', fields.BinaryField()),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'payment_receipt', 'app': 'models', 'unique_together': (('payment', 'refunds'),), 'pk_attr': 'id', 'table_description': "A payment's receipt as first rendered, served as stored from then on: the PDF bytes and"},
            bases=['Model'],
        ),
    ]
