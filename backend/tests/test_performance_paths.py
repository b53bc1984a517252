"""The hot read paths stay lean: statements per request, SQLite transactions, the catalog's cached total.

Counts statements with a before_cursor_execute listener on the app's engine; the SQLite-only tests look at
BEGIN/ROLLBACK and at what the connections hold when they go back to the pool.
"""

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import delete, event, func, insert, select, text, update
from sqlalchemy.exc import InvalidRequestError

from backend.services import catalog_cache, lesson_service, purchase_service
from backend.services.common import paginate
from backend.services.exceptions import UserNotFound
from backend.tests.api import quick_tokens  # noqa: F401 (fixture)
from backend.tests.conftest import is_postgres
from backend.tests.factories import create_lesson, create_purchase, create_user
from shared import database
from shared.models import Lesson, LessonTotals, User


@contextmanager
def statements() -> Iterator[list[str]]:
    """The SQL the app's engine, and its inline reader if any (the API's shortcuts), send inside the block."""
    sent: list[str] = []

    def record_sql(statement: str, *_args: Any) -> None:
        sent.append(" ".join(statement.split()))

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        record_sql(statement)

    engine = database.get_engine().sync_engine
    reader = database.inline_reader()
    event.listen(engine, "before_cursor_execute", record)
    if reader is not None:
        reader.statement_hooks.append(record_sql)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", record)
        if reader is not None:
            reader.statement_hooks.remove(record_sql)


def selects(sent: list[str]) -> list[str]:
    return [s for s in sent if s.upper().startswith("SELECT")]


@pytest.fixture(autouse=True)
def fresh_totals() -> Iterator[None]:
    catalog_cache.totals.clear()
    yield
    catalog_cache.totals.clear()


@pytest.fixture
def sqlite_only() -> None:
    if is_postgres():
        pytest.skip("SQLite transactions and driver")


_COLUMNS = "INSERT INTO lessons (title, description, price, is_active, is_free, created_at, updated_at) "
RAW_LESSON_INSERT = {
    "sqlite": _COLUMNS + "VALUES ('Raw', '', 5, 1, 0, '2024-01-01 00:00:00', '2024-01-01 00:00:00')",
    "postgresql": _COLUMNS + "VALUES ('Raw', '', 5, true, false, now(), now())",
}


async def insert_lesson_behind_sqlalchemy() -> None:
    """A lesson written as another process would: this process's SQLAlchemy never sees the statement."""
    raw = await database.get_engine().raw_connection()
    try:
        await raw.driver_connection.execute(RAW_LESSON_INSERT["postgresql" if is_postgres() else "sqlite"])
    finally:
        raw.close()


async def pooled_connections_in_transaction() -> list[bool]:
    """Whether each idle connection of the pool still has a transaction open."""
    engine = database.get_engine()
    states = []
    connections = []
    try:
        for _ in range(engine.pool.checkedin()):
            raw = await engine.raw_connection()
            connections.append(raw)
            states.append(raw.driver_connection.in_transaction)
    finally:
        for raw in connections:
            raw.close()
    return states


# Pagination ----------------------------------------------------------------------------------------------


async def test_paginate_page_and_total_in_one_statement(session):
    lessons = [await create_lesson(session) for _ in range(3)]
    with statements() as sent:
        rows, total = await paginate(session, Lesson, order_by=[Lesson.id], limit=2, offset=1)
    assert ([row.id for row in rows], total) == ([lesson.id for lesson in lessons[1:]], 3)
    assert len(selects(sent)) == 1
    assert "count(*)" in selects(sent)[0]


async def test_paginate_past_the_end_counts_separately(session):
    for _ in range(3):
        await create_lesson(session)
    with statements() as sent:
        rows, total = await paginate(session, Lesson, order_by=[Lesson.id], limit=2, offset=3)
    assert (rows, total) == ([], 3)
    assert len(selects(sent)) == 2


async def test_paginate_nothing_matches_one_statement(session):
    await create_lesson(session, price=5)
    with statements() as sent:
        rows, total = await paginate(
            session, Lesson, filters=[Lesson.price > 5], order_by=[Lesson.id], limit=2, offset=0
        )
    assert (rows, total) == ([], 0)
    assert len(selects(sent)) == 1


async def test_paginate_given_total_sends_no_count(session):
    await create_lesson(session)
    with statements() as sent:
        rows, total = await paginate(session, Lesson, order_by=[Lesson.id], limit=2, offset=0, total=42)
    assert (len(rows), total) == (1, 42)
    assert len(selects(sent)) == 1
    assert "count(*)" not in selects(sent)[0]


