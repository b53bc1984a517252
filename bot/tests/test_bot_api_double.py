"""The Bot API double, exercised by a real aiogram Bot (and raw HTTP where aiogram can't go)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiogram import Bot, Dispatcher, F, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramEntityTooLarge,
    TelegramForbiddenError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.methods import GetMe
from aiogram.types import (
    BufferedInputFile,
    CallbackQuery,
    FSInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LabeledPrice,
    Message,
    TransactionPartnerUser,
    Update,
)
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import ClientSession, FormData, web

from bot.tests.bot_api_double import (
    CHARGE_ALREADY_REFUNDED,
    CHARGE_NOT_FOUND,
    DEFAULT_BOT_ID,
    MESSAGE_NOT_MODIFIED,
    WRONG_FILE_ID,
    BotAPIDouble,
    user,
)

TOKEN = "123456:TEST-token-abcdefghijklmnop"
SECRET = "s3cret"
ALICE = user(42, "Alice", username="alice")


@pytest.fixture
async def api() -> AsyncIterator[BotAPIDouble]:
    async with BotAPIDouble() as double:
        yield double


@pytest.fixture
async def bot(api: BotAPIDouble) -> AsyncIterator[Bot]:
    client = Bot(token=TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(api.base_url)))
    yield client
    await client.session.close()


@pytest.fixture
async def http() -> AsyncIterator[ClientSession]:
    async with ClientSession() as session:
        yield session


def keyboard(*buttons: tuple[str, str]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text=text, callback_data=data)] for text, data in buttons]
    )


# ------------------------------------------------------------------------------------------------ basics


async def test_base_url_is_loopback_with_a_free_port(api: BotAPIDouble) -> None:
    assert api.base_url.startswith("http://127.0.0.1:")
    assert api.port > 0


async def test_get_me(api: BotAPIDouble, bot: Bot) -> None:
    me = await bot.get_me()

    assert me.id == DEFAULT_BOT_ID
    assert me.is_bot is True
    assert me.first_name == "Lesson Store"
    assert me.username == "lesson_store_test_bot"
    assert me.can_join_groups is True
    [call] = api.calls_to("getMe")
    assert call.token == TOKEN
    assert call.ok
    assert call.result["id"] == DEFAULT_BOT_ID


async def test_send_message_with_inline_keyboard_is_recorded_with_decoded_params(
    api: BotAPIDouble, bot: Bot
) -> None:
    markup = keyboard(("Buy", "buy:1"), ("Back", "catalog"))

    sent = await bot.send_message(42, "Pick a lesson", reply_markup=markup)

    [call] = api.calls_to("sendMessage")
    assert call.content_type == "application/x-www-form-urlencoded"  # aiogram's default without files
    assert call["chat_id"] == 42  # the form's "42" decoded
    assert call["text"] == "Pick a lesson"
    assert call["reply_markup"] == {
        "inline_keyboard": [
            [{"text": "Buy", "callback_data": "buy:1"}],
            [{"text": "Back", "callback_data": "catalog"}],
        ]
    }
    assert sent.message_id == 1
    assert sent.chat.id == 42
    assert sent.chat.type == "private"
    assert sent.from_user is not None
    assert sent.from_user.id == DEFAULT_BOT_ID
    assert sent.text == "Pick a lesson"
    assert sent.reply_markup is not None
    assert sent.reply_markup.model_dump() == markup.model_dump()
    assert abs(sent.date.timestamp() - time.time()) < 5
    second = await bot.send_message(42, "again")
    other_chat = await bot.send_message(43, "hi")
    assert (second.message_id, other_chat.message_id) == (2, 1)


async def test_string_params_are_not_decoded(api: BotAPIDouble, bot: Bot) -> None:
    await bot.send_message(42, "123")
    await bot.send_message(42, "[1, 2]")

    assert [call["text"] for call in api.calls_to("sendMessage")] == ["123", "[1, 2]"]


async def test_html_parse_mode_yields_text_and_entities(api: BotAPIDouble, bot: Bot) -> None:
    sent = await bot.send_message(
        42, "<b>Lesson</b> &amp; <a href='https://x.org'>more</a>", parse_mode="HTML"
    )

    assert sent.text == "Lesson & more"
    assert sent.entities is not None
    assert [(e.type, e.offset, e.length) for e in sent.entities] == [("bold", 0, 6), ("text_link", 9, 4)]
    assert api.calls_to("sendMessage")[0]["parse_mode"] == "HTML"


async def test_bad_html_is_a_bad_request(bot: Bot) -> None:
    with pytest.raises(TelegramBadRequest, match='Unsupported start tag "br"'):
        await bot.send_message(42, "line<br>next", parse_mode="HTML")
    with pytest.raises(TelegramBadRequest, match="Can't find end tag"):
        await bot.send_message(42, "<b>open", parse_mode="HTML")


async def test_empty_and_too_long_texts_are_bad_requests(bot: Bot) -> None:
    with pytest.raises(TelegramBadRequest, match="message text is empty"):
        await bot.send_message(42, " ")
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.send_message(42, "x" * 4097)


# ------------------------------------------------------------------------------------------------ files


async def test_send_video_upload_then_by_file_id(api: BotAPIDouble, bot: Bot, tmp_path: Path) -> None:
    content = b"\x00\x00\x00\x18ftypmp42 fake video bytes" * 100
    video_path = tmp_path / "lesson-1.mp4"
    video_path.write_bytes(content)
    digest = hashlib.sha256(content).hexdigest()

    sent = await bot.send_video(42, FSInputFile(video_path), caption="Lesson 1", duration=90)

    [upload] = api.calls_to("sendVideo")
    assert upload.content_type == "multipart/form-data"
    assert upload["chat_id"] == 42
    assert upload["caption"] == "Lesson 1"
    assert str(upload["video"]).startswith("attach://")
    uploaded = upload.file("video")
    assert uploaded is not None
    assert (uploaded.filename, uploaded.size, uploaded.sha256) == ("lesson-1.mp4", len(content), digest)
    assert list(upload.files) == [uploaded.field]
    assert sent.video is not None
    assert sent.video.file_id == f"BAACAgvideo-{digest[:16]}"
    assert sent.video.file_size == len(content)
    assert sent.video.duration == 90
    assert sent.video.file_name == "lesson-1.mp4"
    assert sent.caption == "Lesson 1"

    again = await bot.send_video(43, sent.video.file_id)

    assert again.video is not None
    assert again.video.file_id == sent.video.file_id
    assert api.calls_to("sendVideo")[1].files == {}


async def test_send_video_buffered_input_file_with_keyboard(api: BotAPIDouble, bot: Bot) -> None:
    sent = await bot.send_video(
        42,
        BufferedInputFile(b"tiny video", filename="intro.mp4"),
        width=640,
        height=360,
        reply_markup=keyboard(("Next", "next")),
    )

    [call] = api.calls_to("sendVideo")
    assert call["reply_markup"] == {"inline_keyboard": [[{"text": "Next", "callback_data": "next"}]]}
    assert call["width"] == 640
    assert sent.video is not None
    assert (sent.video.width, sent.video.height) == (640, 360)
    assert sent.video.mime_type == "video/mp4"
    assert sent.reply_markup is not None
    assert api.files[sent.video.file_id].data == b"tiny video"


async def test_unknown_file_id_is_a_bad_request(api: BotAPIDouble, bot: Bot) -> None:
    with pytest.raises(TelegramBadRequest, match="wrong file identifier/HTTP URL specified"):
        await bot.send_video(42, "BAACAgunknown")

    [call] = api.calls_to("sendVideo")
    assert call.status == 400
    assert call.error == WRONG_FILE_ID
    assert api.sent_messages() == []


async def test_registered_file_id_is_accepted(api: BotAPIDouble, bot: Bot) -> None:
    api.register_file("BAACAgcatalog-lesson-7", kind="video", duration=300)

    sent = await bot.send_video(42, "BAACAgcatalog-lesson-7")

    assert sent.video is not None
    assert sent.video.file_id == "BAACAgcatalog-lesson-7"
    assert sent.video.duration == 300


async def test_photo_and_document_uploads(api: BotAPIDouble, bot: Bot) -> None:
    photo = await bot.send_photo(42, BufferedInputFile(b"jpeg", filename="cover.jpg"))
    document = await bot.send_document(
        42, BufferedInputFile(b"%PDF-1.4", filename="notes.pdf"), caption="PDF"
    )

    assert photo.photo is not None
    assert photo.photo[-1].file_id.startswith("AgACAgphoto-")
    assert document.document is not None
    assert document.document.file_name == "notes.pdf"
    assert document.document.mime_type == "application/pdf"
    assert [c.method for c in api.sent_messages(42)] == ["sendPhoto", "sendDocument"]


async def test_get_file_and_download(bot: Bot) -> None:
    sent = await bot.send_document(42, BufferedInputFile(b"hello file", filename="a.txt"))
    assert sent.document is not None

    file = await bot.get_file(sent.document.file_id)
    assert file.file_path is not None
    downloaded = await bot.download_file(file.file_path)

    assert downloaded is not None
    assert downloaded.read() == b"hello file"


# ------------------------------------------------------------------------------------------------ payments


async def test_send_invoice_in_stars(api: BotAPIDouble, bot: Bot) -> None:
    sent = await bot.send_invoice(
        42,
        title="Lesson 1",
        description="Intro to Python",
        payload="purchase:17",
        currency="XTR",
        prices=[LabeledPrice(label="Lesson 1", amount=50)],
    )

    [call] = api.calls_to("sendInvoice")
    assert call["prices"] == [{"label": "Lesson 1", "amount": 50}]
    assert call["payload"] == "purchase:17"
    assert call["currency"] == "XTR"
    assert "provider_token" not in call.params
    assert sent.invoice is not None
    assert sent.invoice.title == "Lesson 1"
    assert sent.invoice.description == "Intro to Python"
    assert sent.invoice.currency == "XTR"
    assert sent.invoice.total_amount == 50
    assert sent.invoice.start_parameter == ""


async def test_answer_pre_checkout_query(api: BotAPIDouble, bot: Bot) -> None:
    update = api.pre_checkout_update(ALICE, "purchase:17", 50, query_id="pcq-1")
    assert Update.model_validate({"update_id": 1, **update}).pre_checkout_query is not None

    assert await bot.answer_pre_checkout_query("pcq-1", ok=True) is True
    assert await bot.answer_pre_checkout_query("pcq-2", ok=False, error_message="Sold out") is True

    first, second = api.calls_to("answerPreCheckoutQuery")
    assert (first["pre_checkout_query_id"], first["ok"]) == ("pcq-1", True)
    assert (second["ok"], second["error_message"]) == (False, "Sold out")


async def test_refund_star_payment(api: BotAPIDouble, bot: Bot) -> None:
    update = api.successful_payment_update(ALICE, "purchase:17", 50, charge_id="stx-charge-1")
    message = Update.model_validate({"update_id": 1, **update}).message
    assert message is not None
    assert message.successful_payment is not None
    assert message.successful_payment.telegram_payment_charge_id == "stx-charge-1"
    assert api.star_payments["stx-charge-1"].amount == 50

    assert await bot.refund_star_payment(42, "stx-charge-1") is True
    assert api.star_payments["stx-charge-1"].refunded

    with pytest.raises(TelegramBadRequest, match="CHARGE_ALREADY_REFUNDED") as already:
        await bot.refund_star_payment(42, "stx-charge-1")
    assert already.value.message == CHARGE_ALREADY_REFUNDED
    with pytest.raises(TelegramBadRequest, match="CHARGE_NOT_FOUND") as unknown:
        await bot.refund_star_payment(42, "stx-unknown")
    assert unknown.value.message == CHARGE_NOT_FOUND


async def test_refund_for_another_user_is_not_found(api: BotAPIDouble, bot: Bot) -> None:
    api.record_star_payment(ALICE, 50, "purchase:17", "stx-charge-2")

    with pytest.raises(TelegramBadRequest, match="CHARGE_NOT_FOUND"):
        await bot.refund_star_payment(43, "stx-charge-2")
    assert not api.star_payments["stx-charge-2"].refunded


async def test_get_star_transactions_chronological_with_refunds(api: BotAPIDouble, bot: Bot) -> None:
    api.successful_payment_update(ALICE, "purchase:1", 50, charge_id="stx-1", currency="XTR")
    api.record_star_payment(user(43, "Bob"), 75, "purchase:2", "stx-2")  # a charge the bot never saw
    await bot.refund_star_payment(42, "stx-1")

    result = await bot.get_star_transactions()

    assert [(t.id, t.amount) for t in result.transactions] == [("stx-1", 50), ("stx-2", 75), ("stx-1", 50)]
    incoming, missed, refund = result.transactions
    assert isinstance(incoming.source, TransactionPartnerUser)
    assert incoming.source.transaction_type == "invoice_payment"
    assert incoming.source.user.id == 42
    assert incoming.source.invoice_payload == "purchase:1"
    assert isinstance(missed.source, TransactionPartnerUser)
    assert missed.source.user.id == 43
    assert refund.source is None
    assert isinstance(refund.receiver, TransactionPartnerUser)
    assert refund.receiver.user.id == 42
    paged = await bot.get_star_transactions(offset=1, limit=1)
    assert [t.id for t in paged.transactions] == ["stx-2"]


async def test_refunded_payment_update_marks_the_ledger(api: BotAPIDouble) -> None:
    api.record_star_payment(ALICE, 50, "purchase:3", "stx-3")

    update = api.refunded_payment_update(ALICE, "purchase:3", 50, "stx-3")

    message = Update.model_validate({"update_id": 1, **update}).message
    assert message is not None
    assert message.refunded_payment is not None
    assert message.refunded_payment.telegram_payment_charge_id == "stx-3"
    assert api.star_payments["stx-3"].refunded
    assert [t.get("receiver") is not None for t in api.star_transactions] == [False, True]


# ------------------------------------------------------------------------------------------------ errors


async def test_injected_429_raises_retry_after(api: BotAPIDouble, bot: Bot) -> None:
    api.fail("sendMessage", error_code=429, description="Too Many Requests: retry after 3", retry_after=3)

    with pytest.raises(TelegramRetryAfter) as flood:
        await bot.send_message(42, "hello")
    assert flood.value.retry_after == 3
    sent = await bot.send_message(42, "hello")  # times=1: the retry goes through

    assert sent.text == "hello"
    failed, succeeded = api.calls_to("sendMessage")
    assert failed.response == {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 3",
        "parameters": {"retry_after": 3},
    }
    assert succeeded.ok
    assert api.sent_messages(42) == [succeeded]


async def test_injected_403_for_one_chat_only(api: BotAPIDouble, bot: Bot) -> None:
    api.fail(
        "sendMessage",
        error_code=403,
        description="Forbidden: bot was blocked by the user",
        times=None,
        when=lambda params: params.get("chat_id") == 42,
    )

    for _ in range(2):
        with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
            await bot.send_message(42, "hello")
    await bot.send_message(43, "hello")

    assert [c.status for c in api.calls_to("sendMessage")] == [403, 403, 200]


async def test_injected_400(api: BotAPIDouble, bot: Bot) -> None:
    api.fail("SENDMESSAGE", error_code=400, description="Bad Request: message is too long")

    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.send_message(42, "short")


async def test_blocked_user(api: BotAPIDouble, bot: Bot) -> None:
    api.block(42)

    with pytest.raises(TelegramForbiddenError):
        await bot.send_video(42, BufferedInputFile(b"v", filename="v.mp4"))
    with pytest.raises(TelegramForbiddenError):
        await bot.send_chat_action(42, "typing")
    api.unblock(42)

    assert (await bot.send_message(42, "back")).text == "back"


async def test_wrong_token_is_unauthorized(api: BotAPIDouble) -> None:
    api.token = "999:the-only-valid-token-here"
    client = Bot(token=TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(api.base_url)))
    try:
        with pytest.raises(TelegramUnauthorizedError, match="Unauthorized"):
            await client.get_me()
    finally:
        await client.session.close()


async def test_oversized_upload_is_entity_too_large() -> None:
    async with BotAPIDouble(max_upload_size=1024) as small:
        client = Bot(token=TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(small.base_url)))
        try:
            with pytest.raises(TelegramEntityTooLarge):
                await client.send_video(42, BufferedInputFile(b"x" * 4096, filename="big.mp4"))
            assert (await client.send_message(42, "still alive")).text == "still alive"
        finally:
            await client.session.close()

    assert [c.status for c in small.calls] == [413, 200]


async def test_closing_the_double_answers_a_waiting_long_poll() -> None:
    double = BotAPIDouble()
    await double.start()
    client = Bot(token=TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(double.base_url)))
    try:
        poll = asyncio.create_task(client.get_updates(timeout=30))
        await double.wait_for("getUpdates")
        started = time.monotonic()
        await double.close()
        assert await asyncio.wait_for(poll, 5) == []
        assert time.monotonic() - started < 3
    finally:
        await client.session.close()


# ------------------------------------------------------------------------------------------------ raw HTTP


async def test_json_body_and_case_insensitive_method(api: BotAPIDouble, http: ClientSession) -> None:
    url = f"{api.base_url}/bot{TOKEN}/SENDmessage"
    body = {"chat_id": 42, "text": "json", "reply_markup": {"inline_keyboard": []}}

    async with http.post(url, json=body) as response:
        answer = await response.json()

    assert response.status == 200
    assert answer["ok"] is True
    assert answer["result"]["text"] == "json"
    [call] = api.calls_to("sendMessage")
    assert call.method == "sendMessage"
    assert call.content_type == "application/json"
    assert call.params == body


async def test_get_with_query_string(api: BotAPIDouble, http: ClientSession) -> None:
    async with http.get(f"{api.base_url}/bot{TOKEN}/sendMessage?chat_id=7&text=hi") as response:
        answer = await response.json()

    assert answer["result"]["chat"]["id"] == 7
    assert api.calls[0].http_method == "GET"


async def test_multipart_file_under_its_own_field(api: BotAPIDouble, http: ClientSession) -> None:
    form = FormData()
    form.add_field("chat_id", "42")
    form.add_field("reply_markup", json.dumps({"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]}))
    form.add_field("video", b"raw-bytes", filename="clip.mp4", content_type="video/mp4")

    async with http.post(f"{api.base_url}/bot{TOKEN}/sendVideo", data=form) as response:
        answer = await response.json()

    assert answer["ok"] is True
    [call] = api.calls_to("sendVideo")
    assert call["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "a"
    uploaded = call.file("video")
    assert uploaded is not None
    assert uploaded.content_type == "video/mp4"
    assert uploaded.sha256 == hashlib.sha256(b"raw-bytes").hexdigest()


async def test_unknown_method_and_odd_input_do_not_break_the_server(
    api: BotAPIDouble, http: ClientSession, bot: Bot
) -> None:
    base = f"{api.base_url}/bot{TOKEN}"
    async with http.post(f"{base}/noSuchMethod") as response:
        assert response.status == 404
        assert await response.json() == {
            "ok": False,
            "error_code": 404,
            "description": "Not Found: method not found",
        }
    async with http.post(
        f"{base}/sendMessage", data=b"{not json", headers={"Content-Type": "application/json"}
    ) as r:
        assert r.status == 400
        assert (await r.json())["ok"] is False
    async with http.post(
        f"{base}/sendMessage", data=b"\xff\xfe", headers={"Content-Type": "text/plain"}
    ) as r:
        assert r.status == 400  # body ignored -> chat_id is empty
    async with http.get(f"{api.base_url}/somewhere/else") as r:
        assert r.status == 404
    async with http.post(f"{api.base_url}/botnot-a-token/getMe") as r:
        assert r.status == 401

    assert (await bot.get_me()).id == DEFAULT_BOT_ID
    assert [c.method for c in api.calls] == ["noSuchMethod", "sendMessage", "sendMessage", "getMe", "getMe"]


class NoSuchMethod(GetMe):
    """A method Telegram doesn't have, sent through aiogram."""

    __api_method__ = "noSuchMethod"


