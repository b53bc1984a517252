"""Benchmark the real app against the plain Starlette + sqlite3 ceiling, side by side, in one run.

    .venv/bin/python -m bench.run                  # builds bench/data/bench.db if missing (~15 s)
    .venv/bin/python -m bench.run --rebuild --duration 10 --warmup 2 --connections 50

Starts the real app (uvicorn backend.main:app) and bench/baseline_app.py as separate single-worker
processes on the same database, logs in as the admin, then for every endpoint loads one server and then
the other (the order alternates between endpoints and rounds, so machine noise hits both), each time a
warm-up run followed by a measured run, with `--connections` concurrent keep-alive clients. Prints a table
and writes it to bench/results/ as JSON and Markdown. See bench/README.md.
"""

import argparse
import json
import os
import platform
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.common import ADMIN_PASSWORD, ADMIN_USERNAME, DEFAULT_DB, REPO_ROOT, RESULTS_DIR, server_env

TARGET_RATIO = 0.5
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# A user id present at every --scale >= 0.01, for the response comparison.
SAMPLE_USER_ID = 777

WRK_SCRIPT = r"""
local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
end

local template = nil
local max_id = 1
function init(args)
  if args[1] ~= nil then
    template = args[1]
    max_id = tonumber(args[2])
  end
  math.randomseed(os.time() * 1000 + (tid or 0) * 7919)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests": %d, "duration_us": %d, "bytes": %d, "connect": %d, "read": %d, "write": %d, '
    .. '"status": %d, "timeout": %d, "p50_us": %.0f, "p90_us": %.0f, "p99_us": %.0f, "max_us": %.0f, '
    .. '"mean_us": %.1f}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
"""
# Only for endpoints with a random id: a request() function makes wrk call Lua for every request.
WRK_RANDOM_PATH = r"""
function request()
  local path = string.gsub(template, "{id}", tostring(math.random(1, max_id)))
  return wrk.format(nil, path)
end
"""


@dataclass(frozen=True)
class Endpoint:
    name: str
    path: str  # "{id}" is replaced by a random user id
    admin: bool = False


ENDPOINTS = [
    Endpoint("GET /health", "/health"),
    Endpoint("GET /api/lessons/?limit=20 (anonymous)", "/api/lessons/?limit=20"),
    Endpoint("GET /api/lessons/?limit=20 (admin)", "/api/lessons/?limit=20", admin=True),
    Endpoint("GET /api/users/{id}/purchases (admin)", "/api/users/{id}/purchases", admin=True),
]


@dataclass
class Server:
    name: str  # "real" or "baseline"
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    token: str = ""

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server process (all its threads) so far."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


@dataclass
class Measurement:
    endpoint: str
    server: str
    round: int
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    errors: int
    error_detail: dict[str, int]
    cpu_ms_per_request: float | None
    raw: dict[str, Any] = field(repr=False)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http(method: str, url: str, *, token: str = "", body: Any = None, timeout: float = 10) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 (http://127.0.0.1 only)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (loopback only)
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def start_server(
    name: str, app: str, port: int, env: dict[str, str], log_dir: Path, *, loop: str = "auto"
) -> Server:
    log_path = log_dir / f"{name}.log"
    command = [sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port)]
    command += ["--workers", "1", "--log-level", "warning", "--no-access-log", "--loop", loop]
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    return Server(name, port, process, log_path)


