"""Fill the database with a realistic demo catalog: `python -m backend.seed`.

Idempotent: does nothing when the catalog already has lessons. Goes through the services, so the demo
data obeys the same rules as real data.
"""

import asyncio
import logging
import random
import sys
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.main import prepare_database
from backend.services import (
    course_service,
    lesson_service,
    promo_code_service,
    purchase_service,
    support_ticket_service,
    user_service,
)
from backend.services.exceptions import AlreadyPurchased
from shared import database
from shared.constants import PurchaseStatus, TicketStatus
from shared.models import Course, Lesson, PromoCode
from shared.schemas import (
    CourseCreate,
    LessonCreate,
    PromoCodeCreate,
    PurchaseCreate,
    SupportTicketCreate,
    SupportTicketUpdate,
    UserCreate,
)
from shared.setup_checks import SetupError
from shared.utils import utcnow

logger = logging.getLogger(__name__)

LESSONS = [
    LessonCreate(
        title="Welcome: how this course works",
        description="A free tour of the lessons, the practice tasks and how to ask questions.",
        is_free=True,
        text_content="Welcome! Each lesson has a short explanation and a task. Start with *Python basics*.",
    ),
    LessonCreate(
        title="Python basics: variables and types",
        description="Numbers, strings, lists and dictionaries, with exercises.",
        is_free=True,
        text_content="A variable is a name for a value. `x = 5` makes x refer to the integer 5. ...",
    ),
    LessonCreate(
        title="Functions and modules",
        description="Write reusable code: parameters, return values, imports.",
        price=50,
        text_content="A function groups steps under a name: `def greet(name): return 'Hi ' + name` ...",
    ),
    LessonCreate(
        title="Working with files",
        description="Read and write text and CSV files safely.",
        price=75,
        video_path="python/working-with-files.mp4",
    ),
    LessonCreate(
        title="Classes and objects",
        description="Model your program's world with classes.",
        price=100,
        video_path="python/classes.mp4",
        text_content="Notes for the video: a class is a blueprint; an object is one thing built from it.",
    ),
    LessonCreate(
        title="Async Python in practice",
        description="asyncio, tasks and timeouts, explained with a small crawler.",
        price=150,
        video_path="python/async.mp4",
    ),
    LessonCreate(
        title="Guitar: your first three chords",
        description="A, D and E, and a song that uses only them.",
        price=40,
        video_path="guitar/first-chords.mp4",
    ),
    LessonCreate(
        title="Guitar: strumming patterns",
        description="Four patterns that cover most pop songs.",
        price=40,
        video_path="guitar/strumming.mp4",
    ),
    LessonCreate(
        title="Guitar: reading tabs (draft)",
        description="Not published yet.",
        price=30,
        is_active=False,
        text_content="Draft.",
    ),
]

USERS = [
    UserCreate(
        telegram_id=111111111, first_name="Anna", last_name="Petrova", username="anna_p", language_code="ru"
    ),
    UserCreate(
        telegram_id=222222222, first_name="John", last_name="Smith", username="john_doe", language_code="en"
    ),
    UserCreate(telegram_id=333333333, first_name="Maria", username="maria_learns", language_code="en"),
]


# A few months of a small school's life, the same on every run (seeded random, dates relative to today).
HISTORY_SEED = 20261207
HISTORY_DAYS = 120
HISTORY_STUDENTS = 150
FIRST_NAMES = ["Alexei", "Bella", "Carlos", "Daria", "Emil", "Fatima", "Georgy", "Hana", "Igor", "Jana"]
LAST_NAMES = ["Orlova", "Brown", "Silva", "Kuznetsov", None, "Novak", "Lee", None]
TICKETS = [
    ("Payment went through twice", "I was charged two times for the same lesson."),
    ("Cannot open the video", "The video in lesson 4 does not start on my phone."),
    ("Invoice for my company", "Can I get an invoice with my company's name?"),
    ("Refund please", "I bought the wrong course by mistake."),
    ("Question about the task", "In the classes lesson, what does __init__ return?"),
]


async def catalog_is_empty(session: AsyncSession) -> bool:
    return not await session.scalar(select(func.count()).select_from(Lesson))