async def test_respond_overrides_and_unanswered_methods(api: BotAPIDouble, bot: Bot) -> None:
    with pytest.raises(TelegramServerError, match="no answer for getChat"):  # known, but no default answer
        await bot.get_chat(42)
    api.respond("getMyCommands", [{"command": "start", "description": "Start"}])
    api.respond("getChatMember", lambda call: {"status": "member", "user": user(call["user_id"], "Bob")})

    commands = await bot.get_my_commands()
    member = await bot.get_chat_member(-1001234567890, 43)

    assert [c.command for c in commands] == ["start"]
    assert (member.status, member.user.id, member.user.first_name) == ("member", 43, "Bob")
    with pytest.raises(TelegramNotFound, match="method not found"):
        await bot(NoSuchMethod())


# ------------------------------------------------------------------------------------------------ editing


async def test_edit_message_text_and_markup(bot: Bot) -> None:
    sent = await bot.send_message(42, "Catalog", reply_markup=keyboard(("Buy", "buy:1")))

    edited = await bot.edit_message_text("Catalog, page 2", chat_id=42, message_id=sent.message_id)
    assert isinstance(edited, Message)
    assert edited.text == "Catalog, page 2"
    assert edited.reply_markup is None  # editing the text without reply_markup drops the keyboard
    assert edited.edit_date is not None

    with pytest.raises(TelegramBadRequest, match="message is not modified") as not_modified:
        await bot.edit_message_text("Catalog, page 2", chat_id=42, message_id=sent.message_id)
    assert not_modified.value.message == MESSAGE_NOT_MODIFIED

    marked = await bot.edit_message_reply_markup(
        chat_id=42, message_id=sent.message_id, reply_markup=keyboard(("Next", "next"))
    )
    assert isinstance(marked, Message)
    assert marked.reply_markup is not None
    assert marked.text == "Catalog, page 2"

    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_text("x", chat_id=42, message_id=999)
    assert await bot.delete_message(42, sent.message_id) is True
    with pytest.raises(TelegramBadRequest, match="message to delete not found"):
        await bot.delete_message(42, sent.message_id)


