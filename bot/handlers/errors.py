"""The last resort: an unexpected error is logged with the update id and the user gets an apology."""

import logging

from aiogram import Bot, Router
from aiogram.types import ErrorEvent
from sqlalchemy.exc import SQLAlchemyError

from backend.services.exceptions import PaymentNotRecorded
from bot.i18n import translator

logger = logging.getLogger(__name__)


def _database_failed(error: BaseException) -> bool:
    # A refused or dropped connection can reach us unwrapped; a missing video file (also an OSError) must not
    # count, since the payment is recorded by then.
    return isinstance(error, SQLAlchemyError | ConnectionError)


async def handle_error(event: ErrorEvent, bot: Bot) -> bool:
    update = event.update
    if update.message and update.message.successful_payment and _database_failed(event.exception):
        # Not an error to apologise for, wherever the database failed (registering the payer, recording the
        # payment): the payment will be recorded when the update comes again.
        raise PaymentNotRecorded(
            f"Payment update {update.update_id} not handled: {event.exception}"
        ) from event.exception
    logger.exception("Update %s failed: %s", update.update_id, event.exception, exc_info=event.exception)
    sender = None
    chat_id = None
    if update.message:
        sender, chat_id = update.message.from_user, update.message.chat.id
    elif update.callback_query:
        sender = update.callback_query.from_user
        chat_id = sender.id
    elif update.pre_checkout_query:
        query = update.pre_checkout_query
        t = translator(query.from_user.language_code)
        try:
            await bot.answer_pre_checkout_query(query.id, ok=False, error_message=t.plain("error-generic"))
        except Exception:
            logger.exception("Could not refuse pre-checkout query of update %s", update.update_id)
        return True
    if chat_id is not None:
        t = translator(sender.language_code if sender else None)
        try:
            await bot.send_message(chat_id, t("error-generic"))
        except Exception:
            logger.exception("Could not apologise for update %s", update.update_id)
    if update.callback_query:
        try:
            await bot.answer_callback_query(update.callback_query.id)
        except Exception:
            logger.debug("Callback query of update %s already answered or expired", update.update_id)
    return True


def create_router() -> Router:
    """This feature's handlers, in a router of its own (each dispatcher gets new ones)."""
    router = Router(name=__name__)
    router.errors.register(handle_error)
    return router
