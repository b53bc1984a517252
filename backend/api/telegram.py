"""Telegram's side of the API: the webhook that receives updates (when WEBHOOK_URL is set)."""

import hmac
import logging

from fastapi import FastAPI, Request, Response, status
from fastapi.responses import JSONResponse

from backend.services.exceptions import InvalidUpdate, PaymentNotRecorded
from backend.services.telegram import Telegram
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
    one header. The update is handled before the answer: if that fails, Telegram delivers it again.
    """
    if not _secret_matches(request.headers.get(SECRET_HEADER)):
        return JSONResponse({"detail": "Forbidden"}, status_code=status.HTTP_403_FORBIDDEN)
    telegram: Telegram | None = getattr(request.app.state, "webhook", None)
    if telegram is None:
        return JSONResponse({"detail": "The bot is off"}, status_code=status.HTTP_503_SERVICE_UNAVAILABLE)
    try:
        reply = await telegram.handle_webhook_update(await request.body())
    except InvalidUpdate as error:
        return JSONResponse({"detail": error.message}, status_code=status.HTTP_400_BAD_REQUEST)
    except PaymentNotRecorded as error:
        logger.error("%s; Telegram will deliver it again", error)
        return JSONResponse(
            {"detail": "The payment could not be recorded now; deliver the update again"},
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        )
    return JSONResponse(reply or {"ok": True})


def install(app: FastAPI) -> None:
    app.add_route(WEBHOOK_PATH, receive_update, methods=["POST"], include_in_schema=False)
