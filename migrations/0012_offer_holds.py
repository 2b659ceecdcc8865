from tortoise import migrations
from tortoise.migrations import operations as ops
from contracts.offers.models import OfferState
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0011_payment_receipt')]

    initial = False

    operations = [
        ops.AlterField(
            model_name='Offer',
            name='state',
            field=fields.CharEnumField(default=OfferState.OPEN, description='OPEN: open\nCOUNTERED: countered\nACCEPTED: accepted\nREJECTED: rejected\nWITHDRAWN: withdrawn\nEXPIRED: expired\nDECLINED: declined\nON_HOLD: on_hold', enum_type=OfferState, max_length=16),
        ),
        ops.AddField(
            model_name='Offer',
            name='held_by',
            field=fields.ForeignKeyField('models.Offer', source_field='held_by_id', null=True, db_constraint=True, to_field='id', related_name='holding', on_delete=OnDelete.SET_NULL),
        ),
        ops.AddField(
            model_name='Offer',
            name='held_from',
            field=fields.CharField(default='', max_length=16),
        ),
    ]
