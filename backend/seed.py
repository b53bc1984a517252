"""Fill the database with a realistic demo catalog: `python -m backend.seed`.

Idempotent: does nothing when the catalog already has lessons. Goes through the services, so the demo
data obeys the same rules as real data.
"""

import asyncio
import logging
import sys

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
from shared import database
from shared.constants import PurchaseStatus
from shared.models import Lesson
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
    return True


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
        logger.info("Demo data created: 9 lessons, 2 courses, 3 users, 4 purchases, promo code WELCOME10")
    else:
        logger.info("The catalog already has lessons; demo data not added")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
