"""An aiosqlite connection that runs statements on the event loop unless they must wait, and queues writers.

aiosqlite runs every sqlite3 call on the connection's own thread, and SQLAlchemy's adapter makes four such
calls per statement (cursor, execute, fetch, close). Each hand-off between threads costs more than a small
indexed query (about 0.2 ms against 0.01 ms), and far more when many requests are in flight. In WAL mode
only one thing ever waits for long: taking the write lock (BEGIN IMMEDIATE, or a write outside such a
transaction) while another connection's writer holds it. Reads, and everything a transaction does once it
holds the write lock (its commit included), take microseconds, so they run right here on the event loop.
The price: a slow query (a text search over a large table) holds up every other request of the process
while it runs, as in any synchronous server. Copying the WAL back into the database file (a checkpoint,
which syncs the disk) is kept out of commits and done on a thread (Checkpointer).

Writers of one process take an asyncio lock (first come, first served) before they ask SQLite for its write
lock, then try to take it without waiting. Without the queue, waiting writers poll SQLite's busy handler,
which sleeps up to 100 ms between tries and lets newcomers overtake them: under fifty concurrent payments
that put seconds on the slowest. Only when a writer of another process (the bot beside the API) holds the
lock does the statement go to the connection's thread to wait there, up to the busy timeout.

SQLAlchemy's own aiosqlite dialect and adapter stay in charge: shared.database plugs this in with
create_async_engine(async_creator=...).
"""

import asyncio
import logging
import sqlite3
import threading
import weakref
from collections import deque
from collections.abc import Generator, Iterable, Sequence
from functools import partial
from typing import Any

import aiosqlite

logger = logging.getLogger(__name__)

Row = tuple[Any, ...]
_Outcome = tuple[Any, int, int | None, list[Row]]

# Statements that take no lock that anyone else can hold for long: run inline even without the write lock.
_INLINE_PREFIXES = ("SELECT", "EXPLAIN", "BEGIN DEFERRED", "ROLLBACK", "PRAGMA")

# One FIFO lock per database file and event loop (tests run many loops; a lock belongs to one).
_write_locks: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Lock]]" = (
    weakref.WeakKeyDictionary()
)


def write_lock(database: str) -> asyncio.Lock:
    """This process's writers' queue for one database file, on the running event loop."""
    locks = _write_locks.setdefault(asyncio.get_running_loop(), {})
    lock = locks.get(database)
    if lock is None:
        lock = locks[database] = asyncio.Lock()
    return lock


def _run(connection: sqlite3.Connection, sql: str, parameters: Any, *, many: bool) -> _Outcome:
    """The statement's description, rowcount, lastrowid and all its rows."""
    cursor = connection.cursor()
    try:
        if many:
            cursor.executemany(sql, parameters)
        else:
            cursor.execute(sql, parameters)
        rows = cursor.fetchall() if cursor.description else []
        return cursor.description, cursor.rowcount, cursor.lastrowid, rows
    finally:
        cursor.close()


def _runs_inline(sql: str) -> bool:
    head = " ".join(sql.lstrip()[:16].upper().split())
    return head == "BEGIN" or head.startswith(_INLINE_PREFIXES)


def _sets_journal_mode(sql: str) -> bool:
    # Switching a new database file to WAL may wait for a lock, but writes no rows: it waits on the
    # connection's thread without queueing behind this process's writers (a connection opened while one
    # of them holds the lock must not wait for it to finish).
    return "JOURNAL_MODE" in sql.upper() and sql.lstrip()[:6].upper() == "PRAGMA"


class PrefetchCursor:
    """The part of aiosqlite's Cursor that SQLAlchemy uses; execute() brings every row back at once."""

    arraysize = 1

    def __init__(self, connection: "Connection") -> None:
        self._connection = connection
        self._rows: deque[Row] = deque()
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None

    async def _execute(self, sql: str, parameters: Any, *, many: bool) -> "PrefetchCursor":
        connection = self._connection
        self.description, self.rowcount, self.lastrowid, rows = await connection.run(sql, parameters, many)
        self._rows = deque(rows)
        return self

    async def execute(self, sql: str, parameters: Iterable[Any] | None = None) -> "PrefetchCursor":
        return await self._execute(sql, () if parameters is None else parameters, many=False)

    async def executemany(self, sql: str, parameters: Iterable[Iterable[Any]]) -> "PrefetchCursor":
        return await self._execute(sql, parameters, many=True)

    async def fetchone(self) -> Row | None:
        return self._rows.popleft() if self._rows else None

    async def fetchmany(self, size: int | None = None) -> Sequence[Row]:
        rows = self._rows
        return [rows.popleft() for _ in range(min(size or self.arraysize, len(rows)))]

    async def fetchall(self) -> Sequence[Row]:
        rows = list(self._rows)
        self._rows.clear()
        return rows

    async def close(self) -> None:
        self._rows.clear()

    async def __aenter__(self) -> "PrefetchCursor":
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    def __await__(self) -> Generator[Any, None, "PrefetchCursor"]:
        # `await connection.cursor()` works as with aiosqlite.
        return self.__aenter__().__await__()


