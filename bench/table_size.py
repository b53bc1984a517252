"""Do list and detail endpoints stay flat in table size? Latency at N rows and at 10×N rows, side by side.

    .venv/bin/python -m bench.table_size                      # SQLite: bench/data/bench-0.1.db and bench-1.db
    .venv/bin/python -m bench.table_size --database-url postgresql://postgres@127.0.0.1:5432

Two app servers (uvicorn, one worker each) run at once: one on a bench/make_db.py database at --scale
(default 0.1: 10,000 users, 1,000 lessons, 50 courses, 20,000 purchases), one on ten times that. For every
endpoint, one client sends requests back to back (wrk, one connection: latency, not throughput) to one
server and then the other, for --rounds rounds of --duration seconds each, the order alternating so that
machine noise hits both; the median of the rounds' p50 latencies is compared. Ids in paths are random
over each database's own rows. Target: large p50 < 1.5 × small p50 for every endpoint.
"""

import argparse
import contextlib
import statistics
import sys
from dataclasses import dataclass

from bench.common import (
    LoadGenerator,
    Result,
    Server,
    app_server,
    backend_name,
    bench_database,
    print_table,
    verdict,
    work_dir,
)
from bench.make_db import counts

TARGET_RATIO = 1.5


@dataclass(frozen=True)
class Endpoint:
    name: str
    path: str  # "{id}": a random id in [1, the rows of `ids`]
    admin: bool = False
    ids: str = ""  # "users" or "lessons"


ENDPOINTS = [
    Endpoint("GET /api/lessons/ (anonymous, first page)", "/api/lessons/"),
    Endpoint("GET /api/lessons/ (admin, first page)", "/api/lessons/", admin=True),
    Endpoint("GET /api/lessons/{id} (admin)", "/api/lessons/{id}", admin=True, ids="lessons"),
    Endpoint("GET /api/users/ (admin)", "/api/users/", admin=True),
    Endpoint("GET /api/users/{id}/purchases (admin)", "/api/users/{id}/purchases", admin=True, ids="users"),
    Endpoint("GET /api/purchases/ (admin)", "/api/purchases/", admin=True),
    Endpoint("GET /api/courses/ (anonymous)", "/api/courses/"),
]


def measure(
    load: LoadGenerator,
    endpoint: Endpoint,
    servers: list[tuple[Server, dict[str, int]]],
    args: argparse.Namespace,
) -> list[list[Result]]:
    """The endpoint's rounds on each server (small, large), alternating which goes first."""
    results: list[list[Result]] = [[] for _ in servers]
    for server, sizes in servers:  # warm-up: statements compiled, pages cached
        load.run(
            server,
            endpoint.path,
            seconds=1,
            connections=1,
            admin=endpoint.admin,
            id_max=sizes.get(endpoint.ids, 1),
        )
    for round_number in range(args.rounds):
        order = list(enumerate(servers))
        if round_number % 2:
            order.reverse()
        for index, (server, sizes) in order:
            results[index].append(
                load.run(
                    server,
                    endpoint.path,
                    seconds=args.duration,
                    connections=1,
                    admin=endpoint.admin,
                    id_max=sizes.get(endpoint.ids, 1),
                )
            )
    return results


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", help="a PostgreSQL server (default: SQLite files in bench/data/)")
    parser.add_argument("--scale", type=float, default=0.1, help="the small database (the large is 10×)")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the SQLite files first")
    parser.add_argument("--duration", type=float, default=3, help="seconds per run")
    parser.add_argument("--rounds", type=int, default=3, help="runs per endpoint and server (medians)")
    parser.add_argument("--loadgen", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument("--only", action="append", default=[], help="endpoint name substring (repeatable)")
    args = parser.parse_args()

    scratch = work_dir("bench-size")
    load = LoadGenerator(args.loadgen, scratch)
    endpoints = [e for e in ENDPOINTS if not args.only or any(o in e.name for o in args.only)]
    scales = (args.scale, args.scale * 10)
    sizes = [counts(scale) for scale in scales]
    rows, failed = [], []
    with contextlib.ExitStack() as stack:
        urls = [
            stack.enter_context(bench_database(args.database_url, scale=scale, rebuild=args.rebuild))
            for scale in scales
        ]
        servers = [
            stack.enter_context(app_server(f"scale-{scale:g}", url, scratch))
            for scale, url in zip(scales, urls, strict=True)
        ]
        backend = backend_name(urls[0])
        print(f"{backend}, scales {scales[0]:g} and {scales[1]:g}, {load.kind}", flush=True)
        for endpoint in endpoints:
            small, large = measure(load, endpoint, list(zip(servers, sizes, strict=True)), args)
            p50s = [statistics.median(r.p50 for r in runs) for runs in (small, large)]
            means = [statistics.median(r.mean for r in runs) for runs in (small, large)]
            cpus = [statistics.median(r.cpu_ms_per_request or 0 for r in runs) for runs in (small, large)]
            errors = sum(r.errors for r in small + large)
            ratio = p50s[1] / p50s[0] if p50s[0] else float("inf")
            passed = ratio < TARGET_RATIO and errors == 0
            if not passed:
                failed.append(endpoint.name)
            rows.append(
                (
                    endpoint.name,
                    f"{p50s[0]:.2f}",
                    f"{p50s[1]:.2f}",
                    f"{means[0]:.2f}",
                    f"{means[1]:.2f}",
                    f"{cpus[0]:.2f}",
                    f"{cpus[1]:.2f}",
                    errors,
                    f"{ratio:.2f}",
                    "PASS" if passed else "FAIL",
                )
            )
            print(f"{endpoint.name}: {p50s[0]:.2f} ms -> {p50s[1]:.2f} ms ({ratio:.2f}×)", flush=True)

    print()
    shape = "{users:,} users / {lessons:,} lessons / {purchases:,} purchases"
    small, large = (shape.format(**n) for n in sizes)
    print(f"{backend}: {small} vs {large}; one connection, median of {args.rounds} × {args.duration:g} s")
    print_table(
        [
            "endpoint",
            "small p50 ms",
            "large p50 ms",
            "small mean ms",
            "large mean ms",
            "small CPU ms/req",
            "large CPU ms/req",
            "errors",
            "ratio p50",
            "< 1.5×",
        ],
        rows,
    )
    print()
    for name, *_, ratio, result in rows:
        print(
            verdict(
                f"{name} flat in table size ({backend})", result == "PASS", f"10× rows: {ratio}× the time"
            )
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
