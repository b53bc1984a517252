"""Alembic environment: used by `alembic ...` on the command line and by the app's automatic migration."""

import asyncio
from logging.config import fileConfig

from sqlalchemy.engine import Connection

from alembic import context
from shared.models import Base, UTCDateTime

config = context.config
target_metadata = Base.metadata

# Serialises concurrent migrators (several workers starting at once) on PostgreSQL.
MIGRATION_LOCK_ID = 7_345_001


def render_item(type_: str, obj: object, _autogen_context: object) -> str | bool:
    # Migrations stay independent of model code: our UTCDateTime is a plain timezone-aware DateTime.
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def run_with_connection(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things in place; batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        render_item=render_item,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_ID})")
        context.run_migrations()


async def run_from_settings() -> None:
    from shared.config import get_settings
    from shared.database import create_engine, run_migrations

    engine = create_engine(get_settings().DATABASE_URL)
    async with engine.connect() as connection:
        await run_migrations(connection, run_with_connection)
    await engine.dispose()


def run_offline() -> None:
    from shared.config import get_settings

    context.configure(
        url=get_settings().async_database_url,
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    run_with_connection(connection)
else:
    if config.config_file_name is not None:
        fileConfig(config.config_file_name)
    if context.is_offline_mode():
        run_offline()
    else:
        asyncio.run(run_from_settings())
