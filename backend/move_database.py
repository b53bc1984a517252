"""`python -m backend.move_database TARGET_URL`: copy the whole store from DATABASE_URL (say, the SQLite
file) into an empty database at TARGET_URL (say, PostgreSQL); then point DATABASE_URL at the target.

Stop the API, the bot and the workers first: what they wrote after the copy began would not be in it. The
copy is one snapshot of the source, every table with its ids, and it is checked (row counts per table)
before the command says it is done. The target is migrated first and must hold no data.
"""

import argparse
import asyncio
import logging
import sys
from dataclasses import dataclass

from sqlalchemy import Integer, func, insert, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared import database
from shared.config import get_settings
from shared.models import Base
from shared.setup_checks import SetupError, check_database

logger = logging.getLogger(__name__)

ROWS_PER_BATCH = 2000


class TargetNotEmpty(Exception):
    """The target database already holds data: nothing was copied."""


@dataclass(frozen=True)
class CopyReport:
    rows: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.rows.values())


async def _count(connection: AsyncConnection, table_name: str) -> int:
    table = Base.metadata.tables[table_name]
    return int(await connection.scalar(select(func.count()).select_from(table)) or 0)


async def _refuse_data(connection: AsyncConnection) -> None:
    filled = [table.name for table in Base.metadata.sorted_tables if await _count(connection, table.name)]
    if filled:
        raise TargetNotEmpty(f"The target database already has data (in {', '.join(filled)}); nothing copied")


async def _advance_sequences(connection: AsyncConnection) -> None:
    """PostgreSQL hands out ids from sequences, which a copy with explicit ids leaves at 1."""
    for table in Base.metadata.sorted_tables:
        for column in table.primary_key.columns:
            if isinstance(column.type, Integer) and column.autoincrement in (True, "auto"):
                sequence = await connection.scalar(
                    text("SELECT pg_get_serial_sequence(:table, :column)"),
                    {"table": table.name, "column": column.name},
                )
                if sequence:
                    # Names from our own models, not from input.
                    highest = f"SELECT max({column.name}) FROM {table.name}"  # noqa: S608
                    await connection.execute(
                        text(f"SELECT setval(:sequence, COALESCE(({highest}), 0) + 1, false)"),
                        {"sequence": sequence},
                    )


async def copy_database(source: AsyncEngine, target: AsyncEngine) -> CopyReport:
    """Copy every row of `source` into the empty `target` (both migrated to the latest schema)."""
    rows: dict[str, int] = {}
    async with source.begin() as reader, target.begin() as writer:
        await _refuse_data(writer)
        for table in Base.metadata.sorted_tables:
            copied = 0
            order = list(table.primary_key.columns)
            result = await reader.stream(select(table).order_by(*order))
            async for batch in result.partitions(ROWS_PER_BATCH):
                await writer.execute(insert(table), [dict(row._mapping) for row in batch])
                copied += len(batch)
            rows[table.name] = copied
            logger.info("Copied %s: %s rows", table.name, copied)
        if writer.dialect.name == "postgresql":
            await _advance_sequences(writer)
        for table_name, copied in rows.items():
            found = await _count(writer, table_name)
            if found != copied:
                raise RuntimeError(f"{table_name}: {copied} rows copied but {found} found; nothing kept")
    return CopyReport(rows)


async def move(source_url: str, target_url: str) -> CopyReport:
    if database.create_engine(source_url).url == database.create_engine(target_url).url:
        raise SetupError("The source and the target are the same database")
    await check_database(source_url)
    await check_database(target_url)
    source, target = database.create_engine(source_url), database.create_engine(target_url)
    try:
        # Both at the latest schema: the copy is column for column.
        await database.migrate(source)
        await database.migrate(target)
        return await copy_database(source, target)
    finally:
        await source.dispose()
        await target.dispose()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m backend.move_database", description=__doc__.splitlines()[0]
    )
    parser.add_argument("target", help="the empty database to copy into, e.g. postgresql://user:pass@host/db")
    target_url = parser.parse_args(argv).target
    settings = get_settings()
    logging.basicConfig(level=settings.LOG_LEVEL, format="%(levelname)s %(name)s: %(message)s")
    try:
        report = asyncio.run(move(settings.DATABASE_URL, target_url))
    except (SetupError, TargetNotEmpty, RuntimeError) as error:
        print(error, file=sys.stderr)
        return 1
    except ValueError as error:  # a URL of no supported database
        print(f"TARGET_URL: {error}", file=sys.stderr)
        return 2
    shown = make_url(target_url).render_as_string(hide_password=True)
    print(f"Copied {report.total} rows in {len(report.rows)} tables. Now set DATABASE_URL to {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
