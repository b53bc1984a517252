"""Is the event loop ever held? /health latency while text searches run continuously over 50,000 lessons.

    .venv/bin/python -m bench.search_health                   # SQLite (bench/data/bench-0.1-l50000.db)
    .venv/bin/python -m bench.search_health --database-url postgresql://postgres@127.0.0.1:5432

One app server (uvicorn, one worker) on a bench/make_db.py database with 50,000 lessons (and a tenth of the
other tables). First `GET /health` alone, one request at a time, for --duration seconds; then the same while
`--clients` keep-alive clients (half as the admin, half anonymous) send `GET /api/lessons/?q=<word>`
back to back, each with a random word from WORDS (words that match many lessons, a few, or none, and one
in Cyrillic). A search that reads every lesson is fine; holding the event loop while it does is not: every
other request, /health included, would wait for it. Target: /health p95 under load < 100 ms.
"""

import argparse
import sys
import time
import urllib.parse

from bench.common import (
    LoadGenerator,
    app_server,
    backend_name,
    bench_database,
    print_table,
    verdict,
    work_dir,
)

TARGET_P95_MS = 100.0
LESSONS = 50_000
# Many matches (topics, lorem words), a few (a lesson number), none (every row read for the count too).
WORDS = [
    urllib.parse.quote(word)
    for word in ("python", "Guitar", "lorem", "dolor", "chess", "lesson 4242", "zebra", "quantum", "привет")
]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", help="a PostgreSQL server (default: an SQLite file in bench/data/)")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the SQLite file first")
    parser.add_argument("--duration", type=float, default=10, help="measured seconds per phase")
    parser.add_argument("--clients", type=int, default=4, help="concurrent search clients")
    parser.add_argument("--loadgen", choices=["auto", "wrk", "python"], default="auto")
    args = parser.parse_args()

    scratch = work_dir("bench-search")
    load = LoadGenerator(args.loadgen, scratch)
    search = "/api/lessons/?q={word}"
    rows = []
    with (
        bench_database(args.database_url, scale=0.1, lessons=LESSONS, rebuild=args.rebuild) as url,
        app_server("app", url, scratch) as server,
    ):
        backend = backend_name(url)
        print(f"{backend}, {LESSONS:,} lessons, {load.kind}, pid {server.process.pid}", flush=True)
        # Warm-up: first connections, compiled statements, the file in the page cache.
        load.run(server, "/health", seconds=1, connections=1)
        load.run(server, search, seconds=2, connections=2, words=WORDS)
        time.sleep(3)  # the server may still be answering searches that wrk gave up waiting for

        idle = load.run(server, "/health", seconds=args.duration, connections=1)
        # The searches start first and end last, so that /health is measured under load all along.
        admins = max(1, args.clients // 2)
        searchers = [
            load.start(server, search, seconds=args.duration + 3, connections=n, admin=admin, words=WORDS)
            for n, admin in ((admins, True), (args.clients - admins, False))
            if n
        ]
        time.sleep(1)
        loaded = load.run(server, "/health", seconds=args.duration, connections=1)
        searches = [load.finish(process) for process in searchers]

    search_requests = sum(s.requests for s in searches)
    search_rate = sum(s.rps for s in searches)
    for phase, health in (("alone", idle), (f"{args.clients} search clients", loaded)):
        rows.append(
            (
                phase,
                f"{health.requests:,}",
                f"{health.p50:.2f}",
                f"{health.p95:.2f}",
                f"{health.p99:.2f}",
                f"{health.max:.1f}",
                health.errors,
            )
        )
    print()
    print(
        f"GET /health, one request at a time, {args.duration:g} s per phase; {backend}, {LESSONS:,} lessons"
    )
    print_table(["phase", "requests", "p50 ms", "p95 ms", "p99 ms", "max ms", "errors"], rows)
    print()
    print_table(
        ["search load (GET /api/lessons/?q=)", "requests", "req/s", "p50 ms", "p99 ms", "errors"],
        [
            (
                "admin" if i == 0 else "anonymous",
                f"{s.requests:,}",
                f"{s.rps:,.1f}",
                f"{s.p50:.1f}",
                f"{s.p99:.1f}",
                s.errors,
            )
            for i, s in enumerate(searches)
        ],
    )
    print()
    passed = loaded.p95 < TARGET_P95_MS and loaded.errors == 0 and search_requests > 0
    print(
        verdict(
            f"/health under search load ({backend})",
            passed,
            f"p95 {loaded.p95:.1f} ms (target < {TARGET_P95_MS:.0f} ms; alone {idle.p95:.1f} ms), "
            f"{search_rate:.1f} searches/s alongside",
        )
    )
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
