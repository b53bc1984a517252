import pytest

from backend.tests.factories import create_course, create_lesson, create_purchase, create_user
from bot.tests.bot_api_double import user
from bot.tests.helpers import button_texts, buttons, press, send, settle

# Every test here feeds updates to the real bot, long polling the Bot API double.
pytestmark = pytest.mark.usefixtures("polling_bot")


async def _twelve_lessons(session):
    lessons = [await create_lesson(session, title=f"L{n:02}", price=100 + n) for n in range(1, 13)]
    return lessons


async def test_lessons_pages_edit_the_same_message(telegram, session):
    lessons = await _twelve_lessons(session)
    person = user(60)
    [menu] = await send(telegram, person, "/start")
    message_id = menu.result["message_id"]

    [page1] = await press(telegram, person, "m:lessons", message_id=message_id)
    [page2] = await press(telegram, person, "lp:1", message_id=message_id)
    [page3] = await press(telegram, person, "lp:2", message_id=message_id)
    [back] = await press(telegram, person, "lp:1", message_id=message_id)

    assert [call["message_id"] for call in (page1, page2, page3, back)] == [message_id] * 4
    assert telegram.calls_to("sendMessage") == [menu]
    assert page1["text"] == "📚 Lessons (page 1 of 3)"
    assert buttons(page1) == [
        *[(f"{lesson.title} · {lesson.price} ⭐", f"l:{lesson.id}:show") for lesson in lessons[:5]],
        ("Next ›", "lp:1"),
        ("« Menu", "m:main"),
    ]
    assert page1["reply_markup"]["inline_keyboard"][5] == [{"text": "Next ›", "callback_data": "lp:1"}]
    assert page2["text"] == "📚 Lessons (page 2 of 3)"
    assert button_texts(page2)[:5] == [f"L{n:02} · {100 + n} ⭐" for n in range(6, 11)]
    assert page2["reply_markup"]["inline_keyboard"][5] == [
        {"text": "‹ Back", "callback_data": "lp:0"},
        {"text": "Next ›", "callback_data": "lp:2"},
    ]
    assert page3["text"] == "📚 Lessons (page 3 of 3)"
    assert button_texts(page3) == ["L11 · 111 ⭐", "L12 · 112 ⭐", "‹ Back", "« Menu"]
    assert back["text"] == page2["text"]
    # What the user now sees is the last edit.
    assert telegram.messages[(60, message_id)]["text"] == "📚 Lessons (page 2 of 3)"


async def test_lessons_page_marks_free_and_owned_lessons(telegram, session):
    free = await create_lesson(session, title="Intro", is_free=True, price=0)
    bought = await create_lesson(session, title="Bought", price=50)
    in_course = await create_lesson(session, title="In course", price=60)
    paid = await create_lesson(session, title="Paid", price=70)
    await create_lesson(session, title="Hidden", is_active=False)
    course = await create_course(session, [in_course])
    buyer = await create_user(session, telegram_id=61)
    await create_purchase(session, buyer, bought)
    await create_purchase(session, buyer, course)
    person = user(61)
    await send(telegram, person, "/start")

    [page] = await press(telegram, person, "m:lessons")

    assert page["text"] == "📚 Lessons (page 1 of 1)"
    assert buttons(page) == [
        ("🆓 Intro", f"l:{free.id}:show"),
        ("✅ Bought", f"l:{bought.id}:show"),
        ("✅ In course", f"l:{in_course.id}:show"),
        ("Paid · 70 ⭐", f"l:{paid.id}:show"),
        ("« Menu", "m:main"),
    ]


async def test_lessons_page_past_the_end_shows_the_last_page(telegram, session):
    await _twelve_lessons(session)
    person = user(62)
    await send(telegram, person, "/start")

    [page] = await press(telegram, person, "lp:99")

    assert page["text"] == "📚 Lessons (page 3 of 3)"
    assert button_texts(page) == ["L11 · 111 ⭐", "L12 · 112 ⭐", "‹ Back", "« Menu"]


async def test_empty_catalog(telegram):
    person = user(63)
    await send(telegram, person, "/start")

    [lessons] = await press(telegram, person, "m:lessons")
    [courses] = await press(telegram, person, "m:courses")

    assert lessons["text"] == "There are no lessons yet."
    assert courses["text"] == "There are no courses yet."
    assert button_texts(courses) == ["« Menu"]


