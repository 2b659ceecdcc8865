from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from uuid import uuid4
from tortoise import fields


async def trust_earlier_addresses(apps, schema_editor) -> None:
    """Accounts made before addresses were confirmed keep acting: their address counts as
    confirmed when the account was made."""
    User = apps.get_model("models", "User")
    for user in await User.filter(email_verified_at=None):
        await User.filter(id=user.id).update(email_verified_at=user.created_at)


class Migration(migrations.Migration):
    dependencies = [("models", "0015_accounts_wave2")]

    initial = False

    operations = [
        ops.CreateModel(
            name="EmailVerification",
            fields=[
                (
                    "id",
                    fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True),
                ),
                (
                    "user",
                    fields.ForeignKeyField(
                        "models.User",
                        source_field="user_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="email_verifications",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("token_hash", fields.CharField(default="", db_index=True, max_length=64)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ("expires_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("used_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={"table": "email_verification", "app": "models", "pk_attr": "id"},
            bases=["Model"],
        ),
        ops.CreateModel(
            name="VerificationDocument",
            fields=[
                (
                    "id",
                    fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True),
                ),
                (
                    "organization",
                    fields.ForeignKeyField(
                        "models.Organization",
                        source_field="organization_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="verification_documents",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "uploaded_by",
                    fields.ForeignKeyField(
                        "models.User",
                        source_field="uploaded_by_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="verification_documents",
                        on_delete=OnDelete.SET_NULL,
                    ),
                ),
                ("content_type", fields.CharField(max_length=64)),
                ("original_name", fields.CharField(max_length=255)),
                ("stored_name", fields.CharField(unique=True, max_length=64)),
                ("size", fields.IntField()),
                ("sha256", fields.CharField(max_length=64)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={"table": "verification_document", "app": "models", "pk_attr": "id"},
            bases=["Model"],
        ),
        ops.AddField(
            model_name="Organization",
            name="logo_name",
            field=fields.CharField(default="", max_length=64),
        ),
        ops.AddField(
            model_name="Organization",
            name="logo_type",
            field=fields.CharField(default="", max_length=64),
        ),
        ops.AddField(
            model_name="Organization",
            name="registration_number",
            field=fields.CharField(default="", max_length=64),
        ),
        ops.AddField(
            model_name="User",
            name="email_verified_at",
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.RunPython(trust_earlier_addresses, ops.RunPython.noop),
    ]
