import hashlib
import os
from pathlib import Path

import pytest
from sqlalchemy import select

from backend.tests.factories import create_course, create_lesson, create_purchase, create_user
from bot.tests.bot_api_double import user, utf16_length
from bot.tests.helpers import buttons, db_scalar, press, send, settle, to_chat
from shared.constants import PurchaseStatus
from shared.models import Lesson

# Every test here feeds updates to the real bot, long polling the Bot API double.
pytestmark = pytest.mark.usefixtures("polling_bot")

MEDIA_DIR = Path(os.environ["MEDIA_DIR"])


def _utf16_slice(text: str, offset: int, length: int) -> str:
    return text.encode("utf-16-le")[2 * offset : 2 * (offset + length)].decode("utf-16-le")


def _content_calls(telegram, chat_id: int) -> list:
    """What the bot sent to the chat that is lesson content (title, text parts, videos)."""
    return [
        c
        for c in telegram.sent_messages(chat_id)
        if c.method == "sendVideo" or (c.method == "sendMessage" and "protect_content" in c.params)
    ]


async def _open(telegram, person, lesson_id: int, *, method: str = "sendMessage", count: int = 1) -> list:
    return await press(telegram, person, f"l:{lesson_id}:open", method=method, count=count)


async def _file_id_of(lesson_id: int) -> str | None:
    return await db_scalar(select(Lesson.video_file_id).where(Lesson.id == lesson_id))


async def test_free_lesson_opens_without_paying(telegram, session):
    lesson = await create_lesson(
        session, title="Intro", is_free=True, price=0, text_content="Hello <i>there</i>"
    )
    person = user(80)
    await send(telegram, person, "/start")

    [lesson_message] = await _open(telegram, person, lesson.id)

    # The title in bold above the text, in one message.
    assert lesson_message["text"] == "Intro\n\nHello there"
    assert lesson_message["entities"] == [
        {"type": "bold", "offset": 0, "length": 5},
        {"type": "italic", "offset": 13, "length": 5},
    ]
    assert lesson_message["protect_content"] is False


async def test_bought_lesson_opens_protected(telegram, session):
    lesson = await create_lesson(session, title="Paid one", text_content="Secret")
    buyer = await create_user(session, telegram_id=81)
    await create_purchase(session, buyer, lesson)
    person = user(81)
    await send(telegram, person, "/start")

    [lesson_message] = await _open(telegram, person, lesson.id)

    assert lesson_message["text"] == "Paid one\n\nSecret"
    assert lesson_message["protect_content"] is True


async def test_lesson_of_a_bought_course_opens(telegram, session):
    lesson = await create_lesson(session, text_content="Course content")
    course = await create_course(session, [lesson])
    buyer = await create_user(session, telegram_id=82)
    await create_purchase(session, buyer, course)
    person = user(82)
    await send(telegram, person, "/start")

    [lesson_message] = await _open(telegram, person, lesson.id)

    assert lesson_message["text"].endswith("\n\nCourse content")


async def test_crafted_open_of_a_paid_lesson_is_refused(telegram, session):
    lesson = await create_lesson(session, title="Premium", text_content="THE SECRET", video_path="x.mp4")
    person = user(83)
    await send(telegram, person, "/start")

    [answer] = await press(telegram, person, f"l:{lesson.id}:open", method="answerCallbackQuery")
    [card] = await telegram.wait_for("sendMessage", lambda c: "Premium" in c["text"])
    await settle()

    assert answer["show_alert"] is True
    assert answer["text"] == "This lesson is paid. Buy it to open it."
    assert buttons(card)[0] == ("Buy for 100 ⭐", f"l:{lesson.id}:buy")
    assert not [c for c in telegram.sent_messages(83) if "SECRET" in str(c.get("text"))]
    assert telegram.calls_to("sendVideo") == []


async def test_open_is_refused_for_pending_failed_and_refunded_purchases(telegram, session):
    buyer = await create_user(session, telegram_id=84)
    lessons = []
    for status in (PurchaseStatus.PENDING, PurchaseStatus.FAILED, PurchaseStatus.REFUNDED):
        lesson = await create_lesson(session, text_content="THE SECRET")
        await create_purchase(session, buyer, lesson, status=status)
        lessons.append(lesson)
    person = user(84)
    await send(telegram, person, "/start")

    for lesson in lessons:
        [answer] = await press(telegram, person, f"l:{lesson.id}:open", method="answerCallbackQuery")
        assert answer["show_alert"] is True
    await settle()

    assert not [c for c in telegram.sent_messages(84) if "SECRET" in str(c.get("text"))]


