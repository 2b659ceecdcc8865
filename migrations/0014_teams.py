from tortoise import migrations
from tortoise.migrations import operations as ops
from market.accounts.models import MemberRole
from tortoise.fields.base import OnDelete
from uuid import uuid4
from tortoise import fields
from tortoise.indexes import Index

async def owners_sign(apps, schema_editor) -> None:
    """Until roles, an organisation's owner signed for it: they keep that right."""
    Membership = apps.get_model("models", "Membership")
    await Membership.filter(role=MemberRole.OWNER).update(can_sign=True)


class Migration(migrations.Migration):
    dependencies = [('models', '0013_listing_views')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Invitation',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('organization', fields.ForeignKeyField('models.Organization', source_field='organization_id', db_constraint=True, to_field='id', related_name='invitations', on_delete=OnDelete.CASCADE)),
                ('email', fields.CharField(max_length=254)),
                ('role', fields.CharEnumField(default=MemberRole.MEMBER, description='OWNER: owner\nADMIN: admin\nMEMBER: member', enum_type=MemberRole, max_length=16)),
                ('invited_by', fields.ForeignKeyField('models.User', source_field='invited_by_id', null=True, db_constraint=True, to_field='id', related_name='invitations_sent', on_delete=OnDelete.SET_NULL)),
                ('token_hash', fields.CharField(default='', db_index=True, max_length=64)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('sent_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('accepted_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('accepted_by', fields.ForeignKeyField('models.User', source_field='accepted_by_id', null=True, db_constraint=True, to_field='id', related_name='invitations_accepted', on_delete=OnDelete.SET_NULL)),
                ('revoked_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'invitation', 'app': 'models', 'indexes': [Index(fields=['organization_id', 'email'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.AlterField(
            model_name='Membership',
            name='role',
            field=fields.CharEnumField(default=MemberRole.MEMBER, description='OWNER: owner\nADMIN: admin\nMEMBER: member', enum_type=MemberRole, max_length=16),
        ),
        ops.AddField(
            model_name='Membership',
            name='can_sign',
            field=fields.BooleanField(default=False),
        ),
        ops.RunPython(owners_sign, ops.RunPython.noop),
    ]
