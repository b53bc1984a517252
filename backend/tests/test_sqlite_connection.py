"""shared.sqlite_connection: statements on the event loop unless they must wait, writers queued in order.

These talk to the driver connection directly (no SQLAlchemy), on files of their own, so they run on any
TEST_DATABASE_URL.
"""

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from shared import sqlite_connection


@pytest.fixture
def database_file(tmp_path: Path) -> str:
    path = str(tmp_path / "x.db")
    setup = sqlite3.connect(path, isolation_level=None)
    setup.execute("PRAGMA journal_mode=WAL")
    setup.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT)")
    setup.close()
    return path


async def connect(path: str, trips: list[str] | None = None) -> sqlite_connection.Connection:
    connection = await sqlite_connection.connect(path, isolation_level=None, timeout=5)
    if trips is not None:
        real_execute = connection._execute

        async def counting(fn: Any, *args: Any, **kwargs: Any) -> Any:
            trips.append(args[1] if len(args) > 1 else getattr(fn, "__name__", repr(fn)))
            return await real_execute(fn, *args, **kwargs)

        connection._execute = counting  # type: ignore[method-assign]
    return connection


@pytest.fixture
async def connections(database_file: str) -> AsyncIterator[list[sqlite_connection.Connection]]:
    opened: list[sqlite_connection.Connection] = []
    yield opened
    for connection in opened:
        await connection.close()


async def test_statements_run_on_the_loop_without_a_thread_trip(database_file, connections):
    trips: list[str] = []
    connection = await connect(database_file, trips)
    connections.append(connection)
    cursor = await connection.cursor()
    await connection.commit()  # nothing to commit
    await connection.rollback()
    await cursor.execute("BEGIN IMMEDIATE")
    assert connection.holds_write_lock
    await cursor.executemany("INSERT INTO t (name) VALUES (?)", [("a",), ("b",), ("c",)])
    assert cursor.rowcount == 3
    await connection.commit()
    assert not connection.holds_write_lock
    async with connection.cursor() as rows:
        await rows.execute("SELECT id, name FROM t WHERE id > ? ORDER BY id", (1,))
        assert [d[0] for d in rows.description] == ["id", "name"]
        assert await rows.fetchone() == (2, "b")
        assert await rows.fetchmany(5) == [(3, "c")]
        assert await rows.fetchall() == []
    # A write outside a transaction (autocommit) takes and gives back the writers' place too.
    await cursor.execute("INSERT INTO t (name) VALUES ('d')")
    assert (cursor.lastrowid, cursor.rowcount) == (4, 1)
    assert not connection.holds_write_lock
    with pytest.raises(sqlite3.OperationalError, match="no such column"):
        await cursor.execute("SELECT nope FROM t")
    assert trips == []


async def test_writer_of_another_process_is_waited_for_on_the_thread(database_file, connections):
    trips: list[str] = []
    connection = await connect(database_file, trips)
    connections.append(connection)
    # A writer we do not share a queue with, as in another process.
    other = sqlite3.connect(database_file, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO t (name) VALUES ('other')")
    loop = asyncio.get_running_loop()
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    ticking = asyncio.create_task(ticker())
    loop.call_later(0.3, other.commit)
    cursor = await connection.cursor()
    await cursor.execute("BEGIN IMMEDIATE")
    ticking.cancel()
    await cursor.execute("INSERT INTO t (name) VALUES ('mine')")
    await connection.commit()
    other.close()
    # It waited on its thread, and the event loop went on meanwhile.
    assert trips == ["BEGIN IMMEDIATE"]
    assert ticks >= 10
    await cursor.execute("SELECT name FROM t ORDER BY id")
    assert await cursor.fetchall() == [("other",), ("mine",)]
    # The busy timeout (here shortened) still bounds the wait.
    other = sqlite3.connect(database_file, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    await cursor.execute("PRAGMA busy_timeout=50")
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        await cursor.execute("BEGIN IMMEDIATE")
    assert not connection.holds_write_lock
    other.rollback()
    other.close()
    await cursor.execute("BEGIN IMMEDIATE")
    await connection.rollback()
    assert not connection.holds_write_lock


async def test_writers_of_one_process_take_turns_in_arrival_order(database_file, connections):
    for _ in range(4):
        connections.append(await connect(database_file))
    first, *waiting = connections
    await (await first.cursor()).execute("BEGIN IMMEDIATE")
    order: list[int] = []

    async def write(number: int, connection: sqlite_connection.Connection) -> None:
        cursor = await connection.cursor()
        await cursor.execute("BEGIN IMMEDIATE")
        order.append(number)
        await cursor.execute("INSERT INTO t (name) VALUES (?)", (f"w{number}",))
        await asyncio.sleep(0.01)  # other writers must keep waiting while this one holds the lock
        await connection.commit()

    tasks = []
    for number, connection in enumerate(waiting):
        tasks.append(asyncio.create_task(write(number, connection)))
        await asyncio.sleep(0.01)
    assert order == []
    assert not any(c.holds_write_lock for c in waiting)
    await first.rollback()
    await asyncio.gather(*tasks)
    assert order == [0, 1, 2]
    cursor = await first.cursor()
    await cursor.execute("SELECT name FROM t ORDER BY id")
    assert await cursor.fetchall() == [("w0",), ("w1",), ("w2",)]


async def test_waiting_in_the_queue_is_bounded_by_the_busy_timeout(database_file, connections):
    holder, waiter = await connect(database_file), await connect(database_file)
    connections += [holder, waiter]
    await (await holder.cursor()).execute("BEGIN IMMEDIATE")
    cursor = await waiter.cursor()
    await cursor.execute("PRAGMA busy_timeout=50")
    with pytest.raises(sqlite3.OperationalError, match="database is locked"):
        await cursor.execute("INSERT INTO t (name) VALUES ('late')")
    # A connection closed inside its transaction gives the writers' place back.
    await holder.close()
    connections.remove(holder)
    await cursor.execute("INSERT INTO t (name) VALUES ('in time')")
    await cursor.execute("SELECT name FROM t")
    assert await cursor.fetchall() == [("in time",)]


async def test_commits_checkpoint_the_wal_on_a_thread_not_inside_a_commit(
    database_file, connections, monkeypatch
):
    monkeypatch.setattr(sqlite_connection.Checkpointer, "COMMITS_PER_CHECKPOINT", 3)
    checkpointer = sqlite_connection.checkpointer(database_file)
    monkeypatch.setattr(checkpointer, "commits", 0)
    connection = await connect(database_file)
    connections.append(connection)
    cursor = await connection.cursor()
    await cursor.execute("PRAGMA wal_autocheckpoint=0")  # as shared.database sets every connection up

    async def write(name: str) -> None:
        await cursor.execute("BEGIN IMMEDIATE")
        await cursor.execute("INSERT INTO t (name) VALUES (?)", (name,))
        await connection.commit()

    def rows_in_database_file() -> list[tuple[str]]:
        # The database file alone, without its WAL: what checkpoints have copied into it.
        copy = Path(database_file).with_name("copy.db")
        copy.write_bytes(Path(database_file).read_bytes())
        reader = sqlite3.connect(copy)
        try:
            return reader.execute("SELECT name FROM t ORDER BY id").fetchall()
        finally:
            reader.close()

    await write("a")
    await write("b")
    assert rows_in_database_file() == []  # still only in the WAL: no commit checkpointed by itself
    await write("c")  # the third commit starts a checkpoint in the background
    running = checkpointer._running
    assert running is not None
    await running
    assert rows_in_database_file() == [("a",), ("b",), ("c",)]
