"""What the API benchmarks share: paths, the app's environment, benchmark databases (SQLite files or fresh
PostgreSQL databases), the app's server process, and the load generator (wrk, or bench/loadgen.py)."""

import asyncio
import contextlib
import gc
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
DATA_DIR = BENCH_DIR / "data"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

# Only for the benchmark's throwaway databases (48 characters, so the app does not call it insecure).
SECRET_KEY = "bench-secret-key-0123456789abcdef-0123456789abcd"  # noqa: S105
ADMIN_USERNAME = "admin"
ADMIN_PASSWORD = "bench-admin-password-not-a-default"  # noqa: S105 (throwaway bench database)


def server_env(database_url: str) -> dict[str, str]:
    """Environment variables for the real app on this database (no bot, no Redis)."""
    return {
        "DATABASE_URL": database_url,
        "ENVIRONMENT": "development",
        "SECRET_KEY": SECRET_KEY,
        "ADMIN_USERNAME": ADMIN_USERNAME,
        "ADMIN_PASSWORD": ADMIN_PASSWORD,
        "TELEGRAM_BOT_TOKEN": "",
        "WEBHOOK_URL": "",
        "REDIS_URL": "",
        "LOG_LEVEL": "WARNING",
        "SQL_ECHO": "false",
        "CORS_ORIGINS": "[]",
    }


# --- databases --------------------------------------------------------------------------------------------


def is_postgresql(url: str | None) -> bool:
    return bool(url) and url.split(":", 1)[0].split("+", 1)[0].lower() in ("postgresql", "postgres")


def _pg_url(url: str, database: str) -> str:
    from sqlalchemy import make_url

    return make_url(url).set(drivername="postgresql", database=database).render_as_string(hide_password=False)


