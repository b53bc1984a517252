"""What the chosen stack costs before any of our code runs: the floor under the API benchmark's ratios.

    .venv/bin/python -m bench.floor        # about 1 minute; needs wrk and bench/data/bench.db (bench.run)

Two parts, each side by side in one run:

* **HTTP**: three tiny apps (bench/floor_apps.py) under the same uvicorn as bench.run, loaded with wrk
  (50 connections): a plain Starlette route; a FastAPI route; and a FastAPI route with the shape of
  `GET /api/users/{id}/purchases` (a path id and limit/offset validated by FastAPI, a session dependency
  with `yield`, a bearer-token dependency on it), which touches no database and answers a constant. Server
  CPU ms per request, as bench.run reports it.
* **Database**: the same one-row lookup by primary key on bench/data/bench.db, in this process on uvloop:
  the stdlib sqlite3 module (what bench/baseline_app.py uses), SQLAlchemy Core on a pooled connection,
  the ORM in a session (what the app's routes use), and the Core statement on shared.inline_reads'
  InlineReader (what the app's shortcuts use); microseconds of CPU per lookup, the connection taken and
  given back each time, as one request does.

Compare these with the ceiling's whole request in bench.run's table (baseline CPU ms/req).
"""

import argparse
import os
import sqlite3
import sys
import time
from pathlib import Path

import uvloop
from sqlalchemy import bindparam, select

from bench.common import DEFAULT_DB, REPO_ROOT, sqlite_url
from bench.run import Endpoint, LoadGenerator, free_port, measure, start_server, stop_server, wait_healthy
from shared import database
from shared.models import User

APPS = [
    ("Starlette route", "bench.floor_apps:starlette_app", "/health"),
    ("FastAPI route", "bench.floor_apps:fastapi_app", "/health"),
    ("FastAPI route shaped like /api/users/{id}/purchases", "bench.floor_apps:fastapi_app", "/users/7/p"),
]


def http_floor(args: argparse.Namespace, run_dir: Path) -> None:
    generator = LoadGenerator("wrk", connections=args.connections, threads=1, script_dir=run_dir)
    print(f"{'HTTP, no database':<55} {'req/s':>9} {'CPU ms/req':>11}")
    for name, app, path in APPS:
        server = start_server("floor", app, free_port(), dict(os.environ), run_dir)
        try:
            wait_healthy(server)
            # Sent as a bearer token, as bench.run does for admin endpoints; the floor apps check nothing.
            server.token = "not-checked"  # noqa: S105
            endpoint = Endpoint(name, path, admin=True)
            m = measure(
                generator, server, endpoint, round_number=1, warmup=2, duration=args.duration, id_max=1
            )
        finally:
            stop_server(server)
        print(f"{name:<55} {m.rps:>9,.0f} {m.cpu_ms_per_request or 0:>11.3f}", flush=True)


def database_floor(db_path: Path, lookups: int) -> None:
    async def run() -> None:
        database.configure(sqlite_url(db_path))
        engine = database.get_engine()
        users = User.__table__
        core = select(users).where(users.c.id == bindparam("id"))
        orm = select(User).where(User.id == bindparam("id"))
        raw = sqlite3.connect(db_path, isolation_level=None)

        async def stdlib(i: int) -> None:
            raw.execute("SELECT * FROM users WHERE id = ?", (i,)).fetchone()

        async def sqlalchemy_core(i: int) -> None:
            async with engine.connect() as connection:
                (await connection.execute(core, {"id": i})).first()

        async def sqlalchemy_orm(i: int) -> None:
            async with database.session_scope() as session:
                await session.scalar(orm, {"id": i})

        reader = database.inline_reader()
        assert reader is not None

        async def inline(i: int) -> None:
            reader.first(core, {"id": i})

        print(f"\n{'One lookup by primary key, connection in and out':<55} {'CPU us':>9}")
        for name, lookup in (
            ("sqlite3 (the ceiling's way)", stdlib),
            ("SQLAlchemy Core, pooled connection", sqlalchemy_core),
            ("SQLAlchemy ORM, session (the app's routes)", sqlalchemy_orm),
            ("InlineReader, the same Core statement (the shortcuts)", inline),
        ):
            for i in range(1, 300):
                await lookup(i)
            started = time.process_time()
            for i in range(1, lookups + 1):
                await lookup(i)
            print(f"{name:<55} {1e6 * (time.process_time() - started) / lookups:>9.1f}", flush=True)
        raw.close()
        await database.dispose_engine()

    uvloop.run(run())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", type=Path, default=DEFAULT_DB, help="a database made by bench.run/make_db")
    parser.add_argument("--duration", type=int, default=8, help="seconds measured per app")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--lookups", type=int, default=5000)
    args = parser.parse_args()
    if not args.db.exists():
        raise SystemExit(f"{args.db} is missing: run `python -m bench.run` once (it builds it)")
    run_dir = REPO_ROOT / "bench" / "results" / "floor"
    run_dir.mkdir(parents=True, exist_ok=True)
    http_floor(args, run_dir)
    database_floor(args.db.resolve(), args.lookups)


if __name__ == "__main__":
    sys.exit(main())