@pytest.mark.usefixtures("sqlite_only")
async def test_paginate_plan_stays_index_driven(session):
    # The count is an uncorrelated subquery evaluated once from an index, not a window over every row.
    captured: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_args: Any) -> None:
        captured.append((statement, parameters))

    engine = database.get_engine().sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        await lesson_service.get_all(session, is_active=True, limit=20, offset=0)
        await purchase_service.get_all(session, user_id=1, limit=20, offset=0)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    raw = (await (await session.connection()).get_raw_connection()).driver_connection
    for statement, parameters in captured:
        plan = [row[3] for row in await raw.execute_fetchall(f"EXPLAIN QUERY PLAN {statement}", parameters)]
        assert any("SCALAR SUBQUERY" in step for step in plan), plan
        assert not any("TEMP B-TREE" in step or step.startswith("CO-ROUTINE") for step in plan), plan
        assert any(step.startswith("SEARCH") for step in plan), plan


# A user's purchases --------------------------------------------------------------------------------------


async def test_read_user_purchases_no_user_lookup_when_page_has_rows(client, admin_headers, session):
    user = await create_user(session)
    purchase = await create_purchase(session, user, await create_lesson(session))
    with statements() as sent:
        response = await client.get(f"/api/users/{user.id}/purchases", headers=admin_headers)
    assert response.status_code == 200
    assert [item["id"] for item in response.json()["items"]] == [purchase.id]
    assert not [s for s in sent if "FROM users" in s]
    # The admin's session, then the page with its total.
    assert len(selects(sent)) == 2


async def test_read_user_purchases_empty_page_checks_the_user(client, admin_headers, session):
    user = await create_user(session)
    await create_purchase(session, user, await create_lesson(session))
    past_the_end = await client.get(
        f"/api/users/{user.id}/purchases", params={"offset": 5}, headers=admin_headers
    )
    assert past_the_end.json() == {"items": [], "total": 1, "limit": 20, "offset": 5}
    none = await client.get(f"/api/users/{(await create_user(session)).id}/purchases", headers=admin_headers)
    assert none.json() == {"items": [], "total": 0, "limit": 20, "offset": 0}
    unknown = await client.get("/api/users/999999/purchases", headers=admin_headers)
    assert (unknown.status_code, unknown.json()) == (404, {"detail": "User 999999 not found"})


async def test_get_all_purchases_check_user(session):
    with pytest.raises(UserNotFound):
        await purchase_service.get_all(session, user_id=999999, limit=20, offset=0, check_user=True)
    assert await purchase_service.get_all(session, user_id=999999, limit=20, offset=0) == ([], 0)


# The public catalog --------------------------------------------------------------------------------------


async def test_read_lessons_anonymous_total_cached(client, session):
    for _ in range(3):
        await create_lesson(session)
    first = await client.get("/api/lessons/", params={"limit": 2})
    with statements() as sent:
        second = await client.get("/api/lessons/", params={"limit": 2, "offset": 2})
    assert (first.json()["total"], second.json()["total"]) == (3, 3)
    assert len(selects(sent)) == 1
    assert "count(*)" not in selects(sent)[0]


@pytest.mark.parametrize("shortcut", [True, False])
async def test_read_lessons_anonymous_total_counts_no_lessons(client, session, monkeypatch, shortcut):
    # The total of the public catalog is the row the database's triggers keep (LessonTotals), whatever the
    # size of the catalog, through the shortcut and through the route alike.
    for _ in range(3):
        await create_lesson(session)
    await create_lesson(session, is_active=False)
    if not shortcut:
        monkeypatch.setattr(database, "inline_reader", lambda: None)
    with statements() as sent:
        response = await client.get("/api/lessons/", params={"limit": 2})
    assert response.json()["total"] == 3
    assert not [s for s in sent if "count(" in s.lower()]
    assert [s for s in selects(sent) if "FROM lesson_totals" in s]


async def test_read_lessons_admin_total_never_cached(client, admin_headers, session):
    await create_lesson(session)
    await client.get("/api/lessons/")
    await insert_lesson_behind_sqlalchemy()
    admin = await client.get("/api/lessons/", params={"is_active": "true"}, headers=admin_headers)
    anonymous = await client.get("/api/lessons/")
    assert admin.json()["total"] == 2
    assert anonymous.json()["total"] == 1  # at most TTL_SECONDS old


