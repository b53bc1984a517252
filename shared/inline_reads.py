"""Read-only statements on SQLite without SQLAlchemy's async machinery: the API's shortcuts (see
backend/api/shortcuts.py).

Through an AsyncSession, one indexed lookup costs about 0.1 to 0.25 ms of CPU (pool checkout, three
greenlet round trips, the execution context, ORM loading), where the sqlite3 module itself takes 5 to 10
microseconds (bench/floor.py). InlineReader runs a SQLAlchemy select compiled once (the services' own
statements, so the SQL is written in one place) on a sqlite3 connection of its own, on the event loop's
thread, and converts the values with the columns' own SQLAlchemy types, so a row holds what the ORM would
have loaded: timezone-aware datetimes, enums, booleans.

Only for reads that must never wait: the connection is query-only, and its busy timeout is zero, so a
statement that would wait for a lock fails at once (sqlite3.Error) instead of stopping the event loop; the
caller then takes the ordinary path. In WAL mode readers wait for no one, so that is rare. Each statement
is its own read transaction and sees every commit made before it, by any connection.
"""

import functools
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeEngine

# Statements are the services' module constants or cached shapes; a caller that builds new ones per call
# must not grow the cache without bound.
MAX_COMPILED = 256
# Distinct stored datetimes kept parsed, per kind of datetime column.
DATETIMES_REMEMBERED = 4096

Processor = Callable[[Any], Any] | None


@dataclass(frozen=True)
class _Compiled:
    statement: Select[Any]  # kept, so that its id() is not reused while cached
    sql: str
    construct_params: Callable[..., dict[str, Any]]
    bind_names: tuple[str, ...]
    bind_processors: tuple[Processor, ...]
    keys: tuple[str, ...]
    # (key, processor) of the columns whose values SQLAlchemy converts.
    processed: tuple[tuple[str, Callable[[Any], Any]], ...]


def _is_datetime(type_: TypeEngine[Any]) -> bool:
    try:
        return issubclass(type_.python_type, datetime)
    except NotImplementedError:
        return False


class InlineReader:
    """Runs selects on one query-only sqlite3 connection, on the calling (event loop) thread."""

    def __init__(self, connect: Callable[[], sqlite3.Connection], dialect: Dialect) -> None:
        """connect opens a connection to the database, set up as the engine's are (see shared.database)."""
        self._open = connect
        self._dialect = dialect
        # Called with each statement's SQL and parameters before it runs, as SQLAlchemy's
        # before_cursor_execute listeners are (tests and bench/explain.py look at what was sent).
        self.statement_hooks: list[Callable[[str, Sequence[Any]], None]] = []
        self._connection: sqlite3.Connection | None = None
        self._compiled: dict[int, _Compiled] = {}
        self._datetime_processors: dict[str, Callable[[Any], Any]] = {}

    def all(self, statement: Select[Any], params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """Every row of the statement, as {column key: value converted by the column's type}."""
        compiled = self._compile(statement)
        values = compiled.construct_params(params or {})
        arguments = [
            value if process is None else process(value)
            for value, process in zip(
                (values[name] for name in compiled.bind_names), compiled.bind_processors, strict=True
            )
        ]
        for hook in self.statement_hooks:
            hook(compiled.sql, arguments)
        cursor = self._connect().execute(compiled.sql, arguments)
        try:
            self._check_columns(compiled, cursor)
            rows = cursor.fetchall()
        finally:
            cursor.close()
        keys, processed = compiled.keys, compiled.processed
        records = [dict(zip(keys, row, strict=True)) for row in rows]
        # Only the columns whose type converts (datetimes, enums, booleans): a page has hundreds of values.
        for record in records:
            for key, process in processed:
                value = record[key]
                if value is not None:
                    record[key] = process(value)
        return records

    def first(self, statement: Select[Any], params: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
        rows = self.all(statement, params)
        return rows[0] if rows else None

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _connect(self) -> sqlite3.Connection:
        if self._connection is None:
            connection = self._open()
            try:
                connection.execute("PRAGMA busy_timeout=0")
                connection.execute("PRAGMA query_only=ON")
            except sqlite3.Error:
                connection.close()
                raise
            self._connection = connection
        return self._connection

    def _compile(self, statement: Select[Any]) -> _Compiled:
        found = self._compiled.get(id(statement))
        if found is not None:
            return found
        dialect = self._dialect
        compiled = statement.compile(dialect=dialect)
        bind_names = tuple(compiled.positiontup or ())
        # What SQLAlchemy applies to the parameters in its own execute (a private attribute, tested).
        bind_processors = compiled._bind_processors
        columns = list(statement.selected_columns)
        found = _Compiled(
            statement=statement,
            sql=compiled.string,
            construct_params=compiled.construct_params,
            bind_names=bind_names,
            bind_processors=tuple(bind_processors.get(name) for name in bind_names),
            keys=tuple(column.key for column in columns),
            processed=tuple(
                (column.key, self._remembered(column.type, process) if _is_datetime(column.type) else process)
                for column in columns
                if (process := column.type.dialect_impl(dialect).result_processor(dialect, None)) is not None
            ),
        )
        if len(self._compiled) >= MAX_COMPILED:
            self._compiled.clear()
        self._compiled[id(statement)] = found
        return found

    def _remembered(self, type_: TypeEngine[Any], process: Callable[[Any], Any]) -> Callable[[Any], Any]:
        # SQLite stores datetimes as text: parsing one and making it aware costs about 0.8 microseconds, 40
        # of them per catalog page, and a catalog's timestamps repeat from request to request. Datetimes
        # are immutable, so one parsed value can be handed out again; one cache per kind of column type.
        kind = repr(type_)
        found = self._datetime_processors.get(kind)
        if found is None:
            found = functools.lru_cache(maxsize=DATETIMES_REMEMBERED)(process)
            self._datetime_processors[kind] = found
        return found

    def _check_columns(self, compiled: _Compiled, cursor: sqlite3.Cursor) -> None:
        # ORM loader options (defer, with_expression, joinedload) change what the SQL returns without
        # changing the statement's selected columns: such a statement cannot be read here.
        returned = len(cursor.description or ())
        if returned != len(compiled.keys):
            raise ValueError(
                f"The statement returns {returned} columns for {len(compiled.keys)} selected ones (ORM "
                "loader options?); inline reads need a select of plain columns"
            )
