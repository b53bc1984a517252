"""Bot test fixtures: the Bot API double, and the real bot (polling or webhook) talking to it.

The database setup is in the repository's root conftest.py.
"""

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from aiogram import Bot, Dispatcher

from bot.app import create_bot, create_dispatcher
from bot.tests.bot_api_double import BotAPIDouble
from shared.config import Settings, get_settings

BOT_ID = 7000000001
BOT_TOKEN = f"{BOT_ID}:TEST-token-abcdefghijklmnopqrstuvwxyz012345"


@contextlib.contextmanager
def settings_env(**values: str) -> Iterator[Settings]:
    """Set environment variables for the app's settings, and restore them afterwards."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    get_settings.cache_clear()
    try:
        yield get_settings()
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        get_settings.cache_clear()


@pytest.fixture
async def telegram() -> AsyncIterator[BotAPIDouble]:
    async with BotAPIDouble(bot_id=BOT_ID) as api:
        yield api


@pytest.fixture
def bot_settings(telegram: BotAPIDouble) -> Iterator[Settings]:
    with settings_env(
        TELEGRAM_BOT_TOKEN=BOT_TOKEN, TELEGRAM_API_URL=telegram.base_url, DELIVERY_LEASE_SECONDS="2"
    ) as s:
        yield s


@pytest.fixture
async def bot(bot_settings: Settings) -> AsyncIterator[Bot]:
    bot = create_bot(bot_settings)
    yield bot
    await bot.session.close()


@pytest.fixture
async def dispatcher(bot_settings: Settings) -> Dispatcher:
    return create_dispatcher(bot_settings)


@pytest.fixture
async def polling_bot(bot: Bot, dispatcher: Dispatcher) -> AsyncIterator[Bot]:
    """The real bot, long polling the double, in this process."""
    task = asyncio.create_task(
        dispatcher.start_polling(
            bot,
            polling_timeout=1,
            handle_signals=False,
            close_bot_session=False,
            allowed_updates=dispatcher.resolve_used_update_types(),
        )
    )
    yield bot
    with contextlib.suppress(RuntimeError):
        await dispatcher.stop_polling()
    await asyncio.wait_for(task, timeout=10)


def last_text(calls: list[Any]) -> str:
    return str(calls[-1].get("text"))