async def test_copy_message_returns_message_id(bot: Bot) -> None:
    original = await bot.send_video(42, BufferedInputFile(b"v", filename="v.mp4"), caption="c")

    copied = await bot.copy_message(chat_id=43, from_chat_id=42, message_id=original.message_id)

    assert copied.message_id == 1


# ------------------------------------------------------------------------------------------------ updates


def test_builders_produce_valid_updates() -> None:
    api = BotAPIDouble()
    builders: list[dict[str, Any]] = [
        api.message_update(ALICE, "/start lesson_5"),
        api.message_update(ALICE, "hello", chat_id=-1001234567890),
        api.callback_update(ALICE, "buy:1"),
        api.pre_checkout_update(ALICE, "purchase:1", 50),
        api.successful_payment_update(ALICE, "purchase:1", 50),
        api.refunded_payment_update(ALICE, "purchase:1", 50, "stx-x"),
    ]

    updates = [Update.model_validate({"update_id": i, **u}) for i, u in enumerate(builders, 1)]

    start = updates[0].message
    assert start is not None
    assert start.entities is not None
    assert (start.entities[0].type, start.entities[0].length) == ("bot_command", 6)
    assert start.chat.type == "private"
    assert start.chat.first_name == "Alice"
    assert updates[1].message is not None
    assert updates[1].message.chat.type == "supergroup"
    callback = updates[2].callback_query
    assert callback is not None
    assert isinstance(callback.message, Message)
    assert callback.message.from_user is not None
    assert callback.message.from_user.id == DEFAULT_BOT_ID


