from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields


async def unlogged(apps, schema_editor) -> None:
    """Views waiting to be counted need no WAL (no fsync per page view); a crash may lose
    them, which is acceptable for a view count. SQLite has no such thing."""
    if schema_editor.client.capabilities.dialect == "postgres":
        await schema_editor.client.execute_script("ALTER TABLE listing_view SET UNLOGGED")


class Migration(migrations.Migration):
    dependencies = [('models', '0012_offer_holds')]

    initial = False

    operations = [
        ops.CreateModel(
            name='ListingView',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('listing_id', fields.UUIDField()),
            ],
            options={'table': 'listing_view', 'app': 'models', 'pk_attr': 'id', 'table_description': "One counted visit of a listing's page, waiting to be added to its `view_count`."},
            bases=['Model'],
        ),
        ops.RunPython(unlogged, ops.RunPython.noop),
    ]
