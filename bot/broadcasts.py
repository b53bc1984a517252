"""Sending a broadcast's message to one chat: HTML text, or a photo or video with it as the caption, and
inline buttons (links, or a lesson's or course's card in the bot, with the catalog's own callback data).
The media goes by Telegram's file id once it has one, else it is uploaded from MEDIA_DIR."""

import logging
from dataclasses import dataclass
from typing import Any

from aiogram import Bot
from aiogram.enums import ParseMode
from aiogram.types import FSInputFile, InlineKeyboardButton, InlineKeyboardMarkup, InputFile, Message

from backend.services.telegram import BroadcastMessage
from bot.callbacks import CourseCb, ItemAction, LessonCb

logger = logging.getLogger(__name__)

# Uploading a big video takes a while, even to a local Bot API server.
UPLOAD_TIMEOUT_SECONDS = 600


@dataclass(frozen=True)
class SentBroadcast:
    message_id: int
    # Telegram's id of the photo or video sent (None without media): later sends use it.
    media_file_id: str | None = None


def _button(button: dict[str, Any]) -> InlineKeyboardButton:
    if button.get("url"):
        return InlineKeyboardButton(text=button["text"], url=button["url"])
    if button.get("lesson_id") is not None:
        data = LessonCb(id=button["lesson_id"], action=ItemAction.SHOW).pack()
    else:
        data = CourseCb(id=button["course_id"], action=ItemAction.SHOW).pack()
    return InlineKeyboardButton(text=button["text"], callback_data=data)


def keyboard(buttons: list[dict[str, Any]]) -> InlineKeyboardMarkup | None:
    """One button a row (None without buttons)."""
    if not buttons:
        return None
    return InlineKeyboardMarkup(inline_keyboard=[[_button(button)] for button in buttons])


def _media_file_id(message: Message) -> str | None:
    if message.photo:
        return message.photo[-1].file_id
    if message.video is not None:
        return message.video.file_id
    return None


async def send(bot: Bot, chat_id: int, broadcast: BroadcastMessage) -> SentBroadcast:
    """Send the broadcast to the chat. aiogram's errors pass through (the sender tells a block from a 429
    from a refused message); FileNotFoundError when the media has no file id and its file is gone."""
    markup = keyboard(broadcast.buttons)
    paid = True if broadcast.paid else None
    if broadcast.media_kind is None:
        message = await bot.send_message(
            chat_id, broadcast.text, parse_mode=ParseMode.HTML, reply_markup=markup, allow_paid_broadcast=paid
        )
        return SentBroadcast(message.message_id)
    media: str | InputFile
    timeout = None
    if broadcast.media_file_id:
        media = broadcast.media_file_id
    else:
        if broadcast.media_path is None or not broadcast.media_path.is_file():
            raise FileNotFoundError(
                f"the broadcast's {broadcast.media_kind} is missing at {broadcast.media_path}"
            )
        media, timeout = FSInputFile(broadcast.media_path), UPLOAD_TIMEOUT_SECONDS
    common: dict[str, Any] = {
        "caption": broadcast.text,
        "parse_mode": ParseMode.HTML,
        "reply_markup": markup,
        "allow_paid_broadcast": paid,
        "request_timeout": timeout,
    }
    if broadcast.media_kind == "photo":
        message = await bot.send_photo(chat_id, media, **common)
    else:
        message = await bot.send_video(chat_id, media, **common)
    return SentBroadcast(message.message_id, _media_file_id(message))
