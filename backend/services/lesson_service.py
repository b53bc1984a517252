"""Lessons: the catalog's units of content."""

from typing import Literal

from sqlalchemy import ColumnElement, and_, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute, defer, with_expression

from backend.services.common import PageResult, paginate, sort_order, text_search
from backend.services.exceptions import ItemInUse, LessonNotFound, RuleViolation
from shared.database import writes
from shared.models import CourseLesson, Lesson, Purchase
from shared.schemas import LessonCreate, LessonUpdate, check_lesson_price


def _present(column: InstrumentedAttribute[str | None]) -> ColumnElement[bool]:
    return and_(column.is_not(None), column != "")


# The public catalog never shows paid content: it stays in the database, SQL only says whether there is any.
PUBLIC_LOADING = (
    defer(Lesson.video_path, raiseload=True),
    defer(Lesson.text_content, raiseload=True),
    with_expression(Lesson.video_present, _present(Lesson.video_path)),
    with_expression(Lesson.text_present, _present(Lesson.text_content)),
)

SORT_COLUMNS = {
    "created_at": Lesson.created_at,
    "price": Lesson.price,
    "title": Lesson.title,
    "id": Lesson.id,
}

# A lesson's kind: "video" when it has a video (text or not), "text" otherwise.
LessonKind = Literal["text", "video"]


async def get(session: AsyncSession, lesson_id: int, *, active_only: bool = False) -> Lesson:
    """The lesson with this id (only if active, when asked), or LessonNotFound."""
    lesson = await session.get(Lesson, lesson_id)
    if lesson is None or (active_only and not lesson.is_active):
        raise LessonNotFound(lesson_id)
    return lesson


async def get_all(
    session: AsyncSession,
    *,
    is_active: bool | None = None,
    is_free: bool | None = None,
    price_min: int | None = None,
    price_max: int | None = None,
    search: str | None = None,
    kind: LessonKind | None = None,
    sort: str = "-created_at",
    limit: int,
    offset: int,
    public: bool = False,
) -> PageResult[Lesson]:
    """A page of lessons matching the filters (search looks in title and description).

    public: for the catalog that anyone sees; the paid content stays unloaded (has_video and has_text work).
    """
    filters = []
    # "= true", not "IS true": PostgreSQL uses the (is_active, created_at) index only for the former.
    if is_active is not None:
        filters.append(Lesson.is_active == is_active)
    if is_free is not None:
        filters.append(Lesson.is_free == is_free)
    if price_min is not None:
        filters.append(Lesson.price >= price_min)
    if price_max is not None:
        filters.append(Lesson.price <= price_max)
    if search:
        filters.append(text_search(search, Lesson.title, Lesson.description))
    if kind == "video":
        filters.append(_present(Lesson.video_path))
    elif kind == "text":
        filters.append(or_(Lesson.video_path.is_(None), Lesson.video_path == ""))
    return await paginate(
        session,
        Lesson,
        filters=filters,
        order_by=sort_order(sort, SORT_COLUMNS, Lesson.id),
        limit=limit,
        offset=offset,
        options=PUBLIC_LOADING if public else (),
    )


@writes
async def create(session: AsyncSession, *, data: LessonCreate) -> Lesson:
    """Add a lesson to the catalog."""
    lesson = Lesson(**data.model_dump())
    session.add(lesson)
    await session.flush()
    return lesson


@writes
async def update(session: AsyncSession, lesson: Lesson, *, data: LessonUpdate) -> Lesson:
    """Change the fields that were given."""
    changes = data.model_dump(exclude_unset=True)
    try:
        check_lesson_price(
            is_free=changes.get("is_free", lesson.is_free), price=changes.get("price", lesson.price)
        )
    except ValueError as error:
        raise RuleViolation(str(error)) from error
    for field, value in changes.items():
        setattr(lesson, field, value)
    if "video_path" in changes:
        # Telegram's file id belongs to the old file.
        lesson.video_file_id = None
    await session.flush()
    return lesson


def _refers_to(lesson: Lesson) -> ColumnElement[bool]:
    """Purchases whose history refers to the lesson: of it, or of a course that contains it."""
    in_course = exists().where(
        CourseLesson.lesson_id == lesson.id, CourseLesson.course_id == Purchase.course_id
    )
    return or_(Purchase.lesson_id == lesson.id, in_course)


async def count_purchases(session: AsyncSession, lesson: Lesson) -> int:
    """How many purchases (of any status) refer to the lesson, directly or through a course: what keeps
    it from being deleted."""
    return await session.scalar(select(func.count()).select_from(Purchase).where(_refers_to(lesson))) or 0


@writes
async def delete(session: AsyncSession, lesson: Lesson) -> None:
    """Delete a lesson nobody has paid for; ItemInUse if purchase history refers to it."""
    bought_directly = exists().where(Purchase.lesson_id == lesson.id)
    bought_in_course = exists().where(
        CourseLesson.lesson_id == lesson.id, Purchase.course_id == CourseLesson.course_id
    )
    if await session.scalar(select(bought_directly | bought_in_course)):
        raise ItemInUse(
            f"Lesson {lesson.id} has purchases (directly or through a course); "
            "deactivate it with is_active=false instead"
        )
    await session.delete(lesson)
    await session.flush()


@writes
async def set_video_file_id(session: AsyncSession, lesson: Lesson, file_id: str | None) -> None:
    """Remember (or forget) Telegram's id of the lesson's uploaded video."""
    lesson.video_file_id = file_id
    await session.flush()
