import re
import unicodedata
from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from uuid import uuid4
from tortoise import fields

def slug_for(name, org_id) -> str:
    # As market.accounts.models.slug_for made them when this migration was written.
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    words = re.findall(r"[a-z0-9]+", ascii_name.lower())
    stem = "-".join(words)[:60].strip("-") or "org"
    return f"{stem}-{str(org_id).replace('-', '')[:6]}"


async def give_slugs(apps, schema_editor) -> None:
    """Every organisation registered before profiles gets its address, as new ones do."""
    Organization = apps.get_model("models", "Organization")
    for org in await Organization.filter(slug=None):
        await Organization.filter(id=org.id).update(slug=slug_for(org.name, org.id))


class Migration(migrations.Migration):
    dependencies = [('models', '0014_teams')]

    initial = False

    operations = [
        ops.CreateModel(
            name='PasswordReset',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name='password_resets', on_delete=OnDelete.CASCADE)),
                ('token_hash', fields.CharField(default='', db_index=True, max_length=64)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('used_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'password_reset', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='ApiToken',
            name='expires_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='ApiToken',
            name='scope',
            field=fields.CharField(default='read_write', max_length=16),
        ),
        ops.AddField(
            model_name='Organization',
            name='about',
            field=fields.TextField(default='', unique=False),
        ),
        ops.AddField(
            model_name='Organization',
            name='about_zh',
            field=fields.TextField(default='', unique=False),
        ),
        ops.AddField(
            model_name='Organization',
            name='proposed_country',
            field=fields.CharField(default='', max_length=2),
        ),
        ops.AddField(
            model_name='Organization',
            name='proposed_name',
            field=fields.CharField(default='', max_length=200),
        ),
        ops.AddField(
            model_name='Organization',
            name='slug',
            field=fields.CharField(null=True, unique=True, max_length=80),
        ),
        ops.AddField(
            model_name='Session',
            name='last_seen_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Session',
            name='organization_id',
            field=fields.UUIDField(null=True),
        ),
        ops.RunPython(give_slugs, ops.RunPython.noop),
    ]
