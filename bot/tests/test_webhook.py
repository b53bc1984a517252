"""The API's side of the bot: the webhook (when WEBHOOK_URL is set), and the bot off without a token."""

import logging
from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import ValidationError
from sqlalchemy import select, text

from backend.main import app
from bot.tests.bot_api_double import user
from bot.tests.conftest import BOT_TOKEN, settings_env
from bot.tests.helpers import db_scalars
from bot.tests.test_exactly_once import deliveries, invoice_for
from shared.config import Settings
from shared.constants import PurchaseStatus
from shared.models import Purchase

WEBHOOK_URL = "https://example.test/telegram/webhook"
SECRET = "webhook-Secret_0123456789"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


async def _client() -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


@pytest.fixture
async def webhook_api(telegram) -> AsyncIterator[httpx.AsyncClient]:
    """The real API in webhook mode, started with its lifespan, talking to the Bot API double."""
    with settings_env(
        TELEGRAM_BOT_TOKEN=BOT_TOKEN,
        TELEGRAM_API_URL=telegram.base_url,
        WEBHOOK_URL=WEBHOOK_URL,
        WEBHOOK_SECRET=SECRET,
    ):
        async with app.router.lifespan_context(app), await _client() as client:
            yield client


def _update(telegram, person: dict, text: str, update_id: int) -> dict:
    return {"update_id": update_id, **telegram.message_update(person, text)}


@pytest.mark.usefixtures("webhook_api")
async def test_webhook_is_registered_at_startup_with_the_secret(telegram):
    [registration] = telegram.calls_to("setWebhook")

    assert registration["url"] == WEBHOOK_URL
    assert registration["secret_token"] == SECRET
    assert {"message", "callback_query", "pre_checkout_query"} <= set(registration["allowed_updates"])
    assert telegram.webhook_url == WEBHOOK_URL
    assert telegram.calls_to("setMyCommands")
    assert app.state.webhook is not None


async def test_webhook_update_with_the_right_secret_is_handled(telegram, webhook_api):
    response = await webhook_api.post(
        "/telegram/webhook",
        json=_update(telegram, user(140, "Web"), "/start", 1001),
        headers={SECRET_HEADER: SECRET},
    )

    assert response.status_code == 200
    # Handled before the answer: the menu rides on the answer itself, for Telegram to send.
    assert not telegram.calls_to("sendMessage")
    assert response.headers["content-type"] == "application/json"
    await telegram.execute_webhook_reply(response.headers["content-type"], response.content)
    [reply] = [c for c in telegram.calls_to("sendMessage") if str(c["chat_id"]) == "140"]
    assert reply.via_webhook_reply
    assert reply["text"].startswith("Hi, Web!")
    assert reply["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "m:lessons"


async def test_webhook_answer_without_a_call_is_plain_ok(telegram, webhook_api):
    # A message the bot answers with no screen (an unknown command gets its hint by a call of its own).
    response = await webhook_api.post(
        "/telegram/webhook",
        json={"update_id": 1010, "edited_message": telegram.message_update(user(142), "edited")["message"]},
        headers={SECRET_HEADER: SECRET},
    )

    assert response.status_code == 200
    assert response.json() == {"ok": True}


async def test_webhook_callback_update_edits_in_place(telegram, webhook_api):
    await webhook_api.post(
        "/telegram/webhook",
        json=_update(telegram, user(141), "/start", 1002),
        headers={SECRET_HEADER: SECRET},
    )
    update = {"update_id": 1003, **telegram.callback_update(user(141), "m:help")}

    response = await webhook_api.post("/telegram/webhook", json=update, headers={SECRET_HEADER: SECRET})

    assert response.status_code == 200
    [edit] = telegram.calls_to("editMessageText")
    assert edit["text"].startswith("<b>How it works</b>")


@pytest.mark.parametrize(
    "headers",
    [{}, {SECRET_HEADER: "wrong"}, {SECRET_HEADER: SECRET + "x"}, {SECRET_HEADER: ""}],
    ids=["missing", "wrong", "longer", "empty"],
)
async def test_webhook_without_the_right_secret_is_forbidden(telegram, webhook_api, headers):
    response = await webhook_api.post(
        "/telegram/webhook", json=_update(telegram, user(142), "/start", 1004), headers=headers
    )

    assert response.status_code == 403
    assert telegram.calls_to("sendMessage") == []


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[1, 2]", b'{"message": {}}', b'{"update_id": "x"}', b""],
    ids=["garbage", "array", "no-update-id", "bad-update-id", "empty"],
)
async def test_webhook_garbage_with_the_right_secret_is_a_bad_request(telegram, webhook_api, body):
    response = await webhook_api.post(
        "/telegram/webhook",
        content=body,
        headers={SECRET_HEADER: SECRET, "Content-Type": "application/json"},
    )

    assert response.status_code == 400
    assert telegram.calls_to("sendMessage") == []


