"""The job support.notify_admins: the admins who asked for it hear of a student's support message in
Telegram (against the Bot API double), once."""

import asyncio

import pytest
from sqlalchemy import func, select

from backend.tests.factories import create_support_message, create_ticket, create_user
from bot.app import create_dispatcher
from bot.tests.bot_api_double import user
from bot.tests.conftest import bot, bot_settings, telegram  # noqa: F401 (fixtures)
from bot.tests.helpers import buttons, send
from shared.constants import AdminLanguage, AdminRole, SupportMessageAuthor
from shared.models import Admin, SupportMessage, SupportNotification
from worker import engine
from worker.registry import JOBS
from worker.tasks.support_notifications import notify_admins

PANEL = "https://shop.example.com"


@pytest.fixture
def settings(bot_settings):  # noqa: F811 (the imported fixture)
    return bot_settings.model_copy(update={"PANEL_BASE_URL": PANEL})


async def add_admin(session, username: str, role: AdminRole = AdminRole.SUPPORT, **fields) -> Admin:
    values = {"telegram_id": None, "notify_support": False, "is_active": True} | fields
    admin = Admin(username=username, password_hash="x", role=role, **values)
    session.add(admin)
    await session.commit()
    return admin


async def student_message(session, text: str = "The video does not play") -> SupportMessage:
    student = await create_user(session, first_name="Ann", last_name="Lee")
    ticket = await create_ticket(session, student, subject="Video", message=text)
    await session.commit()
    return ticket.messages[0]


def to(telegram_id: int, telegram) -> list:  # noqa: F811
    return [call for call in telegram.calls_to("sendMessage") if call["chat_id"] == telegram_id]


def test_the_job_is_registered():
    assert JOBS["support.notify_admins"].function is notify_admins
    assert JOBS["support.notify_admins"].every is None


async def test_only_the_admins_who_asked_for_it_are_notified(telegram, bot, settings, session):  # noqa: F811
    await add_admin(session, "sue", telegram_id=9001, notify_support=True)
    await add_admin(session, "max", AdminRole.MANAGER, telegram_id=9002, notify_support=True)
    await add_admin(session, "quiet", telegram_id=9003, notify_support=False)
    await add_admin(session, "gone", telegram_id=9004, notify_support=True, is_active=False)
    await add_admin(session, "nolink", notify_support=False)
    message = await student_message(session)

    told = await notify_admins(message.id, bot, settings)

    assert told == 2
    assert sorted(call["chat_id"] for call in telegram.calls_to("sendMessage")) == [9001, 9002]
    [call] = to(9001, telegram)
    assert call["text"] == (
        f"💬 <b>Ann Lee</b> wrote in ticket #{message.ticket_id} “Video”:\nThe video does not play"
    )
    [(text, _)] = buttons(call)
    assert text == "Open in the panel"
    assert (
        call["reply_markup"]["inline_keyboard"][0][0]["url"] == f"{PANEL}/admin/support/{message.ticket_id}"
    )


async def test_the_owner_is_notified_too(telegram, bot, settings, session):  # noqa: F811
    await add_admin(session, "olga", AdminRole.OWNER, telegram_id=9010, notify_support=True)
    message = await student_message(session)

    assert await notify_admins(message.id, bot, settings) == 1
    assert len(to(9010, telegram)) == 1


async def test_an_admin_is_never_notified_twice(telegram, bot, settings, session):  # noqa: F811
    admin = await add_admin(session, "sue", telegram_id=9001, notify_support=True)
    message = await student_message(session)

    first = await notify_admins(message.id, bot, settings)
    again = await notify_admins(message.id, bot, settings)

    assert (first, again) == (1, 0)
    assert len(to(9001, telegram)) == 1
    claimed = select(func.count()).select_from(SupportNotification)
    assert await session.scalar(claimed.where(SupportNotification.admin_id == admin.id)) == 1


async def test_each_message_is_notified(telegram, bot, settings, session):  # noqa: F811
    await add_admin(session, "sue", telegram_id=9001, notify_support=True)
    first = await student_message(session)
    second = await create_support_message(
        session, first.ticket, author=SupportMessageAuthor.STUDENT, text="Still broken"
    )
    await session.commit()

    await notify_admins(first.id, bot, settings)
    await notify_admins(second.id, bot, settings)

    assert [call["text"].splitlines()[-1] for call in to(9001, telegram)] == [
        "The video does not play",
        "Still broken",
    ]


