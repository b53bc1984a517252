"""Build a benchmark database: the app's own schema, then users, lessons, courses and purchases.

    python -m bench.make_db --database-url sqlite:///bench/data/bench-1.db          # full size, see below
    python -m bench.make_db --database-url sqlite:///bench/data/small.db --scale 0.1
    python -m bench.make_db --database-url sqlite:///bench/data/search.db --scale 0.1 --lessons 50000
    python -m bench.make_db --database-url postgresql://postgres@127.0.0.1:5432/bench_e   # an empty database
    python -m bench.make_db --database-url sqlite:///bench/data/panel.db --purchases 1000000 --now today

At --scale 1: 100,000 users, 10,000 lessons, 500 courses of 3 to 8 lessons, 200,000 purchases. The schema
comes from the app's migrations (shared.database.migrate), whatever they are at the time; the rows go in
through SQLAlchemy Core bulk inserts on the models' tables (so they are stored as the app stores them), in
one transaction, on SQLite or PostgreSQL alike. ANALYZE (PostgreSQL: VACUUM ANALYZE) runs at the end. The
admin account is not created here: the app creates it at startup from ADMIN_PASSWORD. The rows are the
same for a given size (fixed seed). --purchases and --users replace the scaled counts; --now today dates the
rows up to today instead of a fixed day (the dashboard's periods end today). The dashboard's daily sales
rollup is filled at the end from the purchases, by set-based SQL (stats_service.rebuild).
"""

import argparse
import asyncio
import random
import sys
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, create_async_engine

from backend.services import stats_service
from shared import database
from shared.constants import PurchaseStatus
from shared.models import Course, CourseLesson, Lesson, Purchase, User
from shared.utils import normalize_database_url

# Row counts at --scale 1.
USERS = 100_000
LESSONS = 10_000
PURCHASES = 200_000
LESSONS_PER_COURSE = 20  # one course per 20 lessons

SEED = 20240601
NOW = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)
CHUNK = 20_000  # rows per executemany

FIRST_NAMES = ["Anna", "Boris", "Chen", "Dmitri", "Elena", "Farid", "Grace", "Hiro", "Ivan", "Julia"]
LAST_NAMES = ["Ivanova", "Smith", "Kowalski", "Nguyen", "Garcia", "Petrov", None, None]
LANGUAGES = ["en", "en", "en", "ru", "ru", "de", "es", "uk"]
TOPICS = ["Python", "Guitar", "Drawing", "Spanish", "Statistics", "Chess", "Cooking", "Photography"]
LOREM = (
    "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut "
    "labore et dolore magna aliqua. Ut enim ad minim veniam, quis nostrud exercitation ullamco laboris "
    "nisi ut aliquip ex ea commodo consequat. Duis aute irure dolor in reprehenderit in voluptate velit "
    "esse cillum dolore eu fugiat nulla pariatur. Excepteur sint occaecat cupidatat non proident, sunt "
    "in culpa qui officia deserunt mollit anim id est laborum. "
)
# Purchase statuses, weighted: mostly completed.
STATUSES = (
    [PurchaseStatus.COMPLETED] * 85
    + [PurchaseStatus.PENDING] * 7
    + [PurchaseStatus.FAILED] * 5
    + [PurchaseStatus.REFUNDED] * 3
)


