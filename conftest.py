"""Test setup shared by backend/tests and bot/tests: a real database (SQLite file by default, PostgreSQL
when TEST_DATABASE_URL is set), migrated once per run and emptied after every test."""

import asyncio
import faulthandler
import gc
import os
import signal
import sys
import tempfile
import threading
import time
import types
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

_TEST_DIR = Path(tempfile.mkdtemp(prefix="lesson-store-tests-"))
os.environ["ENVIRONMENT"] = "test"
os.environ["DATABASE_URL"] = os.environ.get("TEST_DATABASE_URL") or f"sqlite:///{_TEST_DIR / 'test.db'}"
os.environ["SECRET_KEY"] = "test-secret-key-that-is-long-enough-for-hs256-0123456789"
os.environ["ADMIN_USERNAME"] = "admin"
os.environ["ADMIN_PASSWORD"] = "test-admin-password"
os.environ["LOGIN_MAX_FAILURES"] = "5"
os.environ["CORS_ORIGINS"] = "[]"
# The bot is off (no token) unless a test turns it on against the Bot API double.
os.environ["TELEGRAM_BOT_TOKEN"] = ""
os.environ["WEBHOOK_URL"] = ""
os.environ["WEBHOOK_SECRET"] = ""
os.environ["REDIS_URL"] = ""
os.environ["MEDIA_DIR"] = str(_TEST_DIR / "media")

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from backend.main import prepare_database
from shared import database
from shared.config import get_settings
from shared.models import Base
from shared.setup_checks import check_database

TEST_DIR = _TEST_DIR
# A writer left waiting (a test holding a writer's session open while something else writes) fails within
# seconds instead of the production half-minute.
database.SQLITE_BUSY_TIMEOUT_SECONDS = 5
ADMIN_PASSWORD = os.environ["ADMIN_PASSWORD"]
# Kept between tests: the migrations' record, and the admin account (its password hash is slow to compute
# on purpose).
KEPT_TABLES = {"admins", "alembic_version"}
# The configured admin's hash as made at startup: tests that change its password get it back afterwards.
_admin_password_hash = ""


_HANG_SECONDS = float(os.environ.get("TEST_HANG_SECONDS", "300"))
# A run started in the background by a script (as CI starts both suites) inherits an ignored SIGINT, which
# would leave the watchdog's interrupt unheard.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Iterator[None]:
    """A test (with its fixtures) still running after TEST_HANG_SECONDS is stuck: say where every task and
    thread waits, then stop the run, instead of leaving CI to its own time limit with nothing printed."""
    watchdog = threading.Timer(_HANG_SECONDS, _stop_hung_test, args=(item,))
    watchdog.daemon = True
    watchdog.start()
    try:
        yield
    finally:
        watchdog.cancel()


def _stop_hung_test(item: pytest.Item) -> None:
    # Past pytest's capture of the test's output, which an interrupted run does not print.
    capture = item.config.pluginmanager.getplugin("capturemanager")
    if capture is not None:
        capture.suspend_global_capture()
    out, nodeid = sys.stderr, item.nodeid
    print(f"\n!!! {nodeid} has run for {_HANG_SECONDS:.0f} s: where each task and thread waits", file=out)
    loop = _main_thread_loop()
    tasks = sorted(asyncio.all_tasks(loop), key=lambda task: task.get_name()) if loop else []
    for task in tasks:
        print(f"--- {task!r}", file=out)
        for frame in _awaiting(task.get_coro()):
            print(f"  {frame.f_code.co_filename}:{frame.f_lineno} in {frame.f_code.co_name}", file=out)
    faulthandler.dump_traceback(file=out, all_threads=True)
    out.flush()
    # The first interrupt cancels what the event loop runs (asyncio.Runner), the second raises
    # KeyboardInterrupt wherever the main thread is; either ends the run with pytest's summary.
    for _ in range(2):
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(30)
    print(f"!!! {nodeid} did not stop when interrupted", file=out, flush=True)
    os._exit(3)