async def test_crafted_open_of_an_inactive_free_lesson_is_refused(telegram, session):
    lesson = await create_lesson(session, is_free=True, price=0, is_active=False, text_content="GONE")
    person = user(85)
    await send(telegram, person, "/start")

    [answer] = await press(telegram, person, f"l:{lesson.id}:open", method="answerCallbackQuery")
    await settle()

    assert answer["show_alert"] is True
    assert not [c for c in telegram.sent_messages(85) if "GONE" in str(c.get("text"))]


async def test_crafted_open_of_an_unknown_lesson(telegram):
    person = user(86)
    await send(telegram, person, "/start")

    [answer] = await press(telegram, person, "l:987654:open", method="answerCallbackQuery")

    assert answer["text"] == "This lesson or course is not available."
    assert answer["show_alert"] is True


async def test_my_lessons_lists_bought_and_free_lessons(telegram, session):
    free = await create_lesson(session, title="A free", is_free=True, price=0)
    bought = await create_lesson(session, title="B bought")
    in_course = await create_lesson(session, title="C in course")
    retired = await create_lesson(session, title="D retired but bought", is_active=False)
    await create_lesson(session, title="E not mine")
    await create_lesson(session, title="F free but retired", is_free=True, price=0, is_active=False)
    refunded = await create_lesson(session, title="G refunded")
    course = await create_course(session, [in_course])
    buyer = await create_user(session, telegram_id=87)
    for item in (bought, course, retired):
        await create_purchase(session, buyer, item)
    await create_purchase(session, buyer, refunded, status=PurchaseStatus.REFUNDED)
    person = user(87)

    [library] = await send(telegram, person, "/mylessons")

    assert library["text"] == "📂 You have 4 lessons:"
    assert buttons(library) == [
        ("A free", f"l:{free.id}:open"),
        ("B bought", f"l:{bought.id}:open"),
        ("C in course", f"l:{in_course.id}:open"),
        ("D retired but bought", f"l:{retired.id}:open"),
        ("« Menu", "m:main"),
    ]

    # Each of them opens, any time (the retired one too: it was paid for).
    [lesson_message] = await _open(telegram, person, retired.id)
    assert lesson_message["text"].endswith("\n\nBody")


async def test_my_lessons_from_the_menu_pages_in_place(telegram, session):
    for n in range(7):
        await create_lesson(session, title=f"Free {n}", is_free=True, price=0)
    person = user(88, language_code="ru")
    [menu] = await send(telegram, person, "/start")

    [page1] = await press(telegram, person, "m:library", message_id=menu.result["message_id"])
    [page2] = await press(telegram, person, "lib:1", message_id=menu.result["message_id"])

    assert page1["text"] == "📂 У вас 7 уроков:"
    assert page1["message_id"] == page2["message_id"] == menu.result["message_id"]
    assert [text for text, _ in buttons(page2)] == ["Free 5", "Free 6", "‹ Назад", "« Меню"]


async def test_my_lessons_empty(telegram):
    [library] = await send(telegram, user(89), "/mylessons")

    assert library["text"] == "You have no lessons yet. Start with a free one in 📚 Lessons."


async def test_long_text_lesson_is_split_with_its_formatting(telegram, session):
    paragraphs = [f"Paragraph {n} 🚤 " + "word & " * 60 + "end." for n in range(23)]
    # Bold from paragraph 8 to paragraph 14: across the first cut (about 4096 units in).
    html_paragraphs = [p.replace("&", "&amp;") for p in paragraphs]
    html_paragraphs[8] = "<b>" + html_paragraphs[8]
    html_paragraphs[14] = html_paragraphs[14] + "</b>"
    source = "\n\n".join(html_paragraphs)
    plain = "\n\n".join(paragraphs)
    assert 10_000 <= len(plain) <= 12_000
    lesson = await create_lesson(session, title="Long", text_content=source)
    buyer = await create_user(session, telegram_id=90)
    await create_purchase(session, buyer, lesson)
    person = user(90)
    await send(telegram, person, "/start")

    parts = await _open(telegram, person, lesson.id, count=3)
    await settle()

    assert len(_content_calls(telegram, 90)) == 3
    assert all(part.ok for part in parts)
    assert all(part["protect_content"] is True for part in parts)
    assert all(utf16_length(part["text"]) <= 4096 for part in parts)
    assert all("parse_mode" not in part.params for part in parts)
    # Cut between paragraphs: nothing lost, nothing added (the title above the first).
    assert "\n\n".join(part["text"] for part in parts) == "Long\n\n" + plain
    bold = [
        _utf16_slice(part["text"], e["offset"], e["length"])
        for part in parts
        for e in part.get("entities") or []
        if e["type"] == "bold"
    ]
    assert bold[0] == "Long"
    assert len(bold) >= 3
    assert "\n\n".join(bold[1:]) == "\n\n".join(paragraphs[8:15])
    # Telegram shows what the entities say.
    assert parts[0].result["entities"][0]["type"] == "bold"


