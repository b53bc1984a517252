"""/start admin-<token>: an admin links their Telegram account from the panel's one-time deep link."""

import pytest
from sqlalchemy import select

from backend.services import admin_telegram_service
from backend.tests.factories import create_lesson
from bot.tests.bot_api_double import user
from bot.tests.helpers import button_texts, db_scalar, db_scalars, send
from shared import database
from shared.constants import AdminRole
from shared.models import Admin, AuditLog

pytestmark = pytest.mark.usefixtures("polling_bot")


async def new_token(username: str = "ann") -> str:
    """A stored admin and a link token of theirs, committed for the bot to find."""
    async with database.session_scope() as session:
        admin = await session.scalar(select(Admin).where(Admin.username == username))
        if admin is None:
            admin = Admin(username=username, password_hash="x", role=AdminRole.SUPPORT)
            session.add(admin)
            await session.flush()
        return (await admin_telegram_service.create_link_token(session, admin)).token


async def test_start_with_an_admin_token_links_the_account(telegram):
    token = await new_token("ann")

    [reply] = await send(telegram, user(301, "Ann"), f"/start admin-{token}")

    assert reply["text"] == (
        "Done: this Telegram account is now linked to the admin <b>ann</b>. To hear about new support "
        "messages here, turn the notifications on in the panel's account page."
    )
    admin = await db_scalar(select(Admin).where(Admin.username == "ann"))
    assert admin.telegram_id == 301
    assert admin.telegram_link_token_hash is None
    audited = select(AuditLog.changes).where(AuditLog.entity == "admins", AuditLog.admin_id == admin.id)
    assert {"telegram_id": [None, 301]} in await db_scalars(audited)


async def test_start_with_an_admin_token_in_russian(telegram):
    token = await new_token("ann")

    [reply] = await send(telegram, user(302, language_code="ru"), f"/start admin-{token}")

    assert reply["text"].startswith("Готово: этот аккаунт Telegram привязан к администратору <b>ann</b>.")


async def test_start_with_a_used_admin_token(telegram):
    token = await new_token("ann")
    await send(telegram, user(303), f"/start admin-{token}")

    [reply] = await send(telegram, user(304), f"/start admin-{token}")

    assert reply["text"] == (
        "This link is unknown, already used or expired. Create a new one on your account page in the panel."
    )
    admin = await db_scalar(select(Admin).where(Admin.username == "ann"))
    assert admin.telegram_id == 303


async def test_start_with_an_unknown_admin_token(telegram):
    await new_token("ann")

    [reply] = await send(telegram, user(305), "/start admin-" + "A" * 32)

    assert "unknown, already used or expired" in reply["text"]
    assert await db_scalar(select(Admin.telegram_id).where(Admin.username == "ann")) is None


async def test_start_with_a_malformed_admin_argument_shows_the_menu(telegram):
    [reply] = await send(telegram, user(306, "Ann"), "/start admin-short")

    assert "Hi, Ann!" in reply["text"]
    assert "📚 Lessons" in button_texts(reply)


async def test_start_with_a_lesson_link_still_opens_the_lesson_card(telegram, session):
    lesson = await create_lesson(session, title="Knots")
    await session.commit()

    [reply] = await send(telegram, user(307), f"/start lesson_{lesson.id}")

    assert "Knots" in reply["text"]
