from tortoise import Tortoise
from tortoise.migrations.autodetector import MigrationAutodetector

from market.db import tortoise_config


async def test_models_and_committed_migrations_agree(settings) -> None:
    apps_config = tortoise_config(settings)["apps"]
    detector = MigrationAutodetector(Tortoise.apps, apps_config)
    changes = await detector.changes()
    pending = [op for writer in changes for op in writer.operations]
    assert pending == [], f"models changed without a migration: {pending}"


async def test_test_database_was_built_from_the_migrations() -> None:
    conn = Tortoise.get_connection("default")
    rows = await conn.execute_query_dict("SELECT table_name FROM information_schema.tables")
    names = {row["table_name"] for row in rows}
    assert {"user", "organization", "audit_entry", "outbox_event"} <= names
