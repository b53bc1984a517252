"""Helpers of the bot's end-to-end tests: talk to the polling bot through the double, read what it sent."""

import asyncio
import secrets
import time
from typing import Any

from sqlalchemy import Select

from bot.tests.bot_api_double import BotAPIDouble, Call
from shared import database

JSON = dict[str, Any]


def to_chat(chat_id: int) -> Any:
    return lambda call: str(call.get("chat_id")) == str(chat_id)


def buttons(call: Call) -> list[tuple[str, str | None]]:
    """(text, callback_data) of every inline button of a sent or edited message, row after row."""
    markup = call.get("reply_markup") or {}
    return [(b["text"], b.get("callback_data")) for row in markup.get("inline_keyboard", []) for b in row]


def button_texts(call: Call) -> list[str]:
    return [text for text, _ in buttons(call)]


def callback_of(call: Call, text_part: str) -> str:
    """The callback data of the (first) button whose text contains `text_part`."""
    for text, data in buttons(call):
        if text_part in text:
            assert data is not None
            return data
    raise AssertionError(f"no button with {text_part!r} in {button_texts(call)}")


async def send(
    telegram: BotAPIDouble,
    person: JSON,
    text: str,
    *,
    method: str = "sendMessage",
    count: int = 1,
) -> list[Call]:
    """`person` writes `text` to the bot; the `count` calls of `method` to their chat that follow."""
    chat = person["id"]
    before = len([c for c in telegram.calls_to(method) if to_chat(chat)(c)])
    telegram.push_update(telegram.message_update(person, text))
    calls = await telegram.wait_for(method, to_chat(chat), count=before + count)
    return calls[before:]


async def press(
    telegram: BotAPIDouble,
    person: JSON,
    data: str,
    *,
    message_id: int | None = None,
    method: str = "editMessageText",
    count: int = 1,
) -> list[Call]:
    """`person` presses a button carrying `data` (under the bot's latest message unless `message_id`);
    the `count` calls of `method` to their chat that follow (`answerCallbackQuery`: the query's answer)."""
    chat = person["id"]
    query_id = str(secrets.randbits(62))
    if method == "answerCallbackQuery":
        telegram.push_update(telegram.callback_update(person, data, message_id, query_id=query_id))
        return await telegram.wait_for(method, lambda c: c.get("callback_query_id") == query_id, count=count)
    before = len([c for c in telegram.calls_to(method) if to_chat(chat)(c)])
    telegram.push_update(telegram.callback_update(person, data, message_id, query_id=query_id))
    calls = await telegram.wait_for(method, to_chat(chat), count=before + count)
    # Every callback query is answered (else Telegram shows a spinner on the button).
    await telegram.wait_for("answerCallbackQuery", lambda c: c.get("callback_query_id") == query_id)
    return calls[before:]


async def settle(seconds: float = 0.3) -> None:
    """Give the bot time to send anything more (to assert that it did not)."""
    await asyncio.sleep(seconds)


async def wait_until(condition: Any, timeout: float = 5.0) -> None:  # noqa: ASYNC109 (a deadline)
    """Wait until the async `condition` holds (a job's write, say), polling; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not await condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def db_scalar(statement: Select[Any]) -> Any:
    """One value read in a session of its own (the bot commits in its own sessions)."""
    async with database.session_scope() as session:
        return await session.scalar(statement)


async def db_scalars(statement: Select[Any]) -> list[Any]:
    async with database.session_scope() as session:
        return list((await session.scalars(statement)).all())


async def run_jobs(bot: Any, settings: Any, *, reconcile: bool) -> None:
    """One run of every periodic job, as the scheduler would enqueue them (each its own run)."""
    from worker.tasks import payments, support

    await payments.expire_pending(settings)
    await payments.redeliver(bot)
    await payments.refund_due(bot)
    await support.send_messages(bot)
    if reconcile:
        await payments.reconcile(bot)
