"""Build the benchmark's SQLite database: the app's own schema, then users, lessons and purchases.

    python -m bench.make_db bench/data/bench.db            # 100,000 users, 10,000 lessons, 200,000 purchases
    python -m bench.make_db bench/data/small.db --scale 0.1
    python -m bench.make_db bench/data/bench.db --force    # replace an existing file

The schema comes from the app's migration (shared.database.migrate); the rows are written with the
sqlite3 module in one transaction, in the same form SQLAlchemy stores them (naive UTC timestamps as
'YYYY-MM-DD HH:MM:SS.ffffff', booleans as 0/1, statuses as lowercase strings). ANALYZE runs at the end.
The admin account is not created here: the app creates it at startup from ADMIN_PASSWORD.
"""

import argparse
import asyncio
import random
import sqlite3
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.common import LESSONS, PURCHASES, USERS, sqlite_url
from shared import database

SEED = 20240601
NOW = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC).replace(tzinfo=None)
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S.%f"  # what SQLAlchemy's DateTime writes on SQLite

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
STATUSES = ["completed"] * 85 + ["pending"] * 7 + ["failed"] * 5 + ["refunded"] * 3


def timestamps(rng: random.Random, count: int, *, days_back: int) -> list[datetime]:
    """`count` random moments in the last `days_back` days, oldest first (ids grow with time)."""
    start = NOW - timedelta(days=days_back)
    span = days_back * 86_400 * 1_000_000
    return sorted(start + timedelta(microseconds=rng.randrange(span)) for _ in range(count))


def fmt(moment: datetime) -> str:
    return moment.strftime(TIMESTAMP_FORMAT)


def user_rows(rng: random.Random, count: int) -> list[tuple[object, ...]]:
    rows = []
    for user_id, created in enumerate(timestamps(rng, count, days_back=3 * 365), start=1):
        updated = fmt(created + timedelta(seconds=rng.randrange(0, 86_400 * 30)))
        rows.append(
            (
                user_id,
                1_000_000_000 + user_id * 7,  # telegram_id, unique
                f"user{user_id}" if rng.random() < 0.8 else None,
                rng.choice(FIRST_NAMES),
                rng.choice(LAST_NAMES),
                rng.choice(LANGUAGES),
                1 if rng.random() < 0.97 else 0,
                fmt(created),
                updated,
            )
        )
    return rows


def lesson_rows(rng: random.Random, count: int) -> list[tuple[object, ...]]:
    rows = []
    for lesson_id, created in enumerate(timestamps(rng, count, days_back=3 * 365), start=1):
        is_free = rng.random() < 0.15
        topic = rng.choice(TOPICS)
        start = rng.randrange(0, 200)
        text = (LOREM * 3)[start : start + rng.randrange(300, 700)] if rng.random() < 0.7 else None
        rows.append(
            (
                lesson_id,
                f"{topic} lesson {lesson_id}",
                f"Lesson {lesson_id} of the {topic} series. " + LOREM[: rng.randrange(60, 200)],
                0 if is_free else rng.randrange(1, 500),
                f"videos/{topic.lower()}/lesson_{lesson_id}.mp4" if rng.random() < 0.6 else None,
                text,
                1 if rng.random() < 0.9 else 0,
                1 if is_free else 0,
                fmt(created),
                fmt(created + timedelta(seconds=rng.randrange(0, 86_400 * 60))),
            )
        )
    return rows


def purchase_rows(
    rng: random.Random, count: int, *, users: int, paid_lessons: list[tuple[int, int]]
) -> list[tuple[object, ...]]:
    rows = []
    for purchase_id, created in enumerate(timestamps(rng, count, days_back=2 * 365), start=1):
        lesson_id, price = rng.choice(paid_lessons)
        status = rng.choice(STATUSES)
        charge_id = f"tg_charge_{purchase_id:09d}" if status in ("completed", "refunded") else None
        rows.append(
            (
                purchase_id,
                rng.randrange(1, users + 1),
                lesson_id,
                None,  # course_id
                None,  # promo_code_id
                f"pay_{purchase_id:09d}_{rng.getrandbits(48):012x}",
                charge_id,
                price,
                status,
                fmt(created),
                fmt(created + timedelta(seconds=rng.randrange(0, 600))),
            )
        )
    return rows


async def create_schema(path: Path) -> None:
    database.configure(sqlite_url(path))
    try:
        await database.migrate()
    finally:
        await database.dispose_engine()


def fill(path: Path, *, scale: float) -> dict[str, int]:
    users, lessons, purchases = (max(1, round(n * scale)) for n in (USERS, LESSONS, PURCHASES))
    rng = random.Random(SEED)
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("PRAGMA synchronous=OFF")
        connection.execute("PRAGMA cache_size=-200000")
        connection.execute("BEGIN")
        connection.executemany(
            "INSERT INTO users (id, telegram_id, username, first_name, last_name, language_code,"
            " is_active, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            user_rows(rng, users),
        )
        lesson_data = lesson_rows(rng, lessons)
        connection.executemany(
            "INSERT INTO lessons (id, title, description, price, video_path, text_content, is_active,"
            " is_free, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            lesson_data,
        )
        paid = [(row[0], row[3]) for row in lesson_data if not row[7]]
        connection.executemany(
            "INSERT INTO purchases (id, user_id, lesson_id, course_id, promo_code_id, payment_id,"
            " telegram_payment_charge_id, amount, status, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            purchase_rows(rng, purchases, users=users, paid_lessons=paid),
        )
        connection.execute("COMMIT")
        connection.execute("ANALYZE")
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        connection.close()
    return {"users": users, "lessons": lessons, "purchases": purchases}


def build(path: Path, *, scale: float = 1.0, force: bool = False) -> dict[str, int]:
    path = path.resolve()
    if path.exists():
        if not force:
            raise SystemExit(f"{path} exists; pass --force to replace it")
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    asyncio.run(create_schema(path))
    return fill(path, scale=scale)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("path", type=Path, help="SQLite file to create")
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the full row counts")
    parser.add_argument("--force", action="store_true", help="replace the file if it exists")
    args = parser.parse_args()
    started = time.perf_counter()
    counts = build(args.path, scale=args.scale, force=args.force)
    elapsed = time.perf_counter() - started
    summary = ", ".join(f"{n:,} {table}" for table, n in counts.items())
    print(f"{args.path}: {summary} in {elapsed:.1f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