def _awaiting(coroutine: Any) -> Iterator[types.FrameType]:
    """The frames of a task's chain of awaits, outermost first (a task's own stack shows only the first)."""
    while coroutine is not None:
        frame = getattr(coroutine, "cr_frame", None) or getattr(coroutine, "ag_frame", None)
        if frame is None:
            frame = getattr(coroutine, "gi_frame", None)
        if frame is not None:
            yield frame
            coroutine = (
                getattr(coroutine, "cr_await", None)
                or getattr(coroutine, "ag_await", None)
                or getattr(coroutine, "gi_yieldfrom", None)
            )
        else:
            # An async generator's asend/athrow awaitable: the generator it drives.
            coroutine = next(
                (each for each in gc.get_referents(coroutine) if isinstance(each, types.AsyncGeneratorType)),
                None,
            )


def _main_thread_loop() -> asyncio.AbstractEventLoop | None:
    """The event loop the main thread runs, found on its stack (a test stuck in a session fixture's setup runs
    before any fixture of ours could have noted it)."""
    frame = sys._current_frames().get(threading.main_thread().ident or 0)
    while frame is not None:
        loop = frame.f_locals.get("self")
        if isinstance(loop, asyncio.AbstractEventLoop):
            return loop
        frame = frame.f_back
    return None


def own_redis_url(offset: int) -> str:
    """A Redis database of a test module's own, which it may empty: TEST_REDIS_URL's server, its database
    number plus `offset` (so that runs given different TEST_REDIS_URL databases never share one); empty
    without TEST_REDIS_URL."""
    url = os.environ.get("TEST_REDIS_URL", "")
    if not url:
        return ""
    base, _, number = url.rpartition("/")
    return f"{base}/{int(number or 0) + offset}"


def is_postgres() -> bool:
    return get_settings().async_database_url.startswith("postgresql")


async def _reset_postgres_schema() -> None:
    # Created if it does not exist yet, as the app would.
    await check_database(get_settings().DATABASE_URL)
    engine = database.create_engine(get_settings().DATABASE_URL)
    async with engine.begin() as connection:
        await connection.execute(text("DROP SCHEMA public CASCADE"))
        await connection.execute(text("CREATE SCHEMA public"))
    await engine.dispose()


@pytest.fixture(scope="session", autouse=True)
async def prepared_database() -> AsyncIterator[None]:
    if is_postgres():
        await _reset_postgres_schema()
    global _admin_password_hash
    database.configure(get_settings().DATABASE_URL)
    await prepare_database()
    async with database.get_engine().connect() as connection:
        _admin_password_hash = (
            await connection.execute(
                text("SELECT password_hash FROM admins WHERE username = :username"),
                {"username": os.environ["ADMIN_USERNAME"]},
            )
        ).scalar_one()
    yield
    await database.dispose_engine()


async def empty_tables() -> None:
    tables = [t.name for t in reversed(Base.metadata.sorted_tables) if t.name not in KEPT_TABLES]
    # DELETE, not TRUNCATE: on these tiny tables it is ~30x faster on PostgreSQL. Ids keep growing,
    # so no test may assume a particular id.
    async with database.get_engine().begin() as connection:
        for table in tables:
            await connection.execute(text(f"DELETE FROM {table}"))  # noqa: S608 (our own table names)
        # The configured admin stays, as it was made at startup; the admins tests added go.
        admin = {"username": os.environ["ADMIN_USERNAME"]}
        await connection.execute(text("DELETE FROM admins WHERE username != :username"), admin)
        await connection.execute(
            text(
                "UPDATE admins SET role = 'owner', is_active = true, language = NULL,"
                " password_changed_at = NULL, password_hash = :password_hash,"
                " telegram_id = NULL, notify_support = false, telegram_link_token_hash = NULL,"
                " telegram_link_expires_at = NULL WHERE username = :username"
            ),
            {**admin, "password_hash": _admin_password_hash},
        )


@pytest.fixture(autouse=True)
async def clean_database(prepared_database: None) -> AsyncIterator[None]:  # noqa: ARG001 (migrated first)
    yield
    await empty_tables()


@pytest.fixture
async def session() -> AsyncIterator[AsyncSession]:
    async with database.session_scope() as session:
        yield session
