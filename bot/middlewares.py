"""Outer middlewares: one database session per update (and its ids in the log lines), the user registered,
texts in their language."""

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import Chat, TelegramObject, Update
from aiogram.types import User as TelegramUser

from backend.services import user_service
from bot.i18n import translator
from shared import logs, metrics
from shared.database import session_scope

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


class DbSessionMiddleware(BaseMiddleware):
    """Gives each update its own session, closed when the update is handled, and names the update and its
    sender in the log lines written meanwhile."""

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        sender: TelegramUser | None = data.get("event_from_user")
        if isinstance(event, Update):
            metrics.bot_updates.labels(event.event_type).inc()
        update = logs.update_id.set(event.update_id if isinstance(event, Update) else None)
        user = logs.telegram_user_id.set(sender.id if sender else None)
        try:
            async with session_scope() as session:
                data["session"] = session
                return await handler(event, data)
        finally:
            logs.update_id.reset(update)
            logs.telegram_user_id.reset(user)


class UserMiddleware(BaseMiddleware):
    """Registers the sender on first contact, refreshes their profile, and picks their language."""

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        sender: TelegramUser | None = data.get("event_from_user")
        chat: Chat | None = data.get("event_chat")
        data["t"] = translator(sender.language_code if sender else None)
        if sender is not None and not sender.is_bot:
            data["user"] = await user_service.register_or_update(
                data["session"],
                telegram_id=sender.id,
                first_name=sender.first_name,
                last_name=sender.last_name,
                username=sender.username,
                language_code=sender.language_code,
                in_private_chat=chat is not None and chat.type == "private",
            )
        return await handler(event, data)
