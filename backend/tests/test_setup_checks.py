"""Mistakes in DATABASE_URL: the entry points create what they may (a directory, a PostgreSQL database) and
otherwise say in one line what to fix, never with a traceback."""

import asyncio
import logging
import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import make_url

from backend.tests.test_server import ADMIN_PASSWORD, SECRET_KEY, free_port, server_env, start, stop
from conftest import is_postgres
from shared.config import get_settings
from shared.database import PROJECT_ROOT
from shared.setup_checks import SetupError, check_database

# Importing the app takes seconds, many on a machine busy with other test runs.
STARTUP_TIMEOUT_SECONDS = 120


def _env(database_url: str) -> dict[str, str]:
    return server_env(
        ENVIRONMENT="development",
        DATABASE_URL=database_url,
        SECRET_KEY=SECRET_KEY,
        ADMIN_PASSWORD=ADMIN_PASSWORD,
    )


def _seed(database_url: str, *, prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    """`python -m backend.seed`, which ./scripts/run.sh runs first."""
    return subprocess.run(
        [*prefix, sys.executable, "-m", "backend.seed"],
        cwd=PROJECT_ROOT,
        env=_env(database_url),
        capture_output=True,
        text=True,
        timeout=STARTUP_TIMEOUT_SECONDS,
        check=False,
    )


def _server_output(database_url: str, tmp_path: Path) -> tuple[int, str]:
    """Start `uvicorn backend.main:app`, wait for it to give up, return its exit status and output."""
    log = tmp_path / "server.log"
    process = start(_env(database_url), free_port(), log)
    try:
        returncode = process.wait(timeout=STARTUP_TIMEOUT_SECONDS)
    finally:
        stop(process)
    return returncode, log.read_text(errors="replace")


def _lines_with(text: str, output: str) -> list[str]:
    return [line for line in output.splitlines() if text in line]


@pytest.mark.slow
def test_seed_creates_the_missing_directory_of_an_sqlite_database(tmp_path: Path):
    database_file = tmp_path / "new" / "deeper" / "store.db"

    result = _seed(f"sqlite:///{database_file}")

    assert result.returncode == 0, result.stderr
    assert database_file.is_file()
    assert f"Created the directory {database_file.parent}" in result.stderr


@pytest.mark.slow
def test_server_with_an_sqlite_database_under_a_file_says_so_in_one_line(tmp_path: Path):
    regular_file = tmp_path / "notes.txt"
    regular_file.write_text("not a directory")
    database_file = regular_file / "store.db"

    returncode, output = _server_output(f"sqlite:///{database_file}", tmp_path)

    assert returncode != 0, output
    message = f"Cannot create the database {database_file}: {regular_file} is a file, not a directory"
    assert len(_lines_with(message, output)) == 1, output
    assert "Traceback" not in output


@pytest.mark.slow
def test_seed_with_an_unwritable_sqlite_directory_says_so_in_one_line(tmp_path: Path):
    directory = tmp_path / "read-only"
    directory.mkdir(mode=0o555)
    prefix: tuple[str, ...] = ()
    if os.access(directory, os.W_OK):
        # Root writes anywhere; in a user namespace of its own it keeps only an owner's rights.
        if not shutil.which("unshare"):
            pytest.skip("running as root without unshare(1)")
        prefix = ("unshare", "--user")

    result = _seed(f"sqlite:///{directory / 'store.db'}", prefix=prefix)

    if prefix and "unshare:" in result.stderr:
        pytest.skip(f"user namespaces unavailable: {result.stderr.strip()}")
    assert result.returncode == 1, result.stderr
    message = f"Cannot write the database {directory / 'store.db'}: the directory {directory} is not writable"
    assert len(_lines_with(message, result.stderr)) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert list(directory.iterdir()) == []


@pytest.mark.slow
def test_server_with_postgresql_not_running_says_so_in_one_line(tmp_path: Path):
    port = free_port()

    returncode, output = _server_output(f"postgresql://postgres@127.0.0.1:{port}/lessons", tmp_path)

    assert returncode != 0, output
    message = f"Cannot reach PostgreSQL at 127.0.0.1:{port} (connection refused): is PostgreSQL running?"
    assert len(_lines_with(message, output)) == 1, output
    assert "Traceback" not in output


def _test_server_url(**parts: str) -> str:
    """TEST_DATABASE_URL's server with another database or user."""
    url = make_url(get_settings().DATABASE_URL).set(drivername="postgresql", **parts)
    return url.render_as_string(hide_password=False)


async def _on_test_database(statement: str, *args: str) -> object:
    connection = await asyncpg.connect(_test_server_url())
    try:
        return await connection.fetchval(statement, *args)
    finally:
        await connection.close()


needs_postgres = pytest.mark.skipif(not is_postgres(), reason="needs TEST_DATABASE_URL=postgresql://...")


@needs_postgres
async def test_missing_postgresql_database_is_created(caplog):
    caplog.set_level(logging.INFO)
    # A name that only works quoted.
    name = f'test_setup_d {secrets.token_hex(4)} "new"'
    try:
        await check_database(_test_server_url(database=name))

        assert await _on_test_database("SELECT count(*) FROM pg_database WHERE datname = $1", name) == 1
        assert f"Created the PostgreSQL database {name!r}" in caplog.text
    finally:
        quoted = name.replace('"', '""')
        await _on_test_database(f'DROP DATABASE IF EXISTS "{quoted}"')


@needs_postgres
async def test_missing_postgresql_database_created_by_processes_starting_together():
    """Replicas, workers and the scheduler start at once: each finds the database missing and creates it;
    all of them go on (found as a race in the replicas test: pg_database's unique key refused one)."""
    name = f"test_setup_race_{secrets.token_hex(4)}"
    try:
        await asyncio.gather(*(check_database(_test_server_url(database=name)) for _ in range(6)))

        assert await _on_test_database("SELECT count(*) FROM pg_database WHERE datname = $1", name) == 1
    finally:
        await _on_test_database(f'DROP DATABASE IF EXISTS "{name}"')


@needs_postgres
async def test_missing_postgresql_database_the_user_may_not_create_says_so():
    role = f"test_setup_d_{secrets.token_hex(4)}"
    name = f"{role}_db"
    await _on_test_database(f'CREATE ROLE "{role}" LOGIN NOCREATEDB')
    try:
        with pytest.raises(SetupError) as raised:
            await check_database(_test_server_url(database=name, username=role, password=""))

        message = str(raised.value)
        if "refused user" in message:
            pytest.skip(f"the test server does not let a new role in without a password: {message}")
        assert message.startswith(f"The database {name!r} does not exist on ")
        assert f"user {role!r} may not create it" in message
        assert "\n" not in message
        assert await _on_test_database("SELECT count(*) FROM pg_database WHERE datname = $1", name) == 0
    finally:
        await _on_test_database(f'DROP ROLE IF EXISTS "{role}"')