class Checkpointer:
    """Copies the WAL back into the database file now and then, on a thread of its own.

    SQLite does it by itself in the commit that takes the WAL past a thousand pages, and that commit then
    also syncs the file to disk: a good part of a second on a busy disk, with the event loop stopped. So
    our connections turn that off (PRAGMA wal_autocheckpoint=0, see shared.database) and this runs a
    PASSIVE checkpoint, which waits for no one and no one waits for, every COMMITS_PER_CHECKPOINT commits.
    """

    COMMITS_PER_CHECKPOINT = 200

    def __init__(self, database: str) -> None:
        self.database = database
        self.commits = 0
        self._running: asyncio.Task[None] | None = None
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None

    def count_commit(self) -> None:
        self.commits += 1
        if self.commits >= self.COMMITS_PER_CHECKPOINT and not self._in_progress():
            self.commits = 0
            self._running = asyncio.get_running_loop().create_task(self.checkpoint())

    def _in_progress(self) -> bool:
        # A task of an event loop that is gone (tests run many) will never finish.
        running = self._running
        return running is not None and not running.done() and running.get_loop() is asyncio.get_running_loop()

    async def checkpoint(self) -> None:
        try:
            await asyncio.to_thread(self._checkpoint)
        except sqlite3.Error:
            # The next one will catch up; the WAL only grows meanwhile.
            logger.exception("WAL checkpoint of %s failed", self.database)

    def _checkpoint(self) -> None:
        with self._lock:
            if self._connection is None:
                self._connection = sqlite3.connect(
                    self.database, check_same_thread=False, isolation_level=None
                )
            self._connection.execute("PRAGMA wal_checkpoint(PASSIVE)")


_checkpointers: dict[str, Checkpointer] = {}


def checkpointer(database: str) -> Checkpointer:
    found = _checkpointers.get(database)
    if found is None:
        found = _checkpointers[database] = Checkpointer(database)
    return found


class Connection(aiosqlite.Connection):
    """aiosqlite.Connection that runs non-waiting statements inline and queues this process's writers."""

    def __init__(self, connector: Any, database: str, **kwargs: Any) -> None:
        super().__init__(connector, **kwargs)
        self._database = database
        self._held_lock: asyncio.Lock | None = None

    @property
    def holds_write_lock(self) -> bool:
        """Whether this connection is the process's writer now (its place in the queue taken)."""
        return self._held_lock is not None

    def cursor(self) -> PrefetchCursor:  # type: ignore[override]
        return PrefetchCursor(self)

    async def run(self, sql: str, parameters: Any, many: bool) -> _Outcome:
        try:
            if _sets_journal_mode(sql):
                return await self._execute(_run, self._conn, sql, parameters, many=many)
            if not ((self._held_lock is not None and self._conn.in_transaction) or _runs_inline(sql)):
                # A statement that may take SQLite's write lock: queue behind this process's other writers
                # first, then try it here without waiting; only if another process's writer holds the
                # lock does the connection's thread wait for it (busy timeout).
                busy_timeout_ms = self._conn.execute("PRAGMA busy_timeout").fetchone()[0]
                await self._take_write_lock(busy_timeout_ms / 1000)
                outcome = self._run_unless_busy(sql, parameters, many, busy_timeout_ms)
                if outcome is not None:
                    return outcome
                return await self._execute(_run, self._conn, sql, parameters, many=many)
            return _run(self._conn, sql, parameters, many=many)
        finally:
            self._release_if_done()

    def _run_unless_busy(
        self, sql: str, parameters: Any, many: bool, busy_timeout_ms: int
    ) -> _Outcome | None:
        connection = self._conn
        connection.execute("PRAGMA busy_timeout=0")
        try:
            return _run(connection, sql, parameters, many=many)
        except sqlite3.OperationalError as error:
            # Nothing was done: the statement could not start. Anything else is the caller's error.
            if error.sqlite_errorcode != sqlite3.SQLITE_BUSY:
                raise
            return None
        finally:
            connection.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")

    async def _take_write_lock(self, wait_seconds: float) -> None:
        if self._held_lock is not None:
            return
        lock = write_lock(self._database)
        try:
            # As long as SQLite itself would wait for another connection's writer (its busy timeout).
            async with asyncio.timeout(max(wait_seconds, 0.001)):
                await lock.acquire()
        except TimeoutError:
            # What SQLite itself says when its busy timeout runs out.
            raise sqlite3.OperationalError("database is locked") from None
        self._held_lock = lock

    def _release_if_done(self) -> None:
        lock = self._held_lock
        if lock is not None and not self._conn.in_transaction:
            self._held_lock = None
            lock.release()

    async def commit(self) -> None:
        if self._conn.in_transaction:
            wrote = self._held_lock is not None
            try:
                # Inline too: in WAL mode the writer already holds every lock its commit needs, and it never
                # checkpoints here (see Checkpointer).
                self._conn.commit()
            finally:
                self._release_if_done()
            if wrote:
                checkpointer(self._database).count_commit()

    async def rollback(self) -> None:
        if self._conn.in_transaction:
            try:
                self._conn.rollback()
            finally:
                self._release_if_done()

    async def close(self) -> None:
        try:
            await super().close()
        finally:
            lock, self._held_lock = self._held_lock, None
            if lock is not None:
                lock.release()


async def connect(database: str, **kwargs: Any) -> Connection:
    """Open a Connection (keyword arguments as for sqlite3.connect)."""
    # The loop's thread runs statements too, never at the same time as the connection's own thread.
    connector = partial(sqlite3.connect, database, **{**kwargs, "check_same_thread": False})
    connection = Connection(connector, database, iter_chunk_size=64)
    # As SQLAlchemy does for aiosqlite: a connection nobody closed must not keep the process alive.
    connection._thread.daemon = True
    return await connection