async def test_an_admin_who_blocked_the_bot_does_not_stop_the_others(telegram, bot, settings, session):  # noqa: F811
    await add_admin(session, "sue", telegram_id=9001, notify_support=True)
    await add_admin(session, "max", AdminRole.MANAGER, telegram_id=9002, notify_support=True)
    telegram.block(9001)
    message = await student_message(session)

    told = await notify_admins(message.id, bot, settings)

    assert told == 1
    assert [call.ok for call in to(9001, telegram)] == [False]
    assert [call.ok for call in to(9002, telegram)] == [True]
    # Not tried again: the blocked admin's notification is spent like the others.
    assert await notify_admins(message.id, bot, settings) == 0
    assert len(to(9001, telegram)) == 1


async def test_no_button_without_the_panels_address(telegram, bot, bot_settings, session):  # noqa: F811
    await add_admin(session, "sue", telegram_id=9001, notify_support=True)
    message = await student_message(session)

    await notify_admins(message.id, bot, bot_settings)

    [call] = to(9001, telegram)
    assert call.get("reply_markup") is None


async def test_notification_in_the_admins_language_with_a_long_message_cut(telegram, bot, settings, session):  # noqa: F811
    await add_admin(session, "sue", telegram_id=9001, notify_support=True, language=AdminLanguage.RU)
    message = await student_message(session, "word " * 100)

    await notify_admins(message.id, bot, settings)

    [call] = to(9001, telegram)
    first_line, excerpt = call["text"].split("\n", 1)
    assert first_line == f"💬 <b>Ann Lee</b> написал(а) в обращении №{message.ticket_id} «Video»:"
    assert len(excerpt) == 200
    assert excerpt.endswith("…")
    assert buttons(call)[0][0] == "Открыть в панели"


async def test_a_message_with_only_a_photo(telegram, bot, settings, session):  # noqa: F811
    await add_admin(session, "sue", telegram_id=9001, notify_support=True)
    first = await student_message(session)
    photo = await create_support_message(
        session,
        first.ticket,
        author=SupportMessageAuthor.STUDENT,
        text="",
        attachments=[{"kind": "photo", "file_id": "AgAD-photo"}],
    )
    await session.commit()

    await notify_admins(photo.id, bot, settings)

    [call] = to(9001, telegram)
    assert call["text"].endswith(":\n(a photo or a file)")


async def test_admin_messages_and_unknown_ones_notify_nobody(telegram, bot, settings, session):  # noqa: F811
    await add_admin(session, "sue", telegram_id=9001, notify_support=True)
    first = await student_message(session)
    answer = await create_support_message(session, first.ticket, author=SupportMessageAuthor.ADMIN, text="Hi")
    await session.commit()

    assert await notify_admins(answer.id, bot, settings) == 0
    assert await notify_admins(answer.id + 1000, bot, settings) == 0
    assert telegram.calls_to("sendMessage") == []


async def test_a_students_message_in_the_bot_notifies_the_admins(telegram, bot, bot_settings, session):  # noqa: F811
    """End to end: the bot enqueues the job on the embedded engine, which tells the admin."""
    await add_admin(session, "sue", telegram_id=9001, notify_support=True)
    dispatcher = create_dispatcher(bot_settings)
    async with engine.running(bot_settings, bot=bot, host=False) as job_engine:
        dispatcher["jobs"] = job_engine.jobs
        polling = asyncio.create_task(
            dispatcher.start_polling(
                bot,
                polling_timeout=1,
                handle_signals=False,
                close_bot_session=False,
                allowed_updates=dispatcher.resolve_used_update_types(),
            )
        )
        try:
            await send(telegram, user(501, "Ann"), "/support")
            await send(telegram, user(501, "Ann"), "The video does not play")

            [told] = await telegram.wait_for("sendMessage", lambda call: call["chat_id"] == 9001)
        finally:
            await dispatcher.stop_polling()
            await asyncio.wait_for(polling, timeout=10)

    assert told["text"].startswith("💬 <b>Ann</b> wrote in ticket #")
    assert told["text"].endswith("“The video does not play”:\nThe video does not play")