async def _pg_admin(url: str, statement: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(_pg_url(url, "postgres"))
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@contextlib.contextmanager
def fresh_postgresql(server_url: str, name: str) -> Iterator[str]:
    """A new, empty database on this PostgreSQL server, dropped afterwards: its URL."""
    name = f"{name}_{os.getpid()}"
    asyncio.run(_pg_admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    asyncio.run(_pg_admin(server_url, f'CREATE DATABASE "{name}"'))
    try:
        yield _pg_url(server_url, name)
    finally:
        asyncio.run(_pg_admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@contextlib.contextmanager
def bench_database(
    database_url: str | None,
    *,
    scale: float,
    lessons: int | None = None,
    rebuild: bool = False,
    make_args: Sequence[str] = (),
    label: str = "",
) -> Iterator[str]:
    """A benchmark database built by bench/make_db.py, as a DATABASE_URL for the app.

    No URL: an SQLite file in bench/data/, built once per size and reused (rebuild: build it again).
    A PostgreSQL URL (a server; its database name is ignored): a fresh database, built now, dropped after.
    make_args: more make_db options, and label: what they make different (in the file's name).
    """
    size = f"{scale:g}" + (f"-l{lessons}" if lessons is not None else "") + (f"-{label}" if label else "")
    extra = ["--scale", str(scale)] + (["--lessons", str(lessons)] if lessons is not None else [])
    extra += list(make_args)
    if is_postgresql(database_url):
        assert database_url is not None
        with fresh_postgresql(database_url, "bench_" + size.replace(".", "_").replace("-", "_")) as url:
            print(f"Building PostgreSQL database {url.rsplit('/', 1)[1]} ({size}) ...", flush=True)
            run_module("bench.make_db", "--database-url", url, *extra)
            yield url
        return
    if database_url:
        raise SystemExit(
            "--database-url: give a PostgreSQL server URL (SQLite files are built in bench/data/)"
        )
    path = DATA_DIR / f"bench-{size}.db"
    if rebuild or not path.exists():
        print(f"Building {path.relative_to(REPO_ROOT)} ...", flush=True)
        run_module("bench.make_db", "--database-url", f"sqlite:///{path}", "--force", *extra)
    yield f"sqlite:///{path}"


def run_module(module: str, *args: str) -> None:
    subprocess.run([sys.executable, "-m", module, *args], cwd=REPO_ROOT, check=True)


def backend_name(url: str) -> str:
    return "PostgreSQL" if is_postgresql(url) else "SQLite"


# --- the app's server -------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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


@dataclass
class Server:
    """`uvicorn backend.main:app` in a process of its own: one worker, uvloop and httptools, no access log."""

    name: str
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


@contextlib.contextmanager
def app_server(
    name: str, database_url: str, log_dir: Path, *, env: dict[str, str] | None = None
) -> Iterator[Server]:
    """The real app on this database, healthy and logged in as the admin (Server.token); env: more
    settings (e.g. the bot's token and TELEGRAM_API_URL)."""
    port = free_port()
    log_path = log_dir / f"{name}.log"
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "backend.main:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    command += ["--workers", "1", "--log-level", "warning", "--no-access-log"]
    environment = {**os.environ, **server_env(database_url), **(env or {})}
    environment.pop("PYTHONASYNCIODEBUG", None)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, cwd=REPO_ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT
        )
    server = Server(name, port, process, log_path)
    try:
        _wait_healthy(server)
        status, body = http(
            "POST", server.url("/auth/login"), body={"username": ADMIN_USERNAME, "password": ADMIN_PASSWORD}
        )
        if status != 200:
            raise SystemExit(f"{name}: login failed: {status} {body}")
        server.token = body["access_token"]
        yield server
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_healthy(server: Server, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise SystemExit(f"{server.name} exited; see {server.log_path}:\n{server.log_path.read_text()}")
        with contextlib.suppress(OSError):
            if http("GET", server.url("/health"), timeout=2)[0] == 200:
                return
        time.sleep(0.2)
    raise SystemExit(f"{server.name} not healthy after {timeout} s; see {server.log_path}")


# --- load ---------------------------------------------------------------------------------------------------

# Prints the run's figures as one JSON line. Paths may hold "{id}" (a random integer in [1, max_id]) and
# "{word}" (one of the words given after it), drawn for every request.
WRK_SCRIPT = r"""
local template, max_id, words = nil, 1, {}
function init(args)
  template = args[1]
  max_id = tonumber(args[2] or "1")
  for i = 3, #args do words[#words + 1] = args[i] end
  math.randomseed(os.time() * 1000 + math.floor(os.clock() * 1000000))
end

function request()
  local path = string.gsub(template, "{id}", function() return tostring(math.random(1, max_id)) end)
  if #words > 0 then
    path = string.gsub(path, "{word}", function() return words[math.random(1, #words)] end)
  end
  return wrk.format(nil, path)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests": %d, "duration_us": %d, "connect": %d, "read": %d, "write": %d, '
    .. '"status": %d, "timeout": %d, "p50_us": %.0f, "p90_us": %.0f, "p95_us": %.0f, "p99_us": %.0f, '
    .. '"max_us": %.0f, "mean_us": %.1f}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(95), latency:percentile(99),
    latency.max, latency.mean))
end
"""


@dataclass
class Result:
    """One load run's figures (latencies in ms, as the load generator saw them, queueing included)."""

    requests: int
    seconds: float
    p50: float
    p95: float
    p99: float
    max: float
    mean: float
    errors: int
    cpu_ms_per_request: float | None = None

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


class LoadGenerator:
    """wrk if installed (or asked for), else bench/loadgen.py, which cannot saturate a fast server."""

    def __init__(self, kind: str, work_dir: Path) -> None:
        if kind == "auto":
            kind = "wrk" if shutil.which("wrk") else "python"
        if kind == "wrk" and not shutil.which("wrk"):
            raise SystemExit("wrk is not installed (apt-get install -y wrk); or use --loadgen python")
        self.kind = kind
        self.script = work_dir / "bench.lua"
        self.script.write_text(WRK_SCRIPT)

    def command(
        self,
        server: Server,
        path: str,
        *,
        seconds: float,
        connections: int,
        admin: bool = False,
        id_max: int = 1,
        words: Sequence[str] = (),
    ) -> list[str]:
        token = server.token if admin else ""
        if self.kind == "wrk":
            command = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "10s"]
            if token:
                command += ["-H", f"Authorization: Bearer {token}"]
            return [*command, "-s", str(self.script), server.url("/"), "--", path, str(id_max), *words]
        command = [sys.executable, "-m", "bench.loadgen", "--url", server.url(path)]
        command += ["--connections", str(connections), "--duration", str(seconds), "--id-max", str(id_max)]
        for word in words:
            command += ["--word", word]
        if token:
            command += ["--header", f"Authorization: Bearer {token}"]
        return command

    def start(self, server: Server, path: str, **options: Any) -> subprocess.Popen[str]:
        """Start a load run in the background (collect it with finish)."""
        command = self.command(server, path, **options)
        return subprocess.Popen(
            command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )

    @staticmethod
    def finish(process: subprocess.Popen[str]) -> Result:
        out, err = process.communicate()
        for line in out.splitlines():
            for marker in ("WRKJSON ", "LOADGEN "):
                if line.startswith(marker):
                    raw = json.loads(line[len(marker) :])
                    errors = sum(int(raw[k]) for k in ("connect", "read", "write", "status", "timeout"))
                    return Result(
                        requests=int(raw["requests"]),
                        seconds=raw["duration_us"] / 1e6,
                        p50=raw["p50_us"] / 1000,
                        p95=raw["p95_us"] / 1000,
                        p99=raw["p99_us"] / 1000,
                        max=raw["max_us"] / 1000,
                        mean=raw["mean_us"] / 1000,
                        errors=errors,
                    )
        raise RuntimeError(f"load generator failed ({process.returncode}): {out}\n{err}")

    def run(self, server: Server, path: str, **options: Any) -> Result:
        """One load run in the foreground, with the server's CPU time per request."""
        cpu_before = server.cpu_seconds()
        result = self.finish(self.start(server, path, **options))
        if result.requests:
            result.cpu_ms_per_request = (server.cpu_seconds() - cpu_before) * 1000 / result.requests
        return result


# --- output ---------------------------------------------------------------------------------------------


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """A Markdown table, columns padded."""
    cells = [[str(h) for h in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    numeric = [all(_numeric(row[i]) for row in cells[1:] if row[i]) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        padded = (c.rjust(w) if n else c.ljust(w) for c, w, n in zip(row, widths, numeric, strict=True))
        return "| " + " | ".join(padded) + " |"

    print(line(cells[0]))
    print(
        "|"
        + "|".join(
            ("-" * (w + 1) + ":") if n else "-" * (w + 2) for w, n in zip(widths, numeric, strict=True)
        )
        + "|"
    )
    for row in cells[1:]:
        print(line(row))


def _numeric(cell: str) -> bool:
    return cell.replace(",", "").replace(".", "", 1).replace("×", "").strip().isdigit()


def verdict(name: str, passed: bool, detail: str) -> str:
    return f"{'PASS' if passed else 'FAIL'}  {name}: {detail}"


def work_dir(prefix: str) -> Path:
    import tempfile

    return Path(tempfile.mkdtemp(prefix=f"{prefix}-"))


@contextlib.contextmanager
def no_collector_pauses() -> Iterator[None]:
    """This process (Telegram's side: the Bot API double) collects garbage before a measured run, not during
    it: a collection of its many recorded calls pauses it for up to a quarter of a second, which would add
    to the bot's measured latency, and make requests that arrived spaced look as if they came at once."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
