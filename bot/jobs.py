"""Periodic work of the bot process: expire unpaid invoices, finish lost deliveries, refund duplicate
payments, send ticket answers, reconcile with Telegram's ledger."""

import asyncio
import contextlib
import logging
from datetime import timedelta

from aiogram import Bot

from backend.services import payment_service, purchase_service, support_ticket_service
from bot import gateway
from bot.delivery import deliver_paid
from bot.gateway import BotGateway
from bot.i18n import translator
from shared.config import Settings
from shared.database import session_scope

logger = logging.getLogger(__name__)

TICK_SECONDS = 30


async def run_once(bot: Bot, settings: Settings, *, reconcile: bool) -> None:
    """One round of every job, each its own unit of work; a job's failure is logged and does not stop the
    others."""
    telegram = BotGateway(bot)
    try:
        async with session_scope() as session:
            expired = await payment_service.expire_pending(
                session, older_than=timedelta(minutes=settings.PENDING_PURCHASE_TTL_MINUTES)
            )
        if expired:
            logger.info("Expired %s unpaid purchases", expired)
    except Exception:
        logger.exception("Expiring pending purchases failed")
    try:
        await redeliver(bot)
    except Exception:
        logger.exception("Redelivering purchases failed")
    try:
        await refund_due(telegram)
    except Exception:
        logger.exception("Refunding duplicate payments failed")
    try:
        async with session_scope() as session:
            for ticket in await support_ticket_service.answers_to_send(session):
                await support_ticket_service.deliver_answer(session, ticket, telegram=telegram)
    except Exception:
        logger.exception("Sending ticket answers failed")
    if reconcile:
        try:
            async with session_scope() as session:
                await gateway.reconcile(bot, session)
        except Exception:
            logger.exception("Reconciliation with Telegram failed")


async def redeliver(bot: Bot) -> int:
    """Deliver paid purchases whose delivery never finished (a crash, Telegram down); how many."""
    async with session_scope() as session:
        purchase_ids = [purchase.id for purchase in await payment_service.undelivered(session)]
    delivered = 0
    for purchase_id in purchase_ids:
        # Each on its own: a purchase that cannot be delivered now must not hold up the others.
        try:
            async with session_scope() as session:
                purchase = await purchase_service.get(session, purchase_id)
                user = await purchase.awaitable_attrs.user
                t = translator(user.language_code)
                if await deliver_paid(bot, session, user.telegram_id, purchase, t):
                    delivered += 1
        except Exception:
            logger.exception("Delivery of purchase %s failed; retried after its lease", purchase_id)
    if delivered:
        logger.info("Delivered %s purchases left undelivered", delivered)
    return delivered


async def refund_due(telegram: BotGateway) -> int:
    """Refund the payments marked to be refunded (duplicates) that no one is refunding now; how many."""
    async with session_scope() as session:
        purchase_ids = await payment_service.refunds_due(session)
    refunded = 0
    for purchase_id in purchase_ids:
        # Each its own unit of work: the claim is committed before Telegram is called.
        try:
            async with session_scope() as session:
                if await payment_service.refund_due(session, purchase_id, telegram=telegram):
                    refunded += 1
        except Exception:
            logger.exception("Refund of purchase %s failed; retried after its lease", purchase_id)
    if refunded:
        logger.info("Refunded %s duplicate payments", refunded)
    return refunded


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
