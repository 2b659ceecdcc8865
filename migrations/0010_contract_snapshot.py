from tortoise import migrations
from tortoise.migrations import operations as ops
from orjson import loads
from tortoise.fields.data import JSON_DUMPS
from tortoise import fields

# The listing facts a contract keeps (contracts.agreements.service.LISTING_FACTS when written;
# a migration never imports the code it predates).
LISTING_FACTS = (
    "title",
    "kind",
    "patent_numbers",
    "ipc_codes",
    "inventors",
    "trl",
    "territories",
    "fields_of_use",
)


def _party(org) -> dict:
    return {"name": org.name, "country": org.country, "region": org.region or "", "kind": str(org.kind)}


async def snapshot_drawn_contracts(apps, schema_editor) -> None:
    """Contracts drawn before the snapshot existed take their parties and listing as they are
    now: the best record left (their stored documents kept the names they were drawn with)."""
    Contract = apps.get_model("models", "Contract")
    Organization = apps.get_model("models", "Organization")
    Listing = apps.get_model("models", "Listing")
    for contract in await Contract.all():
        if contract.snapshot:
            continue
        listing = await Listing.get(id=contract.listing_id)
        facts = {name: getattr(listing, name) for name in LISTING_FACTS}
        facts["kind"] = str(listing.kind)
        snapshot = {
            "seller": _party(await Organization.get(id=contract.seller_id)),
            "buyer": _party(await Organization.get(id=contract.buyer_id)),
            "listing": facts,
        }
        await Contract.filter(id=contract.id).update(snapshot=snapshot)


class Migration(migrations.Migration):
    dependencies = [('models', '0009_throttle')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Contract',
            name='snapshot',
            field=fields.JSONField(default=dict, encoder=JSON_DUMPS, decoder=loads),
        ),
        ops.RunPython(snapshot_drawn_contracts, ops.RunPython.noop),
    ]
