"""The admin panel's server time on a large store: the dashboard (each period) and the list pages.

    python -m bench.panel_bench [--database-url postgresql://postgres@127.0.0.1:5432] [--requests 40]

A database with 1,000,000 purchases and 100,000 students (bench/make_db.py --scale 1 --purchases 1000000
--now today: dated up to now, so that every period of the dashboard has its share; the dashboard's rollup
filled by its set-based rebuild), the real app in its own process, one panel session (signed in through
the login form, as a browser is). Every page in PAGES is asked for once (a warm-up that also tells which
pages exist: a page that does not answer 200 is reported "not built"), then --requests times, one request
at a time over one kept-alive connection, so the latency is the server's own time plus a loopback round
trip. Targets: dashboard p95 < 300 ms for every period; every list page's p95 < 150 ms.
"""

import argparse
import contextlib
import re
import statistics
import sys
import time

import httpx

from bench.common import (
    ADMIN_PASSWORD,
    ADMIN_USERNAME,
    app_server,
    backend_name,
    bench_database,
    print_table,
    verdict,
    work_dir,
)

PURCHASES = 1_000_000
STUDENTS = 100_000
DASHBOARD_TARGET_MS = 300.0
LIST_TARGET_MS = 150.0

# (name, path, kind): every page measured. The list pages of the other panel areas are here already; the
# ones not built yet answer 404 and are reported as such.
PAGES: list[tuple[str, str, str]] = [
    ("dashboard 7 days", "/admin?period=7", "dashboard"),
    ("dashboard 30 days", "/admin?period=30", "dashboard"),
    ("dashboard 90 days", "/admin?period=90", "dashboard"),
    ("dashboard 365 days", "/admin?period=365", "dashboard"),
    ("dashboard partial 365 days", "/admin/dashboard/totals?period=365", "dashboard"),
    ("lessons", "/admin/lessons", "list"),
    ("courses", "/admin/courses", "list"),
    ("promo codes", "/admin/promo-codes", "list"),
    ("students", "/admin/students", "list"),
    ("purchases", "/admin/purchases", "list"),
    ("support tickets", "/admin/support", "list"),
    ("team", "/admin/team", "list"),
    ("audit log", "/admin/audit-log", "list"),
]
CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')


def panel_client(base_url: str) -> httpx.Client:
    """A client signed in to the panel through its login form (the CSRF cookie and field included)."""
    client = httpx.Client(base_url=base_url, timeout=60)
    page = client.get("/admin/login")
    match = CSRF_INPUT.search(page.text)
    if page.status_code != 200 or match is None:
        raise SystemExit(f"the login page did not load: {page.status_code}")
    form = {"username": ADMIN_USERNAME, "password": ADMIN_PASSWORD, "csrf_token": match.group(1)}
    response = client.post("/admin/login", data=form)
    if response.status_code != 303:
        raise SystemExit(f"panel login failed: {response.status_code}")
    return client


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def measure(client: httpx.Client, path: str, requests: int) -> list[float]:
    timings = []
    for _ in range(requests):
        started = time.perf_counter()
        response = client.get(path)
        timings.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"{path} answered {response.status_code} during the run")
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", help="a PostgreSQL server (default: an SQLite file in bench/data/)")
    parser.add_argument("--requests", type=int, default=40, help="requests per page (after one warm-up)")
    parser.add_argument("--purchases", type=int, default=PURCHASES)
    parser.add_argument("--rebuild", action="store_true", help="build the SQLite file again")
    args = parser.parse_args()
    make_args = ["--purchases", str(args.purchases), "--users", str(STUDENTS), "--now", "today"]
    started = time.perf_counter()
    with bench_database(
        args.database_url,
        scale=1,
        rebuild=args.rebuild,
        make_args=make_args,
        label=f"p{args.purchases}-{time.strftime('%Y%m%d', time.gmtime())}",
    ) as url:
        print(f"database ready in {time.perf_counter() - started:.0f} s", flush=True)
        rows, failures = [], []
        with (
            app_server("panel", url, work_dir("panel-bench")) as server,
            contextlib.closing(panel_client(server.url(""))) as client,
        ):
            for name, path, kind in PAGES:
                cold_started = time.perf_counter()
                warm = client.get(path)
                cold = (time.perf_counter() - cold_started) * 1000
                if warm.status_code != 200:
                    rows.append((name, path, f"not built ({warm.status_code})", "", "", "", ""))
                    continue
                timings = measure(client, path, args.requests)
                p50, p95 = statistics.median(timings), percentile(timings, 0.95)
                target = DASHBOARD_TARGET_MS if kind == "dashboard" else LIST_TARGET_MS
                if p95 >= target:
                    failures.append(f"{name} p95 {p95:.0f} ms >= {target:.0f} ms")
                rows.append(
                    (name, path, "200", f"{cold:.1f}", f"{p50:.1f}", f"{p95:.1f}", f"{max(timings):.1f}")
                )
                print(f"{name}: p50 {p50:.1f} ms, p95 {p95:.1f} ms", flush=True)
    print()
    print(
        f"{backend_name(url)}: {args.purchases:,} purchases, {STUDENTS:,} students,"
        f" {args.requests} requests a page"
    )
    print_table(["page", "path", "status", "cold ms", "p50 ms", "p95 ms", "max ms"], rows)
    measured = {row[0] for row in rows if row[2] == "200"}
    dashboard = [f for f in failures if f.startswith("dashboard")]
    lists = [f for f in failures if not f.startswith("dashboard")]
    built_lists = [name for name, _, kind in PAGES if kind == "list" and name in measured]
    results = [
        verdict("dashboard p95 < 300 ms", not dashboard, "; ".join(dashboard) or "every period"),
        verdict(
            "every list page < 150 ms",
            not lists,
            "; ".join(lists)
            or (f"{len(built_lists)} built: " + ", ".join(built_lists) if built_lists else "none built yet"),
        ),
    ]
    for line in results:
        print(line)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
