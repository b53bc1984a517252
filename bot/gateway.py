"""Calls to Telegram made for the services and the API (refunds, ticket answers, the webhook) and the jobs."""

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest, TelegramForbiddenError
from aiogram.methods import TelegramMethod
from aiogram.types import FSInputFile, InputFile, TransactionPartnerUser, Update
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from backend.services import payment_service
from backend.services.exceptions import (
    InvalidUpdate,
    MessageRefused,
    RecipientBlocked,
    RefundRefused,
    TelegramUnavailable,
)
from backend.services.payment_service import LedgerPayment, ReconciliationReport
from backend.services.telegram import BroadcastMessage
from bot import broadcasts, keyboards
from bot.formatting import split_message
from bot.i18n import translator

logger = logging.getLogger(__name__)

STAR_TRANSACTIONS_PAGE = 100
MAX_LEDGER_PAGES = 1000
# A page that shows the bot's link does not wait long for Telegram.
GET_ME_TIMEOUT_SECONDS = 5
# Uploading a big video takes a while, even to a local Bot API server.
VIDEO_UPLOAD_TIMEOUT_SECONDS = 600


class BotGateway:
    """The services' Telegram interface (backend.services.telegram.Telegram), through this process's bot.

    With a dispatcher (webhook mode), it also handles the updates that the API's webhook receives."""

    def __init__(self, bot: Bot, dispatcher: Dispatcher | None = None) -> None:
        self.bot = bot
        self.dispatcher = dispatcher
        self._username: str | None = None

    async def bot_username(self) -> str | None:
        if self._username is None:
            try:
                me = await self.bot.get_me(request_timeout=GET_ME_TIMEOUT_SECONDS)
            except TelegramAPIError as error:
                logger.warning("Could not ask Telegram for the bot's username: %s", error)
                return None
            self._username = me.username
        return self._username

    async def post_video(self, *, chat_id: str, path: Path) -> str:
        target: int | str = int(chat_id) if chat_id.lstrip("-").isdigit() else chat_id
        try:
            message = await self.bot.send_video(
                target, FSInputFile(path), request_timeout=VIDEO_UPLOAD_TIMEOUT_SECONDS
            )
        except TelegramAPIError as error:
            raise TelegramUnavailable(f"Telegram did not take the video: {error.message}") from error
        if message.video is None:
            raise TelegramUnavailable("Telegram's answer to sendVideo has no video")
        return message.video.file_id

    async def refund_star_payment(self, *, telegram_user_id: int, charge_id: str) -> None:
        try:
            await self.bot.refund_star_payment(user_id=telegram_user_id, telegram_payment_charge_id=charge_id)
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

    async def get_star_balance(self) -> int:
        try:
            balance = await self.bot.get_my_star_balance()
        except TelegramAPIError as error:
            raise TelegramUnavailable(f"Telegram did not give the Star balance: {error.message}") from error
        return balance.amount

    async def send_ticket_answer(
        self,
        *,
        telegram_user_id: int,
        language_code: str,
        ticket_id: int,
        answer: str,
        parts_sent: int,
        part_sent: Callable[[int, int], Awaitable[None]],
    ) -> None:
        t = translator(language_code)
        # An answer may be longer than one message (10,000 characters against Telegram's 4,096): it goes in
        # parts, the buttons under the last. The same text is cut the same way on a retry, which sends only
        # the parts after those already sent.
        parts = split_message(t.plain("support-answer", id=ticket_id, answer=answer), [])
        try:
            for number, (text, _entities) in enumerate(parts, start=1):
                if number <= parts_sent:
                    continue
                markup = keyboards.ticket_answer(t, ticket_id) if number == len(parts) else None
                sent = await self.bot.send_message(
                    telegram_user_id, text, parse_mode=None, reply_markup=markup
                )
                await part_sent(number, sent.message_id)
        except TelegramForbiddenError as error:
            raise RecipientBlocked() from error
        except TelegramAPIError as error:
            raise TelegramUnavailable(error.message) from error

    async def send_broadcast(self, *, chat_id: int, broadcast: BroadcastMessage) -> int:
        try:
            sent = await broadcasts.send(self.bot, chat_id, broadcast)
        except TelegramForbiddenError as error:
            raise RecipientBlocked() from error
        except TelegramBadRequest as error:
            raise MessageRefused(error.message) from error
        except TelegramAPIError as error:
            raise TelegramUnavailable(error.message) from error
        except FileNotFoundError as error:
            raise MessageRefused("the broadcast's photo or video file is missing on the server") from error
        return sent.message_id

    async def handle_webhook_update(self, body: bytes) -> dict[str, Any] | None:
        assert self.dispatcher is not None, "updates come to the webhook only in webhook mode"
        try:
            update = Update.model_validate_json(body, context={"bot": self.bot})
        except ValidationError as error:
            raise InvalidUpdate() from error
        reply = await self.dispatcher.feed_update(self.bot, update)
        if isinstance(reply, TelegramMethod):
            return await self._webhook_reply(reply)
        return None

    async def _webhook_reply(self, method: TelegramMethod[Any]) -> dict[str, Any] | None:
        """The handler's last Bot API call, made by Telegram from our answer to the webhook (no request of
        its own), as JSON with the method's name in "method". Its result is not known: handlers leave only
        calls whose failure nothing depends on (answering a query, showing a screen)."""
        bot = self.bot
        files: dict[str, InputFile] = {}
        params = {
            key: prepared
            for key, value in method.model_dump(warnings=False).items()
            if (prepared := bot.session.prepare_value(value, bot=bot, files=files, _dumps_json=False))
            is not None
        }
        if files:
            # An upload cannot ride on the answer: make the call ourselves.
            await bot(method)
            return None
        return {"method": method.__api_method__, **params}


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
