"""Query plans of the benchmarked endpoints, and how their SQL cost grows with the size of the tables.

    .venv/bin/python -m bench.explain            # builds bench/data/bench.db and bench-0.1.db if missing

1. Captures the SQL the real app sends for each endpoint, by calling its services with a
   before_cursor_execute listener on the app's own engine (shared.database), and a statement hook on its
   inline reader for the shortcuts in front of these routes (backend/api/shortcuts.py: what bench.run
   measures on SQLite, the same functions' *_inline variants). The routes:
     health                 database.ping()
     lessons (anonymous)    lesson_service.get_all(is_active=True, ..., public=True), total not cached
     lessons (admin)        auth_service.authenticate(token) + lesson_service.get_all(is_active=None, ...)
     user purchases         auth_service.authenticate(token)
                            + purchase_service.get_all(user_id=id, limit=20, offset=0, check_user=True)
2. Prints SQLite's EXPLAIN QUERY PLAN of every statement on the full-size database and flags a full table
   scan (SCAN t), a whole-index scan (SCAN t USING [COVERING] INDEX: reads every entry unless an ORDER BY
   on that index plus LIMIT stops it early) and a sort of all matching rows (USE TEMP B-TREE). The same
   plans without ANALYZE statistics (the app never runs ANALYZE) are compared too.
3. Times every statement with the sqlite3 module (median of many runs, random user ids) on a database 1/10
   of the size and on the full one, and reports the ratio: about 1 means the cost does not depend on the
   size of the tables; about 10 means it is proportional to it.
"""

import argparse
import asyncio
import os
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.common import ADMIN_PASSWORD, ADMIN_USERNAME, DEFAULT_DB, RESULTS_DIR, SMALL_DB, server_env

# The user whose purchases are captured: one with purchases in both databases (see pick_user), never equal
# to another parameter (limit 20, offset 0), so that timing can swap it for random user ids.
SAMPLE_USER_ID = 0
GROWS_RATIO = 3.0
SLIGHT_RATIO = 1.5
MIN_DELTA_US = 3.0  # below this, a difference is timer and machine noise
ROUNDS = 10  # alternations between the two databases; the lowest median of each side counts


@dataclass
class Statement:
    sql: str
    params: tuple[Any, ...]

    @property
    def is_query(self) -> bool:
        return self.sql.lstrip().upper().startswith("SELECT")

    def short(self, width: int = 90) -> str:
        text = " ".join(self.sql.split())
        return text if len(text) <= width else text[: width - 3] + "..."


@dataclass
class EndpointSql:
    name: str
    statements: list[Statement] = field(default_factory=list)


async def capture(db_path: Path) -> list[EndpointSql]:
    """The statements the real app's services send for each endpoint, on this database."""
    os.environ.update(server_env(db_path))
    from sqlalchemy import event

    from backend.api import shortcuts
    from backend.main import prepare_database
    from backend.services import auth_service, catalog_cache, lesson_service, purchase_service
    from shared import database
    from shared.config import get_settings

    get_settings.cache_clear()
    engine = database.configure(server_env(db_path)["DATABASE_URL"])
    try:
        await prepare_database()  # migrations (none left to run) and the admin account
        async with database.session_scope(write=True) as session:
            tokens = await auth_service.login(session, username=ADMIN_USERNAME, password=ADMIN_PASSWORD)
        current: list[Statement] = []

        def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, _ctx: Any, _many: bool) -> None:
            current.append(Statement(statement, tuple(parameters or ())))

        event.listen(engine.sync_engine, "before_cursor_execute", record)
        reader = database.inline_reader()
        assert reader is not None
        reader.statement_hooks.append(lambda sql, values: current.append(Statement(sql, tuple(values))))

        async def anonymous_lessons() -> None:
            async with database.session_scope() as session:
                # As the endpoint calls it: the public list, with its cached total (cleared first, so that
                # the count it caches is captured too).
                catalog_cache.totals.clear()
                await lesson_service.get_all(
                    session, is_active=True, limit=20, offset=0, sort="-created_at", public=True
                )

        async def admin_lessons() -> None:
            async with database.session_scope() as session:
                await auth_service.authenticate(session, tokens.access_token)
                await lesson_service.get_all(session, is_active=None, limit=20, offset=0, sort="-created_at")

        async def user_purchases() -> None:
            async with database.session_scope() as session:
                await auth_service.authenticate(session, tokens.access_token)
                await purchase_service.get_all(
                    session, user_id=SAMPLE_USER_ID, limit=20, offset=0, check_user=True
                )

        # What the shortcuts in front of these routes send (backend/api/shortcuts.py), as bench.run measures.
        async def health_shortcut() -> None:
            reader.all(shortcuts.PING)

        async def anonymous_lessons_shortcut() -> None:
            catalog_cache.totals.clear()
            lesson_service.get_newest_inline(reader, public=True, limit=20, offset=0)

        async def admin_lessons_shortcut() -> None:
            assert auth_service.is_authenticated_inline(reader, tokens.access_token)
            lesson_service.get_newest_inline(reader, public=False, limit=20, offset=0)

        async def user_purchases_shortcut() -> None:
            assert auth_service.is_authenticated_inline(reader, tokens.access_token)
            purchase_service.get_users_newest_inline(reader, SAMPLE_USER_ID, limit=20, offset=0)

        calls: list[tuple[str, Callable[[], Any]]] = [
            ("GET /health (shortcut)", health_shortcut),
            ("GET /api/lessons/?limit=20 (anonymous, shortcut)", anonymous_lessons_shortcut),
            ("GET /api/lessons/?limit=20 (admin, shortcut)", admin_lessons_shortcut),
            ("GET /api/users/{id}/purchases (admin, shortcut)", user_purchases_shortcut),
            ("GET /health (route)", database.ping),
            ("GET /api/lessons/?limit=20 (anonymous, route)", anonymous_lessons),
            ("GET /api/lessons/?limit=20 (admin, route)", admin_lessons),
            ("GET /api/users/{id}/purchases (admin, route)", user_purchases),
        ]
        captured = []
        for name, call in calls:
            current.clear()
            await call()
            captured.append(EndpointSql(name, list(current)))
        event.remove(engine.sync_engine, "before_cursor_execute", record)
        return captured
    finally:
        await database.dispose_engine()


