"""`python -m bot`: run the bot with long polling."""

import asyncio
import logging
import sys

from aiogram.exceptions import TelegramNetworkError

from bot.app import check_token, create_bot, create_dispatcher, set_commands
from shared import database, logs, metrics
from shared.config import Settings, get_settings
from shared.setup_checks import SetupError, check_bot_token, check_database
from worker import engine as job_engine

logger = logging.getLogger("bot")


async def main() -> int:
    settings = get_settings()
    logs.configure(settings)
    try:
        return await poll(settings)
    except SetupError as error:
        logger.error("%s", error)
        return 1


async def poll(settings: Settings) -> int:
    if not check_bot_token(settings.TELEGRAM_BOT_TOKEN.get_secret_value()):
        logger.error("The bot is off: set TELEGRAM_BOT_TOKEN to the token @BotFather gave you")
        return 2
    if settings.WEBHOOK_URL:
        logger.error("WEBHOOK_URL is set: updates go to the API's /telegram/webhook; not polling")
        return 2
    await check_database(settings.DATABASE_URL)
    await database.migrate()
    bot = create_bot(settings)
    dispatcher = create_dispatcher(settings, polling=True)
    try:
        try:
            await check_token(bot)
        except TelegramNetworkError as error:
            raise SetupError(
                f"Cannot reach the Telegram Bot API at {settings.TELEGRAM_API_URL}: {error}"
            ) from None
        # A webhook left from another deployment would make getUpdates fail.
        await bot.delete_webhook(drop_pending_updates=False)
        await set_commands(bot)
        if settings.METRICS_PORT:
            metrics.serve(settings.METRICS_PORT)
        # Jobs this process enqueues run here (embedded) or on the workers (REDIS_URL); the periodic ones
        # are the API's.
        async with job_engine.running(settings, bot=bot, host=False) as engine:
            dispatcher["jobs"] = engine.jobs
            # One update at a time: getUpdates confirms an update only once it has been handled, so an
            # update (a payment) of a process that dies halfway is served again to the next one.
            await dispatcher.start_polling(
                bot, handle_as_tasks=False, allowed_updates=dispatcher.resolve_used_update_types()
            )
    finally:
        await bot.session.close()
        await database.dispose_engine()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
