"""shared/database.py: units of work, writers marked once, SQLite's writers queued in arrival order, nothing
on the event loop."""

import asyncio
from typing import Any

import pytest
from sqlalchemy import event, func, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from backend.services import lesson_service
from backend.tests.conftest import is_postgres, statements_sent
from shared import database
from shared.models import Lesson
from shared.schemas import LessonCreate


async def lesson_count() -> int:
    async with database.session_scope() as session:
        return await session.scalar(select(func.count()).select_from(Lesson)) or 0


@database.writes
async def add_lesson(session: AsyncSession, title: str) -> Lesson:
    return await lesson_service.create(session, data=LessonCreate(title=title, price=10))


@pytest.fixture
def sqlite_only() -> None:
    if is_postgres():
        pytest.skip("SQLite's writer lock")


async def test_session_scope_commits_when_the_work_succeeds():
    async with database.session_scope() as session:
        await add_lesson(session, "Kept")

    assert await lesson_count() == 1


async def test_session_scope_rolls_back_when_the_work_fails():
    async def work() -> None:
        async with database.session_scope() as session:
            await add_lesson(session, "Lost")
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await work()

    assert await lesson_count() == 0


async def test_services_write_but_do_not_commit():
    async with database.session_scope() as session:
        await add_lesson(session, "Pending")
        # Flushed inside this unit of work, invisible to every other one until it ends.
        assert await session.scalar(select(func.count()).select_from(Lesson)) == 1
        assert await lesson_count() == 0

    assert await lesson_count() == 1


async def test_commit_now_makes_a_writer_durable_before_the_unit_of_work_ends():
    async def work() -> None:
        async with database.session_scope() as session:
            await add_lesson(session, "Early")
            await database.commit_now()  # the running task's unit of work
            assert await lesson_count() == 1
            raise RuntimeError("a failure after it rolls nothing back")

    with pytest.raises(RuntimeError, match="after"):
        await work()

    assert await lesson_count() == 1


async def test_commit_now_leaves_a_reader_alone():
    async with database.session_scope() as session:
        await session.scalar(select(func.count()).select_from(Lesson))
        with statements_sent() as sent:
            await database.commit_now(session)

    assert sent == []


@pytest.mark.usefixtures("sqlite_only")
async def test_sqlite_reader_sends_no_begin():
    with statements_sent() as sent:
        async with database.session_scope() as session:
            await session.scalar(select(func.count()).select_from(Lesson))

    assert not [s for s in sent if s.startswith("BEGIN")]


@pytest.mark.usefixtures("sqlite_only")
async def test_sqlite_writer_begins_immediate_once():
    with statements_sent() as sent:
        async with database.session_scope() as session:
            await session.scalar(select(func.count()).select_from(Lesson))
            await add_lesson(session, "One")
            await add_lesson(session, "Two")

    assert [s for s in sent if s.startswith("BEGIN")] == ["BEGIN IMMEDIATE"]
    assert await lesson_count() == 2


@pytest.mark.usefixtures("sqlite_only")
async def test_sqlite_writers_of_one_process_take_turns_in_arrival_order():
    order: list[str] = []
    inside = 0

    async def writer(name: str) -> None:
        nonlocal inside
        async with database.session_scope() as session:
            await add_lesson(session, name)
            inside += 1
            assert inside == 1, "two writers at once"
            order.append(name)
            await asyncio.sleep(0.01)
            inside -= 1

    tasks = []
    for n in range(8):
        tasks.append(asyncio.create_task(writer(f"w{n}")))
        await asyncio.sleep(0)  # each arrives before the next
    await asyncio.gather(*tasks)

    assert order == [f"w{n}" for n in range(8)]
    assert await lesson_count() == 8


@pytest.mark.usefixtures("sqlite_only")
@pytest.mark.parametrize("ending", ["commit", "rollback", "error", "commit_now"])
async def test_sqlite_writer_lock_is_released_however_the_work_ends(ending):
    async def first() -> None:
        async with database.session_scope() as session:
            await add_lesson(session, "First")
            if ending == "rollback":
                await session.rollback()
            elif ending == "commit_now":
                await database.commit_now(session)
                await session.scalar(select(func.count()).select_from(Lesson))
            elif ending == "error":
                raise ValueError("the work failed")

    if ending == "error":
        with pytest.raises(ValueError, match="failed"):
            await first()
    else:
        await first()

    async with asyncio.timeout(2), database.session_scope() as session:
        await add_lesson(session, "Second")
    assert await lesson_count() == (1 if ending in ("rollback", "error") else 2)


@pytest.mark.usefixtures("sqlite_only")
async def test_sqlite_writer_cancelled_while_its_commit_hands_back_the_connection_gives_up_its_turn():
    """After COMMIT, SQLAlchemy resets the connection it returns to the pool: a cancellation there (a
    stopping engine's job, say) ends the commit before the transaction's end is announced."""
    pool = database.get_engine().sync_engine.pool
    cancelled_in_reset = False

    def cancel_the_unit_of_work(*_args: Any) -> None:
        nonlocal cancelled_in_reset
        if not cancelled_in_reset:
            cancelled_in_reset = True
            task = asyncio.current_task()
            assert task is not None
            task.cancel()

    async def first() -> None:
        async with database.session_scope() as session:
            await add_lesson(session, "First")
            event.listen(pool, "reset", cancel_the_unit_of_work)

    try:
        with pytest.raises(asyncio.CancelledError):
            await asyncio.create_task(first())
    finally:
        event.remove(pool, "reset", cancel_the_unit_of_work)
    assert cancelled_in_reset

    async with asyncio.timeout(2), database.session_scope() as session:
        await add_lesson(session, "Second")
    assert await lesson_count() == 2


@pytest.mark.usefixtures("sqlite_only")
async def test_sqlite_waiting_writer_gives_up_after_the_busy_timeout(monkeypatch):
    monkeypatch.setattr(database, "SQLITE_BUSY_TIMEOUT_SECONDS", 0.2)
    async with database.session_scope() as holder:
        await add_lesson(holder, "Holder")
        with pytest.raises(OperationalError, match="database is locked"):
            async with database.session_scope() as waiter:
                await add_lesson(waiter, "Waiter")
    assert await lesson_count() == 1


@pytest.mark.usefixtures("sqlite_only")
async def test_sqlite_statements_leave_the_event_loop_free():
    ticks = 0
    done = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            await asyncio.sleep(0.005)

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    before = ticks
    slow_query = text(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000000) "
        "SELECT count(*) FROM n"
    )
    async with database.session_scope() as session:
        assert await session.scalar(slow_query) == 3_000_000
    done.set()
    await task

    # A query on the event loop would have let the ticker run not even once while it ran.
    assert ticks - before > 5
