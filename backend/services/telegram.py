"""What the services and the API need from Telegram, as an interface they define and the application wires
at startup (backend.main, the composition root): neither the services nor the API import the bot.

The bot implements it (bot.gateway.BotGateway); when the bot is off there is none, and what needs Telegram
says so (BotNotConfigured).
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol


@dataclass(frozen=True)
class BroadcastMessage:
    """A broadcast as Telegram gets it: HTML text (a caption under a photo or video), inline buttons (each
    {"text", and "url" | "lesson_id" | "course_id"}), and the media by Telegram's file id once uploaded,
    else by its file on this server."""

    text: str
    buttons: list[dict[str, Any]] = field(default_factory=list)
    media_kind: str | None = None
    media_file_id: str | None = None
    media_path: Path | None = None
    paid: bool = False


class Telegram(Protocol):
    async def refund_star_payment(self, *, telegram_user_id: int, charge_id: str) -> None:
        """Give a charge's Stars back: RefundRefused (with a reason) when Telegram refuses,
        TelegramUnavailable when it cannot be reached."""

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
        """Send an admin's answer to a ticket's author in their language, with buttons to reply and to close
        the ticket. A long answer goes in parts: those after the first `parts_sent`, each followed by
        `await part_sent(its number from 1, its message id)`. RecipientBlocked when they blocked the bot,
        TelegramUnavailable when a part did not get through for another reason."""

    async def get_star_balance(self) -> int:
        """The bot's current balance in Stars (getMyStarBalance): TelegramUnavailable when it cannot be
        had."""

    async def bot_username(self) -> str | None:
        """The bot's @username, without the @ (asked once with getMe); None while Telegram cannot be
        reached."""

    async def post_video(self, *, chat_id: str, path: Path) -> str:
        """Upload a video file to a chat (the MEDIA_CHAT_ID); Telegram's file id for it, which any chat can
        then be sent. TelegramUnavailable when it did not get through."""

    async def send_broadcast(self, *, chat_id: int, broadcast: BroadcastMessage) -> int:
        """Send a broadcast's message to one chat (the test-send to an admin's own chat); its message id.
        RecipientBlocked, MessageRefused (a 400: the message itself is wrong), TelegramUnavailable."""

    async def handle_webhook_update(self, body: bytes) -> dict[str, Any] | None:
        """Handle an update that Telegram POSTed to the webhook; the Bot API call to make in the webhook's
        answer, if the handler left one. InvalidUpdate when the body is not an update, PaymentNotRecorded
        when the update must be delivered again."""
