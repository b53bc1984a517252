"""Factory helpers: rows written straight through the ORM, with sensible defaults."""

import itertools
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from backend.services import stats_service
from shared.constants import PurchaseStatus, SupportMessageAuthor, TicketStatus
from shared.models import (
    Course,
    CourseLesson,
    Lesson,
    PromoCode,
    Purchase,
    SupportMessage,
    SupportTicket,
    User,
)

_sequence = itertools.count(1)


async def _save(session: AsyncSession, row: Any) -> Any:
    session.add(row)
    await session.commit()
    return row


async def create_user(session: AsyncSession, **fields: Any) -> User:
    n = next(_sequence)
    values: dict[str, Any] = {"telegram_id": 1_000_000 + n, "first_name": f"User{n}", "username": f"user{n}"}
    return await _save(session, User(**(values | fields)))


async def create_lesson(session: AsyncSession, **fields: Any) -> Lesson:
    n = next(_sequence)
    values: dict[str, Any] = {
        "title": f"Lesson {n}",
        "description": "About it",
        "price": 100,
        "text_content": "Body",
    }
    return await _save(session, Lesson(**(values | fields)))


async def create_course(session: AsyncSession, lessons: list[Lesson] = (), **fields: Any) -> Course:  # type: ignore[assignment]
    n = next(_sequence)
    values: dict[str, Any] = {"title": f"Course {n}", "description": "A course", "total_price": 500}
    course = Course(**(values | fields))
    course.course_lessons = [CourseLesson(lesson=lesson, position=i) for i, lesson in enumerate(lessons)]
    return await _save(session, course)


async def create_promo_code(session: AsyncSession, **fields: Any) -> PromoCode:
    n = next(_sequence)
    values: dict[str, Any] = {"code": f"CODE{n}", "discount_percent": 10}
    return await _save(session, PromoCode(**(values | fields)))


async def create_purchase(
    session: AsyncSession,
    user: User,
    item: Lesson | Course,
    status: PurchaseStatus = PurchaseStatus.COMPLETED,
    **fields: Any,
) -> Purchase:
    n = next(_sequence)
    values: dict[str, Any] = {
        "user_id": user.id,
        "lesson_id": item.id if isinstance(item, Lesson) else None,
        "course_id": item.id if isinstance(item, Course) else None,
        "payment_id": f"test-payment-{n}",
        "amount": 100,
        "status": status,
    }
    purchase = Purchase(**(values | fields))
    session.add(purchase)
    await session.flush()
    # Through the same rollup path as the services, so that the dashboard's figures match the purchases.
    await stats_service.count_change(session, purchase, before=None)
    await session.commit()
    return purchase


async def create_ticket(
    session: AsyncSession,
    user: User,
    *,
    admin_response: str | None = None,
    response_sent_at: datetime | None = None,
    response_undeliverable_at: datetime | None = None,
    **fields: Any,
) -> SupportTicket:
    """A ticket with its opening message and, given admin_response, an admin's answer (delivered or refused
    as the response_* times say)."""
    values: dict[str, Any] = {
        "user_id": user.id,
        "subject": "Help",
        "message": "It does not open",
        "status": TicketStatus.OPEN,
    }
    ticket = SupportTicket(**(values | fields))
    messages = [SupportMessage(author=SupportMessageAuthor.STUDENT, text=ticket.message, attachments=[])]
    if admin_response is not None:
        messages.append(
            SupportMessage(
                author=SupportMessageAuthor.ADMIN,
                text=admin_response,
                attachments=[],
                delivered_at=response_sent_at,
                undeliverable_at=response_undeliverable_at,
            )
        )
    ticket.messages = messages
    return await _save(session, ticket)


async def create_support_message(
    session: AsyncSession, ticket: SupportTicket, *, author: SupportMessageAuthor, **fields: Any
) -> SupportMessage:
    values: dict[str, Any] = {"ticket_id": ticket.id, "author": author, "text": "More", "attachments": []}
    return await _save(session, SupportMessage(**(values | fields)))
