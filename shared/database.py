"""The database engine, sessions and schema migrations.

One engine and one session factory per process. SQLite gets WAL, foreign keys and a busy timeout on every
connection; transactions that will write start with BEGIN IMMEDIATE so that a read-then-write transaction
takes the write lock up front instead of failing with "database is locked" when it tries to upgrade.
"""

import functools
import logging
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

from alembic.config import Config
from sqlalchemy import event, make_url, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import QueuePool

from alembic import command
from shared import sqlite_connection
from shared.inline_reads import InlineReader
from shared.utils import normalize_database_url

logger = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SQLITE_BUSY_TIMEOUT_SECONDS = 30
SQLITE_POOL_SIZE = 50
# Execution option read by the SQLite "begin" hook; ignored by other backends.
SQLITE_BEGIN_OPTION = "sqlite_begin"
# Statements that a reader may send outside a transaction (see _on_sqlite_begin).
_SQLITE_NO_TRANSACTION_NEEDED = ("SELECT", "PRAGMA", "EXPLAIN", "BEGIN")

_engine: AsyncEngine | None = None
_session_factory: async_sessionmaker[AsyncSession] | None = None
_inline_reader: InlineReader | None = None


def _unicode_lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Autocommit mode: we emit BEGIN ourselves, and only for writers (see _on_sqlite_begin).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_SECONDS * 1000}")
    cursor.execute("PRAGMA journal_mode=WAL")
    # WAL with synchronous=NORMAL is durable across application crashes, and much faster than FULL.
    cursor.execute("PRAGMA synchronous=NORMAL")
    # Checkpoints run on a thread of their own, never inside a commit on the event loop (see
    # sqlite_connection.Checkpointer).
    cursor.execute("PRAGMA wal_autocheckpoint=0")
    cursor.close()
    _add_functions(dbapi_connection)


def _add_functions(dbapi_connection: Any) -> None:
    # SQLite's own lower() knows only ASCII, so a case-insensitive search for "привет" would miss
    # "Привет"; Python's knows every script.
    dbapi_connection.create_function("lower", 1, _unicode_lower, deterministic=True)


def _on_sqlite_begin(connection: Connection) -> None:
    mode = connection.get_execution_options().get(SQLITE_BEGIN_OPTION, "DEFERRED")
    # A reader sends no BEGIN: in autocommit mode each of its SELECTs is its own implicit read transaction,
    # which spares every request a BEGIN and a ROLLBACK, each a round trip to aiosqlite's thread. The price:
    # two SELECTs of one request may see different commits, as under PostgreSQL's READ COMMITTED (a page and
    # its total come from one statement, see paginate). A reader that writes gets BEGIN IMMEDIATE from
    # _on_sqlite_execute, so its writes stay atomic.
    if mode != "DEFERRED":
        # On the DBAPI cursor, as _on_sqlite_execute does: a statement of SQLAlchemy's own would cost more
        # than the BEGIN itself (every write transaction starts here).
        cursor = connection.connection.cursor()
        try:
            cursor.execute(f"BEGIN {mode}")
        finally:
            cursor.close()


def _on_sqlite_execute(connection: Connection, cursor: Any, statement: str, *_args: Any) -> None:
    if statement.lstrip()[:7].upper().startswith(_SQLITE_NO_TRANSACTION_NEEDED):
        return
    if connection.in_transaction() and not connection.connection.driver_connection.in_transaction:
        # A write in a session begun as a reader: make its statements atomic again, as one writer.
        cursor.execute("BEGIN IMMEDIATE")


def create_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    """Create an async engine for a user-written DATABASE_URL (sqlite:///... or postgresql://...)."""
    async_url = normalize_database_url(url)
    if async_url.startswith("sqlite"):

        async def connect() -> sqlite_connection.Connection:
            # The URL's file and options, as SQLAlchemy would pass them to aiosqlite.connect.
            args, kwargs = engine.sync_engine.dialect.create_connect_args(engine.sync_engine.url)
            return await sqlite_connection.connect(
                *args, **{**kwargs, "timeout": SQLITE_BUSY_TIMEOUT_SECONDS}
            )

        # Connections are opened on demand and kept (no overflow ones, opened and closed again under load:
        # each is a thread and four PRAGMAs). Enough that requests seldom queue for one: SQLAlchemy's asyncio
        # pool lets a newcomer take a returned connection ahead of those waiting, so a saturated pool
        # starves a few requests for seconds. (An in-memory database gets one shared connection instead.)
        parsed = make_url(async_url)
        queued = issubclass(parsed.get_dialect().get_pool_class(parsed), QueuePool)
        sizes = {"pool_size": SQLITE_POOL_SIZE, "max_overflow": 0} if queued else {}
        engine = create_async_engine(async_url, echo=echo, async_creator=connect, **sizes)
        event.listen(engine.sync_engine, "connect", _on_sqlite_connect)
        event.listen(engine.sync_engine, "begin", _on_sqlite_begin)
        event.listen(engine.sync_engine, "before_cursor_execute", _on_sqlite_execute)
        return engine
    return create_async_engine(async_url, echo=echo, pool_pre_ping=True, pool_size=10, max_overflow=20)


