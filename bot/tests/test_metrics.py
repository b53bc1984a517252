"""The bot's metrics: calls Telegram refused, by code, and updates by type."""

import pytest
from aiogram import Bot
from aiogram.exceptions import TelegramForbiddenError
from prometheus_client import REGISTRY

from bot.tests.bot_api_double import BotAPIDouble, user
from bot.tests.helpers import send


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_refused_calls_counted_by_code(bot: Bot, telegram: BotAPIDouble) -> None:
    before = sample("lesson_store_telegram_errors_total", code="403")
    telegram.block(4242)
    with pytest.raises(TelegramForbiddenError):
        await bot.send_message(4242, "hello")
    assert sample("lesson_store_telegram_errors_total", code="403") == before + 1


@pytest.mark.usefixtures("polling_bot")
async def test_updates_counted_by_type(telegram: BotAPIDouble) -> None:
    before = sample("lesson_store_bot_updates_total", type="message")
    await send(telegram, user(5151), "/start")
    assert sample("lesson_store_bot_updates_total", type="message") == before + 1