def counts(
    scale: float, lessons: int | None = None, *, purchases: int | None = None, users: int | None = None
) -> dict[str, int]:
    """The row counts for a size (lessons, purchases, users: instead of the scaled numbers)."""
    n_lessons = lessons if lessons is not None else max(1, round(LESSONS * scale))
    return {
        "users": users if users is not None else max(1, round(USERS * scale)),
        "lessons": n_lessons,
        "courses": max(1, n_lessons // LESSONS_PER_COURSE),
        "purchases": purchases if purchases is not None else max(1, round(PURCHASES * scale)),
    }


def timestamps(rng: random.Random, count: int, *, days_back: int) -> list[datetime]:
    """`count` random moments in the last `days_back` days, oldest first (ids grow with time)."""
    start = NOW - timedelta(days=days_back)
    span = days_back * 86_400 * 1_000_000
    return sorted(start + timedelta(microseconds=rng.randrange(span)) for _ in range(count))


def user_rows(rng: random.Random, count: int) -> list[dict[str, Any]]:
    return [
        {
            "id": user_id,
            "telegram_id": 1_000_000_000 + user_id * 7,
            "username": f"user{user_id}" if rng.random() < 0.8 else None,
            "first_name": rng.choice(FIRST_NAMES),
            "last_name": rng.choice(LAST_NAMES),
            "language_code": rng.choice(LANGUAGES),
            "is_active": rng.random() < 0.97,
            "created_at": created,
            "updated_at": created + timedelta(seconds=rng.randrange(0, 86_400 * 30)),
        }
        for user_id, created in enumerate(timestamps(rng, count, days_back=3 * 365), start=1)
    ]


def lesson_rows(rng: random.Random, count: int) -> list[dict[str, Any]]:
    """15 % free, 10 % inactive, 60 % with a video path, 70 % with a few hundred characters of text."""
    rows = []
    for lesson_id, created in enumerate(timestamps(rng, count, days_back=3 * 365), start=1):
        is_free = rng.random() < 0.15
        topic = rng.choice(TOPICS)
        start = rng.randrange(0, 200)
        rows.append(
            {
                "id": lesson_id,
                "title": f"{topic} lesson {lesson_id}",
                "description": f"Lesson {lesson_id} of the {topic} series. "
                + LOREM[: rng.randrange(60, 200)],
                "price": 0 if is_free else rng.randrange(1, 500),
                "video_path": f"videos/{topic.lower()}/lesson_{lesson_id}.mp4"
                if rng.random() < 0.6
                else None,
                "text_content": (LOREM * 3)[start : start + rng.randrange(300, 700)]
                if rng.random() < 0.7
                else None,
                "is_active": rng.random() < 0.9,
                "is_free": is_free,
                "created_at": created,
                "updated_at": created + timedelta(seconds=rng.randrange(0, 86_400 * 60)),
            }
        )
    return rows


def course_rows(
    rng: random.Random, count: int, lessons: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Courses of 3 to 8 distinct paid lessons each (90 % active), and their lesson links."""
    paid = [lesson for lesson in lessons if not lesson["is_free"]] or lessons
    courses, links = [], []
    for course_id, created in enumerate(timestamps(rng, count, days_back=2 * 365), start=1):
        chosen = rng.sample(paid, min(len(paid), rng.randrange(3, 9)))
        total = max(1, sum(lesson["price"] for lesson in chosen))
        courses.append(
            {
                "id": course_id,
                "title": f"{chosen[0]['title'].split()[0]} course {course_id}",
                "description": LOREM[: rng.randrange(60, 200)],
                "total_price": total,
                "discount_price": max(1, total * 8 // 10) if total > 1 and rng.random() < 0.5 else None,
                "is_active": rng.random() < 0.9,
                "created_at": created,
                "updated_at": created + timedelta(seconds=rng.randrange(0, 86_400 * 30)),
            }
        )
        links += [
            {"course_id": course_id, "lesson_id": lesson["id"], "position": position}
            for position, lesson in enumerate(chosen)
        ]
    return courses, links


def purchase_rows(
    rng: random.Random, count: int, *, users: int, lessons: list[dict[str, Any]]
) -> Iterator[dict[str, Any]]:
    """Purchases of paid lessons by random users, 85 % completed, unique payment ids (made as they are
    inserted: a million rows need not be in memory at once)."""
    paid = [(lesson["id"], lesson["price"]) for lesson in lessons if not lesson["is_free"]]
    for purchase_id, created in enumerate(timestamps(rng, count, days_back=2 * 365), start=1):
        lesson_id, price = rng.choice(paid)
        status = rng.choice(STATUSES)
        paid_status = status in (PurchaseStatus.COMPLETED, PurchaseStatus.REFUNDED)
        yield (
            {
                "id": purchase_id,
                "user_id": rng.randrange(1, users + 1),
                "lesson_id": lesson_id,
                "payment_id": f"pay_{purchase_id:09d}_{rng.getrandbits(48):012x}",
                "telegram_payment_charge_id": f"tg_charge_{purchase_id:09d}" if paid_status else None,
                "amount": price,
                "status": status,
                "delivered_at": created + timedelta(seconds=1) if paid_status else None,
                "created_at": created,
                "updated_at": created + timedelta(seconds=rng.randrange(0, 600)),
            }
        )


def chunks(rows: Iterable[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


async def fill(connection: AsyncConnection, sizes: dict[str, int]) -> None:
    rng = random.Random(SEED)
    lessons = lesson_rows(rng, sizes["lessons"])
    courses, links = course_rows(rng, sizes["courses"], lessons)
    tables: list[tuple[Any, Iterable[dict[str, Any]]]] = [
        (User.__table__, user_rows(rng, sizes["users"])),
        (Lesson.__table__, lessons),
        (Course.__table__, courses),
        (CourseLesson.__table__, links),
        (Purchase.__table__, purchase_rows(rng, sizes["purchases"], users=sizes["users"], lessons=lessons)),
    ]
    for table, rows in tables:
        for chunk in chunks(rows):
            await connection.execute(table.insert(), chunk)
    if connection.dialect.name == "postgresql":
        # The ids were given: move each sequence past them, as the app's own inserts would have.
        for table in ("users", "lessons", "courses", "purchases"):
            await connection.execute(
                text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
            )
    # The dashboard's rollup, as the migration's backfill fills it: set-based, from the purchases.
    async with AsyncSession(bind=connection) as session:
        await stats_service.rebuild(session)
        await session.flush()


async def build(
    url: str,
    *,
    scale: float = 1.0,
    lessons: int | None = None,
    purchases: int | None = None,
    users: int | None = None,
) -> dict[str, int]:
    """Migrate the (empty) database at url to the app's schema and fill it."""
    database.configure(url)
    try:
        await database.migrate()
    finally:
        await database.dispose_engine()
    sizes = counts(scale, lessons, purchases=purchases, users=users)
    # A plain engine for the load (not the app's: its SQLite connections have their own transaction rules).
    engine = create_async_engine(normalize_database_url(url))
    try:
        async with engine.begin() as connection:
            if connection.dialect.name == "sqlite":
                await connection.exec_driver_sql("PRAGMA synchronous=OFF")
            await fill(connection, sizes)
        async with engine.connect() as connection:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            if connection.dialect.name == "postgresql":
                # As autovacuum leaves a table in use: the visibility map set, so that index-only scans
                # (counts, the ids of a page) need not visit the heap.
                await connection.exec_driver_sql("VACUUM ANALYZE")
            else:
                await connection.exec_driver_sql("ANALYZE")
            if connection.dialect.name == "sqlite":
                await connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        await engine.dispose()
    return sizes


def remove_sqlite_file(url: str, *, force: bool) -> None:
    path = Path(make_url(url).database or "")
    if path.exists():
        if not force:
            raise SystemExit(f"{path} exists; pass --force to replace it")
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    path.parent.mkdir(parents=True, exist_ok=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--database-url",
        required=True,
        help="sqlite:///FILE (created) or postgresql://... (an empty database)",
    )
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the full row counts")
    parser.add_argument("--lessons", type=int, help="this many lessons instead of the scaled number")
    parser.add_argument("--purchases", type=int, help="this many purchases instead of the scaled number")
    parser.add_argument("--users", type=int, help="this many users instead of the scaled number")
    parser.add_argument(
        "--now", help="'today' (midnight UTC) or an ISO date: rows end then (default 2025-06-01)"
    )
    parser.add_argument("--force", action="store_true", help="replace the SQLite file if it exists")
    args = parser.parse_args()
    if args.now:
        global NOW
        now = datetime.now(UTC) if args.now == "today" else datetime.fromisoformat(args.now)
        NOW = now.replace(microsecond=0, tzinfo=now.tzinfo or UTC)
    if make_url(normalize_database_url(args.database_url)).get_backend_name() == "sqlite":
        remove_sqlite_file(args.database_url, force=args.force)
    started = time.perf_counter()
    sizes = asyncio.run(
        build(
            args.database_url,
            scale=args.scale,
            lessons=args.lessons,
            purchases=args.purchases,
            users=args.users,
        )
    )
    summary = ", ".join(f"{n:,} {table}" for table, n in sizes.items())
    print(f"{summary} in {time.perf_counter() - started:.1f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
