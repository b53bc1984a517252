"""Totals of the public catalog, kept a few seconds: each is a statement saved, and a search's or a price
range's total is a count that reads every matching lesson (the unfiltered catalog's come from the row that
the database keeps, LessonTotals).

Only anonymous listings use it (lesson_service.get_all(public=True)): admins always get a fresh count, and
pages are always read fresh. A transaction that writes the lessons table through SQLAlchemy in this process
clears it when it ends, so once a lesson change is committed this process answers with the new total.
Changes made by another process (a second worker, the bot, a script) show in the total after at most
TTL_SECONDS.
"""

import functools
import time
from collections.abc import Callable, Hashable
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import Pool

TTL_SECONDS = 5.0
# Distinct filter combinations kept; searches are user text, so memory must stay bounded.
MAX_ENTRIES = 256
_WROTE_LESSONS = "catalog_cache_wrote_lessons"


class TotalsCache:
    """Counts by key for `ttl` seconds; a count that a clear() overtook while it ran is not kept."""

    def __init__(self, *, ttl: float, max_entries: int) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        # Read before counting, passed to put(): a clear() in between makes the count unsafe to keep.
        self.generation = 0
        self._entries: dict[Hashable, tuple[float, int]] = {}

    def get(self, key: Hashable) -> int | None:
        entry = self._entries.get(key)
        if entry is None or entry[0] <= time.monotonic():
            return None
        return entry[1]

    def put(self, key: Hashable, total: int, *, generation: int) -> None:
        if generation != self.generation:
            return
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[key] = (time.monotonic() + self.ttl, total)

    def lookup(self, key: Hashable) -> tuple[int | None, Callable[[int], None]]:
        """The kept total (None if there is none), and what to call with the total counted instead: it is
        kept then, unless a clear() overtook the count."""
        total, generation = self.get(key), self.generation
        if total is not None:
            return total, _keep_nothing
        return None, functools.partial(self._put_counted, key, generation)

    def _put_counted(self, key: Hashable, generation: int, total: int) -> None:
        self.put(key, total, generation=generation)

    def clear(self) -> None:
        self.generation += 1
        self._entries.clear()


def _keep_nothing(_total: int) -> None:
    """The total was already kept."""


totals = TotalsCache(ttl=TTL_SECONDS, max_entries=MAX_ENTRIES)


def writes_lessons(statement: str) -> bool:
    """Whether a statement may change the lessons table (conservative: course_lessons counts too)."""
    return statement.lstrip()[:6].upper() != "SELECT" and "lessons" in statement.lower()


@event.listens_for(Engine, "before_cursor_execute")
def _on_execute(connection: Connection, _cursor: Any, statement: str, *_args: Any) -> None:
    if writes_lessons(statement):
        connection.info[_WROTE_LESSONS] = True


@event.listens_for(Pool, "checkin")
def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
    # The writer's transaction has ended (committed or not) once its connection is back in the pool, and a
    # count taken before then may have missed the write: forget those, and refuse those still running.
    if record is not None and record.info.pop(_WROTE_LESSONS, False):
        totals.clear()
