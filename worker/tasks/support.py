"""Support jobs: send the admins' messages to the students."""

import logging
from typing import Annotated

from aiogram import Bot
from taskiq import TaskiqDepends

from backend.services import support_ticket_service
from backend.services.jobs import SEND_SUPPORT_MESSAGE, SEND_SUPPORT_MESSAGES
from bot.gateway import BotGateway
from shared.database import session_scope
from worker.engine import telegram_bot
from worker.registry import job

logger = logging.getLogger(__name__)


@job(SEND_SUPPORT_MESSAGE)
async def send_message(support_message_id: int, bot: Annotated[Bot, TaskiqDepends(telegram_bot)]) -> bool:
    """Send one admin message (kicked right after the answer); whether it reached the student. Done or
    refused ones are left as they are; one Telegram did not take is left to the sweep."""
    async with session_scope() as session:
        message = await support_ticket_service.get_message(session, support_message_id)
        if message is None:
            return False
        return await support_ticket_service.deliver(session, message, telegram=BotGateway(bot))


@job(SEND_SUPPORT_MESSAGES, every=30)
async def send_messages(bot: Annotated[Bot, TaskiqDepends(telegram_bot)]) -> int:
    """Send the admin messages that have not reached their students yet; how many did now."""
    telegram = BotGateway(bot)
    sent = 0
    async with session_scope() as session:
        # Each message is claimed before it is sent: one that the job kicked for its answer is sending now
        # is left to it.
        waiting = await support_ticket_service.messages_to_deliver(session)
        for message in waiting:
            if await support_ticket_service.deliver(session, message, telegram=telegram):
                sent += 1
    return sent
