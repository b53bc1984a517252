"""Grants reach the student through the delivery job (once, with the gift's own words); revoked grants are
not delivered; a student who blocked the bot is marked so, and unmarked when they write to it again."""

from aiogram import Bot
from aiogram.types import Update
from sqlalchemy import select

from backend.services import purchase_service, support_ticket_service
from backend.tests.factories import create_course, create_lesson, create_ticket, create_user
from bot.gateway import BotGateway
from bot.tests.bot_api_double import BotAPIDouble
from bot.tests.helpers import run_jobs
from bot.tests.test_payments import BUYER, purchases
from shared.constants import PurchaseStatus
from shared.database import session_scope
from shared.models import Admin, User
from shared.schemas import GrantCreate


async def _grant(session, user: User, **item: int) -> int:
    admin_id = await session.scalar(select(Admin.id).limit(1))
    purchase = await purchase_service.grant(
        session, user_id=user.id, data=GrantCreate(**item), admin_id=admin_id
    )
    await session.commit()
    return purchase.id


async def _user(telegram_id: int) -> User:
    async with session_scope() as session:
        user = await session.scalar(select(User).where(User.telegram_id == telegram_id))
        assert user is not None
        return user


async def test_granted_lesson_is_delivered_once_by_the_job(
    telegram: BotAPIDouble, bot: Bot, bot_settings, session
):
    student = await create_user(session, telegram_id=BUYER["id"], language_code="en")
    lesson = await create_lesson(session, title="Gift lesson", text_content="The gift body")
    await _grant(session, student, lesson_id=lesson.id)

    await run_jobs(bot, bot_settings, reconcile=False)
    await run_jobs(bot, bot_settings, reconcile=False)

    sent = [c for c in telegram.sent_messages(BUYER["id"]) if "The gift body" in str(c.get("text"))]
    assert len(sent) == 1
    assert "You have been given this lesson for free" in sent[0]["text"]
    [purchase] = await purchases()
    assert purchase.delivered_at is not None
    # Nothing was charged or refunded for it.
    assert telegram.calls_to("refundStarPayment") == []


async def test_granted_course_is_announced_in_russian(
    telegram: BotAPIDouble, bot: Bot, bot_settings, session
):
    student = await create_user(session, telegram_id=BUYER["id"], language_code="ru")
    lesson = await create_lesson(session)
    course = await create_course(session, [lesson], title="Узлы")
    await _grant(session, student, course_id=course.id)

    await run_jobs(bot, bot_settings, reconcile=False)

    [message] = telegram.sent_messages(BUYER["id"])
    assert "Вам бесплатно открыт курс «Узлы»" in message["text"]


async def test_revoked_grant_is_not_delivered(telegram: BotAPIDouble, bot: Bot, bot_settings, session):
    student = await create_user(session, telegram_id=BUYER["id"])
    lesson = await create_lesson(session, text_content="Never sent")
    purchase_id = await _grant(session, student, lesson_id=lesson.id)
    await purchase_service.revoke(session, await purchase_service.get(session, purchase_id))
    await session.commit()

    await run_jobs(bot, bot_settings, reconcile=False)

    assert telegram.sent_messages(BUYER["id"]) == []
    [purchase] = await purchases()
    assert purchase.status is PurchaseStatus.REVOKED


async def test_blocked_student_is_marked_then_unmarked_when_writing_again(
    telegram: BotAPIDouble, bot: Bot, dispatcher, bot_settings, session
):
    student = await create_user(session, telegram_id=BUYER["id"], first_name=BUYER["first_name"])
    lesson = await create_lesson(session)
    await _grant(session, student, lesson_id=lesson.id)
    telegram.block(BUYER["id"])

    await run_jobs(bot, bot_settings, reconcile=False)

    assert (await _user(BUYER["id"])).bot_blocked_at is not None
    [purchase] = await purchases()
    assert purchase.delivered_at is not None  # given up, not retried forever

    telegram.unblock(BUYER["id"])
    raw = telegram.message_update(BUYER, "/start")
    await dispatcher.feed_update(bot, Update.model_validate({**raw, "update_id": 1}, context={"bot": bot}))

    assert (await _user(BUYER["id"])).bot_blocked_at is None


async def test_ticket_answer_to_a_blocked_student_marks_them(telegram: BotAPIDouble, bot: Bot, session):
    author = await create_user(session, telegram_id=BUYER["id"])
    await create_ticket(session, author, admin_response="Here is your answer")
    telegram.block(BUYER["id"])

    [answer] = await support_ticket_service.messages_to_deliver(session)
    delivered = await support_ticket_service.deliver(session, answer, telegram=BotGateway(bot))
    await session.commit()

    assert not delivered
    assert (await _user(BUYER["id"])).bot_blocked_at is not None