async def test_callback_update_carries_the_bot_message(api: BotAPIDouble, bot: Bot) -> None:
    sent = await bot.send_message(42, "Pick", reply_markup=keyboard(("Buy", "buy:1")))

    update = api.callback_update(ALICE, "buy:1")

    callback = Update.model_validate({"update_id": 1, **update}).callback_query
    assert isinstance(callback, CallbackQuery)
    assert isinstance(callback.message, Message)
    assert callback.message.message_id == sent.message_id
    assert callback.message.reply_markup is not None
    assert sent.reply_markup is not None
    assert callback.message.reply_markup.model_dump() == sent.reply_markup.model_dump()
    assert await bot.answer_callback_query(callback.id, text="Added") is True
    assert api.calls_to("answerCallbackQuery")[0]["text"] == "Added"


async def test_get_updates_empty_waits_for_the_timeout(bot: Bot) -> None:
    started = time.monotonic()

    updates = await bot.get_updates(timeout=1)

    assert updates == []
    assert 0.9 <= time.monotonic() - started < 2.5


async def test_get_updates_returns_queued_update_immediately(api: BotAPIDouble, bot: Bot) -> None:
    update_id = api.push_update(api.message_update(ALICE, "/start"))
    started = time.monotonic()

    [update] = await bot.get_updates(timeout=10)

    assert time.monotonic() - started < 1
    assert update.update_id == update_id
    assert update.message is not None
    assert update.message.text == "/start"


