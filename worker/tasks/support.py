"""Support jobs: send the admins' answers to the students."""

import logging
from typing import Annotated

from aiogram import Bot
from taskiq import TaskiqDepends

from backend.services import support_ticket_service
from backend.services.jobs import SEND_SUPPORT_MESSAGES
from bot.gateway import BotGateway
from shared.database import session_scope
from worker.engine import telegram_bot
from worker.registry import job

logger = logging.getLogger(__name__)


@job(SEND_SUPPORT_MESSAGES, every=30)
async def send_answers(bot: Annotated[Bot, TaskiqDepends(telegram_bot)]) -> int:
    """Send the answers that have not reached their students yet; how many did now."""
    telegram = BotGateway(bot)
    sent = 0
    async with session_scope() as session:
        for ticket in await support_ticket_service.answers_to_send(session):
            if await support_ticket_service.deliver_answer(session, ticket, telegram=telegram):
                sent += 1
    return sent
