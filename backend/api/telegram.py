"""Telegram's side of the API: the webhook that receives updates (when WEBHOOK_URL is set)."""

import hmac
import logging
from typing import Any

from aiogram import Bot
from aiogram.methods import TelegramMethod
from aiogram.types import InputFile, Update
from fastapi import FastAPI, Request, Response, status
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from bot.handlers.errors import PaymentNotRecorded
from shared.config import get_settings

logger = logging.getLogger(__name__)
WEBHOOK_PATH = "/telegram/webhook"

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 (a header name)


def _secret_matches(received: str | None) -> bool:
    secret = get_settings().WEBHOOK_SECRET
    if secret is None or received is None:
        return False
    # Constant time, so the secret cannot be guessed from response timings.
    return hmac.compare_digest(received.encode(), secret.get_secret_value().encode())


async def receive_update(request: Request) -> Response:
    """Receive an update from Telegram (checked against WEBHOOK_SECRET).

    A plain Starlette endpoint, outside the OpenAPI schema: only Telegram calls it, with one JSON body and
    one header, and FastAPI's parameter machinery would cost more than the rest of a simple update.
    """
    if not _secret_matches(request.headers.get(SECRET_HEADER)):
        return JSONResponse({"detail": "Forbidden"}, status_code=status.HTTP_403_FORBIDDEN)
    bot, dispatcher = getattr(request.app.state, "bot", None), getattr(request.app.state, "dispatcher", None)
    if bot is None or dispatcher is None:
        return JSONResponse({"detail": "The bot is off"}, status_code=status.HTTP_503_SERVICE_UNAVAILABLE)
    try:
        update = Update.model_validate_json(await request.body(), context={"bot": bot})
    except ValidationError:
        return JSONResponse({"detail": "Not a Telegram update"}, status_code=status.HTTP_400_BAD_REQUEST)
    # Handled before answering: Telegram redelivers the update if we fail, which is what we want.
    try:
        reply = await dispatcher.feed_update(bot, update)
    except PaymentNotRecorded as error:
        logger.error("Update %s: %s; Telegram will deliver it again", update.update_id, error)
        return JSONResponse(
            {"detail": "The payment could not be recorded now; deliver the update again"},
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        )
    if isinstance(reply, TelegramMethod):
        return await webhook_reply(bot, reply)
    return JSONResponse({"ok": True})


def install(app: FastAPI) -> None:
    app.add_route(WEBHOOK_PATH, receive_update, methods=["POST"], include_in_schema=False)


async def webhook_reply(bot: Bot, method: TelegramMethod[Any]) -> Response:
    """The handler's last Bot API call, made by Telegram from our answer to the webhook (no request of
    its own), as JSON with the method's name in "method". Its result is not known: handlers leave only
    calls whose failure nothing depends on (answering a query, showing a screen)."""
    files: dict[str, InputFile] = {}
    params = {
        key: prepared
        for key, value in method.model_dump(warnings=False).items()
        if (prepared := bot.session.prepare_value(value, bot=bot, files=files, _dumps_json=False)) is not None
    }
    if files:
        # An upload cannot ride on the answer: make the call ourselves.
        await bot(method)
        return JSONResponse({"ok": True})
    return JSONResponse({"method": method.__api_method__, **params})
