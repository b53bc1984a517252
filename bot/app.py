"""Building the bot and its dispatcher, shared by polling (`python -m bot`) and the API's webhook."""

import logging

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.fsm.storage.base import BaseStorage
from aiogram.fsm.storage.memory import MemoryStorage
from aiogram.types import BotCommand

from backend.config import Settings
from bot.handlers import get_routers
from bot.i18n import LANGUAGES, translator
from bot.middlewares import DbSessionMiddleware, UserMiddleware

logger = logging.getLogger(__name__)

COMMANDS = ("start", "mylessons", "support", "paysupport", "help", "terms", "privacy")


def create_bot(settings: Settings) -> Bot:
    session = AiohttpSession(api=TelegramAPIServer.from_base(settings.TELEGRAM_API_URL.rstrip("/")))
    return Bot(
        settings.TELEGRAM_BOT_TOKEN.get_secret_value(),
        session=session,
        default=DefaultBotProperties(parse_mode=ParseMode.HTML),
    )


def create_storage(settings: Settings) -> BaseStorage:
    """Where conversation state (awaiting a promo code, a support message) lives between updates.

    Redis when REDIS_URL is set, so that several bot processes share it; memory otherwise.
    """
    if settings.REDIS_URL:
        from aiogram.fsm.storage.redis import RedisStorage

        return RedisStorage.from_url(settings.REDIS_URL)
    return MemoryStorage()


def create_dispatcher(settings: Settings) -> Dispatcher:
    dispatcher = Dispatcher(storage=create_storage(settings))
    dispatcher.update.outer_middleware(DbSessionMiddleware())
    dispatcher.update.outer_middleware(UserMiddleware())
    dispatcher.include_routers(*get_routers())
    return dispatcher


async def set_commands(bot: Bot) -> None:
    """The command menu, in each language the bot speaks."""
    for language in LANGUAGES:
        t = translator(language)
        commands = [BotCommand(command=name, description=t.plain(f"command-{name}")) for name in COMMANDS]
        await bot.set_my_commands(commands, language_code=None if language == "en" else language)
