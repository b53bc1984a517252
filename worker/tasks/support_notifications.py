"""Tell the admins in Telegram of a student's support message (the admins who linked their account and
opted in, on the panel's account page).

A notification is claimed (a support_notifications row, committed) before it is sent: a run repeated by the
broker never tells an admin twice, and a crash between the claim and the send loses that one notification,
which the panel still shows.
"""

import logging
from typing import Annotated

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramForbiddenError
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from taskiq import TaskiqDepends

from backend.services import admin_telegram_service, support_ticket_service
from backend.services.jobs import NOTIFY_ADMINS
from bot.i18n import DEFAULT_LANGUAGE, translator
from shared import database
from shared.config import Settings
from shared.constants import SupportMessageAuthor
from shared.models import Admin, SupportMessage
from worker.engine import job_settings, telegram_bot
from worker.registry import job

logger = logging.getLogger(__name__)

# Enough of the message to know what it is about; the panel has the rest.
EXCERPT_LENGTH = 200


def _excerpt(text: str) -> str:
    text = text.strip()
    return text if len(text) <= EXCERPT_LENGTH else text[: EXCERPT_LENGTH - 1].rstrip() + "…"


def _notification(
    admin: Admin, message: SupportMessage, panel_base_url: str | None
) -> tuple[str, InlineKeyboardMarkup | None]:
    """The text and keyboard for this admin, in their panel language."""
    t = translator(admin.language.value if admin.language else DEFAULT_LANGUAGE)
    ticket, student = message.ticket, message.ticket.user
    name = " ".join(part for part in (student.first_name, student.last_name) if part)
    text = _excerpt(message.text) or t.plain("admin-notify-attachment")
    markup = None
    if panel_base_url:
        url = f"{panel_base_url}/admin/support/{ticket.id}"
        button = InlineKeyboardButton(text=t.plain("admin-notify-open"), url=url)
        markup = InlineKeyboardMarkup(inline_keyboard=[[button]])
    body = t("admin-notify-support", name=name, id=ticket.id, subject=ticket.subject, text=text)
    return body, markup


@job(NOTIFY_ADMINS)
async def notify_admins(
    support_message_id: int,
    bot: Annotated[Bot, TaskiqDepends(telegram_bot)],
    settings: Annotated[Settings, TaskiqDepends(job_settings)],
) -> int:
    """Tell each admin who asked for it of this student message; how many were told now."""
    told = 0
    async with database.session_scope() as session:
        message = await support_ticket_service.get_message(session, support_message_id)
        if message is None or message.author is not SupportMessageAuthor.STUDENT:
            return 0
        for admin in await admin_telegram_service.support_notification_recipients(session):
            assert admin.telegram_id is not None
            claimed = await admin_telegram_service.claim_support_notification(
                session, admin_id=admin.id, support_message_id=message.id
            )
            if not claimed:
                continue
            await database.commit_now(session)
            text, markup = _notification(admin, message, settings.PANEL_BASE_URL)
            try:
                await bot.send_message(admin.telegram_id, text, reply_markup=markup)
            except TelegramForbiddenError as error:
                # They blocked the bot (or never started it): their panel setting stays, the others go on.
                logger.info("Admin %s cannot be notified in Telegram: %s", admin.username, error)
            except TelegramAPIError as error:
                logger.warning(
                    "Admin %s was not notified of support message %s: %s", admin.username, message.id, error
                )
            else:
                told += 1
    return told