async def test_update_pushed_during_the_wait_is_returned_before_the_timeout(
    api: BotAPIDouble, bot: Bot
) -> None:
    poll = asyncio.create_task(bot.get_updates(timeout=5))
    await api.wait_for("getUpdates")
    await asyncio.sleep(0.2)
    assert not poll.done()
    started = time.monotonic()

    update_id = api.push_update(api.message_update(ALICE, "hi"))
    updates = await asyncio.wait_for(poll, 2)

    assert [u.update_id for u in updates] == [update_id]
    assert time.monotonic() - started < 1


async def test_offset_confirms_updates(api: BotAPIDouble, bot: Bot) -> None:
    first = api.push_update(api.message_update(ALICE, "one"))
    second = api.push_update(api.message_update(ALICE, "two"))
    third = api.push_update(api.message_update(ALICE, "three"))

    assert [u.update_id for u in await bot.get_updates()] == [first, second, third]
    assert [u.update_id for u in await bot.get_updates()] == [first, second, third]  # unconfirmed
    assert [u.update_id for u in await bot.get_updates(limit=1)] == [first]
    assert [u.update_id for u in await bot.get_updates(offset=second)] == [second, third]
    assert [u.update_id for u in await bot.get_updates(offset=-1)] == [third]  # the rest is forgotten
    assert await bot.get_updates(offset=third + 1) == []
    assert api.pending_updates == []


