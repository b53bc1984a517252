"""Periodic work of the bot process: expire unpaid invoices, finish lost deliveries, send ticket
answers, reconcile with Telegram's ledger."""

import asyncio
import contextlib
import logging
from datetime import timedelta

from aiogram import Bot
from sqlalchemy.ext.asyncio import AsyncSession

from backend.services import payment_service, support_ticket_service
from bot import gateway
from bot.delivery import deliver_paid
from bot.i18n import translator
from shared.config import Settings
from shared.database import session_scope

logger = logging.getLogger(__name__)

TICK_SECONDS = 30


async def run_once(bot: Bot, settings: Settings, *, reconcile: bool) -> None:
    """One round of every job; each job's failure is logged and does not stop the others."""
    async with session_scope() as session:
        try:
            expired = await payment_service.expire_pending(
                session, older_than=timedelta(minutes=settings.PENDING_PURCHASE_TTL_MINUTES)
            )
            if expired:
                logger.info("Expired %s unpaid purchases", expired)
        except Exception:
            logger.exception("Expiring pending purchases failed")
        try:
            await redeliver(bot, session)
        except Exception:
            logger.exception("Redelivering purchases failed")
        try:
            for ticket in await support_ticket_service.answers_to_send(session):
                await gateway.send_ticket_answer(bot, session, ticket)
        except Exception:
            logger.exception("Sending ticket answers failed")
        if reconcile:
            try:
                await gateway.reconcile(bot, session)
            except Exception:
                logger.exception("Reconciliation with Telegram failed")


async def redeliver(bot: Bot, session: AsyncSession) -> int:
    """Deliver paid purchases whose delivery never finished (a crash, Telegram down); how many."""
    delivered = 0
    for purchase in await payment_service.undelivered(session):
        # One by one: a purchase that cannot be delivered now must not hold up the others.
        try:
            user = await purchase.awaitable_attrs.user
            if await deliver_paid(bot, session, user.telegram_id, purchase, translator(user.language_code)):
                delivered += 1
        except Exception:
            logger.exception("Delivery of purchase %s failed; retried after its lease", purchase.id)
            await session.rollback()
    if delivered:
        logger.info("Delivered %s purchases left undelivered", delivered)
    return delivered


async def run_forever(bot: Bot, settings: Settings) -> None:
    interval = settings.RECONCILE_INTERVAL_MINUTES * 60
    since_reconcile = float("inf")
    while True:
        reconcile = interval > 0 and since_reconcile >= interval
        await run_once(bot, settings, reconcile=reconcile)
        since_reconcile = 0 if reconcile else since_reconcile + TICK_SECONDS
        await asyncio.sleep(TICK_SECONDS)


@contextlib.asynccontextmanager
async def running(bot: Bot, settings: Settings):  # type: ignore[no-untyped-def]
    task = asyncio.create_task(run_forever(bot, settings), name="bot-jobs")
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
