"""What the services and the API need from Telegram, as an interface they define and the application wires
at startup (backend.main, the composition root): neither the services nor the API import the bot.

The bot implements it (bot.gateway.BotGateway); when the bot is off there is none, and what needs Telegram
says so (BotNotConfigured).
"""

from pathlib import Path
from typing import Any, Protocol


class Telegram(Protocol):
    async def refund_star_payment(self, *, telegram_user_id: int, charge_id: str) -> None:
        """Give a charge's Stars back: RefundRefused (with a reason) when Telegram refuses,
        TelegramUnavailable when it cannot be reached."""

    async def send_ticket_answer(
        self, *, telegram_user_id: int, language_code: str, ticket_id: int, answer: str
    ) -> int:
        """Send an admin's answer to a ticket's author in their language, with buttons to reply and to close
        the ticket; the id of the (last) message sent. RecipientBlocked when they blocked the bot,
        TelegramUnavailable when it did not get through for another reason."""

    async def get_star_balance(self) -> int:
        """The bot's current balance in Stars (getMyStarBalance): TelegramUnavailable when it cannot be
        had."""

    async def bot_username(self) -> str | None:
        """The bot's @username, without the @ (asked once with getMe); None while Telegram cannot be
        reached."""

    async def post_video(self, *, chat_id: str, path: Path) -> str:
        """Upload a video file to a chat (the MEDIA_CHAT_ID); Telegram's file id for it, which any chat can
        then be sent. TelegramUnavailable when it did not get through."""

    async def handle_webhook_update(self, body: bytes) -> dict[str, Any] | None:
        """Handle an update that Telegram POSTed to the webhook; the Bot API call to make in the webhook's
        answer, if the handler left one. InvalidUpdate when the body is not an update, PaymentNotRecorded
        when the update must be delivered again."""