async def seed(session: AsyncSession) -> bool:
    """Create the demo catalog, users, purchases and a ticket; False if there was a catalog already."""
    if not await catalog_is_empty(session):
        return False
    lessons = [await lesson_service.create(session, data=data) for data in LESSONS]
    python_course = await course_service.create(
        session,
        data=CourseCreate(
            title="Python from zero",
            description="Six lessons from your first variable to async code.",
            total_price=375,
            discount_price=299,
            lesson_ids=[lesson.id for lesson in lessons[:6]],
        ),
    )
    guitar_course = await course_service.create(
        session,
        data=CourseCreate(
            title="Guitar for beginners",
            description="Chords and strumming: play your first song in a week.",
            total_price=80,
            lesson_ids=[lessons[6].id, lessons[7].id],
        ),
    )
    await promo_code_service.create(
        session, data=PromoCodeCreate(code="WELCOME10", discount_percent=10, max_uses=100)
    )
    anna, john, maria = [await user_service.create(session, data=data) for data in USERS]
    await purchase_service.create(
        session,
        data=PurchaseCreate(user_id=anna.id, course_id=python_course.id, status=PurchaseStatus.COMPLETED),
    )
    await purchase_service.create(
        session,
        data=PurchaseCreate(
            user_id=john.id, lesson_id=lessons[2].id, promo_code="WELCOME10", status=PurchaseStatus.COMPLETED
        ),
    )
    await purchase_service.create(session, data=PurchaseCreate(user_id=john.id, course_id=guitar_course.id))
    await purchase_service.create(
        session,
        data=PurchaseCreate(user_id=maria.id, lesson_id=lessons[6].id, status=PurchaseStatus.COMPLETED),
    )
    ticket = await support_ticket_service.create(
        session,
        data=SupportTicketCreate(
            user_id=john.id,
            subject="Video does not start",
            message="I bought 'Functions and modules' but I cannot find the video.",
        ),
    )
    await support_ticket_service.update(
        session,
        ticket,
        data=SupportTicketUpdate(
            admin_response="That lesson is a text lesson; open it from 'My lessons'. Thanks for asking!"
        ),
    )
    await seed_history(session, items=[*lessons, python_course, guitar_course])
    return True


async def seed_history(session: AsyncSession, *, items: list[Lesson | Course]) -> None:
    """Students joining over the last months, their purchases (some with a promo code, some refunded,
    some never paid) and tickets, dated in the past. Purchases go through the purchase service (created,
    then completed or refunded), so the dashboard's rollup counts them as it counts real ones."""
    rng = random.Random(HISTORY_SEED)  # noqa: S311 (demo data, not a secret)
    now = utcnow()
    for_sale = [item for item in items if item.is_active and not getattr(item, "is_free", False)]
    summer = await promo_code_service.create(
        session, data=PromoCodeCreate(code="SUMMER25", discount_percent=25, max_uses=500)
    )
    codes: list[PromoCode | None] = [None] * 6 + [summer]
    for n in range(HISTORY_STUDENTS):
        # More students lately: the school is growing.
        joined = now - timedelta(days=HISTORY_DAYS * (1 - rng.random() ** 0.7), seconds=rng.randrange(86_400))
        student = await user_service.create(
            session,
            data=UserCreate(
                telegram_id=500_000_000 + n,
                first_name=rng.choice(FIRST_NAMES),
                last_name=rng.choice(LAST_NAMES),
                username=f"student_{n}" if rng.random() < 0.7 else None,
                language_code=rng.choice(["ru", "ru", "en"]),
            ),
        )
        student.created_at = joined
        for _ in range(rng.choice([0, 1, 1, 2, 2, 3, 4])):
            await _past_purchase(
                session, rng, student.id, rng.choice(for_sale), rng.choice(codes), joined, now
            )
        if rng.random() < 0.12:
            subject, message = rng.choice(TICKETS)
            ticket = await support_ticket_service.create(
                session, data=SupportTicketCreate(user_id=student.id, subject=subject, message=message)
            )
            ticket.created_at = _between(rng, joined, now)
            if rng.random() < 0.6:
                await support_ticket_service.update(
                    session,
                    ticket,
                    data=SupportTicketUpdate(
                        admin_response="Thank you for writing: this is sorted now.",
                        status=TicketStatus.CLOSED,
                    ),
                )
    await session.flush()


def _between(rng: random.Random, start: datetime, end: datetime) -> datetime:
    return start + (end - start) * rng.random()


async def _past_purchase(
    session: AsyncSession,
    rng: random.Random,
    user_id: int,
    item: Lesson | Course,
    promo: PromoCode | None,
    joined: datetime,
    now: datetime,
) -> None:
    """A purchase made some time after the student joined: paid (sometimes refunded later) or abandoned."""
    item_id = {"lesson_id": item.id} if isinstance(item, Lesson) else {"course_id": item.id}
    try:
        purchase = await purchase_service.create(
            session,
            data=PurchaseCreate(user_id=user_id, promo_code=promo.code if promo else None, **item_id),
        )
    except AlreadyPurchased:
        return
    purchase.created_at = _between(rng, joined, now)
    await session.flush()
    outcome = rng.random()
    if outcome < 0.1:
        await purchase_service.fail(session, purchase)  # the invoice was never paid
    elif outcome < 0.12:
        return  # still pending
    else:
        await purchase_service.complete(
            session, purchase, telegram_payment_charge_id=f"demo-charge-{purchase.id}"
        )
        if outcome > 0.93:
            await purchase_service.mark_refunded(session, purchase)


async def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        await prepare_database()
    except SetupError as error:
        logger.error("%s", error)
        return 1
    async with database.session_scope() as session:
        created = await seed(session)
    await database.dispose_engine()
    if created:
        logger.info(
            "Demo data created: 9 lessons, 2 courses, %s students with %s months of purchases and tickets,"
            " promo codes WELCOME10 and SUMMER25",
            len(USERS) + HISTORY_STUDENTS,
            HISTORY_DAYS // 30,
        )
    else:
        logger.info("The catalog already has lessons; demo data not added")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
