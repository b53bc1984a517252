"""shared/inline_reads.py: selects on the engine's SQLite file, without SQLAlchemy's execution, with the
values the ORM would load."""

import sqlite3
from datetime import timedelta

import pytest
from sqlalchemy import bindparam, select
from sqlalchemy.orm import defer

from backend.tests.conftest import is_postgres
from backend.tests.factories import create_lesson, create_purchase, create_user
from shared import database
from shared.constants import PurchaseStatus
from shared.inline_reads import MAX_COMPILED, InlineReader
from shared.models import Lesson, Purchase
from shared.utils import utcnow


@pytest.fixture
def reader() -> InlineReader:
    found = database.inline_reader()
    if found is None:
        assert is_postgres(), "an SQLite file database has an inline reader"
        pytest.skip("PostgreSQL has no inline reader")
    return found


async def test_rows_hold_what_the_orm_loads(reader, session):
    purchase = await create_purchase(
        session, await create_user(session), await create_lesson(session), status=PurchaseStatus.REFUNDED
    )
    row = reader.first(
        select(*Purchase.__table__.c).where(Purchase.id == bindparam("id")), {"id": purchase.id}
    )
    assert row is not None
    loaded = await session.get(Purchase, purchase.id, populate_existing=True)
    assert row == {column.key: getattr(loaded, column.key) for column in Purchase.__table__.c}
    assert row["status"] is PurchaseStatus.REFUNDED
    assert row["created_at"].utcoffset() == timedelta(0)
    assert row["delivered_at"] is None


async def test_datetimes_read_again_are_the_same(reader, session):
    # Parsed datetimes are remembered by their stored text: each lesson still gets its own.
    times = [utcnow() - timedelta(days=days, microseconds=days) for days in (3, 2, 1)]
    for moment in times:
        await create_lesson(session, created_at=moment)
    statement = select(Lesson.created_at).order_by(Lesson.created_at)
    assert [row["created_at"] for row in reader.all(statement)] == times
    assert [row["created_at"] for row in reader.all(statement)] == times


async def test_parameters_are_converted_by_their_columns_types(reader, session):
    old = await create_lesson(session, is_active=True)
    await create_lesson(session, is_active=False)
    statement = select(Lesson.id, Lesson.is_active).where(
        Lesson.created_at <= bindparam("until"), Lesson.is_active.is_(True)
    )
    assert reader.all(statement, {"until": utcnow()}) == [{"id": old.id, "is_active": True}]
    assert reader.all(statement, {"until": utcnow() - timedelta(days=1)}) == []


async def test_each_read_sees_the_latest_commit(reader, session):
    statement = select(Lesson.title)
    assert reader.all(statement) == []
    await create_lesson(session, title="Committed")
    assert reader.all(statement) == [{"title": "Committed"}]


async def test_statements_with_orm_loader_options_are_refused(reader, session):
    await create_lesson(session)
    with pytest.raises(ValueError, match="plain columns"):
        reader.all(select(Lesson).options(defer(Lesson.text_content)))


async def test_reader_cannot_write(reader, session):
    await create_lesson(session)
    reader.all(select(Lesson.id))  # connected
    connection = reader._connection
    assert connection is not None
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        connection.execute("DELETE FROM lessons")


async def test_reader_does_not_wait_for_a_lock(reader, tmp_path):
    path = tmp_path / "locked.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE lessons (id INTEGER PRIMARY KEY, title TEXT)")
    # Without WAL a writer with an exclusive lock keeps readers out: the reader must fail at once.
    holder.execute("BEGIN EXCLUSIVE")
    locked = InlineReader(lambda: sqlite3.connect(path, check_same_thread=False), reader._dialect)
    try:
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            locked.all(select(Lesson.id))
    finally:
        locked.close()
        holder.rollback()
        holder.close()


async def test_compiled_statements_are_bounded(reader, session):
    await create_lesson(session)
    for n in range(MAX_COMPILED + 5):
        assert reader.all(select(Lesson.id).where(Lesson.price != 1000 + n)) != []
    assert len(reader._compiled) <= MAX_COMPILED


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:", "postgresql://u@localhost/db"])
def test_no_reader_without_an_sqlite_file(url):
    assert database._create_inline_reader(database.create_engine(url)) is None


async def test_reader_never_creates_a_database(tmp_path):
    engine = database.create_engine(f"sqlite:///{tmp_path / 'missing.db'}")
    reader = database._create_inline_reader(engine)
    assert reader is not None
    with pytest.raises(sqlite3.OperationalError):
        reader.all(select(Lesson.id))
    assert not (tmp_path / "missing.db").exists()
    await engine.dispose()
