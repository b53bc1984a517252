import pytest
from sqlalchemy import func, select

from backend.tests.factories import create_course, create_lesson, create_purchase, create_user
from bot.tests.bot_api_double import user
from bot.tests.helpers import button_texts, buttons, db_scalar, press, send
from shared.models import SupportTicket, User

# Every test here feeds updates to the real bot, long polling the Bot API double.
pytestmark = pytest.mark.usefixtures("polling_bot")


async def test_start_registers_user_and_shows_menu(telegram, session):
    telegram.push_update(
        telegram.message_update(user(42, "Ann", language_code="en", username="ann"), "/start")
    )

    calls = await telegram.wait_for("sendMessage", lambda c: str(c["chat_id"]) == "42")

    assert "Hi, Ann!" in calls[0]["text"]
    assert "📚 Lessons" in button_texts(calls[0])
    stored = await session.scalar(select(User).where(User.telegram_id == 42))
    assert stored is not None
    assert (stored.username, stored.first_name) == ("ann", "Ann")


async def test_start_registers_user_with_all_profile_fields(telegram):
    person = user(43, "Ann", language_code="ru", username="ann_k", last_name="Karenina")

    [reply] = await send(telegram, person, "/start")

    assert "Привет, Ann!" in reply["text"]
    assert set(button_texts(reply)) == {"📚 Уроки", "🎓 Курсы", "📂 Мои уроки", "💬 Поддержка", "❓ Помощь"}
    stored = await db_scalar(select(User).where(User.telegram_id == 43))
    assert (stored.first_name, stored.last_name, stored.username, stored.language_code) == (
        "Ann",
        "Karenina",
        "ann_k",
        "ru",
    )
    assert await db_scalar(select(func.count()).select_from(User)) == 1


async def test_start_refreshes_profile_and_language_on_later_contact(telegram):
    await send(telegram, user(44, "Ann", language_code="en", username="ann"), "/start")

    [reply] = await send(
        telegram, user(44, "Anna", language_code="ru", username="anna_new", last_name="K"), "/start"
    )

    assert "Привет, Anna!" in reply["text"]
    stored = await db_scalar(select(User).where(User.telegram_id == 44))
    assert (stored.first_name, stored.last_name, stored.username, stored.language_code) == (
        "Anna",
        "K",
        "anna_new",
        "ru",
    )
    assert await db_scalar(select(func.count()).select_from(User)) == 1


async def test_start_keeps_stored_language_when_telegram_sends_none(telegram):
    await send(telegram, user(45, "Ann", language_code="ru"), "/start")

    await send(telegram, user(45, "Ann", language_code=None, username="ann"), "/start")

    stored = await db_scalar(select(User).where(User.telegram_id == 45))
    assert (stored.language_code, stored.username) == ("ru", "ann")


async def test_start_escapes_html_in_the_users_name(telegram):
    [reply] = await send(telegram, user(46, "<b>Bob</b> & Co"), "/start")

    assert "Hi, &lt;b&gt;Bob&lt;/b&gt; &amp; Co!" in reply["text"]
    assert "Hi, <b>Bob</b> & Co!" in reply.result["text"]


async def test_start_with_unknown_argument_shows_the_menu(telegram):
    [reply] = await send(telegram, user(47), "/start somewhere_else")

    assert "Hi, Test!" in reply["text"]
    assert "📚 Lessons" in button_texts(reply)


async def test_start_deep_link_opens_lesson_card(telegram, session):
    lesson = await create_lesson(session, title="Knots", description="Tie a bowline", price=150)

    [card] = await send(telegram, user(48), f"/start lesson_{lesson.id}")

    assert "<b>Knots</b>" in card["text"]
    assert "Tie a bowline" in card["text"]
    assert "Price: 150 ⭐" in card["text"]
    assert buttons(card)[:2] == [
        ("Buy for 150 ⭐", f"l:{lesson.id}:buy"),
        ("🏷 I have a promo code", f"l:{lesson.id}:promo"),
    ]


async def test_start_deep_link_opens_course_card(telegram, session):
    first = await create_lesson(session, title="Part one", price=100)
    second = await create_lesson(session, title="Part two", price=100)
    course = await create_course(session, [first, second], title="Sailing", total_price=150)

    [card] = await send(telegram, user(49), f"/start course_{course.id}")

    assert "<b>Sailing</b>" in card["text"]
    assert "1. Part one\n2. Part two" in card["text"]
    assert buttons(card)[0] == ("Buy for 150 ⭐", f"c:{course.id}:buy")


async def test_start_deep_link_to_unknown_items_says_not_available(telegram):
    person = user(50)

    [lesson_reply] = await send(telegram, person, "/start lesson_987654")
    [course_reply] = await send(telegram, person, "/start course_987654")

    for reply in (lesson_reply, course_reply):
        assert reply["text"] == "This lesson or course is not available."
        assert buttons(reply) == [("« Menu", "m:main")]


async def test_start_deep_link_to_inactive_items_says_not_available(telegram, session):
    lesson = await create_lesson(session, is_active=False)
    course = await create_course(session, [], is_active=False)
    person = user(51)

    [lesson_reply] = await send(telegram, person, f"/start lesson_{lesson.id}")
    [course_reply] = await send(telegram, person, f"/start course_{course.id}")

    assert lesson_reply["text"] == "This lesson or course is not available."
    assert course_reply["text"] == "This lesson or course is not available."


async def test_start_deep_link_to_inactive_lesson_still_opens_for_its_buyer(telegram, session):
    lesson = await create_lesson(session, title="Retired", is_active=False)
    buyer = await create_user(session, telegram_id=52)
    await create_purchase(session, buyer, lesson)

    [card] = await send(telegram, user(52), f"/start lesson_{lesson.id}")

    assert "<b>Retired</b>" in card["text"]
    assert "✅ You have this lesson." in card["text"]
    assert buttons(card)[0] == ("▶️ Open", f"l:{lesson.id}:open")


async def test_help_terms_and_privacy(telegram):
    person = user(53)

    [help_reply] = await send(telegram, person, "/help")
    [terms_reply] = await send(telegram, person, "/terms")
    [privacy_reply] = await send(telegram, person, "/privacy")

    assert help_reply["text"].startswith("<b>How it works</b>")
    assert "/paysupport" in help_reply["text"]
    assert buttons(help_reply) == [("« Menu", "m:main")]
    assert terms_reply["text"].startswith("<b>Terms of sale</b>")
    assert privacy_reply["text"].startswith("<b>Privacy</b>")


async def test_help_in_russian(telegram):
    [reply] = await send(telegram, user(54, language_code="ru"), "/help")

    assert reply["text"].startswith("<b>Как это работает</b>")


async def test_menu_buttons_edit_the_message_in_place(telegram):
    person = user(55)
    [menu] = await send(telegram, person, "/start")
    message_id = menu.result["message_id"]

    [help_screen] = await press(telegram, person, "m:help", message_id=message_id)
    [back] = await press(telegram, person, "m:main", message_id=message_id)

    assert help_screen["message_id"] == message_id
    assert help_screen["text"].startswith("<b>How it works</b>")
    assert back["message_id"] == message_id
    assert "Hi, Test!" in back["text"]


async def test_start_cancels_a_pending_support_request(telegram):
    person = user(56)
    await send(telegram, person, "/support")
    await send(telegram, person, "/start")

    [reply] = await send(telegram, person, "never mind")

    assert "I did not understand that" in reply["text"]
    assert await db_scalar(select(func.count()).select_from(SupportTicket)) == 0
