"""A bad TELEGRAM_BOT_TOKEN: `python -m bot` and `python -m bot.reconcile` stop with one line saying so, the
API runs with the bot off and logs that line, and ./scripts/run.sh says when the bot exits."""

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from backend.tests.test_server import ADMIN_PASSWORD, SECRET_KEY, free_port
from bot.app import running_in_api
from bot.tests.bot_api_double import BotAPIDouble
from bot.tests.conftest import BOT_ID, BOT_TOKEN, settings_env

PROJECT_ROOT = Path(__file__).resolve().parents[2]
MALFORMED_TOKEN = "12345:too-short"
MALFORMED = "TELEGRAM_BOT_TOKEN is malformed"
REFUSED = "Telegram refused the bot token: check TELEGRAM_BOT_TOKEN"
# Importing the app and migrating take seconds, many on a machine busy with other test runs; run.sh also
# loads the demo data.
STARTUP_SECONDS = 120
RUN_SH_SECONDS = 240


@pytest.fixture
async def refusing_telegram() -> AsyncIterator[BotAPIDouble]:
    """A Bot API that accepts another token than BOT_TOKEN: it answers 401 Unauthorized, as Telegram does."""
    async with BotAPIDouble(token=f"{BOT_ID}:another-token-abcdefghijklmnopqrstuvwxyz", bot_id=BOT_ID) as api:
        yield api


async def _run(module: str, **env: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        module,
        cwd=PROJECT_ROOT,
        env={**os.environ, "WEBHOOK_URL": "", "LOG_LEVEL": "INFO", "PYTHONUNBUFFERED": "1", **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=STARTUP_SECONDS)
    assert process.returncode is not None
    return process.returncode, output.decode(errors="replace")


def _lines_with(text: str, output: str) -> list[str]:
    return [line for line in output.splitlines() if text in line]


@pytest.mark.slow
@pytest.mark.parametrize("module", ["bot", "bot.reconcile"])
async def test_malformed_token_stops_the_bot_with_one_line(module):
    returncode, output = await _run(module, TELEGRAM_BOT_TOKEN=MALFORMED_TOKEN)

    assert returncode == 1, output
    assert len(_lines_with(MALFORMED, output)) == 1, output
    assert "Traceback" not in output
    assert MALFORMED_TOKEN not in output


@pytest.mark.slow
@pytest.mark.parametrize("module", ["bot", "bot.reconcile"])
async def test_token_telegram_refuses_stops_the_bot_with_one_line(module, refusing_telegram):
    returncode, output = await _run(
        module, TELEGRAM_BOT_TOKEN=BOT_TOKEN, TELEGRAM_API_URL=refusing_telegram.base_url
    )

    assert returncode == 1, output
    assert len(_lines_with(REFUSED, output)) == 1, output
    assert "Traceback" not in output
    assert [call.method for call in refusing_telegram.calls] == ["getMe"]


@pytest.mark.slow
async def test_python_m_bot_with_telegram_unreachable_stops_with_one_line():
    api_url = f"http://127.0.0.1:{free_port()}"

    returncode, output = await _run("bot", TELEGRAM_BOT_TOKEN=BOT_TOKEN, TELEGRAM_API_URL=api_url)

    assert returncode == 1, output
    assert len(_lines_with(f"Cannot reach the Telegram Bot API at {api_url}: ", output)) == 1, output
    assert "Traceback" not in output


async def test_api_with_telegram_unreachable_keeps_the_bot_on(caplog):
    # Telegram may be back in a minute; the API does not turn the bot off for that.
    api_url = f"http://127.0.0.1:{free_port()}"
    with settings_env(TELEGRAM_BOT_TOKEN=BOT_TOKEN, TELEGRAM_API_URL=api_url) as settings:
        async with running_in_api(settings) as gateway:
            pass

    assert gateway is not None
    assert "Could not ask Telegram about the bot token" in caplog.text


async def test_api_with_a_malformed_token_runs_with_the_bot_off_and_says_why(caplog):
    caplog.set_level(logging.INFO)
    with settings_env(TELEGRAM_BOT_TOKEN=MALFORMED_TOKEN) as settings:
        async with running_in_api(settings) as gateway:
            pass

    assert gateway is None
    assert len(_lines_with(MALFORMED, caplog.text)) == 1
    assert "The API runs with the bot off" in caplog.text
    assert MALFORMED_TOKEN not in caplog.text


async def test_api_with_a_refused_token_runs_with_the_bot_off_and_says_why(caplog, refusing_telegram):
    caplog.set_level(logging.INFO)
    with settings_env(TELEGRAM_BOT_TOKEN=BOT_TOKEN, TELEGRAM_API_URL=refusing_telegram.base_url) as settings:
        async with running_in_api(settings) as gateway:
            pass

    assert gateway is None
    assert f"{REFUSED}. The API runs with the bot off" in caplog.text
    assert "Telegram bot on for the API" not in caplog.text


@contextlib.contextmanager
def _env_file_left_as_found() -> Iterator[None]:
    # run.sh creates .env from .env.example when there is none; the test does not leave one behind.
    env_file = PROJECT_ROOT / ".env"
    existed = env_file.exists()
    try:
        yield
    finally:
        if not existed:
            env_file.unlink(missing_ok=True)


@pytest.mark.slow
async def test_run_sh_says_the_bot_exited_and_keeps_the_api_running(tmp_path, refusing_telegram):
    port = free_port()
    env = {name: value for name, value in os.environ.items() if name != "TEST_DATABASE_URL"} | {
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "ENVIRONMENT": "development",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'run.db'}",
        "SECRET_KEY": SECRET_KEY,
        "ADMIN_PASSWORD": ADMIN_PASSWORD,
        "TELEGRAM_BOT_TOKEN": BOT_TOKEN,
        "TELEGRAM_API_URL": refusing_telegram.base_url,
        "RECONCILE_INTERVAL_MINUTES": "0",
        "PYTHONUNBUFFERED": "1",
    }
    lines: list[str] = []
    with _env_file_left_as_found():
        process = await asyncio.create_subprocess_exec(
            "bash",
            str(PROJECT_ROOT / "scripts" / "run.sh"),
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            # Its own process group, so that the test stops run.sh, uvicorn and the bot together.
            start_new_session=True,
        )

        async def read_output() -> None:
            assert process.stdout is not None
            async for line in process.stdout:
                lines.append(line.decode(errors="replace"))

        reader = asyncio.create_task(read_output())
        try:
            healthy = False
            deadline = time.monotonic() + RUN_SH_SECONDS
            async with httpx.AsyncClient(timeout=2) as http:
                while time.monotonic() < deadline and process.returncode is None:
                    with contextlib.suppress(httpx.TransportError):
                        healthy = (await http.get(f"http://127.0.0.1:{port}/health")).status_code == 200
                    if healthy and any("The bot exited" in line for line in lines):
                        break
                    await asyncio.sleep(0.2)
                # The API outlives the bot.
                with contextlib.suppress(httpx.TransportError):
                    healthy = (await http.get(f"http://127.0.0.1:{port}/health")).status_code == 200
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            await asyncio.wait_for(process.wait(), timeout=30)
            await asyncio.wait_for(reader, timeout=10)

    output = "".join(lines)
    assert healthy, output
    assert "The bot exited (status 1); see the lines above" in output
    assert len(_lines_with(REFUSED, output)) == 2, output  # the bot's, and the API's
    assert "Telegram bot on for the API" not in output
    assert "Traceback" not in output
