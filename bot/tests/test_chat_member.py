"""my_chat_member updates: a student who blocks the bot is marked so, and unmarked when they unblock it."""

import asyncio
import time
from itertools import count

import pytest
from sqlalchemy import select

from backend.tests.factories import create_user
from bot.tests.bot_api_double import BotAPIDouble, user
from bot.tests.helpers import db_scalar, send, settle
from shared.models import User
from shared.utils import utcnow

pytestmark = pytest.mark.usefixtures("polling_bot")
_dates = count(int(time.time()))


def member(telegram: BotAPIDouble, status: str) -> dict:
    """The bot as a ChatMember of this status (a kicked one carries until_date, 0: for ever)."""
    result = {"user": telegram.bot_user, "status": status}
    return result | {"until_date": 0} if status == "kicked" else result


def my_chat_member(
    telegram: BotAPIDouble, person: dict, old: str, new: str, chat: dict | None = None
) -> dict:
    """The update Telegram sends when the bot's status in a chat changes (kicked: the user blocked it)."""
    return {
        "my_chat_member": {
            "chat": chat or {"id": person["id"], "type": "private", "first_name": person["first_name"]},
            "from": person,
            "date": next(_dates),
            "old_chat_member": member(telegram, old),
            "new_chat_member": member(telegram, new),
        }
    }


async def blocked_at(telegram_id: int):
    return await db_scalar(select(User.bot_blocked_at).where(User.telegram_id == telegram_id))


async def wait_for_blocked(telegram_id: int, blocked: bool, timeout: float = 5) -> None:  # noqa: ASYNC109
    """Wait until the bot has handled the update (it sends nothing to wait for)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while (await blocked_at(telegram_id) is not None) is not blocked:
        assert asyncio.get_running_loop().time() < deadline, f"bot_blocked_at never became {blocked}"
        await asyncio.sleep(0.05)


async def test_blocking_the_bot_marks_the_student(telegram):
    person = user(401, "Ann")
    await send(telegram, person, "/start")

    telegram.push_update(my_chat_member(telegram, person, "member", "kicked"))

    await wait_for_blocked(401, True)


async def test_unblocking_the_bot_clears_the_mark(telegram, session):
    await create_user(session, telegram_id=402, bot_blocked_at=utcnow())
    await session.commit()
    person = user(402, "Ann")

    telegram.push_update(my_chat_member(telegram, person, "kicked", "member"))

    await wait_for_blocked(402, False)


async def test_a_student_unknown_until_they_block_the_bot_is_registered_blocked(telegram):
    telegram.push_update(my_chat_member(telegram, user(403, "Bob"), "member", "kicked"))

    await wait_for_blocked(403, True)
    assert await db_scalar(select(User.first_name).where(User.telegram_id == 403)) == "Bob"


async def test_block_unblock_block_again(telegram):
    person = user(404)
    telegram.push_update(my_chat_member(telegram, person, "member", "kicked"))
    await wait_for_blocked(404, True)

    telegram.push_update(my_chat_member(telegram, person, "kicked", "member"))
    await wait_for_blocked(404, False)

    telegram.push_update(my_chat_member(telegram, person, "member", "kicked"))
    await wait_for_blocked(404, True)


async def test_the_bot_removed_from_a_group_marks_nobody(telegram):
    person = user(405, "Ann")
    await send(telegram, person, "/start")
    group = {"id": -4242, "type": "group", "title": "Study group"}

    telegram.push_update(my_chat_member(telegram, person, "member", "left", chat=group))
    telegram.push_update(my_chat_member(telegram, person, "member", "kicked", chat=group))
    # Then something the bot answers, so that both updates were handled before the check.
    await send(telegram, person, "/help")
    await settle(0.1)

    assert await blocked_at(405) is None
    assert telegram.calls_to("sendMessage")[-1]["chat_id"] == 405


async def test_what_a_blocking_student_does_in_a_group_keeps_the_mark(telegram, session):
    await create_user(session, telegram_id=406, first_name="Ann", bot_blocked_at=utcnow())
    await session.commit()
    person = user(406, "Annie")
    group = {"id": -4243, "type": "group", "title": "Study group"}

    telegram.push_update(my_chat_member(telegram, person, "member", "left", chat=group))

    # Handled: the profile was refreshed (in the same write that would have cleared the mark).
    async with asyncio.timeout(5):
        while await db_scalar(select(User.first_name).where(User.telegram_id == 406)) != "Annie":  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    assert await blocked_at(406) is not None
    # What they do in their private chat with the bot means they unblocked it.
    await send(telegram, person, "/help")
    assert await blocked_at(406) is None


async def test_my_chat_member_is_asked_for(telegram):
    [call] = await telegram.wait_for("getUpdates")
    assert "my_chat_member" in (call.get("allowed_updates") or [])
