"""Logging of every process: text or JSON lines (LOG_FORMAT), each with the request id, the Telegram update
id and user it was written for, and never a secret from the settings in it."""

import contextvars
import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from shared.config import Settings

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
update_id: contextvars.ContextVar[int | None] = contextvars.ContextVar("update_id", default=None)
telegram_user_id: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "telegram_user_id", default=None
)

REDACTED = "[redacted]"
# Shorter values are placeholders or empty: replacing them would garble ordinary words.
MIN_SECRET_LENGTH = 8
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def secrets_of(settings: Settings) -> list[str]:
    """The values that must never reach a log line: the bot token (aiogram puts it in request URLs), the
    signing key, passwords (the admin's, the database's) and the webhook secret."""
    values = [
        settings.TELEGRAM_BOT_TOKEN.get_secret_value(),
        settings.SECRET_KEY.get_secret_value(),
        settings.ADMIN_PASSWORD.get_secret_value(),
    ]
    if settings.WEBHOOK_SECRET is not None:
        values.append(settings.WEBHOOK_SECRET.get_secret_value())
    for url in (settings.DATABASE_URL, settings.REDIS_URL or ""):
        password = _url_password(url)
        if password:
            values.append(password)
    return sorted({value for value in values if len(value) >= MIN_SECRET_LENGTH}, key=len, reverse=True)


def _url_password(url: str) -> str | None:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).password  # type: ignore[return-value]
    except Exception:
        return None


def context() -> dict[str, Any]:
    """What the running request or update is, for the log line."""
    found = {"request_id": request_id.get(), "update_id": update_id.get(), "user_id": telegram_user_id.get()}
    return {key: value for key, value in found.items() if value is not None}


class _Redacting(logging.Formatter):
    def __init__(self, secrets: list[str], fmt: str | None = None) -> None:
        super().__init__(fmt)
        self.secrets = secrets

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return text


class TextFormatter(_Redacting):
    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extra = " ".join(f"{key}={value}" for key, value in context().items())
        return self.redact(f"{line} [{extra}]" if extra else line)


class JsonFormatter(_Redacting):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **context(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return self.redact(json.dumps(entry, ensure_ascii=False, default=str))


def configure(settings: Settings) -> None:
    """Send every log line of the process to stderr in LOG_FORMAT, at LOG_LEVEL (uvicorn's too)."""
    secrets = secrets_of(settings)
    formatter = (
        JsonFormatter(secrets) if settings.LOG_FORMAT == "json" else TextFormatter(secrets, TEXT_FORMAT)
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.LOG_LEVEL)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
