"""Building the bot and its dispatcher, shared by polling (`python -m bot`) and the API's webhook."""

import asyncio
import functools
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiogram.methods
from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.session.base import Response
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.fsm.storage.base import BaseStorage
from aiogram.fsm.storage.memory import MemoryStorage
from aiogram.methods import TelegramMethod
from aiogram.types import BotCommand, Update

from bot.handlers import get_routers
from bot.handlers.errors import PaymentNotRecorded
from bot.i18n import LANGUAGES, translator
from bot.jobs import running
from bot.middlewares import DbSessionMiddleware, UserMiddleware
from shared.config import Settings

logger = logging.getLogger(__name__)

COMMANDS = ("start", "mylessons", "support", "paysupport", "help", "terms", "privacy")


@functools.cache
def _response_models() -> tuple[type[Response[Any]], ...]:
    """aiogram reads every Bot API answer with the pydantic model Response[<the method's result type>].
    Pydantic keeps such parametrised models only weakly, so once the garbage collector has taken one, the
    next call builds the class anew (about a millisecond; profiled at 9% of the bot's CPU). Built once here
    and kept for the life of the process."""
    result_types: dict[str, Any] = {}
    for name in aiogram.methods.__all__:
        method = getattr(aiogram.methods, name)
        if isinstance(method, type) and issubclass(method, TelegramMethod) and method is not TelegramMethod:
            result_types.setdefault(repr(method.__returning__), method.__returning__)
    return tuple(Response[result_type] for result_type in result_types.values())


def create_bot(settings: Settings) -> Bot:
    _response_models()
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


class PollingDispatcher(Dispatcher):
    """The dispatcher of `python -m bot`.

    Polling confirms an update when it asks for the next ones, which it does once this one is handled. So a
    payment that the database cannot take now (PaymentNotRecorded) is handled again here, after a pause,
    before the update is confirmed: a short outage delays it, and a process that dies meanwhile leaves it
    to the next one. After the last try aiogram logs the error and moves on; reconciliation then records
    the charge. (The webhook answers 503 instead, and Telegram delivers the update again.)
    """

    payment_retry_delays: tuple[float, ...] = (1, 2, 4, 8, 15, 30)

    async def feed_update(self, bot: Bot, update: Update, **kwargs: Any) -> Any:
        for delay in self.payment_retry_delays:
            try:
                return await super().feed_update(bot, update, **kwargs)
            except PaymentNotRecorded as error:
                logger.warning("%s; handling update %s again in %s s", error, update.update_id, delay)
                await asyncio.sleep(delay)
        return await super().feed_update(bot, update, **kwargs)


def create_dispatcher(settings: Settings, *, polling: bool = False) -> Dispatcher:
    dispatcher = (PollingDispatcher if polling else Dispatcher)(storage=create_storage(settings))
    dispatcher.update.outer_middleware(DbSessionMiddleware())
    dispatcher.update.outer_middleware(UserMiddleware())
    routers = get_routers()
    for router in routers:
        # The feature routers are module singletons and aiogram lets a router belong to one dispatcher only:
        # a new dispatcher in the same process (tests, the API's lifespan run again) takes them over.
        if router.parent_router is not None:
            router.parent_router.sub_routers.remove(router)
            router._parent_router = None
    dispatcher.include_routers(*routers)
    return dispatcher


async def set_commands(bot: Bot) -> None:
    """The command menu, in each language the bot speaks."""
    for language in LANGUAGES:
        t = translator(language)
        commands = [BotCommand(command=name, description=t.plain(f"command-{name}")) for name in COMMANDS]
        await bot.set_my_commands(commands, language_code=None if language == "en" else language)


@asynccontextmanager
async def running_in_api(state: Any, settings: Settings) -> AsyncIterator[None]:
    """The bot's part of the API process, for its lifetime; `state` (the app's) gets `bot` and `dispatcher`.

    The API never polls. It keeps a bot to talk to Telegram (refunds, ticket answers); with WEBHOOK_URL it
    also registers the webhook, handles the updates POSTed to it and runs the periodic jobs, which
    `python -m bot` runs otherwise.
    """
    state.bot = state.dispatcher = None
    if not settings.bot_enabled:
        logger.warning(
            "The Telegram bot is off: TELEGRAM_BOT_TOKEN is not set to a real token. "
            "The API runs without it: refunds are refused, ticket answers wait until the bot runs"
        )
        yield
        return
    bot = create_bot(settings)
    try:
        if not settings.WEBHOOK_URL:
            logger.info("Telegram bot ready for the API; updates are received by `python -m bot` (polling)")
            state.bot = bot
            yield
            return
        assert settings.WEBHOOK_SECRET is not None  # Settings refuse a webhook without a secret.
        dispatcher = create_dispatcher(settings)
        await bot.set_webhook(
            settings.WEBHOOK_URL,
            secret_token=settings.WEBHOOK_SECRET.get_secret_value(),
            allowed_updates=dispatcher.resolve_used_update_types(),
        )
        await set_commands(bot)
        logger.info("Telegram bot receives updates at the webhook %s", settings.WEBHOOK_URL)
        state.bot, state.dispatcher = bot, dispatcher
        async with running(bot, settings):
            yield
    finally:
        # The webhook stays registered: a restart or a new deployment takes the updates over.
        state.bot = state.dispatcher = None
        await bot.session.close()
