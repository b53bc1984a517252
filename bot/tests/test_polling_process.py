"""`python -m bot` as a real process: long polling the Bot API double, and refusing to run without a token."""

import asyncio
import contextlib
import os
import signal
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.tests.bot_api_double import user
from bot.tests.conftest import BOT_TOKEN
from bot.tests.helpers import db_scalar
from shared.models import User

pytestmark = pytest.mark.slow

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# Importing the app, migrating and the first getUpdates take a few seconds on a slow machine.
STARTUP_SECONDS = 60


def _env(**values: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=os.environ["DATABASE_URL"],
        WEBHOOK_URL="",
        WEBHOOK_SECRET="",
        RECONCILE_INTERVAL_MINUTES="0",
        LOG_LEVEL="INFO",
        PYTHONUNBUFFERED="1",
    )
    env.update(values)
    return env


async def _run_bot(**env: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        cwd=PROJECT_ROOT,
        env=_env(**env),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def test_python_m_bot_polls_and_answers_start(telegram):
    process = await _run_bot(TELEGRAM_BOT_TOKEN=BOT_TOKEN, TELEGRAM_API_URL=telegram.base_url)
    try:
        # It says where updates go before asking for them.
        await telegram.wait_for("getUpdates", timeout=STARTUP_SECONDS)
        telegram.push_update(telegram.message_update(user(150, "Polly", language_code="ru"), "/start"))

        [reply] = await telegram.wait_for("sendMessage", lambda c: str(c["chat_id"]) == "150", timeout=30)

        assert reply["text"].startswith("Привет, Polly!")
        assert telegram.calls_to("deleteWebhook")
        assert {c.get("language_code") for c in telegram.calls_to("setMyCommands")} == {None, "ru"}
        stored = await db_scalar(select(User).where(User.telegram_id == 150))
        assert stored.first_name == "Polly"
    finally:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode == 0, stderr.decode()


async def test_python_m_bot_with_the_placeholder_token_says_the_bot_is_off():
    process = await _run_bot(TELEGRAM_BOT_TOKEN="your-bot-token")

    _, stderr = await asyncio.wait_for(process.communicate(), timeout=STARTUP_SECONDS)

    assert process.returncode != 0
    assert "The bot is off" in stderr.decode()
