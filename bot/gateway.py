"""Calls to Telegram made on behalf of the API (refunds, ticket answers) and the periodic jobs."""

import logging
from datetime import UTC, datetime

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest, TelegramForbiddenError
from aiogram.types import TransactionPartnerUser
from sqlalchemy.ext.asyncio import AsyncSession

from backend.services import payment_service, support_ticket_service
from backend.services.exceptions import RefundRefused, TelegramUnavailable
from backend.services.payment_service import LedgerPayment, ReconciliationReport
from bot.i18n import translator
from shared.models import SupportTicket

logger = logging.getLogger(__name__)

STAR_TRANSACTIONS_PAGE = 100
MAX_LEDGER_PAGES = 1000


def star_refunder(bot: Bot) -> payment_service.StarRefunder:
    """refundStarPayment, with Telegram's errors turned into RefundRefused reasons."""

    async def refund_stars(telegram_user_id: int, charge_id: str) -> None:
        try:
            await bot.refund_star_payment(user_id=telegram_user_id, telegram_payment_charge_id=charge_id)
        except TelegramBadRequest as error:
            if "CHARGE_ALREADY_REFUNDED" in error.message:
                raise RefundRefused(
                    "already_refunded", "Telegram says this charge was already refunded"
                ) from error
            if "CHARGE_NOT_FOUND" in error.message:
                raise RefundRefused("charge_not_found", "Telegram does not know this charge") from error
            raise RefundRefused("refused", f"Telegram refused the refund: {error.message}") from error
        except TelegramAPIError as error:
            raise TelegramUnavailable(
                f"Telegram could not be reached for the refund: {error.message}"
            ) from error

    return refund_stars


async def send_ticket_answer(bot: Bot, session: AsyncSession, ticket: SupportTicket) -> bool:
    """Send the admin's answer to the ticket's author; whether it reached them."""
    user = await ticket.awaitable_attrs.user
    t = translator(user.language_code)
    try:
        await bot.send_message(
            user.telegram_id,
            t.plain("support-answer", id=ticket.id, answer=ticket.admin_response or ""),
            parse_mode=None,
        )
    except TelegramForbiddenError:
        logger.warning("User %s blocked the bot; ticket %s answer cannot be delivered", user.id, ticket.id)
        await support_ticket_service.mark_answer_undeliverable(session, ticket)
        return False
    except TelegramAPIError as error:
        logger.warning("Ticket %s answer not delivered yet: %s", ticket.id, error)
        return False
    await support_ticket_service.mark_answer_sent(session, ticket)
    return True


async def fetch_ledger(bot: Bot) -> tuple[list[LedgerPayment], list[str]]:
    """All incoming Stars payments and refunded charge ids from Telegram's ledger."""
    payments: list[LedgerPayment] = []
    refunded: list[str] = []
    for page in range(MAX_LEDGER_PAGES):
        batch = await bot.get_star_transactions(
            offset=page * STAR_TRANSACTIONS_PAGE, limit=STAR_TRANSACTIONS_PAGE
        )
        for transaction in batch.transactions:
            source = transaction.source
            if isinstance(source, TransactionPartnerUser) and source.invoice_payload is not None:
                date = (
                    transaction.date
                    if isinstance(transaction.date, datetime)
                    else datetime.fromtimestamp(transaction.date, UTC)
                )
                payments.append(
                    LedgerPayment(
                        charge_id=transaction.id,
                        telegram_user_id=source.user.id,
                        amount=transaction.amount,
                        payload=source.invoice_payload,
                        date=date,
                    )
                )
            elif isinstance(transaction.receiver, TransactionPartnerUser):
                # For a refund, the transaction id is the original charge's id.
                refunded.append(transaction.id)
        if len(batch.transactions) < STAR_TRANSACTIONS_PAGE:
            break
    return payments, refunded


async def reconcile(bot: Bot, session: AsyncSession) -> ReconciliationReport:
    """Record charges we missed and report purchases Telegram does not know."""
    payments, refunded = await fetch_ledger(bot)
    report = await payment_service.reconcile(session, payments, refunded_charges=refunded)
    for purchase in report.unknown_to_telegram:
        logger.error(
            "Purchase %s (charge %s) is not in Telegram's ledger",
            purchase.id,
            purchase.telegram_payment_charge_id,
        )
    return report
