"""Log lines (shared/logs.py): JSON when asked, with the request or update they were written for, and no
secret of the settings in them."""

import json
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from aiogram.types import Update

from bot.middlewares import DbSessionMiddleware
from shared import logs
from shared.config import get_settings

TOKEN = "123456789:AAE_test-token-that-looks-real-0123456"


class Capture(logging.Handler):
    def __init__(self, formatter: logging.Formatter) -> None:
        super().__init__()
        self.setFormatter(formatter)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def json_lines() -> Iterator[Capture]:
    settings = get_settings().model_copy(update={"LOG_FORMAT": "json"})
    settings.TELEGRAM_BOT_TOKEN = type(settings.TELEGRAM_BOT_TOKEN)(TOKEN)
    capture = Capture(logs.JsonFormatter(logs.secrets_of(settings)))
    root = logging.getLogger()
    root.addHandler(capture)
    yield capture
    root.removeHandler(capture)


def test_json_line_names_request_and_hides_token(json_lines: Capture) -> None:
    token = logs.request_id.set("req-1")
    try:
        logging.getLogger("test.logs").warning("calling https://api.telegram.org/bot%s/getMe", TOKEN)
    finally:
        logs.request_id.reset(token)
    entry = json.loads(json_lines.lines[-1])
    assert entry["request_id"] == "req-1"
    assert entry["level"] == "WARNING"
    assert entry["logger"] == "test.logs"
    assert entry["message"] == "calling https://api.telegram.org/bot[redacted]/getMe"
    assert TOKEN not in json_lines.lines[-1]


def test_json_line_hides_secrets_in_tracebacks(json_lines: Capture) -> None:
    try:
        raise RuntimeError(f"token {TOKEN} refused")
    except RuntimeError:
        logging.getLogger("test.logs").exception("failed")
    entry = json.loads(json_lines.lines[-1])
    assert "RuntimeError: token [redacted] refused" in entry["exception"]
    assert "request_id" not in entry


def test_secrets_of_settings_include_database_password() -> None:
    settings = get_settings().model_copy(
        update={"DATABASE_URL": "postgresql://store:db-password-123@db/lessons", "REDIS_URL": None}
    )
    secrets = logs.secrets_of(settings)
    assert "db-password-123" in secrets
    assert settings.SECRET_KEY.get_secret_value() in secrets


async def test_response_carries_request_id(client: httpx.AsyncClient) -> None:
    fresh = await client.get("/health")
    assert len(fresh.headers["x-request-id"]) == 16
    given = await client.get("/health", headers={"X-Request-ID": "proxy-id.42"})
    assert given.headers["x-request-id"] == "proxy-id.42"
    # A header that could forge log lines is replaced.
    forged = await client.get("/health", headers={"X-Request-ID": "a b\tc"})
    assert forged.headers["x-request-id"] != "a b\tc"


async def test_bot_update_context_in_log_lines(json_lines: Capture) -> None:
    update = Update.model_validate(
        {
            "update_id": 9001,
            "message": {
                "message_id": 1,
                "date": 0,
                "chat": {"id": 77, "type": "private"},
                "from": {"id": 77, "is_bot": False, "first_name": "Ann"},
                "text": "hi",
            },
        }
    )

    async def handler(_event: Any, _data: dict[str, Any]) -> None:
        logging.getLogger("test.bot").info("handling")

    logging.getLogger("test.bot").setLevel(logging.INFO)
    await DbSessionMiddleware()(handler, update, {"event_from_user": update.message.from_user})  # type: ignore[union-attr]
    entry = json.loads(json_lines.lines[-1])
    assert (entry["message"], entry["update_id"], entry["user_id"]) == ("handling", 9001, 77)
    assert logs.context() == {}
