"""Courses: ordered bundles of lessons sold together."""

from collections.abc import Sequence

from sqlalchemy import delete as sql_delete
from sqlalchemy import exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from backend.services import pricing
from backend.services.common import PageResult, paginate, sort_order, text_search
from backend.services.exceptions import (
    ConflictError,
    CourseNotFound,
    ItemInUse,
    LessonNotFound,
    NotFoundError,
    RuleViolation,
)
from shared.database import writes
from shared.models import Course, CourseLesson, Lesson, Purchase
from shared.schemas import CourseCreate, CourseUpdate
from shared.utils import utcnow

EFFECTIVE_PRICE = func.coalesce(Course.discount_price, Course.total_price)
SORT_COLUMNS = {
    "created_at": Course.created_at,
    "price": EFFECTIVE_PRICE,
    "title": Course.title,
    "id": Course.id,
}
WITH_LESSONS = (selectinload(Course.course_lessons).selectinload(CourseLesson.lesson),)


async def get(session: AsyncSession, course_id: int, *, active_only: bool = False) -> Course:
    """The course with its ordered lessons loaded, or CourseNotFound."""
    statement = (
        select(Course)
        .where(Course.id == course_id)
        .options(*WITH_LESSONS)
        .execution_options(populate_existing=True)
    )
    course = await session.scalar(statement)
    if course is None or (active_only and not course.is_active):
        raise CourseNotFound(course_id)
    return course


async def get_all(
    session: AsyncSession,
    *,
    is_active: bool | None = None,
    price_min: int | None = None,
    price_max: int | None = None,
    search: str | None = None,
    sort: str = "-created_at",
    limit: int,
    offset: int,
) -> PageResult[Course]:
    """A page of courses (with their lessons) matching the filters; prices filter on the effective price."""
    filters = []
    if is_active is not None:
        filters.append(Course.is_active == is_active)
    if price_min is not None:
        filters.append(price_min <= EFFECTIVE_PRICE)
    if price_max is not None:
        filters.append(price_max >= EFFECTIVE_PRICE)
    if search:
        filters.append(text_search(search, Course.title, Course.description))
    return await paginate(
        session,
        Course,
        filters=filters,
        order_by=sort_order(sort, SORT_COLUMNS, Course.id),
        limit=limit,
        offset=offset,
        options=WITH_LESSONS,
    )


def ordered_lessons(course: Course, *, active_only: bool = False) -> list[tuple[int, Lesson]]:
    """The course's lessons with their positions, in order."""
    return [
        (link.position, link.lesson)
        for link in course.course_lessons
        if link.lesson.is_active or not active_only
    ]


def lessons_price(course: Course, *, active_only: bool = False) -> int:
    """What the course's lessons would cost bought one by one (the saving the course offers)."""
    return sum(pricing.lesson_price(lesson) for _, lesson in ordered_lessons(course, active_only=active_only))


def saving(course: Course) -> int:
    """Stars a buyer saves with the course against its lessons on sale bought one by one, as the bot shows
    it (0 when the course costs as much or more)."""
    return max(lessons_price(course, active_only=True) - pricing.course_price(course), 0)


async def _load_lessons(session: AsyncSession, lesson_ids: Sequence[int]) -> None:
    if len(set(lesson_ids)) != len(lesson_ids):
        raise RuleViolation("lesson_ids must not repeat a lesson")
    found = set((await session.scalars(select(Lesson.id).where(Lesson.id.in_(lesson_ids)))).all())
    for lesson_id in lesson_ids:
        if lesson_id not in found:
            raise LessonNotFound(lesson_id)


@writes
async def create(session: AsyncSession, *, data: CourseCreate) -> Course:
    """Create a course, optionally with its ordered lessons."""
    await _load_lessons(session, data.lesson_ids)
    course = Course(**data.model_dump(exclude={"lesson_ids"}))
    course.course_lessons = [
        CourseLesson(lesson_id=lesson_id, position=position)
        for position, lesson_id in enumerate(data.lesson_ids)
    ]
    session.add(course)
    await session.flush()
    return await get(session, course.id)


