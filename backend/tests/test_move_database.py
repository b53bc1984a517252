"""Moving a store to another database (backend/move_database.py) and backing SQLite up (backend/backup.py):
every row arrives, ids and all, and the new database goes on from there."""

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from backend import backup as backup_command
from backend import move_database
from backend.tests.factories import create_course, create_lesson, create_purchase, create_ticket, create_user
from shared import database
from shared.constants import PurchaseStatus
from shared.models import Base, Purchase

PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
# The test runs in every suite (its source is an SQLite file): a name of this run's own, so that suites run
# at the same time on one server (.ci/run) never drop each other's target.
PG_TARGET_NAME = f"lesson_store_move_test_{os.getpid()}"
PG_TARGET_URL = f"postgresql://postgres@127.0.0.1:5432/{PG_TARGET_NAME}"


async def _fill(engine: AsyncEngine) -> None:
    """A small store: students, lessons, a course, purchases of every kind, a ticket."""
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    async with sessions() as session:
        lessons = [await create_lesson(session, price=10 * i) for i in range(1, 4)]
        course = await create_course(session, lessons=lessons[:2], total_price=25)
        students = [await create_user(session, language_code="ru" if i % 2 else "en") for i in range(5)]
        for i, student in enumerate(students):
            await create_purchase(session, student, lessons[i % 3], amount=10 * (i + 1))
            await create_purchase(session, student, course, status=PurchaseStatus.REFUNDED, amount=25)
        await create_ticket(session, students[0])


async def _rows(engine: AsyncEngine) -> dict[str, list[tuple[object, ...]]]:
    async with engine.connect() as connection:
        return {
            table.name: [
                tuple(row)
                for row in await connection.execute(select(table).order_by(*table.primary_key.columns))
            ]
            for table in Base.metadata.sorted_tables
        }


@pytest.fixture
async def source(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = database.create_engine(f"sqlite:///{tmp_path / 'store.db'}")
    await database.migrate(engine)
    await _fill(engine)
    yield engine
    await engine.dispose()


async def _drop_target() -> None:
    try:
        admin = await asyncpg.connect(PG_ADMIN_URL, timeout=5)
    except (OSError, asyncpg.PostgresError) as error:
        pytest.skip(f"PostgreSQL is not reachable at {PG_ADMIN_URL}: {error}")
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{PG_TARGET_NAME}" WITH (FORCE)')
    finally:
        await admin.close()


async def test_move_sqlite_store_to_postgres_keeps_every_row(source: AsyncEngine) -> None:
    await _drop_target()
    report = await move_database.move(source.url.render_as_string(hide_password=False), PG_TARGET_URL)
    target = database.create_engine(PG_TARGET_URL)
    try:
        expected = await _rows(source)
        assert await _rows(target) == expected
        assert report.rows == {name: len(rows) for name, rows in expected.items()}
        assert report.rows["purchases"] == 10
        # Ids go on after the copied ones.
        async with async_sessionmaker(target, expire_on_commit=False)() as session:
            student = await create_user(session)
        assert student.id == max(row[0] for row in expected["users"]) + 1
    finally:
        await target.dispose()
        await _drop_target()


async def test_move_refuses_target_with_data(source: AsyncEngine, tmp_path: Path) -> None:
    source_url = source.url.render_as_string(hide_password=False)
    target_url = f"sqlite:///{tmp_path / 'target.db'}"
    await move_database.move(source_url, target_url)
    with pytest.raises(move_database.TargetNotEmpty, match="already has data"):
        await move_database.move(source_url, target_url)


def test_move_command_prints_no_password(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "backend.move_database", f"sqlite:///{tmp_path / 'target.db'}"],
        env={**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'empty.db'}"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Now set DATABASE_URL to sqlite:///" in result.stdout


async def test_backup_while_writing_then_restore_finds_every_purchase(
    source: AsyncEngine, tmp_path: Path
) -> None:
    sessions = async_sessionmaker(source, expire_on_commit=False)
    stop = asyncio.Event()

    async def keep_buying() -> None:
        async with sessions() as session:
            student, lesson = await create_user(session), await create_lesson(session)
            while not stop.is_set():
                await create_purchase(session, student, lesson, status=PurchaseStatus.PENDING)

    writer = asyncio.create_task(keep_buying())
    await asyncio.sleep(0.2)
    async with source.connect() as connection:
        before = set(await connection.scalars(select(Purchase.id)))
    copy = tmp_path / "backups" / "store.db"
    path = backup_command.sqlite_path(source.url.render_as_string(hide_password=False))
    assert path is not None
    await asyncio.to_thread(backup_command.backup, path, copy)
    stop.set()
    await writer
    restored = database.create_engine(f"sqlite:///{copy}")
    try:
        async with restored.connect() as connection:
            found = set(await connection.scalars(select(Purchase.id)))
    finally:
        await restored.dispose()
    # A snapshot taken after these purchases were committed, while more were being written.
    assert before <= found
    assert len(before) >= 10
    assert not copy.with_name("store.db.partial").exists()


def _backup_command(database_url: str, target: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "backend.backup", str(target)],
        env={**os.environ, "DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_backup_command(source: AsyncEngine, tmp_path: Path) -> None:
    url = source.url.render_as_string(hide_password=False)
    target = tmp_path / "copy.db"
    done = await asyncio.to_thread(_backup_command, url, target)
    assert done.returncode == 0, done.stderr
    assert f"to {target}" in done.stdout
    again = await asyncio.to_thread(_backup_command, url, target)
    assert again.returncode == 1
    assert "exists: choose a new file" in again.stderr
    postgres = await asyncio.to_thread(
        _backup_command, "postgresql://postgres@127.0.0.1:5432/x", tmp_path / "pg.db"
    )
    assert postgres.returncode == 2
    assert "pg_dump" in postgres.stderr