def _create_inline_reader(engine: AsyncEngine) -> InlineReader | None:
    """A reader on the engine's SQLite file (None for PostgreSQL and in-memory databases)."""
    sync_engine = engine.sync_engine
    if sync_engine.dialect.name != "sqlite":
        return None
    args, kwargs = sync_engine.dialect.create_connect_args(sync_engine.url)
    if args[0] == ":memory:" or "mode=memory" in args[0]:
        return None

    database, uri = args[0], bool(kwargs.get("uri"))
    if not uri:
        # Read-write but never create: a reader must not leave an empty database where none was.
        database, uri = f"{Path(database).absolute().as_uri()}?mode=rw", True

    def connect() -> sqlite3.Connection:
        # No statement here: the reader sets its own busy timeout (zero) before its first one.
        connection = sqlite3.connect(database, uri=uri, isolation_level=None, check_same_thread=False)
        _add_functions(connection)
        return connection

    return InlineReader(connect, sync_engine.dialect)


def configure(url: str, *, echo: bool = False) -> AsyncEngine:
    """Create this process's engine and session factory (replacing any earlier ones)."""
    global _engine, _session_factory, _inline_reader
    if _inline_reader is not None:
        _inline_reader.close()
    _engine = create_engine(url, echo=echo)
    _session_factory = async_sessionmaker(_engine, expire_on_commit=False, autoflush=False)
    _inline_reader = _create_inline_reader(_engine)
    return _engine


def get_engine() -> AsyncEngine:
    if _engine is None:
        from shared.config import get_settings

        settings = get_settings()
        configure(settings.DATABASE_URL, echo=settings.SQL_ECHO)
    assert _engine is not None
    return _engine


def get_session_factory() -> async_sessionmaker[AsyncSession]:
    get_engine()
    assert _session_factory is not None
    return _session_factory


def inline_reader() -> InlineReader | None:
    """This process's reader for statements that must not wait, when the database is an SQLite file."""
    get_engine()
    return _inline_reader


async def dispose_engine() -> None:
    global _engine, _session_factory, _inline_reader
    if _engine is not None:
        await _engine.dispose()
    if _inline_reader is not None:
        _inline_reader.close()
    _engine = None
    _session_factory = None
    _inline_reader = None


async def begin_write(session: AsyncSession) -> None:
    """Make sure the session's transaction is a writer's (BEGIN IMMEDIATE on SQLite).

    A read-only transaction already open is ended first: it holds no changes (sessions do not autoflush
    and services commit their own writes), and on SQLite it could not be upgraded safely.
    """
    if session.in_transaction():
        connection = await session.connection()
        if (
            connection.dialect.name != "sqlite"
            or connection.sync_connection.get_execution_options().get(SQLITE_BEGIN_OPTION) == "IMMEDIATE"
        ):
            return
        await session.commit()
    await session.connection(execution_options={SQLITE_BEGIN_OPTION: "IMMEDIATE"})


P = ParamSpec("P")
R = TypeVar("R")
# Session.info key: set while the outermost @writes function runs (inner ones join its transaction).
_IN_WRITES = "in_writes"


def writes(
    function: Callable[Concatenate[AsyncSession, P], Awaitable[R]],
) -> Callable[Concatenate[AsyncSession, P], Awaitable[R]]:
    """Mark a service function that writes: it runs in a writer's transaction (see begin_write)."""

    @functools.wraps(function)
    async def wrapper(session: AsyncSession, *args: P.args, **kwargs: P.kwargs) -> R:
        if session.info.get(_IN_WRITES):
            return await function(session, *args, **kwargs)
        await begin_write(session)
        session.info[_IN_WRITES] = True
        try:
            result = await function(session, *args, **kwargs)
        finally:
            session.info[_IN_WRITES] = False
        if session.in_transaction():
            # An early return left the writer's transaction open: end it, so that the write lock (SQLite)
            # or row locks (PostgreSQL) are not held while the caller talks to Telegram.
            await session.commit()
        return result

    return wrapper


@asynccontextmanager
async def session_scope(*, write: bool = False) -> AsyncIterator[AsyncSession]:
    """One session for one unit of work (an HTTP request, a bot update, a command)."""
    async with get_session_factory()() as session:
        if write:
            await begin_write(session)
        yield session


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
    """Create the database if needed and bring its schema to the latest migration."""
    engine = engine or get_engine()
    async with engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            await connection.execution_options(**{SQLITE_BEGIN_OPTION: "IMMEDIATE"})
        await connection.run_sync(_upgrade_to_head)
        await connection.commit()
