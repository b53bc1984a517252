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
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.fsm.storage.base import BaseEventIsolation, BaseStorage
from aiogram.fsm.storage.memory import MemoryStorage
from aiogram.methods import TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import BotCommand, Update

from backend.services import payment_service
from backend.services.exceptions import PaymentNotRecorded
from bot.gateway import BotGateway
from bot.handlers import create_routers
from bot.i18n import LANGUAGES, translator
from bot.middlewares import DbSessionMiddleware, UserMiddleware
from shared import database, metrics
from shared.config import REDIS_CONNECTION_OPTIONS, Settings
from shared.models import Purchase, UnmatchedPayment
from shared.setup_checks import SetupError, check_bot_token

logger = logging.getLogger(__name__)

COMMANDS = ("start", "mylessons", "support", "paysupport", "help", "terms", "privacy")
# The API asks Telegram about the token at startup, but does not wait long for an answer.
API_TOKEN_CHECK_TIMEOUT_SECONDS = 10


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


class CommitBeforeTelegram(BaseRequestMiddleware):
    """Every call to Telegram finds what the running unit of work wrote already committed (see
    shared.database.commit_now): a payment before its content goes out, an invoice's purchase before the
    invoice, and no writer holds the database's locks while Telegram answers."""

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        await database.commit_now()
        return await make_request(bot, method)


class CountRefusals(BaseRequestMiddleware):
    """Counts the calls Telegram refused, by error code (a 429 is a rate limit hit, a 403 a blocked chat)."""

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        try:
            return await make_request(bot, method)
        except TelegramRetryAfter:
            metrics.telegram_errors.labels("429").inc()
            raise
        except TelegramForbiddenError:
            metrics.telegram_errors.labels("403").inc()
            raise
        except TelegramNetworkError:
            metrics.telegram_errors.labels("network").inc()
            raise
        except TelegramAPIError as error:
            metrics.telegram_errors.labels(_error_code(error)).inc()
            raise


def _error_code(error: TelegramAPIError) -> str:
    for code, kind in (
        (400, TelegramBadRequest),
        (401, TelegramUnauthorizedError),
        (404, TelegramNotFound),
        (409, TelegramConflictError),
        (500, TelegramServerError),
    ):
        if isinstance(error, kind):
            return str(code)
    return "other"


def create_bot(settings: Settings) -> Bot:
    _response_models()
    session = AiohttpSession(api=TelegramAPIServer.from_base(settings.TELEGRAM_API_URL.rstrip("/")))
    session.middleware(CommitBeforeTelegram())
    session.middleware(CountRefusals())
    return Bot(
        settings.TELEGRAM_BOT_TOKEN.get_secret_value(),
        session=session,
        default=DefaultBotProperties(parse_mode=ParseMode.HTML),
    )


async def check_token(bot: Bot, *, request_timeout: int | None = None) -> None:
    """Ask Telegram who the bot is (getMe): SetupError if it refuses the token, TelegramNetworkError if it
    cannot be reached."""
    try:
        await bot.get_me(request_timeout=request_timeout)
    except TelegramUnauthorizedError:
        raise SetupError("Telegram refused the bot token: check TELEGRAM_BOT_TOKEN") from None


def create_storage(settings: Settings) -> tuple[BaseStorage, BaseEventIsolation | None]:
    """Where conversation state (awaiting a promo code, a support message) lives between updates, and what
    keeps one chat's updates in order.

    Redis when REDIS_URL is set, so that several bot processes (webhook replicas) share the state, and one
    chat's updates are handled one at a time whichever replica gets them; memory otherwise (one process
    handles every update, in order).
    """
    if settings.REDIS_URL:
        from aiogram.fsm.storage.redis import RedisStorage

        storage = RedisStorage.from_url(settings.REDIS_URL, connection_kwargs=REDIS_CONNECTION_OPTIONS)
        return storage, storage.create_isolation()
    return MemoryStorage(), None


