"""Payment jobs: expire unpaid invoices, finish lost deliveries, refund duplicate payments, reconcile with
Telegram's ledger. Each purchase is its own unit of work: one that fails now does not hold up the others."""

import logging
from datetime import timedelta
from typing import Annotated

from aiogram import Bot
from taskiq import TaskiqDepends

from backend.services import payment_service, purchase_service
from bot import gateway
from bot.delivery import deliver_paid
from bot.gateway import BotGateway
from bot.i18n import translator
from shared import metrics
from shared.config import Settings
from shared.database import session_scope
from worker.engine import job_settings, telegram_bot
from worker.registry import job

logger = logging.getLogger(__name__)

TelegramBot = Annotated[Bot, TaskiqDepends(telegram_bot)]
JobSettings = Annotated[Settings, TaskiqDepends(job_settings)]


@job("payments.expire_pending", every=60)
async def expire_pending(settings: JobSettings) -> int:
    """Expire invoices left unpaid for PENDING_PURCHASE_TTL_MINUTES; how many."""
    async with session_scope() as session:
        expired = await payment_service.expire_pending(
            session, older_than=timedelta(minutes=settings.PENDING_PURCHASE_TTL_MINUTES)
        )
    if expired:
        logger.info("Expired %s unpaid purchases", expired)
    return expired


@job("payments.redeliver", every=30)
async def redeliver(bot: TelegramBot) -> int:
    """Deliver paid purchases whose delivery never finished (a crash, Telegram down); how many."""
    async with session_scope() as session:
        purchase_ids = [purchase.id for purchase in await payment_service.undelivered(session)]
    delivered = 0
    for purchase_id in purchase_ids:
        try:
            async with session_scope() as session:
                purchase = await purchase_service.get(session, purchase_id)
                user = await purchase.awaitable_attrs.user
                t = translator(user.language_code)
                if await deliver_paid(bot, session, user.telegram_id, purchase, t):
                    delivered += 1
                    metrics.delivery_retries.inc()
        except Exception:
            logger.exception("Delivery of purchase %s failed; retried after its lease", purchase_id)
    if delivered:
        logger.info("Delivered %s purchases left undelivered", delivered)
    return delivered


@job("payments.refund_due", every=30)
async def refund_due(bot: TelegramBot) -> int:
    """Refund the payments marked to be refunded (duplicates) that no one is refunding now; how many."""
    telegram = BotGateway(bot)
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


def _reconcile_interval(settings: Settings) -> int | None:
    return settings.RECONCILE_INTERVAL_MINUTES * 60 or None


@job("payments.reconcile", every=_reconcile_interval)
async def reconcile(bot: TelegramBot) -> None:
    """Record the charges in Telegram's ledger that we missed; log those it does not know."""
    async with session_scope() as session:
        await gateway.reconcile(bot, session)
