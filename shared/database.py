"""The database engine, units of work and schema migrations.

One engine and one session factory per process: stock aiosqlite for SQLite (every statement runs on the
connection's thread, never on the event loop) and asyncpg for PostgreSQL.

**One unit of work per HTTP request, bot update, job run or command.** The edge opens it with
`session_scope()`: it commits when the work succeeds and rolls back when it fails. Services never commit;
`commit_now()` names the few steps that must be durable before their unit of work ends.

**Writers are marked once: `@writes`** on a service function. Its session then holds a writer's
transaction until the unit of work commits. On SQLite that is `BEGIN IMMEDIATE`, taken behind this process's
first-come-first-served writer lock: SQLite's own busy handler polls (sleeping up to 100 ms between tries)
and lets newcomers overtake waiting writers, which put seconds on the slowest of fifty concurrent payments.
A read-only unit of work sends no BEGIN at all (SQLite's autocommit mode): each SELECT is its own snapshot,
as under PostgreSQL's READ COMMITTED. Every SQLite connection gets WAL (readers never wait for writers),
synchronous=NORMAL (durable across application crashes), foreign keys and a busy timeout (for writers of
other processes: the bot beside the API).
"""

import asyncio
import contextvars
import functools
import logging
import sqlite3
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

from alembic.config import Config
from sqlalchemy import event, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session, SessionTransaction

from alembic import command
from shared.config import get_settings
from shared.utils import normalize_database_url

logger = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SQLITE_BUSY_TIMEOUT_SECONDS = 30
# Execution option read by the SQLite "begin" hook: the BEGIN to send (none for readers).
SQLITE_BEGIN_OPTION = "sqlite_begin"
# Session.info keys of a unit of work that writes.
_WRITES = "writes"
_WRITER_LOCK = "writer_lock"

_engine: AsyncEngine | None = None
_session_factory: async_sessionmaker[AsyncSession] | None = None
# The unit of work of the running task (see commit_now).
_current_session: contextvars.ContextVar[AsyncSession | None] = contextvars.ContextVar(
    "current_session", default=None
)
# One writer lock per event loop (tests run several loops; an asyncio lock belongs to one).
_writer_locks: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock]" = (
    weakref.WeakKeyDictionary()
)
# The task that holds each writer lock, named when a writer waits too long.
_writer_holders: "weakref.WeakKeyDictionary[asyncio.Lock, str]" = weakref.WeakKeyDictionary()


def _unicode_lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # SQLAlchemy's documented recipe for SQLite transactions: the driver sends no BEGIN of its own, the
    # "begin" hook does (savepoints and BEGIN IMMEDIATE work then).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_SECONDS * 1000}")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
    # SQLite's own lower() knows only ASCII, so a case-insensitive search for "привет" would miss "Привет".
    dbapi_connection.create_function("lower", 1, _unicode_lower, deterministic=True)


def _on_sqlite_begin(connection: Connection) -> None:
    mode = connection.get_execution_options().get(SQLITE_BEGIN_OPTION)
    if mode is not None:
        connection.exec_driver_sql(f"BEGIN {mode}")


def create_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    """An async engine for a user-written DATABASE_URL (sqlite:///... or postgresql://...)."""
    async_url = normalize_database_url(url)
    if not async_url.startswith("sqlite"):
        return create_async_engine(async_url, echo=echo, pool_pre_ping=True, pool_size=10, max_overflow=20)
    engine = create_async_engine(
        async_url,
        echo=echo,
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS},
        pool_size=10,
    )
    event.listen(engine.sync_engine, "connect", _on_sqlite_connect)
    event.listen(engine.sync_engine, "begin", _on_sqlite_begin)
    return engine


def configure(url: str, *, echo: bool = False) -> AsyncEngine:
    """Create this process's engine and session factory (replacing any earlier ones)."""
    global _engine, _session_factory
    _engine = create_engine(url, echo=echo)
    _session_factory = async_sessionmaker(_engine, expire_on_commit=False, autoflush=False)
    return _engine


def get_engine() -> AsyncEngine:
    if _engine is None:
        settings = get_settings()
        return configure(settings.DATABASE_URL, echo=settings.SQL_ECHO)
    return _engine


def get_session_factory() -> async_sessionmaker[AsyncSession]:
    get_engine()
    assert _session_factory is not None
    return _session_factory


async def dispose_engine() -> None:
    global _engine, _session_factory
    if _engine is not None:
        await _engine.dispose()
    _engine = None
    _session_factory = None


@asynccontextmanager
async def session_scope() -> AsyncIterator[AsyncSession]:
    """One unit of work: committed when the block ends normally, rolled back when it raises.

    A task cancelled inside it (a stopping worker, say) still finishes its rollback and close before the
    cancellation goes on, and always gives up SQLite's writer turn (see begin_write): a turn left taken
    would time out every later writer of the process."""
    session = get_session_factory()()
    token = _current_session.set(session)
    try:
        yield session
        await session.commit()
    except BaseException:
        await finish_despite_cancellation(session.rollback())
        raise
    finally:
        _current_session.reset(token)
        try:
            await finish_despite_cancellation(session.close())
        finally:
            # Not only at the transaction's end (_writer_done): a cancellation while a commit hands its
            # connection back (SQLAlchemy's reset of it) ends the commit after COMMIT but before that end
            # is announced.
            _give_up_writer_turn(session.sync_session)


