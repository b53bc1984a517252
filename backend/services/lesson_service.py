"""Lessons: the catalog's units of content."""

import functools
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute, defer, with_expression

from backend.services import catalog_cache
from backend.services.common import (
    PageQuery,
    page_query,
    read_page_inline,
    run_page,
    sort_order,
    text_search,
)
from backend.services.exceptions import ItemInUse, LessonNotFound, RuleViolation
from shared.database import writes
from shared.inline_reads import InlineReader
from shared.models import CourseLesson, Lesson, LessonTotals, Purchase
from shared.schemas import LessonCreate, LessonUpdate


def _present(column: InstrumentedAttribute[str | None]) -> ColumnElement[bool]:
    return and_(column.is_not(None), column != "")


# The public catalog never shows paid content: it stays in the database, SQL only says whether there is any.
PUBLIC_LOADING = (
    defer(Lesson.video_path, raiseload=True),
    defer(Lesson.text_content, raiseload=True),
    with_expression(Lesson.video_present, _present(Lesson.video_path)),
    with_expression(Lesson.text_present, _present(Lesson.text_content)),
)

# The same fields as plain columns (LessonPublic's, and LessonRead's), for reads without the ORM.
PUBLIC_COLUMNS = (
    Lesson.id,
    Lesson.title,
    Lesson.description,
    Lesson.price,
    Lesson.is_free,
    Lesson.is_active,
    _present(Lesson.video_path).label("has_video"),
    _present(Lesson.text_content).label("has_text"),
    Lesson.created_at,
    Lesson.updated_at,
)
ADMIN_COLUMNS = (*PUBLIC_COLUMNS, Lesson.video_path, Lesson.text_content)
NEWEST_FIRST = "-created_at"

# Kept by triggers (see LessonTotals): the public catalog's totals without counting the lessons.
_TOTALS = select(LessonTotals.active, LessonTotals.active_free).where(LessonTotals.id == 1)

SORT_COLUMNS = {
    "created_at": Lesson.created_at,
    "price": Lesson.price,
    "title": Lesson.title,
    "id": Lesson.id,
}


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
    sort: str = NEWEST_FIRST,
    limit: int,
    offset: int,
    public: bool = False,
) -> tuple[Sequence[Lesson], int]:
    """A page of lessons matching the filters (search looks in title and description).

    public: for the anonymous catalog; the paid content stays unloaded (has_video and has_text still work)
    and the total may be up to catalog_cache.TTL_SECONDS old.
    """
    # The shapes that every catalog page has (bot and anonymous API alike): statements built once.
    common_shape = price_min is None and price_max is None and not search
    if common_shape:
        query = _listing(is_active, is_free, sort, public)
    else:
        query = _build_listing(is_active, is_free, price_min, price_max, search, sort, public)
    if not public:
        return await run_page(session, query, limit=limit, offset=offset)
    total, keep = catalog_cache.totals.lookup((is_active, is_free, price_min, price_max, search))
    if total is None and common_shape and is_active is True:
        totals = (await session.execute(_TOTALS)).one_or_none()
        total = _kept_total(totals._asdict() if totals else None, is_free)
    lessons, counted = await run_page(session, query, limit=limit, offset=offset, total=total)
    keep(counted)
    return lessons, counted


def get_newest_inline(
    reader: InlineReader, *, public: bool, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    """get_all's commonest page on an InlineReader: every lesson (public: the active ones), newest first, as
    dicts of LessonRead's fields (public: LessonPublic's, and the total as get_all keeps it)."""
    is_active = True if public else None
    query = _listing_columns(is_active, public)
    if not public:
        return read_page_inline(reader, query, limit=limit, offset=offset)
    total, keep = catalog_cache.totals.lookup((is_active, None, None, None, None))
    if total is None:
        total = _kept_total(reader.first(_TOTALS), None)
    lessons, counted = read_page_inline(reader, query, limit=limit, offset=offset, total=total)
    keep(counted)
    return lessons, counted


def _kept_total(totals: Mapping[str, int] | None, is_free: bool | None) -> int | None:
    """The number of active lessons (free ones, paid ones) from the row the database keeps; None (count
    them) if the row is gone."""
    if totals is None:
        return None
    if is_free is None:
        return totals["active"]
    return totals["active_free"] if is_free else totals["active"] - totals["active_free"]


@functools.cache
def _listing_columns(is_active: bool | None, public: bool) -> PageQuery:
    return page_query(
        Lesson,
        filters=_filters(is_active, None, None, None, None),
        order_by=sort_order(NEWEST_FIRST, SORT_COLUMNS, Lesson.id),
        columns=PUBLIC_COLUMNS if public else ADMIN_COLUMNS,
    )


def _build_listing(
    is_active: bool | None,
    is_free: bool | None,
    price_min: int | None,
    price_max: int | None,
    search: str | None,
    sort: str,
    public: bool,
) -> PageQuery:
    return page_query(
        Lesson,
        filters=_filters(is_active, is_free, price_min, price_max, search),
        order_by=sort_order(sort, SORT_COLUMNS, Lesson.id),
        options=PUBLIC_LOADING if public else (),
    )


def _filters(
    is_active: bool | None,
    is_free: bool | None,
    price_min: int | None,
    price_max: int | None,
    search: str | None,
) -> list[ColumnElement[bool]]:
    filters = []
    if is_active is not None:
        filters.append(Lesson.is_active.is_(is_active))
    if is_free is not None:
        filters.append(Lesson.is_free.is_(is_free))
    if price_min is not None:
        filters.append(Lesson.price >= price_min)
    if price_max is not None:
        filters.append(Lesson.price <= price_max)
    if search:
        filters.append(text_search(search, Lesson.title, Lesson.description))
    return filters


@functools.cache
def _listing(is_active: bool | None, is_free: bool | None, sort: str, public: bool) -> PageQuery:
    # A few dozen shapes at most: three values of each flag, the sort keys, public or not.
    return _build_listing(is_active, is_free, None, None, None, sort, public)


def _check_price(lesson: Lesson) -> None:
    if not lesson.is_free and lesson.price < 1:
        raise RuleViolation("price must be at least 1 Star unless is_free is true")


@writes
async def create(session: AsyncSession, *, data: LessonCreate) -> Lesson:
    """Add a lesson to the catalog."""
    lesson = Lesson(**data.model_dump())
    session.add(lesson)
    await session.commit()
    return lesson


@writes
async def update(session: AsyncSession, lesson: Lesson, *, data: LessonUpdate) -> Lesson:
    """Change the fields that were given."""
    changes = data.model_dump(exclude_unset=True)
    for field, value in changes.items():
        setattr(lesson, field, value)
    if "video_path" in changes:
        # Telegram's file id belongs to the old file.
        lesson.video_file_id = None
    try:
        _check_price(lesson)
    except RuleViolation:
        await session.rollback()
        raise
    await session.commit()
    return lesson


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
    await session.commit()


@writes
async def set_video_file_id(session: AsyncSession, lesson: Lesson, file_id: str | None) -> None:
    """Remember (or forget) Telegram's id of the lesson's uploaded video."""
    lesson.video_file_id = file_id
    await session.commit()
