from tortoise import migrations
from tortoise.migrations import operations as ops
from decimal import Decimal
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0006_payments')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Payment',
            name='fee_percent',
            field=fields.DecimalField(default=Decimal('5'), description='The platform fee in percent, fixed when the payment was created', max_digits=6, decimal_places=3),
        ),
    ]