async def finish_despite_cancellation(cleanup: Awaitable[None]) -> None:
    """Await a cleanup to its end even if this task is cancelled meanwhile; the cancellation is raised
    after it."""
    task = asyncio.ensure_future(cleanup)
    cancelled = False
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            cancelled = True
    if cancelled:
        raise asyncio.CancelledError
    task.result()


async def begin_write(session: AsyncSession) -> None:
    """Make the session's transaction a writer's (what @writes does; see the module's docstring)."""
    if session.info.get(_WRITES) and session.in_transaction():
        return
    if session.bind is None or session.bind.dialect.name != "sqlite":
        session.info[_WRITES] = True
        return
    if session.in_transaction():
        # A reader's transaction holds no lock and no change (sessions do not autoflush, and services mark
        # themselves before they change anything): end it, and start over as a writer.
        await session.commit()
    loop = asyncio.get_running_loop()
    lock = _writer_locks.get(loop)
    if lock is None:
        lock = _writer_locks[loop] = asyncio.Lock()
    try:
        async with asyncio.timeout(SQLITE_BUSY_TIMEOUT_SECONDS):
            await lock.acquire()
    except TimeoutError:
        # What SQLite itself says when its busy timeout runs out, and who held the writer's turn.
        holder = _writer_holders.get(lock, "?")
        raise OperationalError(
            "BEGIN IMMEDIATE",
            None,
            sqlite3.OperationalError(f"database is locked (the writer: task {holder})"),
        ) from None
    task = asyncio.current_task()
    _writer_holders[lock] = task.get_name() if task is not None else "?"
    session.info[_WRITER_LOCK] = lock
    session.info[_WRITES] = True
    try:
        await session.connection(execution_options={SQLITE_BEGIN_OPTION: "IMMEDIATE"})
    except BaseException:
        await finish_despite_cancellation(session.rollback())
        _give_up_writer_turn(session.sync_session)  # no transaction began whose end would give it up
        raise


@event.listens_for(Session, "after_transaction_end")
def _writer_done(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is not None:
        return  # a savepoint: the writer's transaction goes on
    _give_up_writer_turn(session)


def _give_up_writer_turn(session: Session) -> None:
    session.info.pop(_WRITES, None)
    lock = session.info.pop(_WRITER_LOCK, None)
    if lock is not None:
        lock.release()


P = ParamSpec("P")
R = TypeVar("R")


def writes(
    function: Callable[Concatenate[AsyncSession, P], Awaitable[R]],
) -> Callable[Concatenate[AsyncSession, P], Awaitable[R]]:
    """Mark a service function that writes: its session becomes a writer's (see begin_write)."""

    @functools.wraps(function)
    async def wrapper(session: AsyncSession, *args: P.args, **kwargs: P.kwargs) -> R:
        await begin_write(session)
        return await function(session, *args, **kwargs)

    return wrapper


def writers_take_turns(session: AsyncSession) -> bool:
    """Whether a writer's transaction of this session is the only one in the whole database while it runs
    (SQLite's BEGIN IMMEDIATE): then nothing it has read can change under it, and a row lock or a savepoint
    against a racing writer has nothing to guard against (PostgreSQL needs them)."""
    return session.bind is not None and session.bind.dialect.name == "sqlite"


async def commit_now(session: AsyncSession | None = None) -> None:
    """Make what the unit of work (by default the running task's) has written durable before it ends.

    Only two kinds of step need it, and only these call it:
    - every call to Telegram (bot.app.CommitBeforeTelegram, a request middleware of the bot): a payment is
      recorded before its content is sent, an invoice's purchase exists before the invoice does, and no
      writer holds SQLite's lock or PostgreSQL's row locks while Telegram answers;
    - a refusal that must keep what was written before it (the unit of work then rolls back): a failed
      login is counted (auth_service), a reused refresh token ends its session (auth_service.refresh), a
      refund Telegram had already made is recorded (payment_service.refund).
    """
    session = session or _current_session.get()
    if session is not None and session.info.get(_WRITES) and session.in_transaction():
        await session.commit()


async def ping() -> None:
    """Raise if the database cannot answer a trivial query."""
    async with get_engine().connect() as connection:
        await connection.execute(text("SELECT 1"))


def alembic_config() -> Config:
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "alembic"))
    return config


def _upgrade_to_head(connection: Connection) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


async def migrate(engine: AsyncEngine | None = None) -> None:
    """Bring the database's schema to the latest migration."""
    engine = engine or get_engine()
    async with engine.connect() as connection:
        await run_migrations(connection, _upgrade_to_head)


async def run_migrations(connection: AsyncConnection, work: Callable[[Connection], None]) -> None:
    """Run Alembic's work on the connection as one transaction, and commit it (the app's migration and the
    alembic command line alike)."""
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        # Batch mode rebuilds a table by dropping it; with foreign keys on, the drop would run the ON DELETE
        # actions of the rows that refer to it (or refuse). Off before the transaction (it cannot change in
        # one), checked before the commit, and on again for the pool's next user.
        await connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        await connection.commit()
        await connection.execution_options(**{SQLITE_BEGIN_OPTION: "IMMEDIATE"})
    try:
        await connection.run_sync(work)
        if sqlite:
            broken = (await connection.exec_driver_sql("PRAGMA foreign_key_check")).all()
            if broken:
                raise RuntimeError(f"The migration left rows with broken foreign keys: {broken[:5]}")
        await connection.commit()
    finally:
        if sqlite:
            await connection.rollback()
            await connection.execution_options(**{SQLITE_BEGIN_OPTION: None})
            await connection.exec_driver_sql("PRAGMA foreign_keys=ON")
            await connection.commit()
