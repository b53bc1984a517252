"""No update leaves the user without an answer: unexpected errors get an apology and are logged."""

import logging

import pytest
from aiogram import F
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message, PreCheckoutQuery
from sqlalchemy import func, select

from bot.app import create_dispatcher
from bot.tests.bot_api_double import user
from bot.tests.helpers import db_scalar, press, send, settle
from shared.models import SupportTicket

# Every test here feeds updates to the real bot, long polling the Bot API double.
pytestmark = pytest.mark.usefixtures("polling_bot")

APOLOGY = "Sorry, something went wrong on our side. Please try again in a minute."


@pytest.fixture
async def dispatcher(bot_settings):
    """The real dispatcher, plus handlers that fail on purpose (on the dispatcher itself: tried first)."""
    dispatcher = create_dispatcher(bot_settings)

    @dispatcher.message(Command("boom"))
    async def boom_message(_message: Message) -> None:
        raise RuntimeError("boom in a message handler")

    @dispatcher.callback_query(F.data == "boom")
    async def boom_button(_query: CallbackQuery) -> None:
        raise RuntimeError("boom in a callback handler")

    @dispatcher.pre_checkout_query(F.invoice_payload == "boom")
    async def boom_checkout(_query: PreCheckoutQuery) -> None:
        raise RuntimeError("boom in a pre-checkout handler")

    return dispatcher


def _failures(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "bot.handlers.errors" and r.levelno >= logging.ERROR]


async def test_error_in_a_message_handler_gets_an_apology_and_is_logged(telegram, caplog):
    update_id = telegram.push_update(telegram.message_update(user(130), "/boom"))

    [apology] = await telegram.wait_for("sendMessage", lambda c: str(c["chat_id"]) == "130")

    assert apology["text"] == APOLOGY
    [record] = _failures(caplog)
    assert f"Update {update_id} failed" in record.getMessage()
    assert record.exc_info is not None
    assert "boom in a message handler" in str(record.exc_info[1])


async def test_apology_in_the_users_language(telegram):
    [apology] = await send(telegram, user(131, language_code="ru"), "/boom")

    assert apology["text"] == "Извините, у нас что-то пошло не так. Попробуйте через минуту."


async def test_error_in_a_callback_handler_answers_the_query_too(telegram, caplog):
    person = user(132)
    await send(telegram, person, "/start")

    [answer] = await press(telegram, person, "boom", method="answerCallbackQuery")
    [apology] = await telegram.wait_for("sendMessage", lambda c: c["text"] == APOLOGY)

    assert answer.ok
    assert str(apology["chat_id"]) == "132"
    assert "boom in a callback handler" in caplog.text


async def test_error_in_pre_checkout_refuses_the_payment(telegram, caplog):
    update_id = telegram.push_update(telegram.pre_checkout_update(user(133), "boom", 100))

    [answer] = await telegram.wait_for("answerPreCheckoutQuery")

    assert answer["ok"] is False
    assert answer["error_message"] == APOLOGY
    assert any(f"Update {update_id} failed" in r.getMessage() for r in _failures(caplog))


async def test_telegram_error_while_answering_gets_an_apology(telegram, caplog):
    telegram.fail("sendMessage", error_code=500, description="Internal Server Error: try later")
    # A call the handler makes itself (/paysupport with no purchases); one it returns rides on the answer
    # to the webhook, and Telegram keeps its outcome to itself (see bot.screens.Reply).
    update_id = telegram.push_update(telegram.message_update(user(134), "/paysupport"))

    failed, apology = await telegram.wait_for("sendMessage", lambda c: str(c["chat_id"]) == "134", count=2)

    assert failed.error == "Internal Server Error: try later"
    assert apology["text"] == APOLOGY
    assert any(f"Update {update_id} failed" in r.getMessage() for r in _failures(caplog))


async def test_apology_to_a_user_who_blocked_the_bot_is_logged_not_raised(telegram, caplog):
    telegram.block(135)
    update_id = telegram.push_update(telegram.message_update(user(135), "/boom"))

    await telegram.wait_for("sendMessage", lambda c: str(c["chat_id"]) == "135")
    for _ in range(50):
        if f"Could not apologise for update {update_id}" in caplog.text:
            break
        await settle(0.05)

    assert f"Could not apologise for update {update_id}" in caplog.text
    # The bot is still answering the others.
    [reply] = await send(telegram, user(136), "/start")
    assert reply.ok


async def test_unexpected_text_gets_the_menu(telegram):
    [reply] = await send(telegram, user(137), "hello?")

    assert reply["text"] == "I did not understand that. Choose from the menu, or write to /support."
    assert "📚 Lessons" in [b["text"] for row in reply["reply_markup"]["inline_keyboard"] for b in row]
    assert await db_scalar(select(func.count()).select_from(SupportTicket)) == 0


async def test_unknown_command_gets_the_menu_in_russian(telegram):
    [reply] = await send(telegram, user(138, language_code="ru"), "/nosuchcommand")

    assert reply["text"].startswith("Я не понял сообщение.")


@pytest.mark.parametrize("data", ["old-button", "c:1:open", "l:abc:open", "m:nosuchmenu", "lp:-x"])
async def test_unknown_or_malformed_button_is_answered(telegram, data):
    person = user(139)
    await send(telegram, person, "/start")

    [answer] = await press(telegram, person, data, method="answerCallbackQuery")
    await settle(0.1)

    assert answer["text"] == "This button is out of date. Send /start to open the menu."
    assert answer["show_alert"] is True
    assert not [c for c in telegram.calls_to("sendMessage") if c["text"] == APOLOGY]
