"""Showing a screen (a text with its inline keyboard): in place of the message a button belongs to, or new."""

import logging

from aiogram.exceptions import TelegramBadRequest
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message

logger = logging.getLogger(__name__)


async def show(target: Message | CallbackQuery, text: str, markup: InlineKeyboardMarkup | None) -> None:
    """Answer a command with a new message; for a button, edit its message (and answer the query)."""
    if isinstance(target, Message):
        await target.answer(text, reply_markup=markup)
        return
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
    await target.answer()
