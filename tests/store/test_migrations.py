"""Migrations: they build exactly the schema the code queries, on both databases, idempotently."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, inspect

from config import Settings
from store.database import Database
from store.schema import metadata


def _differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


async def test_migrated_schema_matches_the_tables_the_code_uses(database_url: str) -> None:
    database = Database(Settings(database_url=database_url).resolved_database_url)
    try:
        await database.migrate()  # a second run finds nothing to do
        async with database.engine.connect() as connection:
            assert await connection.run_sync(_differences) == []
            assert await connection.run_sync(_tables) == {
                "users",
                "refresh_tokens",
                "sessions",
                "messages",
                "director_notes",
                "recordings",
                "alembic_version",
            }
    finally:
        await database.close()


async def test_sqlite_file_is_created_under_the_data_dir(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, data_dir=tmp_path / "data", database_url=None)  # type: ignore[call-arg]
    (tmp_path / "data").mkdir()
    database = Database(settings.resolved_database_url)
    try:
        await database.migrate()
    finally:
        await database.close()
    assert (tmp_path / "data" / "monumento.db").is_file()