def test_webhook_mode_refuses_to_start_without_a_secret():
    with pytest.raises(ValidationError, match="WEBHOOK_SECRET"):
        Settings(WEBHOOK_URL=WEBHOOK_URL, WEBHOOK_SECRET="")
    with pytest.raises(ValidationError, match="WEBHOOK_SECRET"), settings_env(WEBHOOK_URL=WEBHOOK_URL):
        pass


def test_webhook_secret_must_be_one_telegram_accepts():
    with pytest.raises(ValidationError, match="WEBHOOK_SECRET"):
        Settings(WEBHOOK_URL=WEBHOOK_URL, WEBHOOK_SECRET="has spaces and é")


@pytest.mark.usefixtures("bot_settings")
async def test_api_in_polling_mode_never_polls_nor_sets_a_webhook(telegram):
    async with app.router.lifespan_context(app), await _client() as client:
        health = await client.get("/health")
        forbidden = await client.post(
            "/telegram/webhook", json={"update_id": 1}, headers={SECRET_HEADER: "anything"}
        )
        has_bot = app.state.telegram is not None and app.state.webhook is None

    assert health.status_code == 200
    assert forbidden.status_code == 403
    assert has_bot
    assert {call.method for call in telegram.calls} <= {"getMe"}


async def test_api_with_the_placeholder_token_runs_and_says_the_bot_is_off(caplog):
    caplog.set_level(logging.INFO)
    with settings_env(TELEGRAM_BOT_TOKEN="your-bot-token"):
        async with app.router.lifespan_context(app), await _client() as client:
            health = await client.get("/health")
            state = (app.state.telegram, app.state.webhook)

    assert health.status_code == 200
    assert state == (None, None)
    assert "The Telegram bot is off" in caplog.text


async def test_webhook_with_the_bot_off_is_unavailable(caplog):
    with settings_env(TELEGRAM_BOT_TOKEN="", WEBHOOK_URL=WEBHOOK_URL, WEBHOOK_SECRET=SECRET):
        async with app.router.lifespan_context(app), await _client() as client:
            response = await client.post(
                "/telegram/webhook", json={"update_id": 1}, headers={SECRET_HEADER: SECRET}
            )

    assert response.status_code == 503
    assert "The Telegram bot is off" in caplog.text


# The table away: its statements fail, as with a database that is down. "users" fails the update before
# the handler (registering the payer), "purchases" in it (recording the payment).
@pytest.mark.parametrize("table", ["users", "purchases"])
async def test_payment_the_database_cannot_record_gets_503_and_is_recorded_when_it_comes_again(
    telegram, webhook_api, session, table
):
    payer = user(150, "Payer")
    payload, amount = await invoice_for(session, payer, price=100, text_content="Paid body")
    update = {"update_id": 2001, **telegram.successful_payment_update(payer, payload, amount, "stxDOWN")}
    await session.execute(text(f"ALTER TABLE {table} RENAME TO {table}_away"))
    await session.commit()
    try:
        refused = await webhook_api.post("/telegram/webhook", json=update, headers={SECRET_HEADER: SECRET})
    finally:
        await session.execute(text(f"ALTER TABLE {table}_away RENAME TO {table}"))
        await session.commit()

    # Not 200: Telegram delivers the update again. No apology either: nothing is wrong for the payer.
    assert refused.status_code == 503
    assert "deliver the update again" in refused.json()["detail"]
    assert telegram.sent_messages(payer["id"]) == []

    again = await webhook_api.post("/telegram/webhook", json=update, headers={SECRET_HEADER: SECRET})

    assert again.status_code == 200
    [purchase] = await db_scalars(select(Purchase))
    assert (purchase.status, purchase.telegram_payment_charge_id) == (PurchaseStatus.COMPLETED, "stxDOWN")
    assert len(deliveries(telegram, "Paid body")) == 1
