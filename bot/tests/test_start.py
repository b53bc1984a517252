from sqlalchemy import select

from bot.tests.bot_api_double import user
from shared.models import User


async def test_start_registers_user_and_shows_menu(telegram, polling_bot, session):
    telegram.push_update(
        telegram.message_update(user(42, "Ann", language_code="en", username="ann"), "/start")
    )

    calls = await telegram.wait_for("sendMessage", lambda c: str(c["chat_id"]) == "42")

    assert "Hi, Ann!" in calls[0]["text"]
    buttons = [b["text"] for row in calls[0]["reply_markup"]["inline_keyboard"] for b in row]
    assert "📚 Lessons" in buttons
    stored = await session.scalar(select(User).where(User.telegram_id == 42))
    assert stored is not None
    assert (stored.username, stored.first_name) == ("ann", "Ann")
