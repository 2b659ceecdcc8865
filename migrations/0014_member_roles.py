from tortoise import migrations
from tortoise.migrations import operations as ops
from market.accounts.models import MemberRole
from tortoise import fields

async def owners_sign(apps, schema_editor) -> None:
    """Until roles, an organisation's owner signed for it: they keep that right."""
    Membership = apps.get_model("models", "Membership")
    await Membership.filter(role=MemberRole.OWNER).update(may_sign=True)


class Migration(migrations.Migration):
    dependencies = [('models', '0013_listing_views')]

    initial = False

    operations = [
        ops.AlterField(
            model_name='Membership',
            name='role',
            field=fields.CharEnumField(default=MemberRole.MEMBER, description='OWNER: owner\nADMIN: admin\nMEMBER: member', enum_type=MemberRole, max_length=16),
        ),
        ops.AddField(
            model_name='Membership',
            name='may_sign',
            field=fields.BooleanField(default=False),
        ),
        ops.RunPython(owners_sign, ops.RunPython.noop),
    ]
