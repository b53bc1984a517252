"""The access rule: who may open which lesson."""

from sqlalchemy import BindParameter, ColumnElement, bindparam, exists, or_, select, union
from sqlalchemy.ext.asyncio import AsyncSession

from backend.services import course_service
from backend.services.exceptions import CourseNotFound, LessonNotFound
from shared.constants import PurchaseStatus
from shared.models import Course, CourseLesson, Lesson, Purchase


def _paid_by(user_id: int | BindParameter[int]) -> list[ColumnElement[bool]]:
    # Only completed purchases grant access; pending, failed and refunded ones never do.
    return [Purchase.user_id == user_id, Purchase.status == PurchaseStatus.COMPLETED]


# The bot asks these on every card and catalog page: built once (building costs more than running them).
_USER, _LESSON = bindparam("user_id"), bindparam("lesson_id")
_CAN_ACCESS_LESSON = select(
    exists().where(*_paid_by(_USER), Purchase.lesson_id == _LESSON)
    | exists().where(
        *_paid_by(_USER),
        Purchase.course_id == CourseLesson.course_id,
        CourseLesson.lesson_id == _LESSON,
    )
)
_ACCESSIBLE_LESSON_IDS = union(
    select(Purchase.lesson_id).where(*_paid_by(_USER), Purchase.lesson_id.is_not(None)),
    select(CourseLesson.lesson_id)
    .join(Purchase, Purchase.course_id == CourseLesson.course_id)
    .where(*_paid_by(_USER)),
)


async def can_access_lesson(session: AsyncSession, *, user_id: int, lesson: Lesson) -> bool:
    """A lesson opens if it is free (and on offer), bought, or part of a bought course (active or not)."""
    if lesson.is_free and lesson.is_active:
        return True
    return bool(await session.scalar(_CAN_ACCESS_LESSON, {"user_id": user_id, "lesson_id": lesson.id}))


async def owns_course(session: AsyncSession, *, user_id: int, course_id: int) -> bool:
    """Whether the user holds a completed purchase of the course."""
    bought = exists().where(*_paid_by(user_id), Purchase.course_id == course_id)
    return bool(await session.scalar(select(bought)))


async def accessible_lesson_ids(session: AsyncSession, *, user_id: int) -> set[int]:
    """Every lesson the user has bought, directly or through a course (free lessons not included)."""
    rows = await session.scalars(_ACCESSIBLE_LESSON_IDS, {"user_id": user_id})
    return {lesson_id for lesson_id in rows if lesson_id is not None}


async def library(session: AsyncSession, *, user_id: int) -> list[Lesson]:
    """Every lesson the user can open now: bought (directly or in a course) and the free ones on offer."""
    bought = await accessible_lesson_ids(session, user_id=user_id)
    free = Lesson.is_free.is_(True) & Lesson.is_active.is_(True)
    condition = or_(Lesson.id.in_(bought), free) if bought else free
    return list(
        (await session.scalars(select(Lesson).where(condition).order_by(Lesson.title, Lesson.id))).all()
    )


async def lesson_for(session: AsyncSession, *, user_id: int, lesson_id: int) -> tuple[Lesson, bool]:
    """The lesson as this user sees it, and whether they can open it. An inactive lesson stays visible to
    those who have it (bought, or in a bought course); to anyone else it is LessonNotFound."""
    lesson = await session.get(Lesson, lesson_id)
    if lesson is None:
        raise LessonNotFound(lesson_id)
    has_access = await can_access_lesson(session, user_id=user_id, lesson=lesson)
    if not lesson.is_active and not has_access:
        raise LessonNotFound(lesson_id)
    return lesson, has_access


async def course_for(session: AsyncSession, *, user_id: int, course_id: int) -> tuple[Course, bool]:
    """The course (its lessons loaded) as this user sees it, and whether they own it. An inactive course
    stays visible to its buyers; to anyone else it is CourseNotFound."""
    course = await course_service.get(session, course_id)
    owned = await owns_course(session, user_id=user_id, course_id=course.id)
    if not course.is_active and not owned:
        raise CourseNotFound(course_id)
    return course, owned
