"""An aiosqlite connection that needs one round trip to its thread per statement instead of four.

aiosqlite runs every sqlite3 call on the connection's own thread. SQLAlchemy's adapter makes four such calls
per statement (open a cursor, execute, fetch the rows, close the cursor) and one per commit or rollback; each
is a hand-off between threads that costs more than a small indexed query. This connection executes, fetches
and closes in one call, and skips commit and rollback when SQLite has no transaction open (sqlite3 itself
would do nothing then; readers never open one, see shared.database). SQLAlchemy's own aiosqlite dialect and
adapter stay in charge: shared.database plugs this in with create_async_engine(async_creator=...).
"""

import sqlite3
from collections import deque
from collections.abc import Generator, Iterable, Sequence
from functools import partial
from typing import Any

import aiosqlite

Row = tuple[Any, ...]
_Outcome = tuple[Any, int, int | None, list[Row]]


def _run(connection: sqlite3.Connection, sql: str, parameters: Any, *, many: bool) -> _Outcome:
    """On the connection's thread: the statement's description, rowcount, lastrowid and all its rows."""
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
        outcome = await connection._execute(_run, connection._conn, sql, parameters, many=many)
        self.description, self.rowcount, self.lastrowid, rows = outcome
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


class Connection(aiosqlite.Connection):
    """aiosqlite.Connection with PrefetchCursor and no round trip for a commit or rollback of nothing."""

    def cursor(self) -> PrefetchCursor:  # type: ignore[override]
        return PrefetchCursor(self)

    async def commit(self) -> None:
        if self.in_transaction:
            await super().commit()

    async def rollback(self) -> None:
        if self.in_transaction:
            await super().rollback()


async def connect(database: str, **kwargs: Any) -> Connection:
    """Open a Connection (keyword arguments as for sqlite3.connect)."""
    connection = Connection(partial(sqlite3.connect, database, **kwargs), iter_chunk_size=64)
    # As SQLAlchemy does for aiosqlite: a connection nobody closed must not keep the process alive.
    connection._thread.daemon = True
    return await connection