async def test_video_is_uploaded_once_then_sent_by_file_id(telegram, session):
    data = b"\x00\x00\x00\x18ftypmp42" + os.urandom(2048)
    path = MEDIA_DIR / "lessons" / "knots.mp4"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    lesson = await create_lesson(session, title="Knots", text_content=None, video_path="lessons/knots.mp4")
    buyer = await create_user(session, telegram_id=91)
    await create_purchase(session, buyer, lesson)
    person = user(91)
    await send(telegram, person, "/start")

    [upload] = await _open(telegram, person, lesson.id, method="sendVideo")
    file_id = upload.result["video"]["file_id"]
    await _wait_for_file_id(lesson.id, file_id)
    [again] = await _open(telegram, person, lesson.id, method="sendVideo")

    assert upload.content_type == "multipart/form-data"
    uploaded = upload.file("video")
    assert uploaded is not None
    assert (uploaded.filename, uploaded.sha256) == ("knots.mp4", hashlib.sha256(data).hexdigest())
    assert upload["protect_content"] is True
    assert again["video"] == file_id
    assert again.files == {}
    assert again["protect_content"] is True
    assert again.ok


async def _wait_for_file_id(lesson_id: int, expected: str) -> None:
    # The bot stores the file id right after Telegram answers the upload.
    for _ in range(50):
        if await _file_id_of(lesson_id) == expected:
            return
        await settle(0.05)
    assert await _file_id_of(lesson_id) == expected


async def test_video_at_an_absolute_path(telegram, session, tmp_path):
    path = tmp_path / "free video.mp4"
    path.write_bytes(b"free video bytes")
    lesson = await create_lesson(
        session, title="Free video", is_free=True, price=0, text_content=None, video_path=str(path)
    )
    person = user(92)
    await send(telegram, person, "/start")

    [upload] = await _open(telegram, person, lesson.id, method="sendVideo")

    assert upload.file("video").sha256 == hashlib.sha256(b"free video bytes").hexdigest()
    assert upload["protect_content"] is False
    await _wait_for_file_id(lesson.id, upload.result["video"]["file_id"])


async def test_missing_video_file_gets_an_apology(telegram, session):
    lesson = await create_lesson(
        session, title="Lost", is_free=True, price=0, text_content="Text part", video_path="nowhere/lost.mp4"
    )
    person = user(93)
    await send(telegram, person, "/start")

    lesson_message, apology = await _open(telegram, person, lesson.id, count=2)
    await settle()

    assert lesson_message["text"] == "Lost\n\nText part"
    assert apology["text"].startswith("Sorry, the video of this lesson is temporarily unavailable.")
    assert telegram.calls_to("sendVideo") == []
    assert not [c for c in telegram.calls_to("sendMessage") if "went wrong" in c["text"]]
    assert await _file_id_of(lesson.id) is None


async def test_refused_file_id_is_replaced_by_a_new_upload(telegram, session):
    path = MEDIA_DIR / "reupload.mp4"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"the real video")
    lesson = await create_lesson(
        session,
        is_free=True,
        price=0,
        text_content=None,
        video_path="reupload.mp4",
        video_file_id="BAACAgIAAxkBAAIBfrom-another-bot",
    )
    person = user(94)
    await send(telegram, person, "/start")

    refused, upload = await _open(telegram, person, lesson.id, method="sendVideo", count=2)

    assert refused["video"] == "BAACAgIAAxkBAAIBfrom-another-bot"
    assert refused.error == "Bad Request: wrong file identifier/HTTP URL specified"
    assert upload.ok
    assert upload.file("video").sha256 == hashlib.sha256(b"the real video").hexdigest()
    await _wait_for_file_id(lesson.id, upload.result["video"]["file_id"])
    assert not [c for c in telegram.sent_messages(94) if "went wrong" in str(c.get("text"))]
    assert all(to_chat(94)(c) for c in telegram.calls_to("sendVideo"))