async def test_pressing_the_same_page_twice_is_not_an_error(telegram, session):
    await _twelve_lessons(session)
    person = user(64)
    await send(telegram, person, "/start")
    await press(telegram, person, "lp:1")

    # A double tap: Telegram answers "message is not modified" to the second edit.
    [answer] = await press(telegram, person, "lp:1", method="answerCallbackQuery")
    await settle()

    assert answer.ok
    assert [c.error for c in telegram.calls_to("editMessageText")][-1].startswith(
        "Bad Request: message is not modified"
    )
    assert not [c for c in telegram.calls_to("sendMessage") if "went wrong" in c["text"]]


async def test_button_whose_message_cannot_be_edited_gets_a_new_message(telegram, session):
    await create_lesson(session, title="Only")
    person = user(65)
    await send(telegram, person, "/start")
    telegram.fail("editMessageText", error_code=400, description="Bad Request: message can't be edited")

    [page] = await press(telegram, person, "m:lessons", method="sendMessage")

    assert page["text"] == "📚 Lessons (page 1 of 1)"
    assert button_texts(page)[0] == "Only · 100 ⭐"


async def test_lesson_card_from_the_catalog(telegram, session):
    lesson = await create_lesson(
        session, title="Knots", description="Six <useful> knots", price=120, video_path="knots.mp4"
    )
    person = user(66)
    await send(telegram, person, "/start")
    [page] = await press(telegram, person, "m:lessons")

    [card] = await press(telegram, person, f"l:{lesson.id}:show", message_id=page["message_id"])

    assert card["message_id"] == page["message_id"]
    assert card["text"] == ("<b>Knots</b>\n\nSix &lt;useful&gt; knots\n\n🎬 video, 📄 text\n\nPrice: 120 ⭐")
    assert buttons(card) == [
        ("Buy for 120 ⭐", f"l:{lesson.id}:buy"),
        ("🏷 I have a promo code", f"l:{lesson.id}:promo"),
        ("« All lessons", "m:lessons"),
    ]


async def test_free_lesson_card_has_an_open_button(telegram, session):
    lesson = await create_lesson(session, title="Intro", is_free=True, price=0)
    person = user(67)
    await send(telegram, person, "/start")

    [card] = await press(telegram, person, f"l:{lesson.id}:show")

    assert "🆓 Free" in card["text"]
    assert buttons(card) == [("▶️ Open", f"l:{lesson.id}:open"), ("« All lessons", "m:lessons")]


async def test_owned_lesson_card_has_an_open_button(telegram, session):
    lesson = await create_lesson(session, title="Mine", price=90)
    buyer = await create_user(session, telegram_id=68)
    await create_purchase(session, buyer, lesson)
    person = user(68)
    await send(telegram, person, "/start")

    [card] = await press(telegram, person, f"l:{lesson.id}:show")

    assert "✅ You have this lesson." in card["text"]
    assert "Buy" not in " ".join(button_texts(card))
    assert buttons(card)[0] == ("▶️ Open", f"l:{lesson.id}:open")


async def test_course_card_lists_lessons_and_the_saving(telegram, session):
    lessons = [await create_lesson(session, title=f"Step {n}", price=100) for n in (1, 2, 3)]
    course = await create_course(session, lessons, title="Sailing", description="From zero", total_price=250)
    person = user(69)
    await send(telegram, person, "/start")
    [page] = await press(telegram, person, "m:courses")

    [card] = await press(telegram, person, f"c:{course.id}:show")

    assert page["text"] == "🎓 Courses (page 1 of 1)"
    assert buttons(page) == [("Sailing · 250 ⭐", f"c:{course.id}:show"), ("« Menu", "m:main")]
    assert card["text"] == (
        "<b>Sailing</b>\n\nFrom zero\n\n3 lessons:\n1. Step 1\n2. Step 2\n3. Step 3\n\nPrice: 250 ⭐\n\n"
        "You save 50 ⭐ compared with buying the lessons separately (300 ⭐)."
    )
    assert buttons(card) == [
        ("Buy for 250 ⭐", f"c:{course.id}:buy"),
        ("🏷 I have a promo code", f"c:{course.id}:promo"),
        ("« All courses", "m:courses"),
    ]


