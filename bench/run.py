"""API load: the real app's throughput and latency on the hot read endpoints, on a realistic database.

    .venv/bin/python -m bench.run                      # SQLite, bench/data/bench-1.db (built if missing)
    .venv/bin/python -m bench.run --database-url postgresql://postgres@127.0.0.1:5432   # a fresh database
    .venv/bin/python -m bench.run --duration 10 --warmup 2 --connections 50 --only purchases

Starts `uvicorn backend.main:app` (one worker) on a bench/make_db.py database, logs in as the admin, then
loads every endpoint in turn with `--connections` keep-alive clients: an unmeasured warm-up, then the
measured run. Prints req/s, latency percentiles, errors and the server's CPU time per request. No target:
it is the tool for looking at the API under load (py-spy with --keep-running); the targets are in
bench.search_health and bench.table_size. See bench/README.md.
"""

import argparse
import time
from dataclasses import dataclass

from bench.common import LoadGenerator, app_server, backend_name, bench_database, print_table, work_dir
from bench.make_db import counts


@dataclass(frozen=True)
class Endpoint:
    name: str
    path: str  # "{id}": a random user id per request
    admin: bool = False


ENDPOINTS = [
    Endpoint("GET /health", "/health"),
    Endpoint("GET /api/lessons/?limit=20 (anonymous)", "/api/lessons/?limit=20"),
    Endpoint("GET /api/lessons/?limit=20 (admin)", "/api/lessons/?limit=20", admin=True),
    Endpoint("GET /api/users/{id}/purchases (admin)", "/api/users/{id}/purchases", admin=True),
]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", help="a PostgreSQL server (default: an SQLite file in bench/data/)")
    parser.add_argument("--scale", type=float, default=1.0, help="database size (bench.make_db --scale)")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the SQLite file first")
    parser.add_argument("--duration", type=float, default=10, help="measured seconds per endpoint")
    parser.add_argument("--warmup", type=float, default=2, help="unmeasured seconds before each")
    parser.add_argument("--connections", type=int, default=50, help="concurrent clients")
    parser.add_argument("--loadgen", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument("--only", action="append", default=[], help="endpoint name substring (repeatable)")
    parser.add_argument("--keep-running", action="store_true", help="leave the server up (for py-spy)")
    args = parser.parse_args()

    scratch = work_dir("bench-run")
    load = LoadGenerator(args.loadgen, scratch)
    endpoints = [e for e in ENDPOINTS if not args.only or any(o in e.name for o in args.only)]
    id_max = counts(args.scale)["users"]
    rows = []
    with (
        bench_database(args.database_url, scale=args.scale, rebuild=args.rebuild) as url,
        app_server("app", url, scratch) as server,
    ):
        print(f"{backend_name(url)}, scale {args.scale:g}, {load.kind}, pid {server.process.pid}", flush=True)
        for endpoint in endpoints:
            options = {"connections": args.connections, "admin": endpoint.admin, "id_max": id_max}
            if args.warmup > 0:
                load.run(server, endpoint.path, seconds=args.warmup, **options)
            result = load.run(server, endpoint.path, seconds=args.duration, **options)
            rows.append(
                (
                    endpoint.name,
                    f"{result.rps:,.0f}",
                    f"{result.p50:.2f}",
                    f"{result.p99:.2f}",
                    result.errors,
                    f"{result.cpu_ms_per_request:.2f}" if result.cpu_ms_per_request else "",
                )
            )
            print(f"{endpoint.name}: {result.rps:,.0f} req/s", flush=True)
        if args.keep_running:
            print(f"--keep-running: server pid {server.process.pid} on port {server.port}; Ctrl-C stops it")
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass
    print()
    print(
        f"{backend_name(url)}, {args.connections} connections, {args.duration:g} s per endpoint, {load.kind}"
    )
    print_table(["endpoint", "req/s", "p50 ms", "p99 ms", "errors", "server CPU ms/req"], rows)
    if load.kind == "python":
        print("CAUTION: the Python load generator cannot saturate the server on this machine; install wrk.")


if __name__ == "__main__":
    main()
