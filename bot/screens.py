"""Showing a screen (a text with its inline keyboard): in place of the message a button belongs to, or new."""

import logging
from typing import Any

from aiogram.exceptions import TelegramBadRequest
from aiogram.methods import TelegramMethod
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message

logger = logging.getLogger(__name__)

# A handler's last Bot API call, returned instead of made: in webhook mode it rides on the answer to
# Telegram's request (one request fewer per update, and the soonest the user can see it); polling makes
# it. Only for calls whose outcome nothing depends on.
Reply = TelegramMethod[Any] | None


async def show(target: Message | CallbackQuery, text: str, markup: InlineKeyboardMarkup | None) -> Reply:
    """Answer a command with a new message; for a button, edit its message (and answer the query).

    The new message, or the query's answer, is returned for the handler to return (see Reply).
    """
    if isinstance(target, Message):
        return target.answer(text, reply_markup=markup)
    message = target.message
    # Buttons under a video or an invoice, or under a message too old to reach, cannot be edited into text.
    if isinstance(message, Message) and message.text is not None:
        try:
            await message.edit_text(text, reply_markup=markup)
        except TelegramBadRequest as error:
            if "message is not modified" not in error.message:
                logger.info("Could not edit message %s (%s); sending anew", message.message_id, error.message)
                await target.bot.send_message(target.from_user.id, text, reply_markup=markup)  # type: ignore[union-attr]
            # Not modified: a double tap, the screen is already showing.
    else:
        await target.bot.send_message(target.from_user.id, text, reply_markup=markup)  # type: ignore[union-attr]
    return target.answer()
