"""`python -m backend.backup FILE`: a consistent copy of the SQLite store, taken while the store runs.

It uses SQLite's online backup API: the copy is one snapshot of the database (the WAL included) even while
the API and the bot write to it, and writers are not stopped. Restore: stop the app, put the copy at the
DATABASE_URL's path (removing the old file's -wal and -shm files), start the app.

PostgreSQL has its own tool for this: `pg_dump --format=custom` (see docs/deployment.md).
"""

import argparse
import contextlib
import sqlite3
import sys
from pathlib import Path

from sqlalchemy.engine import make_url

from shared.config import get_settings

# Pages copied per step: small steps let writers in between them.
PAGES_PER_STEP = 1024


def sqlite_path(database_url: str) -> Path | None:
    """The file of a SQLite DATABASE_URL; None for another database."""
    url = make_url(database_url)
    if not url.drivername.startswith("sqlite"):
        return None
    if not url.database or url.database == ":memory:":
        raise ValueError("DATABASE_URL names no SQLite file")
    return Path(url.database)


def backup(source: Path, target: Path) -> int:
    """Copy the SQLite database at `source` to `target` (which must not exist) as one snapshot; its size in
    bytes."""
    if not source.is_file():
        raise FileNotFoundError(f"There is no database at {source}")
    if target.exists():
        raise FileExistsError(f"{target} exists: choose a new file for the backup")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    with (
        contextlib.closing(sqlite3.connect(f"file:{source}?mode=ro", uri=True)) as reader,
        contextlib.closing(sqlite3.connect(partial)) as writer,
    ):
        reader.backup(writer, pages=PAGES_PER_STEP)
        # A backup is a file on its own: no WAL beside it.
        writer.execute("PRAGMA journal_mode=DELETE")
        (check,) = writer.execute("PRAGMA integrity_check").fetchone()
    if check != "ok":
        partial.unlink(missing_ok=True)
        raise RuntimeError(f"The copy failed SQLite's integrity check: {check}")
    # Only a whole copy ever carries the target's name.
    partial.rename(target)
    return target.stat().st_size


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m backend.backup", description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path, help="where to write the copy (a new file)")
    target: Path = parser.parse_args(argv).file
    database_url = get_settings().DATABASE_URL
    try:
        source = sqlite_path(database_url)
    except ValueError as error:
        print(error, file=sys.stderr)
        return 2
    if source is None:
        print(
            "DATABASE_URL is not SQLite: back PostgreSQL up with pg_dump --format=custom "
            "(see docs/deployment.md)",
            file=sys.stderr,
        )
        return 2
    try:
        size = backup(source, target)
    except (OSError, RuntimeError, sqlite3.Error) as error:
        print(f"Backup failed: {error}", file=sys.stderr)
        return 1
    print(f"Backed up {source} to {target} ({size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