class PollingDispatcher(Dispatcher):
    """The dispatcher of `python -m bot`.

    Polling confirms an update when it asks for the next ones, which it does once this one is handled. So a
    payment that the database cannot take now (PaymentNotRecorded) is handled again here, after a pause
    that doubles up to payment_retry_max_delay, before the update is confirmed; it is never dropped:
    - while the database is down (nothing can be written), it is tried again for as long as that lasts:
      the update stays unconfirmed, and a process that dies meanwhile leaves it to the next one;
    - once the payment has been refused for payment_give_up_after seconds and the database takes an
      unmatched payment row (it is up, but refuses this payment: tried once more in the same
      transaction), the payment is kept there (not_recorded) for the admin, the payer is told, and the
      update is confirmed. Reconciliation records the charge later if the database takes it then.
    (The webhook answers 503 instead, and Telegram delivers the update again.)
    """

    payment_retry_delay: float = 1
    payment_retry_max_delay: float = 30
    payment_give_up_after: float = 60

    async def feed_update(self, bot: Bot, update: Update, **kwargs: Any) -> Any:
        loop = asyncio.get_running_loop()
        refused_since = loop.time()
        delay = self.payment_retry_delay
        recorded = False
        while True:
            try:
                return await super().feed_update(bot, update, **kwargs)
            except PaymentNotRecorded as error:
                if recorded:
                    logger.error("%s; its payment is recorded: the delivery job takes it over", error)
                    return None
                if loop.time() - refused_since >= self.payment_give_up_after:
                    kept = await _keep_refused_payment(bot, update)
                    if isinstance(kept, UnmatchedPayment):
                        return None
                    if isinstance(kept, Purchase):
                        recorded = True  # after all: handled once more, to deliver it
                        continue
                logger.warning("%s; handling update %s again in %s s", error, update.update_id, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.payment_retry_max_delay)


async def _keep_refused_payment(bot: Bot, update: Update) -> Purchase | UnmatchedPayment | None:
    """The refused payment recorded after all, or kept as an unmatched payment (the payer is told); None
    while nothing can be written."""
    message = update.message
    assert message is not None
    payment, payer = message.successful_payment, message.from_user
    assert payment is not None
    assert payer is not None
    try:
        async with database.session_scope() as session:
            kept = await payment_service.keep_refused_payment(
                session,
                telegram_user_id=payer.id,
                charge_id=payment.telegram_payment_charge_id,
                amount=payment.total_amount,
                currency=payment.currency,
                payload=payment.invoice_payload,
            )
    except Exception as error:
        logger.error("Payment update %s cannot be kept either (%s)", update.update_id, error)
        return None
    if isinstance(kept, UnmatchedPayment):
        t = translator(payer.language_code)
        try:
            await bot.send_message(message.chat.id, t("payment-unmatched", amount=payment.total_amount))
        except TelegramAPIError as error:
            logger.warning("Could not tell the payer of update %s: %s", update.update_id, error)
    return kept


def create_dispatcher(settings: Settings, *, polling: bool = False) -> Dispatcher:
    storage, isolation = create_storage(settings)
    dispatcher = (PollingDispatcher if polling else Dispatcher)(storage=storage, events_isolation=isolation)
    dispatcher.update.outer_middleware(DbSessionMiddleware())
    dispatcher.update.outer_middleware(UserMiddleware())
    dispatcher.include_routers(*create_routers())
    return dispatcher


async def set_commands(bot: Bot) -> None:
    """The command menu, in each language the bot speaks."""
    for language in LANGUAGES:
        t = translator(language)
        commands = [BotCommand(command=name, description=t.plain(f"command-{name}")) for name in COMMANDS]
        await bot.set_my_commands(commands, language_code=None if language == "en" else language)


@asynccontextmanager
async def running_in_api(settings: Settings) -> AsyncIterator[BotGateway | None]:
    """The bot's part of the API process, for its lifetime: the gateway through which the API reaches
    Telegram (refunds, ticket answers), None when the bot is off.

    The API never polls. With WEBHOOK_URL it also registers the webhook and handles the updates POSTed to it
    (the gateway has a dispatcher then).
    """
    try:
        enabled = check_bot_token(settings.TELEGRAM_BOT_TOKEN.get_secret_value())
    except SetupError as error:
        logger.error("%s. The API runs with the bot off", error)
        enabled = False
    else:
        if not enabled:
            logger.warning(
                "The Telegram bot is off: TELEGRAM_BOT_TOKEN is not set. "
                "The API runs without it: refunds are refused, ticket answers wait until the bot runs"
            )
    if not enabled:
        yield None
        return
    bot = create_bot(settings)
    try:
        try:
            await check_token(bot, request_timeout=API_TOKEN_CHECK_TIMEOUT_SECONDS)
        except SetupError as error:
            logger.error("%s. The API runs with the bot off", error)
            yield None
            return
        except TelegramNetworkError as error:
            # Telegram may be back in a minute: the bot stays on (its calls fail until then).
            logger.warning("Could not ask Telegram about the bot token (%s); the bot stays on", error)
        if not settings.WEBHOOK_URL:
            # Not "ready": whether `python -m bot` runs is another process's story.
            logger.info("Telegram bot on for the API; updates are received by `python -m bot` (polling)")
            yield BotGateway(bot)
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
        yield BotGateway(bot, dispatcher)
    finally:
        # The webhook stays registered: a restart or a new deployment takes the updates over.
        await bot.session.close()
