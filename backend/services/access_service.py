"""The access rule: who may open which lesson."""

from sqlalchemy import BindParameter, ColumnElement, bindparam, exists, or_, select, union
from sqlalchemy.ext.asyncio import AsyncSession

from shared.constants import PurchaseStatus
from shared.models import CourseLesson, Lesson, Purchase


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
    free = (Lesson.is_free.is_(True)) & (Lesson.is_active.is_(True))
    condition = or_(Lesson.id.in_(bought), free) if bought else free
    return list(
        (await session.scalars(select(Lesson).where(condition).order_by(Lesson.title, Lesson.id))).all()
    )
