"""The real server process: `python -m uvicorn backend.main:app`, spoken to over real HTTP.

Each test starts its own process with its own new SQLite file (also when the rest of the suite runs on
PostgreSQL), and always stops it.
"""

import os
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from shared.database import PROJECT_ROOT

pytestmark = pytest.mark.slow

# A loaded machine (several test runs at once) can take this long just to import the app.
STARTUP_TIMEOUT_SECONDS = 180
ADMIN_PASSWORD = "server-test-admin-password"
SECRET_KEY = "server-test-secret-key-long-enough-for-hs256-0123456789"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_env(**overrides: str) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        # Nothing from the test run's own configuration leaks into the server.
        if name not in {"DATABASE_URL", "TEST_DATABASE_URL", "SECRET_KEY", "ADMIN_PASSWORD", "ENVIRONMENT"}
    }
    return env | {"PYTHONUNBUFFERED": "1", "LOG_LEVEL": "INFO"} | overrides


def start(env: dict[str, str], port: int, log: Path) -> subprocess.Popen:
    with log.open("wb") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "backend.main:app", "--host", "127.0.0.1", "--port", str(port)],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def wait_until_healthy(process: subprocess.Popen, base_url: str, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"server exited with {process.returncode}:\n{log.read_text(errors='replace')}")
        try:
            if httpx.get(f"{base_url}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail(f"server not healthy after {STARTUP_TIMEOUT_SECONDS} s:\n{log.read_text(errors='replace')}")


@dataclass(frozen=True)
class Server:
    base_url: str
    database_file: Path
    log: Path


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    database_file = tmp_path / "new" / "store.db"
    database_file.parent.mkdir()
    port = free_port()
    log = tmp_path / "server.log"
    env = server_env(
        ENVIRONMENT="development",
        DATABASE_URL=f"sqlite:///{database_file}",
        SECRET_KEY=SECRET_KEY,
        ADMIN_PASSWORD=ADMIN_PASSWORD,
    )
    assert not database_file.exists()
    process = start(env, port, log)
    try:
        base_url = f"http://127.0.0.1:{port}"
        wait_until_healthy(process, base_url, log)
        yield Server(base_url, database_file, log)
    finally:
        stop(process)


def test_server_end_to_end(server: Server):
    # The database file was created and migrated on startup.
    assert server.database_file.exists()
    with sqlite3.connect(server.database_file) as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        version = db.execute("SELECT version_num FROM alembic_version").fetchall()
        admins = db.execute("SELECT username FROM admins").fetchall()
    assert {"users", "lessons", "courses", "purchases", "promo_codes", "support_tickets", "admins"} <= tables
    assert len(version) == 1
    assert admins == [("admin",)]

    with httpx.Client(base_url=server.base_url, timeout=10) as http:
        assert http.get("/ready").json() == {"status": "ok", "database": "ok", "redis": "not_configured"}
        assert http.get("/docs").status_code == 200

        login = http.post("/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
        assert login.status_code == 200, login.text
        tokens = login.json()
        headers = {"Authorization": f"Bearer {tokens['access_token']}"}

        created = http.post(
            "/api/lessons/",
            json={"title": "Over HTTP", "price": 15, "text_content": "paid words", "video_path": "v.mp4"},
            headers=headers,
        )
        assert created.status_code == 201, created.text
        lesson_id = created.json()["id"]

        public = http.get("/api/lessons/")
        assert public.status_code == 200
        assert public.json()["total"] == 1
        item = public.json()["items"][0]
        assert (item["id"], item["title"], item["has_text"], item["has_video"]) == (
            lesson_id,
            "Over HTTP",
            True,
            True,
        )
        assert "text_content" not in item
        assert "video_path" not in item
        assert "paid words" not in public.text

        assert http.post("/auth/logout", headers=headers).status_code == 204
        refused = http.get("/auth/me", headers=headers)
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"] == "Bearer"
        refresh = http.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
        assert refresh.status_code == 401

    with sqlite3.connect(server.database_file) as db:
        assert db.execute("SELECT title, price FROM lessons").fetchall() == [("Over HTTP", 15)]


def test_server_refuses_default_secret_key_in_production(tmp_path: Path):
    database_file = tmp_path / "prod.db"
    env = server_env(
        ENVIRONMENT="production",
        DATABASE_URL=f"sqlite:///{database_file}",
        SECRET_KEY="your-secret-key-here",
        ADMIN_PASSWORD=ADMIN_PASSWORD,
    )
    log = tmp_path / "server.log"
    process = start(env, free_port(), log)
    try:
        returncode = process.wait(timeout=STARTUP_TIMEOUT_SECONDS)
    finally:
        stop(process)
    output = log.read_text(errors="replace")
    assert returncode != 0, output
    assert "SECRET_KEY" in output
    assert "Refusing to start in production" in output
    assert not database_file.exists()