async def test_allowed_updates_filters_update_types(api: BotAPIDouble, bot: Bot) -> None:
    api.push_update(api.pre_checkout_update(ALICE, "p", 1))
    wanted = api.push_update(api.message_update(ALICE, "m"))

    updates = await bot.get_updates(allowed_updates=["message"])

    assert [u.update_id for u in updates] == [wanted]


async def test_a_second_get_updates_terminates_the_first(bot: Bot) -> None:
    first = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.2)

    second = await bot.get_updates(timeout=0)

    assert second == []
    with pytest.raises(TelegramConflictError, match="terminated by other getUpdates request"):
        await asyncio.wait_for(first, 2)


async def test_get_updates_conflicts_with_a_webhook(api: BotAPIDouble, bot: Bot) -> None:
    with pytest.raises(TelegramBadRequest, match="HTTPS URL must be provided"):
        await bot.set_webhook("http://insecure.example/hook")
    assert await bot.set_webhook("https://bot.example/hook", secret_token=SECRET) is True

    info = await bot.get_webhook_info()
    assert (info.url, info.has_custom_certificate, info.pending_update_count) == (
        "https://bot.example/hook",
        False,
        0,
    )
    assert api.webhook_secret_token == SECRET
    with pytest.raises(TelegramConflictError, match="webhook is active"):
        await bot.get_updates()
    assert await bot.delete_webhook(drop_pending_updates=True) is True
    assert await bot.get_updates() == []


async def test_wait_for_times_out_with_a_listing(api: BotAPIDouble, bot: Bot) -> None:
    await bot.send_message(42, "not it")

    with pytest.raises(AssertionError, match=r"expected 1 call\(s\) to sendMessage matching") as failure:
        await api.wait_for("sendMessage", lambda call: call["chat_id"] == 43, timeout=0.2)
    assert "sendMessage -> 200" in str(failure.value)
    assert '"text": "not it"' in str(failure.value)