def pick_user(small_path: Path, full_path: Path) -> int:
    """A user id above 100 with purchases in both databases."""
    with sqlite3.connect(small_path) as small, sqlite3.connect(full_path) as full:
        candidates = small.execute(
            "SELECT user_id FROM purchases WHERE user_id > 100"
            " GROUP BY user_id HAVING count(*) >= 2 LIMIT 200"
        ).fetchall()
        for (user_id,) in candidates:
            if (
                full.execute("SELECT count(*) FROM purchases WHERE user_id = ?", (user_id,)).fetchone()[0]
                >= 2
            ):
                return user_id
    raise SystemExit("no user with purchases in both databases")


def classify(detail: str, statement: Statement, plan: list[str]) -> str:
    """'' for an index lookup or a scan that LIMIT stops early; otherwise what deserves a look."""
    if "USE TEMP B-TREE" in detail:
        return "SORT of all matching rows"
    if detail.startswith("SCAN CONSTANT ROW"):
        return ""
    if detail.startswith("SCAN "):
        if "USING" not in detail:
            return "FULL TABLE SCAN"
        sql = statement.sql.upper()
        if "ORDER BY" in sql and "LIMIT" in sql and not any("TEMP B-TREE" in d for d in plan):
            return ""  # walks the index in ORDER BY order and stops after LIMIT rows
        return "WHOLE-INDEX SCAN: reads every entry, cost proportional to the table"
    return ""


def query_plan(db: sqlite3.Connection, statement: Statement) -> list[str]:
    return [row[3] for row in db.execute(f"EXPLAIN QUERY PLAN {statement.sql}", statement.params)]


def plans_without_statistics(db_path: Path, endpoints: list[EndpointSql]) -> dict[str, list[str]]:
    """Plans on a copy of the database whose ANALYZE statistics were dropped."""
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "nostats.db"
        with sqlite3.connect(db_path) as source, sqlite3.connect(copy) as target:
            source.backup(target)
        with sqlite3.connect(copy) as db:
            db.execute("DROP TABLE IF EXISTS sqlite_stat1")
        with sqlite3.connect(copy) as db:
            return {
                s.sql: query_plan(db, s) for endpoint in endpoints for s in endpoint.statements if s.is_query
            }


def with_user(params: tuple[Any, ...], user_id: int) -> tuple[Any, ...]:
    return tuple(user_id if p == SAMPLE_USER_ID else p for p in params)


def time_statement(db: sqlite3.Connection, statement: Statement, *, seconds: float, max_user: int) -> float:
    """Median microseconds of one execution with all rows fetched (random user ids where one is used)."""
    samples = []
    rng = random.Random(1)
    uses_user = SAMPLE_USER_ID in statement.params
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or len(samples) < 50:
        params = with_user(statement.params, rng.randint(1, max_user)) if uses_user else statement.params
        started = time.perf_counter_ns()
        db.execute(statement.sql, params).fetchall()
        samples.append(time.perf_counter_ns() - started)
    return statistics.median(samples) / 1000


def ensure_database(path: Path, scale: float) -> None:
    if not path.exists():
        print(f"Building {path} (scale {scale}) ...", file=sys.stderr, flush=True)
        from bench.make_db import build

        build(path, scale=scale)