@pytest.mark.parametrize("how", ["api", "factory", "sql", "orm bulk"])
async def test_read_lessons_anonymous_total_follows_lesson_writes(client, admin_headers, session, how):
    lesson = await create_lesson(session)
    assert (await client.get("/api/lessons/")).json()["total"] == 1
    if how == "api":
        response = await client.put(
            f"/api/lessons/{lesson.id}", json={"is_active": False}, headers=admin_headers
        )
        assert response.status_code == 200
        expected = 0
    elif how == "factory":
        await create_lesson(session)
        expected = 2
    elif how == "sql":
        async with database.get_engine().begin() as connection:
            await connection.execute(text("DELETE FROM lessons"))
        expected = 0
    else:
        async with database.session_scope(write=True) as writer:
            await writer.execute(update(Lesson).values(is_active=False))
            await writer.commit()
        expected = 0
    assert (await client.get("/api/lessons/")).json()["total"] == expected


async def test_read_lessons_anonymous_total_by_filters(client, session):
    await create_lesson(session, price=10)
    await create_lesson(session, price=99)
    assert (await client.get("/api/lessons/")).json()["total"] == 2
    assert (await client.get("/api/lessons/", params={"price_min": 50})).json()["total"] == 1
    assert (await client.get("/api/lessons/", params={"q": "nothing like it"})).json()["total"] == 0


async def test_read_lessons_anonymous_total_expires(client, session, monkeypatch):
    await create_lesson(session)
    assert (await client.get("/api/lessons/")).json()["total"] == 1
    await insert_lesson_behind_sqlalchemy()
    stale = await client.get("/api/lessons/")
    assert (stale.json()["total"], len(stale.json()["items"])) == (1, 2)
    later = time.monotonic() + catalog_cache.TTL_SECONDS
    monkeypatch.setattr(catalog_cache, "time", SimpleNamespace(monotonic=lambda: later))
    assert (await client.get("/api/lessons/")).json()["total"] == 2


def test_totals_cache_drops_a_count_overtaken_by_a_write(monkeypatch):
    cache = catalog_cache.TotalsCache(ttl=5, max_entries=2)
    started = cache.generation
    cache.clear()  # a lesson write ended while the count ran
    cache.put("key", 7, generation=started)
    assert cache.get("key") is None
    cache.put("key", 8, generation=cache.generation)
    assert cache.get("key") == 8
    now = [1000.0]
    monkeypatch.setattr(catalog_cache, "time", SimpleNamespace(monotonic=lambda: now[0]))
    cache.put("key", 9, generation=cache.generation)
    now[0] += 5
    assert cache.get("key") is None


def test_totals_cache_lookup_keeps_only_a_missed_total_no_clear_overtook():
    cache = catalog_cache.TotalsCache(ttl=5, max_entries=4)
    total, keep = cache.lookup("key")
    assert total is None
    keep(3)
    assert cache.lookup("key")[0] == 3
    # A hit keeps nothing: the total's lifetime is not stretched by being read.
    cache.lookup("key")[1](99)
    assert cache.get("key") == 3
    total, keep = cache.lookup("other")
    cache.clear()  # a lesson write ended while the count ran
    keep(5)
    assert cache.get("other") is None


def test_totals_cache_bounded():
    cache = catalog_cache.TotalsCache(ttl=5, max_entries=2)
    for key in range(5):
        cache.put(key, key, generation=cache.generation)
    assert len(cache._entries) <= 2
    assert cache.get(4) == 4


@pytest.mark.parametrize(
    ("video_path", "text_content", "has_video", "has_text"),
    [("videos/a.mp4", "Body", True, True), (None, None, False, False), (None, "", False, False)],
)
async def test_public_lessons_leave_paid_content_unloaded(
    session, video_path, text_content, has_video, has_text
):
    await create_lesson(session, video_path=video_path, text_content=text_content)
    async with database.session_scope() as reader:
        with statements() as sent:
            [lesson], _ = await lesson_service.get_all(
                reader, is_active=True, limit=20, offset=0, public=True
            )
        assert (lesson.has_video, lesson.has_text) == (has_video, has_text)
        with pytest.raises(InvalidRequestError):
            _ = lesson.text_content
    columns = selects(sent)[0].split(" FROM ")[0]
    assert "lessons.text_content," not in columns
    assert "lessons.video_path," not in columns


async def test_lesson_has_content_from_loaded_columns(session):
    lesson = await create_lesson(session, video_path=None, text_content="Body")
    assert (lesson.has_video, lesson.has_text) == (False, True)
    lesson.video_path = "videos/b.mp4"
    assert lesson.has_video is True


# /health -------------------------------------------------------------------------------------------------