@writes
async def update(session: AsyncSession, course: Course, *, data: CourseUpdate) -> Course:
    """Change the fields that were given; the discount must stay below the total price."""
    changes = data.model_dump(exclude_unset=True)
    total = changes.get("total_price", course.total_price)
    discount = changes.get("discount_price", course.discount_price)
    if discount is not None and discount >= total:
        raise RuleViolation("discount_price must be lower than total_price")
    for field, value in changes.items():
        setattr(course, field, value)
    await session.flush()
    return await get(session, course.id)


@writes
async def delete(session: AsyncSession, course: Course) -> None:
    """Delete a course nobody has bought; ItemInUse if purchase history refers to it."""
    if await session.scalar(select(exists().where(Purchase.course_id == course.id))):
        raise ItemInUse(f"Course {course.id} has purchases; deactivate it with is_active=false instead")
    await session.delete(course)
    await session.flush()


@writes
async def set_lessons(session: AsyncSession, course: Course, *, lesson_ids: Sequence[int]) -> Course:
    """Replace the course's lessons with this ordered list."""
    # Lock the course first: concurrent reorders then queue instead of deadlocking on PostgreSQL.
    await session.execute(select(Course.id).where(Course.id == course.id).with_for_update())
    await _load_lessons(session, lesson_ids)
    # Delete first in SQL: the unit of work would insert new positions before deleting old ones.
    await session.execute(sql_delete(CourseLesson).where(CourseLesson.course_id == course.id))
    session.add_all(
        CourseLesson(course_id=course.id, lesson_id=lesson_id, position=position)
        for position, lesson_id in enumerate(lesson_ids)
    )
    course.updated_at = utcnow()
    await session.flush()
    return await get(session, course.id)


@writes
async def add_lesson(
    session: AsyncSession, course: Course, *, lesson_id: int, position: int | None = None
) -> Course:
    """Insert a lesson at a position (the end when omitted); the others shift down."""
    lesson_ids = [lesson.id for _, lesson in ordered_lessons(course)]
    if lesson_id in lesson_ids:
        raise RuleViolation(f"Lesson {lesson_id} is already in course {course.id}")
    place = len(lesson_ids) if position is None else min(position, len(lesson_ids))
    lesson_ids.insert(place, lesson_id)
    return await set_lessons(session, course, lesson_ids=lesson_ids)


@writes
async def remove_lesson(session: AsyncSession, course: Course, *, lesson_id: int) -> Course:
    """Take a lesson out of the course; the others close the gap."""
    lesson_ids = [lesson.id for _, lesson in ordered_lessons(course)]
    if lesson_id not in lesson_ids:
        raise NotFoundError(f"Lesson {lesson_id} is not in course {course.id}")
    lesson_ids.remove(lesson_id)
    return await set_lessons(session, course, lesson_ids=lesson_ids)


@writes
async def reorder(session: AsyncSession, course: Course, *, lesson_ids: Sequence[int]) -> Course:
    """Put the course's own lessons in this order; ConflictError if the list names other lessons than the
    course has (a page opened before someone else added or removed one must not undo that)."""
    current = [lesson.id for _, lesson in ordered_lessons(course)]
    if len(set(lesson_ids)) != len(lesson_ids) or set(lesson_ids) != set(current):
        raise ConflictError(f"The lessons of course {course.id} have changed; reload them and try again")
    return await set_lessons(session, course, lesson_ids=lesson_ids)


@writes
async def move_lesson(session: AsyncSession, course: Course, *, lesson_id: int, position: int) -> Course:
    """Move one of the course's lessons to a 0-based position (clamped to the list); the others shift."""
    lesson_ids = [lesson.id for _, lesson in ordered_lessons(course)]
    if lesson_id not in lesson_ids:
        raise NotFoundError(f"Lesson {lesson_id} is not in course {course.id}")
    lesson_ids.remove(lesson_id)
    lesson_ids.insert(max(0, min(position, len(lesson_ids))), lesson_id)
    return await set_lessons(session, course, lesson_ids=lesson_ids)