def wait_healthy(server: Server, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise SystemExit(
                f"{server.name} server exited; see {server.log_path}:\n{server.log_path.read_text()}"
            )
        try:
            if http("GET", server.url("/health"), timeout=2)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{server.name} server not healthy after {timeout} s; see {server.log_path}")


def stop_server(server: Server) -> None:
    if server.process.poll() is None:
        server.process.terminate()
        try:
            server.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()


def login(server: Server) -> str:
    status, body = http(
        "POST", server.url("/auth/login"), body={"username": ADMIN_USERNAME, "password": ADMIN_PASSWORD}
    )
    if status != 200:
        raise SystemExit(f"login failed: {status} {body}")
    return body["access_token"]


def compare_responses(servers: list[Server]) -> list[str]:
    """Fetch every endpoint once from both servers; the documents must be equal. Returns problems."""
    problems = []
    for endpoint in ENDPOINTS:
        path = endpoint.path.replace("{id}", str(SAMPLE_USER_ID))
        answers = []
        for server in servers:
            status, body = http("GET", server.url(path), token=server.token if endpoint.admin else "")
            if status != 200:
                problems.append(f"{endpoint.name}: {server.name} answered {status}: {body}")
            answers.append(body)
        if answers[0] != answers[1]:
            problems.append(f"{endpoint.name}: responses differ: {first_difference(answers[0], answers[1])}")
    return problems


def first_difference(a: Any, b: Any, where: str = "") -> str:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            if a.get(key, "<missing>") != b.get(key, "<missing>"):
                return first_difference(a.get(key, "<missing>"), b.get(key, "<missing>"), f"{where}.{key}")
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return f"{where}: {len(a)} vs {len(b)} items"
        for index, (x, y) in enumerate(zip(a, b, strict=True)):
            if x != y:
                return first_difference(x, y, f"{where}[{index}]")
    return f"{where}: {a!r} (real) vs {b!r} (baseline)"


def max_user_id(db_path: Path) -> int:
    with sqlite3.connect(db_path) as db:
        return db.execute("SELECT max(id) FROM users").fetchone()[0]


class LoadGenerator:
    def __init__(self, kind: str, *, connections: int, threads: int, script_dir: Path) -> None:
        self.kind = kind
        self.connections = connections
        self.threads = threads
        self.static_script = script_dir / "report.lua"
        self.random_script = script_dir / "random_path.lua"
        self.static_script.write_text(WRK_SCRIPT)
        self.random_script.write_text(WRK_SCRIPT + WRK_RANDOM_PATH)

    def describe(self) -> str:
        if self.kind == "wrk":
            version = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
            first = (version.stdout + version.stderr).strip().splitlines()[0]
            return f"wrk ({first.split(' Copyright')[0]}), {self.threads} thread(s)"
        return "Python asyncio + httpx (bench/loadgen.py), 1 process"

    def run(self, server: Server, endpoint: Endpoint, seconds: int, id_max: int) -> dict[str, Any]:
        token = server.token if endpoint.admin else ""
        if self.kind == "wrk":
            command = [
                "wrk",
                f"-t{self.threads}",
                f"-c{self.connections}",
                f"-d{seconds}s",
                "--timeout",
                "10s",
            ]
            if token:
                command += ["-H", f"Authorization: Bearer {token}"]
            if "{id}" in endpoint.path:
                command += ["-s", str(self.random_script), server.url("/"), "--", endpoint.path, str(id_max)]
            else:
                command += ["-s", str(self.static_script), server.url(endpoint.path)]
            marker = "WRKJSON "
        else:
            command = [sys.executable, "-m", "bench.loadgen", "--url", server.url(endpoint.path)]
            command += ["--connections", str(self.connections), "--duration", str(seconds)]
            command += ["--id-max", str(id_max)]
            if token:
                command += ["--header", f"Authorization: Bearer {token}"]
            marker = "LOADGEN "
        done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, check=False)
        for line in done.stdout.splitlines():
            if line.startswith(marker):
                return json.loads(line[len(marker) :])
        raise RuntimeError(f"load generator failed ({done.returncode}): {done.stdout}\n{done.stderr}")


