"""Sending a lesson's content: text split within Telegram's limits, video uploaded once then by file_id;
delivering a paid purchase exactly once."""

import asyncio
import contextlib
import html
import logging
from pathlib import Path

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError
from aiogram.types import FSInputFile
from sqlalchemy.ext.asyncio import AsyncSession

from backend.services import course_service, lesson_service, payment_service, user_service
from bot import keyboards
from bot.formatting import parse_html, split_message
from bot.i18n import Translator
from shared import metrics
from shared.config import get_settings
from shared.database import session_scope
from shared.models import Lesson, Purchase

logger = logging.getLogger(__name__)

# Upload requests for big videos take a while, even to a local Bot API server.
UPLOAD_TIMEOUT_SECONDS = 600


def video_file(video_path: str) -> Path:
    """Where a lesson's video lies on this server: absolute, or relative to MEDIA_DIR."""
    path = Path(video_path)
    return path if path.is_absolute() else Path(get_settings().MEDIA_DIR) / path


async def send_lesson(
    bot: Bot,
    session: AsyncSession,
    chat_id: int,
    lesson: Lesson,
    t: Translator,
    *,
    heading: str | None = None,
) -> None:
    """Send the lesson: its title in bold above its text (split where Telegram's limit requires), then its
    video. Paid content is protected from forwarding and saving.

    heading: an HTML line above the title in the first message (the thanks after a payment), so that a
    purchase is one message, not two.
    """
    protect = not lesson.is_free
    title = f"<b>{html.escape(lesson.title)}</b>"
    if heading:
        title = f"{heading}\n\n{title}"
    text, entities = parse_html(f"{title}\n\n{lesson.text_content}" if lesson.text_content else title)
    for part, part_entities in split_message(text, entities):
        await bot.send_message(
            chat_id, part, entities=part_entities, parse_mode=None, protect_content=protect
        )
    if lesson.video_path:
        await _send_video(bot, session, chat_id, lesson, t, protect=protect)


async def _send_video(
    bot: Bot, session: AsyncSession, chat_id: int, lesson: Lesson, t: Translator, *, protect: bool
) -> None:
    assert lesson.video_path is not None
    if lesson.video_file_id:
        try:
            await bot.send_video(chat_id, lesson.video_file_id, protect_content=protect)
            return
        except TelegramBadRequest as error:
            # The file id no longer works (e.g. another bot token): upload the file again.
            logger.warning(
                "Stored file id of lesson %s refused (%s); uploading again", lesson.id, error.message
            )
            await lesson_service.set_video_file_id(session, lesson, None)
    path = video_file(lesson.video_path)
    if not path.is_file():
        logger.error("Video of lesson %s is missing at %s", lesson.id, path)
        await bot.send_message(chat_id, t("video-missing"))
        return
    message = await bot.send_video(
        chat_id, FSInputFile(path), protect_content=protect, request_timeout=UPLOAD_TIMEOUT_SECONDS
    )
    if message.video is not None:
        await lesson_service.set_video_file_id(session, lesson, message.video.file_id)


async def deliver_purchase(
    bot: Bot, session: AsyncSession, chat_id: int, purchase: Purchase, t: Translator
) -> None:
    """What a buyer gets right after paying (or a student given the item for free): the lesson itself, or
    the course's lessons to open."""
    granted = purchase.granted_by_id is not None
    if purchase.lesson_id is not None:
        lesson = await lesson_service.get(session, purchase.lesson_id)
        heading = t("grant-gift-lesson" if granted else "payment-thanks-lesson")
        await send_lesson(bot, session, chat_id, lesson, t, heading=heading)
        return
    assert purchase.course_id is not None
    course = await course_service.get(session, purchase.course_id)
    lessons = [lesson for _, lesson in course_service.ordered_lessons(course)]
    await bot.send_message(
        chat_id,
        t(
            "grant-gift-course" if granted else "payment-thanks-course",
            title=course.title,
            count=len(lessons),
        ),
        reply_markup=keyboards.open_lessons(t, lessons),
    )


async def deliver_paid(
    bot: Bot,
    session: AsyncSession,
    chat_id: int,
    purchase: Purchase,
    t: Translator,
    *,
    claimed: bool = False,
) -> bool:
    """Deliver a completed purchase unless another update or process has it; whether this call did.

    `claimed`: the caller already holds the delivery claim (record_payment took it). A failed delivery
    keeps its claim until the lease ends, then the periodic job retries it.
    """
    if not claimed and not await payment_service.claim_delivery(session, purchase):
        return False
    stop = asyncio.Event()
    keeper = asyncio.create_task(_keep_claim(purchase.id, stop), name=f"delivery-lease-{purchase.id}")
    try:
        await deliver_purchase(bot, session, chat_id, purchase, t)
        metrics.deliveries.labels("delivered").inc()
    except TelegramForbiddenError:
        # Blocked by the user: retrying would fail the same way, and the purchase is in My lessons.
        logger.info("Purchase %s not delivered: chat %s blocked the bot", purchase.id, chat_id)
        metrics.deliveries.labels("blocked").inc()
        await user_service.mark_bot_blocked(session, purchase.user_id)
    except Exception:
        metrics.deliveries.labels("failed").inc()
        raise
    finally:
        # Stopped, not cancelled: a renewal in progress finishes its transaction first.
        stop.set()
        await keeper
    await payment_service.mark_delivered(session, purchase)
    return True


async def _keep_claim(purchase_id: int, stop: asyncio.Event) -> None:
    # A delivery can outlast the lease (a big video upload): renew it while this process is alive,
    # so that the job does not deliver the purchase a second time.
    interval = payment_service.delivery_lease().total_seconds() / 3
    while True:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)
        if stop.is_set():
            return
        try:
            async with session_scope() as session:
                await payment_service.renew_delivery_claim(session, purchase_id)
        except Exception:
            logger.exception("Could not renew the delivery lease of purchase %s", purchase_id)
