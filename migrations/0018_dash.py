from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0017_needs')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Notification',
            name='about',
            field=fields.CharField(default='', db_index=True, max_length=80),
        ),
    ]