def verdict(ratio: float, small_us: float, full_us: float) -> str:
    if full_us - small_us < MIN_DELTA_US:
        return "flat"
    if ratio >= GROWS_RATIO:
        return "GROWS with table size"
    if ratio >= SLIGHT_RATIO:
        return "grows slightly"
    return "flat"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", type=Path, default=DEFAULT_DB, help="full-size database (built if missing)")
    parser.add_argument("--small-db", type=Path, default=SMALL_DB, help="1/10 database (built if missing)")
    parser.add_argument("--seconds", type=float, default=0.5, help="timing per statement and database")
    args = parser.parse_args()
    full_path, small_path = args.db.resolve(), args.small_db.resolve()
    ensure_database(full_path, 1.0)
    ensure_database(small_path, 0.1)

    global SAMPLE_USER_ID
    SAMPLE_USER_ID = pick_user(small_path, full_path)
    full = asyncio.run(capture(full_path))
    small = asyncio.run(capture(small_path))
    out: list[str] = []

    def emit(line: str = "") -> None:
        print(line, flush=True)
        out.append(line)

    emit(f"# Query plans and size dependence ({datetime.now().isoformat(timespec='seconds')})")
    emit()
    emit(f"SQLite {sqlite3.sqlite_version}; full: {full_path}; small: {small_path}")
    emit()
    emit(
        f"Sample user {SAMPLE_USER_ID} for the capture; timing uses random user ids. A SEARCH is an index"
        " lookup, but its cost still grows with the number of matching entries it visits: see the timings."
    )
    flagged = []
    query_plan_cached: dict[str, list[str]] = {}
    nostats = plans_without_statistics(full_path, full)
    with sqlite3.connect(full_path) as db:
        for endpoint in full:
            emit()
            emit(f"## {endpoint.name}")
            for statement in endpoint.statements:
                emit()
                emit("```sql")
                emit(
                    " ".join(statement.sql.split())
                    + (f"  -- params {statement.params}" if statement.params else "")
                )
                emit("```")
                if not statement.is_query:
                    emit("(not a query: no plan)")
                    continue
                plan = query_plan(db, statement)
                query_plan_cached[statement.sql] = plan
                for detail in plan:
                    flag = classify(detail, statement, plan)
                    emit(f"    {detail}" + (f"    <-- {flag}" if flag else ""))
                    if flag:
                        flagged.append(f"{endpoint.name}: {detail} ({flag})")
                if nostats[statement.sql] != plan:
                    emit(
                        "    without ANALYZE statistics the plan would be: "
                        + " | ".join(nostats[statement.sql])
                    )

    changed = sum(
        1
        for endpoint in full
        for statement in endpoint.statements
        if statement.is_query and nostats[statement.sql] != query_plan_cached[statement.sql]
    )
    emit()
    emit(
        f"Without ANALYZE statistics (the app never runs ANALYZE), {changed} of these plans would differ"
        + (": see above." if changed else ".")
    )
    emit()
    emit("## Flags")
    emit()
    for line in flagged or ["none"]:
        emit(f"- {line}")

    with sqlite3.connect(small_path) as db_small, sqlite3.connect(full_path) as db_full:
        max_user = min(db.execute("SELECT max(id) FROM users").fetchone()[0] for db in (db_small, db_full))
        emit()
        emit("## Size dependence: median microseconds per statement (sqlite3, rows fetched)")
        emit()
        emit("| endpoint | statement | 1/10 size us | full size us | ratio | verdict |")
        emit("| --- | --- | ---: | ---: | ---: | --- |")
        for endpoint_full, endpoint_small in zip(full, small, strict=True):
            total_small = total_full = 0.0
            for s_full, s_small in zip(endpoint_full.statements, endpoint_small.statements, strict=True):
                if not s_full.is_query:
                    continue
                # Alternate between the databases and keep each side's best median: noise only adds time.
                small_runs, full_runs = [], []
                for _ in range(ROUNDS):
                    small_runs.append(
                        time_statement(db_small, s_small, seconds=args.seconds / ROUNDS, max_user=max_user)
                    )
                    full_runs.append(
                        time_statement(db_full, s_full, seconds=args.seconds / ROUNDS, max_user=max_user)
                    )
                us_small, us_full = min(small_runs), min(full_runs)
                total_small += us_small
                total_full += us_full
                ratio = us_full / us_small if us_small else float("inf")
                emit(
                    f"| {endpoint_full.name} | `{s_full.short(70)}` | {us_small:.1f} | {us_full:.1f} | "
                    f"{ratio:.2f} | {verdict(ratio, us_small, us_full)} |"
                )
            ratio = total_full / total_small if total_small else float("inf")
            emit(
                f"| **{endpoint_full.name}** | **all statements** | **{total_small:.1f}** | "
                f"**{total_full:.1f}** | **{ratio:.2f}** | **{verdict(ratio, total_small, total_full)}** |"
            )

    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    text = "\n".join(out) + "\n"
    (RESULTS_DIR / f"explain-{stamp}.md").write_text(text)
    shutil.copyfile(RESULTS_DIR / f"explain-{stamp}.md", RESULTS_DIR / "latest-explain.md")
    print(f"\nWritten to bench/results/explain-{stamp}.md", flush=True)


if __name__ == "__main__":
    main()