def measure(
    generator: LoadGenerator,
    server: Server,
    endpoint: Endpoint,
    *,
    round_number: int,
    warmup: int,
    duration: int,
    id_max: int,
) -> Measurement:
    if warmup > 0:
        generator.run(server, endpoint, warmup, id_max)
    cpu_before = server.cpu_seconds()
    raw = generator.run(server, endpoint, duration, id_max)
    cpu_used = server.cpu_seconds() - cpu_before
    seconds = raw["duration_us"] / 1e6
    detail = {key: int(raw[key]) for key in ("connect", "read", "write", "status", "timeout") if raw[key]}
    return Measurement(
        endpoint=endpoint.name,
        server=server.name,
        round=round_number,
        requests=int(raw["requests"]),
        seconds=seconds,
        rps=raw["requests"] / seconds if seconds else 0.0,
        p50_ms=raw["p50_us"] / 1000,
        p90_ms=raw["p90_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        max_ms=raw["max_us"] / 1000,
        errors=sum(detail.values()),
        error_detail=detail,
        cpu_ms_per_request=cpu_used * 1000 / raw["requests"] if raw["requests"] else None,
        raw=raw,
    )


def summarize(measurements: list[Measurement]) -> list[dict[str, Any]]:
    """One row per endpoint and server: medians over the rounds, errors summed, ratio to the baseline."""
    rows = []
    for endpoint in ENDPOINTS:
        by_server = {}
        for server in ("real", "baseline"):
            runs = [m for m in measurements if m.endpoint == endpoint.name and m.server == server]
            if not runs:
                continue
            cpu = [m.cpu_ms_per_request for m in runs if m.cpu_ms_per_request is not None]
            by_server[server] = {
                "endpoint": endpoint.name,
                "server": server,
                "rounds": len(runs),
                "requests": sum(m.requests for m in runs),
                "rps": statistics.median(m.rps for m in runs),
                "p50_ms": statistics.median(m.p50_ms for m in runs),
                "p99_ms": statistics.median(m.p99_ms for m in runs),
                "errors": sum(m.errors for m in runs),
                "cpu_ms_per_request": statistics.median(cpu) if cpu else None,
            }
        if len(by_server) == 2:
            ratio = (
                by_server["real"]["rps"] / by_server["baseline"]["rps"] if by_server["baseline"]["rps"] else 0
            )
            by_server["real"]["ratio"] = ratio
            by_server["real"]["target_met"] = ratio >= TARGET_RATIO and by_server["real"]["errors"] == 0
            cpu_real, cpu_base = (
                by_server["real"]["cpu_ms_per_request"],
                by_server["baseline"]["cpu_ms_per_request"],
            )
            if cpu_real and cpu_base:
                # Server CPU per request, baseline / real: the same comparison, but insensitive to other
                # processes' load and to a load generator that cannot saturate the servers.
                by_server["real"]["cpu_ratio"] = cpu_base / cpu_real
        rows.extend(by_server.values())
    return rows


def markdown_table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| endpoint | server | req/s | p50 ms | p99 ms | errors | CPU ms/req | real/baseline req/s "
        "| baseline/real CPU | target >= 0.5 |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for row in rows:
        cpu = "" if row["cpu_ms_per_request"] is None else f"{row['cpu_ms_per_request']:.2f}"
        ratio = f"{row['ratio']:.2f}" if "ratio" in row else ""
        cpu_ratio = f"{row['cpu_ratio']:.2f}" if "cpu_ratio" in row else ""
        target = ("yes" if row["target_met"] else "**NO**") if "target_met" in row else ""
        lines.append(
            f"| {row['endpoint']} | {row['server']} | {row['rps']:,.0f} | {row['p50_ms']:.2f} | "
            f"{row['p99_ms']:.2f} | {row['errors']} | {cpu} | {ratio} | {cpu_ratio} | {target} |"
        )
    return "\n".join(lines)


def environment_facts(db_path: Path, generator: LoadGenerator, args: argparse.Namespace) -> dict[str, Any]:
    with sqlite3.connect(db_path) as db:
        counts = {
            t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
            for t in ("users", "lessons", "purchases")
        }
    import starlette
    import uvicorn

    return {
        "date": datetime.now().isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}",
        "python": platform.python_version(),
        "uvicorn": uvicorn.__version__,
        "starlette": starlette.__version__,
        "sqlite": sqlite3.sqlite_version,
        "load_generator": generator.describe(),
        "connections": args.connections,
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "rounds": args.rounds,
        "baseline_mode": args.baseline_mode,
        "loop": args.loop,
        "database": str(db_path),
        "rows": counts,
    }


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", type=Path, default=DEFAULT_DB, help="SQLite file (built if missing)")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the database first")
    parser.add_argument("--scale", type=float, default=1.0, help="row counts for a (re)build, 1 = full size")
    parser.add_argument("--duration", type=int, default=10, help="seconds measured per endpoint and server")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of unmeasured load before each run")
    parser.add_argument(
        "--rounds", type=int, default=1, help="repeat the whole alternation; medians reported"
    )
    parser.add_argument("--connections", type=int, default=50, help="concurrent clients")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--loadgen", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument("--baseline-mode", choices=["sync", "thread"], default="sync")
    parser.add_argument(
        "--loop", choices=["auto", "asyncio", "uvloop"], default="auto", help="uvicorn event loop (both)"
    )
    parser.add_argument("--only", action="append", default=[], help="endpoint name substring (repeatable)")
    parser.add_argument("--keep-running", action="store_true", help="leave the servers up (for py-spy)")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    db_path = args.db.resolve()
    if args.rebuild or not db_path.exists():
        print(f"Building {db_path} (scale {args.scale}) ...", flush=True)
        command = [sys.executable, "-m", "bench.make_db", str(db_path), "--scale", str(args.scale), "--force"]
        subprocess.run(command, cwd=REPO_ROOT, check=True)

    kind = args.loadgen
    if kind == "auto":
        kind = "wrk" if shutil.which("wrk") else "python"
    if kind == "wrk" and not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (apt-get install -y wrk), use --loadgen python")

    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    run_dir = RESULTS_DIR / stamp
    run_dir.mkdir()
    generator = LoadGenerator(kind, connections=args.connections, threads=args.threads, script_dir=run_dir)
    endpoints = [e for e in ENDPOINTS if not args.only or any(o in e.name for o in args.only)]
    id_max = max_user_id(db_path)

    env = {**os.environ, **server_env(db_path), "BASELINE_MODE": args.baseline_mode}
    env.pop("PYTHONASYNCIODEBUG", None)
    real = start_server("real", "backend.main:app", free_port(), env, run_dir, loop=args.loop)
    baseline = start_server("baseline", "bench.baseline_app:app", free_port(), env, run_dir, loop=args.loop)
    servers = [real, baseline]
    measurements: list[Measurement] = []
    try:
        for server in servers:
            wait_healthy(server)
        real.token = baseline.token = login(real)
        problems = compare_responses(servers)
        for problem in problems:
            print(f"WARNING: {problem}", flush=True)
        facts = environment_facts(db_path, generator, args)
        print(json.dumps(facts, indent=2), flush=True)
        print(f"real pid {real.process.pid}, baseline pid {baseline.process.pid}", flush=True)
        step = 0
        for round_number in range(1, args.rounds + 1):
            for endpoint in endpoints:
                order = servers if step % 2 == 0 else servers[::-1]
                step += 1
                for server in order:
                    m = measure(
                        generator,
                        server,
                        endpoint,
                        round_number=round_number,
                        warmup=args.warmup,
                        duration=args.duration,
                        id_max=id_max,
                    )
                    measurements.append(m)
                    print(
                        f"round {round_number} {endpoint.name:<42} {server.name:<8} {m.rps:9,.0f} req/s  "
                        f"p50 {m.p50_ms:7.2f} ms  p99 {m.p99_ms:7.2f} ms  errors {m.errors}",
                        flush=True,
                    )
        if args.keep_running:
            print("--keep-running: servers still up (for py-spy); Ctrl-C stops them", flush=True)
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass
    finally:
        for server in servers:
            stop_server(server)

    rows = summarize(measurements)
    table = markdown_table(rows)
    missed = [r["endpoint"] for r in rows if r.get("target_met") is False]
    verdict = (
        "Target met by every endpoint."
        if not missed
        else f"Target (real >= {TARGET_RATIO} x baseline req/s, no errors) missed by: " + "; ".join(missed)
    )
    if kind == "python":
        verdict += (
            " CAUTION: measured with the Python load generator, which cannot saturate a fast server on this"
            " machine; the req/s ratios understate the gap (see the CPU ratio), install wrk."
        )
    print()
    print(table)
    print()
    print(verdict)
    if problems:
        print("Response mismatches between the servers: " + "; ".join(problems))

    document = {
        "facts": facts,
        "summary": rows,
        "verdict": verdict,
        "response_mismatches": problems,
        "measurements": [asdict(m) for m in measurements],
    }
    (run_dir / "results.json").write_text(json.dumps(document, indent=2))
    facts_md = "\n".join(f"- {key}: {value}" for key, value in facts.items())
    (run_dir / "results.md").write_text(f"# Benchmark {stamp}\n\n{facts_md}\n\n{table}\n\n{verdict}\n")
    for name in ("results.json", "results.md"):
        shutil.copyfile(run_dir / name, RESULTS_DIR / f"latest-{name}")
    print(f"\nWritten to {run_dir.relative_to(REPO_ROOT)}/ (and bench/results/latest-results.*)")
    if missed or problems:
        sys.exit(1)


if __name__ == "__main__":
    main()
