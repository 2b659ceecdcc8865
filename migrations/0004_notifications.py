from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0003_offers')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Notification',
            name='emailed_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Notification',
            name='link',
            field=fields.CharField(default='', max_length=500),
        ),
        ops.AddIndex(
            model_name='Notification',
            index=Index(fields=['user_id', 'read_at']),
        ),
        ops.AddIndex(
            model_name='Notification',
            index=Index(fields=['user_id', 'created_at']),
        ),
    ]