async def test_discounted_course_shows_old_and_new_price(telegram, session):
    lessons = [await create_lesson(session, price=100) for _ in range(3)]
    course = await create_course(session, lessons, title="Deal", total_price=250, discount_price=180)
    person = user(70)
    await send(telegram, person, "/start")

    [page] = await press(telegram, person, "m:courses")
    [card] = await press(telegram, person, f"c:{course.id}:show")

    assert button_texts(page)[0] == "Deal · 180 ⭐"
    assert "Price: <s>250</s> 180 ⭐" in card["text"]
    assert "You save 120 ⭐ compared with buying the lessons separately (300 ⭐)." in card["text"]
    assert card.result["entities"] == [
        {"type": "bold", "offset": 0, "length": 4},
        {"type": "strikethrough", "offset": card.result["text"].index("250"), "length": 3},
    ]
    assert buttons(card)[0] == ("Buy for 180 ⭐", f"c:{course.id}:buy")


async def test_course_card_leaves_out_inactive_lessons_from_list_and_saving(telegram, session):
    active = [await create_lesson(session, title=f"On {n}", price=100) for n in (1, 2)]
    retired = await create_lesson(session, title="Retired", price=500, is_active=False)
    course = await create_course(session, [active[0], retired, active[1]], total_price=150)
    person = user(71)
    await send(telegram, person, "/start")

    [card] = await press(telegram, person, f"c:{course.id}:show")

    assert "2 lessons:\n1. On 1\n2. On 2" in card["text"]
    assert "Retired" not in card["text"]
    # Only what can still be bought one by one counts: 2 × 100, not 700.
    assert "You save 50 ⭐ compared with buying the lessons separately (200 ⭐)." in card["text"]


async def test_owned_course_shows_open_buttons(telegram, session):
    lessons = [await create_lesson(session, title=f"Step {n}") for n in (1, 2)]
    retired = await create_lesson(session, title="Old step", is_active=False)
    course = await create_course(session, [*lessons, retired], title="Mine")
    buyer = await create_user(session, telegram_id=72)
    await create_purchase(session, buyer, course)
    person = user(72)
    await send(telegram, person, "/start")

    [card] = await press(telegram, person, f"c:{course.id}:show")

    assert "✅ You have this course: open its lessons below." in card["text"]
    assert "Price" not in card["text"]
    assert buttons(card) == [
        ("Step 1", f"l:{lessons[0].id}:open"),
        ("Step 2", f"l:{lessons[1].id}:open"),
        ("Old step", f"l:{retired.id}:open"),
        ("« All courses", "m:courses"),
    ]


async def test_catalog_in_russian(telegram, session):
    lesson = await create_lesson(session, title="Узлы", price=100)
    person = user(73, language_code="ru")
    await send(telegram, person, "/start")

    [page] = await press(telegram, person, "m:lessons")
    [card] = await press(telegram, person, f"l:{lesson.id}:show")

    assert page["text"] == "📚 Уроки (страница 1 из 1)"
    assert "Цена: 100 ⭐" in card["text"]
    assert button_texts(card) == ["Купить за 100 ⭐", "🏷 У меня есть промокод", "« Все уроки"]


async def test_unknown_item_from_a_crafted_button(telegram):
    person = user(74)
    await send(telegram, person, "/start")

    [lesson_card] = await press(telegram, person, "l:987654:show")
    [course_card] = await press(telegram, person, "c:987654:show")

    assert lesson_card["text"] == "This lesson or course is not available."
    assert course_card["text"] == "This lesson or course is not available."


async def test_cards_of_long_descriptions_and_courses_fit_in_one_message(telegram, session):
    lesson = await create_lesson(session, title="Long", description="Very long. " * 900)
    lessons = [await create_lesson(session, title=f"{n:02} " + "t" * 150) for n in range(40)]
    course = await create_course(session, lessons, title="Big", description="Huge. " * 1600)
    person = user(75)
    await send(telegram, person, "/start")

    [lesson_card] = await press(telegram, person, f"l:{lesson.id}:show")
    [course_card] = await press(telegram, person, f"c:{course.id}:show")

    for card in (lesson_card, course_card):
        assert card.ok, card.error
        assert len(card.result["text"]) <= 4096
    assert "Very long. Very long." in lesson_card["text"]
    assert "Very long…\n\n📄 text\n\nPrice: 100 ⭐" in lesson_card["text"]
    assert "40 lessons:\n1. 00 ttt" in course_card["text"]
    assert "\n…\n\nPrice: 500 ⭐" in course_card["text"]
