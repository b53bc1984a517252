"""A broadcast's buttons in the bot: a lesson's or course's button opens its card, as in the catalog."""

import pytest

from backend.services import broadcast_service
from backend.tests.factories import create_course, create_lesson, create_user
from bot.tests.bot_api_double import user
from bot.tests.helpers import button_texts, callback_of, press
from shared import database
from shared.schemas import BroadcastCreate
from worker.rate_limit import LocalRateLimiter
from worker.tasks import broadcasts


async def send_broadcast(bot, settings, buttons: list[dict]) -> None:
    async with database.session_scope() as session:
        broadcast = await broadcast_service.create(
            session,
            BroadcastCreate.model_validate({"text": "New!", "audience": {"kind": "all"}, "buttons": buttons}),
            admin_id=None,
        )
        await broadcast_service.start(session, broadcast)
    while await broadcasts.run_sender(broadcast.id, bot=bot, settings=settings, limiter=LocalRateLimiter(30)):
        pass


@pytest.mark.usefixtures("polling_bot")
async def test_broadcast_buttons_open_the_cards(telegram, bot, bot_settings, session):
    person = user(300, "Ann")
    await create_user(session, telegram_id=300, first_name="Ann")
    lesson = await create_lesson(session, title="Knots", price=50)
    course = await create_course(session, [lesson], title="Sailing")
    await send_broadcast(
        bot,
        bot_settings,
        [
            {"text": "See the lesson", "lesson_id": lesson.id},
            {"text": "See the course", "course_id": course.id},
        ],
    )
    [message] = telegram.calls_to("sendMessage")

    [card] = await press(
        telegram, person, callback_of(message, "See the lesson"), message_id=message.result["message_id"]
    )

    assert "Knots" in card["text"]
    assert any("50" in text for text in button_texts(card))
    [card] = await press(
        telegram, person, callback_of(message, "See the course"), message_id=message.result["message_id"]
    )
    assert "Sailing" in card["text"]