async def test_wait_for_counts_calls(api: BotAPIDouble, bot: Bot) -> None:
    async def send_later() -> None:
        for text in ("a", "b", "c"):
            await asyncio.sleep(0.05)
            await bot.send_message(42, text)

    task = asyncio.create_task(send_later())
    calls = await api.wait_for("sendmessage", count=3, timeout=3)
    await task

    assert [c["text"] for c in calls] == ["a", "b", "c"]
    api.reset()
    assert api.calls == []


# ------------------------------------------------------------------------------------------------ a real bot


async def test_polling_dispatcher_end_to_end(api: BotAPIDouble, bot: Bot) -> None:
    router = Router()

    @router.message(F.text == "/start")
    async def start(message: Message) -> None:
        await message.answer("Welcome!", reply_markup=keyboard(("Catalog", "catalog")))

    @router.callback_query(F.data == "catalog")
    async def catalog(query: CallbackQuery) -> None:
        await query.answer()
        assert isinstance(query.message, Message)
        await query.message.edit_text("Catalog")

    dispatcher = Dispatcher()
    dispatcher.include_router(router)
    polling = asyncio.create_task(
        dispatcher.start_polling(bot, polling_timeout=1, handle_signals=False, close_bot_session=False)
    )
    try:
        api.push_update(api.message_update(ALICE, "/start"))
        [welcome] = await api.wait_for("sendMessage", lambda call: call["chat_id"] == 42)
        assert welcome["text"] == "Welcome!"

        api.push_update(api.callback_update(ALICE, "catalog"))
        [edit] = await api.wait_for("editMessageText")
        assert edit["message_id"] == welcome.result["message_id"]
        await api.wait_for("answerCallbackQuery")
    finally:
        await dispatcher.stop_polling()
        await asyncio.wait_for(polling, 5)

    polls = api.calls_to("getUpdates")
    assert sorted(polls[0]["allowed_updates"]) == ["callback_query", "message"]
    assert [c.method for c in api.sent_messages(42)] == ["sendMessage", "editMessageText"]


async def test_webhook_delivery_with_secret_header(api: BotAPIDouble) -> None:
    received: list[tuple[str | None, dict[str, Any]]] = []

    async def hook(request: web.Request) -> web.Response:
        received.append((request.headers.get("X-Telegram-Bot-Api-Secret-Token"), await request.json()))
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/tg/webhook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        update = api.message_update(ALICE, "/start")
        status, body = await api.deliver_webhook(
            f"http://127.0.0.1:{port}/tg/webhook", update, secret_token=SECRET
        )
    finally:
        await runner.cleanup()

    assert (status, body) == (200, "{}")
    [(secret, payload)] = received
    assert secret == SECRET
    assert isinstance(payload["update_id"], int)
    assert payload["message"]["text"] == "/start"


async def test_webhook_reply_is_executed_like_telegram(api: BotAPIDouble, bot: Bot) -> None:
    router = Router()

    @router.message(F.text == "/start")
    async def start(message: Message) -> Any:
        return message.answer("Welcome via webhook reply")  # returned, not awaited: the webhook reply

    dispatcher = Dispatcher()
    dispatcher.include_router(router)
    app = web.Application()
    SimpleRequestHandler(dispatcher, bot, handle_in_background=False, secret_token=SECRET).register(
        app, path="/tg/webhook"
    )
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/tg/webhook"
    try:
        wrong_status, _ = await api.deliver_webhook(
            url, api.message_update(ALICE, "/start"), secret_token=SECRET.upper()
        )
        status, _ = await api.deliver_webhook(url, api.message_update(ALICE, "/start"), secret_token=SECRET)
    finally:
        await runner.cleanup()

    assert (wrong_status, status) == (401, 200)
    [reply] = api.calls_to("sendMessage")
    assert reply.via_webhook_reply
    assert reply["chat_id"] == 42
    assert reply["text"] == "Welcome via webhook reply"
    assert reply.ok


# ------------------------------------------------------------------------------------------------ rate limit


class FakeClock:
    """The double's clock, moved by the test: the window's decisions do not depend on the machine's speed."""

    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(api: BotAPIDouble) -> FakeClock:
    fake = FakeClock()
    api.clock = fake
    return fake


async def test_rate_limit_answers_429_beyond_the_window(
    api: BotAPIDouble, bot: Bot, clock: FakeClock
) -> None:
    api.limit_rate(3, retry_after=2)
    for chat in (1, 2, 3):
        await bot.send_message(chat, "hello")
        clock.now += 0.1

    with pytest.raises(TelegramRetryAfter) as flood:
        await bot.send_message(4, "hello")

    assert flood.value.retry_after == 2
    [limited] = api.rate_limited
    assert limited.response == {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 2",
        "parameters": {"retry_after": 2},
    }
    assert api.too_early == []
    assert [call["chat_id"] for call in api.sent_messages()] == [1, 2, 3]