async def test_read_health_timeout(client, monkeypatch):
    async def stuck() -> None:
        await asyncio.sleep(10)

    monkeypatch.setattr("backend.api.health.HEALTH_TIMEOUT_SECONDS", 0.05)
    monkeypatch.setattr(database, "ping", stuck)
    # No shortcut (as on PostgreSQL): the route's own check is the one that hangs.
    monkeypatch.setattr(database, "inline_reader", lambda: None)
    response = await client.get("/health")
    assert (response.status_code, response.json()) == (
        503,
        {"status": "unavailable", "database": "unavailable"},
    )


# SQLite transactions and the driver ----------------------------------------------------------------------


@pytest.mark.usefixtures("sqlite_only")
async def test_sqlite_reader_sends_no_begin_and_no_rollback(session):
    await create_lesson(session)
    with statements() as sent:
        async with database.session_scope() as reader:
            await reader.scalar(select(func.count()).select_from(Lesson))
            assert reader.in_transaction()
    assert sent == ["SELECT count(*) AS count_1 FROM lessons"]


@pytest.mark.usefixtures("sqlite_only")
async def test_sqlite_writer_begins_immediate(session):
    async with database.session_scope(write=True) as writer:
        # Before any statement of its own, the writer holds SQLite's write lock (BEGIN IMMEDIATE).
        driver = (await writer.connection()).sync_connection.connection.driver_connection
        assert driver.in_transaction
        assert driver.holds_write_lock
        writer.add(User(telegram_id=77, first_name="W"))
        await writer.commit()
    assert not driver.in_transaction
    assert not driver.holds_write_lock


@pytest.mark.usefixtures("sqlite_only")
async def test_sqlite_reader_that_writes_is_atomic(session):
    async with database.session_scope() as reader:
        await reader.scalar(select(func.count()).select_from(User))
        raw = (await (await reader.connection()).get_raw_connection()).driver_connection
        assert not raw.in_transaction
        await reader.execute(insert(User).values(telegram_id=1, first_name="A"))
        assert raw.in_transaction
        await reader.execute(insert(User).values(telegram_id=2, first_name="B"))
        await reader.rollback()
    assert await session.scalar(select(func.count()).select_from(User)) == 0


@pytest.mark.usefixtures("sqlite_only")
async def test_sqlite_connections_come_back_without_transaction(client, admin_headers, session):
    user = await create_user(session)
    # A request that fails inside its write transaction (409: the Telegram id is taken).
    taken = await client.post(
        "/api/users/", json={"telegram_id": user.telegram_id, "first_name": "X"}, headers=admin_headers
    )
    assert taken.status_code == 409

    async def fail_half_way() -> None:
        async with database.session_scope(write=True) as writer:
            await writer.execute(delete(User))
            raise RuntimeError("the work failed half-way")

    with pytest.raises(RuntimeError):
        await fail_half_way()
    # A transaction begun on the raw driver connection, behind SQLAlchemy's back.
    raw = await database.get_engine().raw_connection()
    await raw.driver_connection.execute("BEGIN IMMEDIATE")
    raw.close()
    assert not any(await pooled_connections_in_transaction())
    assert await session.scalar(select(func.count()).select_from(User)) == 1


@pytest.mark.usefixtures("sqlite_only")
async def test_sqlite_engine_keeps_its_pool():
    engine = database.get_engine()
    # Kept connections only: no overflow ones, opened and closed again under load.
    assert (engine.pool.size(), engine.pool._max_overflow) == (database.SQLITE_POOL_SIZE, 0)  # type: ignore[attr-defined]
    memory = database.create_engine("sqlite://")
    try:
        async with memory.connect() as connection:
            assert await connection.scalar(text("SELECT 1")) == 1
    finally:
        await memory.dispose()


@pytest.mark.parametrize("shortcut", [True, False])
async def test_read_lessons_anonymous_total_counted_without_the_totals_row(
    client, session, monkeypatch, shortcut
):
    # Should anyone delete the row the triggers keep, the catalog counts its lessons again.
    await create_lesson(session)
    await create_lesson(session, is_free=True, price=0)
    async with database.get_engine().begin() as connection:
        await connection.execute(delete(LessonTotals))
    if not shortcut:
        monkeypatch.setattr(database, "inline_reader", lambda: None)
    try:
        assert (await client.get("/api/lessons/")).json()["total"] == 2
        catalog_cache.totals.clear()
        assert (await client.get("/api/lessons/", params={"is_free": "true"})).json()["total"] == 1
    finally:
        # Back as the migration makes it: the lessons there are, counted.
        async with database.get_engine().begin() as connection:
            await connection.execute(insert(LessonTotals).values(id=1, active=2, active_free=1))
