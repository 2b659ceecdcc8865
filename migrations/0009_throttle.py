from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0008_outbox_delivery')]

    initial = False

    operations = [
        ops.CreateModel(
            name='ThrottleCount',
            fields=[
                ('key', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=200)),
                ('hits', fields.IntField()),
                ('resets_at', fields.BigIntField(db_index=True)),
            ],
            options={'table': 'throttle', 'app': 'models', 'pk_attr': 'key', 'table_description': "One bucket's hits in its current window (a fixed window, ended by resets_at)."},
            bases=['Model'],
        ),
        ops.DeleteModel(name='LoginFailure'),
    ]