async def test_rate_limit_answers_429_until_retry_after_passed(
    api: BotAPIDouble, bot: Bot, clock: FakeClock
) -> None:
    api.limit_rate(1, retry_after=3)
    await bot.send_message(1, "first")
    with pytest.raises(TelegramRetryAfter):
        await bot.send_message(2, "too soon")
    # The window alone would let this one through; the 429's retry_after does not.
    clock.now += 1.5
    with pytest.raises(TelegramRetryAfter) as flood:
        await bot.send_message(2, "still too soon")
    clock.now += 1.5

    await bot.send_message(2, "on time")

    assert flood.value.retry_after == 2
    assert [call["text"] for call in api.too_early] == ["still too soon"]
    assert [call["text"] for call in api.rate_limited] == ["too soon", "still too soon"]
    assert [call["text"] for call in api.sent_messages()] == ["first", "on time"]


async def test_rate_limit_window_slides(api: BotAPIDouble, bot: Bot, clock: FakeClock) -> None:
    api.limit_rate(2)
    for _ in range(10):
        await bot.send_message(1, "hello")
        clock.now += 0.5  # two a second: exactly the limit

    assert api.rate_limited == []
    assert api.peak_rate() == 2


@pytest.mark.usefixtures("clock")
async def test_rate_limit_counts_only_its_methods(api: BotAPIDouble, bot: Bot) -> None:
    api.limit_rate(1, methods={"sendPhoto"})
    for _ in range(3):
        await bot.send_message(1, "text is not limited")
    await bot.send_photo(1, BufferedInputFile(b"p", filename="p.jpg"))

    with pytest.raises(TelegramRetryAfter):
        await bot.send_photo(1, BufferedInputFile(b"p", filename="p.jpg"))
    assert [call.method for call in api.rate_limited] == ["sendPhoto"]


@pytest.mark.usefixtures("clock")
async def test_rate_limit_counts_failed_requests(api: BotAPIDouble, bot: Bot) -> None:
    # Telegram counts what it receives: a request answered 403 still took its place in the window.
    api.limit_rate(1)
    api.block(1)
    with pytest.raises(TelegramForbiddenError):
        await bot.send_message(1, "blocked")
    with pytest.raises(TelegramRetryAfter):
        await bot.send_message(2, "hello")


async def test_injected_429_holds_the_limited_methods(api: BotAPIDouble, bot: Bot, clock: FakeClock) -> None:
    api.limit_rate(100)
    api.fail("sendMessage", error_code=429, retry_after=5, after=2)
    await bot.send_message(1, "one")
    await bot.send_message(2, "two")
    with pytest.raises(TelegramRetryAfter):
        await bot.send_message(3, "three")
    clock.now += 4
    with pytest.raises(TelegramRetryAfter) as flood:
        await bot.send_message(3, "three again")
    clock.now += 1

    await bot.send_message(3, "three at last")

    assert flood.value.retry_after == 1
    assert [call["text"] for call in api.too_early] == ["three again"]
    assert [call["text"] for call in api.sent_messages()] == ["one", "two", "three at last"]


async def test_injected_failure_after_some_calls(api: BotAPIDouble, bot: Bot) -> None:
    api.fail("sendMessage", error_code=403, after=1, when=lambda params: params.get("chat_id") == 2)
    await bot.send_message(1, "other chat")
    await bot.send_message(2, "first goes through")

    with pytest.raises(TelegramForbiddenError):
        await bot.send_message(2, "second fails")
    await bot.send_message(2, "times=1: third goes through")

    assert [call.status for call in api.calls_to("sendMessage")] == [200, 200, 403, 200]


async def test_peak_rate_of_recorded_calls(api: BotAPIDouble, bot: Bot, clock: FakeClock) -> None:
    for step in (0.0, 0.2, 0.3, 0.4, 1.0, 0.1):
        clock.now += step
        await bot.send_message(1, "hello")

    # Arrivals at 0, 0.2, 0.5, 0.9, 1.9, 2.0: at most four within one second.
    assert api.peak_rate() == 4
    assert api.peak_rate({"sendPhoto"}) == 0


@pytest.mark.usefixtures("clock")
async def test_reset_lifts_the_rate_limit(api: BotAPIDouble, bot: Bot) -> None:
    api.limit_rate(1)
    await bot.send_message(1, "hello")
    with pytest.raises(TelegramRetryAfter):
        await bot.send_message(1, "hello")

    api.reset()
    await bot.send_message(1, "hello")

    assert api.rate_limit is None
    assert api.rate_limited == []


def test_limit_rate_rejects_zero(api: BotAPIDouble) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        api.limit_rate(0)
