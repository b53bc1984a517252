"""Courses (backend/services/course_service.py)."""

import pytest
from sqlalchemy import func, select

from backend.services import course_service
from backend.services.exceptions import (
    ConflictError,
    CourseNotFound,
    ItemInUse,
    LessonNotFound,
    NotFoundError,
    RuleViolation,
)
from backend.tests.factories import create_course, create_lesson, create_purchase, create_user
from shared.constants import PurchaseStatus
from shared.models import Course, CourseLesson, Lesson
from shared.schemas import CourseCreate, CourseUpdate


async def stored_links(session, course_id: int) -> list[tuple[int, int]]:
    """(position, lesson_id) of the course as stored, read past the session's identity map."""
    rows = await session.execute(
        select(CourseLesson.position, CourseLesson.lesson_id)
        .where(CourseLesson.course_id == course_id)
        .order_by(CourseLesson.position)
    )
    return [tuple(row) for row in rows]


def lesson_ids(course: Course) -> list[int]:
    return [lesson.id for _, lesson in course_service.ordered_lessons(course)]


async def lessons(session, n: int, **fields) -> list[Lesson]:
    return [await create_lesson(session, **fields) for _ in range(n)]


async def test_create_course_with_ordered_lessons(session):
    a, b, c = await lessons(session, 3)

    course = await course_service.create(
        session,
        data=CourseCreate(title="Bundle", total_price=300, discount_price=250, lesson_ids=[c.id, a.id, b.id]),
    )

    assert lesson_ids(course) == [c.id, a.id, b.id]
    assert await stored_links(session, course.id) == [(0, c.id), (1, a.id), (2, b.id)]
    row = (
        await session.execute(select(Course.total_price, Course.discount_price).where(Course.id == course.id))
    ).one()
    assert tuple(row) == (300, 250)


async def test_create_course_without_lessons(session):
    course = await course_service.create(session, data=CourseCreate(title="Empty", total_price=5))

    assert course_service.ordered_lessons(course) == []
    assert await session.scalar(select(func.count()).select_from(Course)) == 1


async def test_create_course_repeated_lesson_refused(session):
    (a,) = await lessons(session, 1)

    with pytest.raises(RuleViolation, match="repeat"):
        await course_service.create(
            session, data=CourseCreate(title="Twice", total_price=5, lesson_ids=[a.id, a.id])
        )

    assert await session.scalar(select(func.count()).select_from(Course)) == 0


async def test_create_course_unknown_lesson_refused(session):
    (a,) = await lessons(session, 1)

    with pytest.raises(LessonNotFound, match="Lesson 9999 not found"):
        await course_service.create(
            session, data=CourseCreate(title="Ghost", total_price=5, lesson_ids=[a.id, 9999])
        )

    assert await session.scalar(select(func.count()).select_from(Course)) == 0


async def test_get_course_not_found(session):
    with pytest.raises(CourseNotFound, match="Course 77 not found"):
        await course_service.get(session, 77)


async def test_get_course_inactive_when_active_only(session):
    course = await create_course(session, is_active=False)

    assert (await course_service.get(session, course.id)).id == course.id
    with pytest.raises(CourseNotFound):
        await course_service.get(session, course.id, active_only=True)


async def test_get_all_courses_filters(session):
    await create_course(session, title="Cheap", total_price=100)
    await create_course(session, title="Discounted", total_price=1000, discount_price=150)
    await create_course(session, title="Dear", total_price=900)
    await create_course(session, title="Hidden", total_price=120, is_active=False, description="secret stuff")

    async def titles(**filters) -> list[str]:
        courses, _, _ = await course_service.get_all(session, sort="id", limit=10, offset=0, **filters)
        return [c.title for c in courses]

    # Prices filter on what the course costs now: the discount price when set.
    assert await titles(price_max=150) == ["Cheap", "Discounted", "Hidden"]
    assert await titles(price_min=150, price_max=900) == ["Discounted", "Dear"]
    assert await titles(is_active=True, price_max=200) == ["Cheap", "Discounted"]
    assert await titles(is_active=False) == ["Hidden"]
    assert await titles(search="SECRET") == ["Hidden"]


async def test_get_all_courses_loads_lessons_and_sorts_by_price(session):
    a, b = await lessons(session, 2)
    await create_course(session, [b, a], title="Second", total_price=200)
    await create_course(session, [a], title="First", total_price=100)

    courses, total, _ = await course_service.get_all(session, sort="price", limit=10, offset=0)

    assert total == 2
    assert [c.title for c in courses] == ["First", "Second"]
    assert [lesson_ids(c) for c in courses] == [[a.id], [b.id, a.id]]


async def test_get_all_courses_sort_by_effective_price(session):
    await create_course(session, title="Total 300", total_price=300)
    await create_course(session, title="Discounted to 100", total_price=1000, discount_price=100)
    await create_course(session, title="Total 200", total_price=200)

    cheap_first, _, _ = await course_service.get_all(session, sort="price", limit=10, offset=0)
    dear_first, _, _ = await course_service.get_all(session, sort="-price", limit=10, offset=0)

    assert [c.title for c in cheap_first] == ["Discounted to 100", "Total 200", "Total 300"]
    assert [c.title for c in dear_first] == ["Total 300", "Total 200", "Discounted to 100"]


async def test_ordered_lessons_active_only(session):
    on, off = await create_lesson(session), await create_lesson(session, is_active=False)
    course = await course_service.get(session, (await create_course(session, [off, on])).id)

    assert course_service.ordered_lessons(course) == [(0, off), (1, on)]
    assert course_service.ordered_lessons(course, active_only=True) == [(1, on)]


async def test_lessons_price_sums_paid_lessons(session):
    paid_a = await create_lesson(session, price=30)
    paid_b = await create_lesson(session, price=45)
    free = await create_lesson(session, price=0, is_free=True)
    hidden = await create_lesson(session, price=1000, is_active=False)
    course = await course_service.get(
        session, (await create_course(session, [paid_a, free, hidden, paid_b])).id
    )

    assert course_service.lessons_price(course) == 1075
    assert course_service.lessons_price(course, active_only=True) == 75


async def test_set_lessons_reorders(session):
    a, b, c = await lessons(session, 3)
    course = await course_service.get(session, (await create_course(session, [a, b, c])).id)

    course = await course_service.set_lessons(session, course, lesson_ids=[c.id, a.id, b.id])

    assert lesson_ids(course) == [c.id, a.id, b.id]
    assert await stored_links(session, course.id) == [(0, c.id), (1, a.id), (2, b.id)]


async def test_set_lessons_replaces_and_empties(session):
    a, b, c = await lessons(session, 3)
    course = await course_service.get(session, (await create_course(session, [a, b])).id)

    course = await course_service.set_lessons(session, course, lesson_ids=[c.id, a.id])
    assert await stored_links(session, course.id) == [(0, c.id), (1, a.id)]

    course = await course_service.set_lessons(session, course, lesson_ids=[])
    assert await stored_links(session, course.id) == []
    assert await session.scalar(select(func.count()).select_from(Lesson)) == 3


async def test_set_lessons_unknown_lesson_keeps_old_list(session):
    a, b = await lessons(session, 2)
    course = await course_service.get(session, (await create_course(session, [a, b])).id)

    with pytest.raises(LessonNotFound):
        await course_service.set_lessons(session, course, lesson_ids=[b.id, 4242])

    assert await stored_links(session, course.id) == [(0, a.id), (1, b.id)]


async def test_add_lesson_at_position(session):
    a, b, new = await lessons(session, 3)
    course = await course_service.get(session, (await create_course(session, [a, b])).id)

    course = await course_service.add_lesson(session, course, lesson_id=new.id, position=1)

    assert await stored_links(session, course.id) == [(0, a.id), (1, new.id), (2, b.id)]
    assert lesson_ids(course) == [a.id, new.id, b.id]


async def test_add_lesson_at_start(session):
    a, new = await lessons(session, 2)
    course = await course_service.get(session, (await create_course(session, [a])).id)

    course = await course_service.add_lesson(session, course, lesson_id=new.id, position=0)

    assert await stored_links(session, course.id) == [(0, new.id), (1, a.id)]


@pytest.mark.parametrize("position", [None, 2, 50], ids=["omitted", "end", "past-end"])
async def test_add_lesson_at_end(session, position):
    a, b, new = await lessons(session, 3)
    course = await course_service.get(session, (await create_course(session, [a, b])).id)

    course = await course_service.add_lesson(session, course, lesson_id=new.id, position=position)

    assert await stored_links(session, course.id) == [(0, a.id), (1, b.id), (2, new.id)]


async def test_add_lesson_already_in_course_refused(session):
    a, b = await lessons(session, 2)
    course = await course_service.get(session, (await create_course(session, [a, b])).id)

    with pytest.raises(RuleViolation, match="already in course"):
        await course_service.add_lesson(session, course, lesson_id=b.id, position=0)

    assert await stored_links(session, course.id) == [(0, a.id), (1, b.id)]


async def test_add_lesson_unknown_refused(session):
    (a,) = await lessons(session, 1)
    course = await course_service.get(session, (await create_course(session, [a])).id)

    with pytest.raises(LessonNotFound):
        await course_service.add_lesson(session, course, lesson_id=31337)

    assert await stored_links(session, course.id) == [(0, a.id)]


async def test_remove_lesson_closes_gap(session):
    a, b, c, d = await lessons(session, 4)
    course = await course_service.get(session, (await create_course(session, [a, b, c, d])).id)

    course = await course_service.remove_lesson(session, course, lesson_id=b.id)

    assert await stored_links(session, course.id) == [(0, a.id), (1, c.id), (2, d.id)]
    assert lesson_ids(course) == [a.id, c.id, d.id]
    assert await session.get(Lesson, b.id) is not None


async def test_remove_lesson_not_in_course(session):
    a, outside = await lessons(session, 2)
    course = await course_service.get(session, (await create_course(session, [a])).id)

    with pytest.raises(NotFoundError, match="is not in course"):
        await course_service.remove_lesson(session, course, lesson_id=outside.id)

    assert await stored_links(session, course.id) == [(0, a.id)]


async def test_update_course_fields(session):
    course = await course_service.get(session, (await create_course(session, total_price=500)).id)

    course = await course_service.update(
        session, course, data=CourseUpdate(title="Renamed", discount_price=400, is_active=False)
    )
    session.expunge_all()

    loaded = await session.get(Course, course.id)
    assert loaded is not None
    assert (loaded.title, loaded.total_price, loaded.discount_price, loaded.is_active) == (
        "Renamed",
        500,
        400,
        False,
    )


async def test_update_course_remove_discount(session):
    course = await course_service.get(
        session, (await create_course(session, total_price=500, discount_price=1)).id
    )

    await course_service.update(session, course, data=CourseUpdate(discount_price=None))

    assert await session.scalar(select(Course.discount_price).where(Course.id == course.id)) is None


@pytest.mark.parametrize(
    "changes",
    [
        {"discount_price": 500},
        {"discount_price": 600},
        {"total_price": 300},
        {"total_price": 400, "discount_price": 400},
    ],
    ids=["discount-equal", "discount-above", "total-below-discount", "both-equal"],
)
async def test_update_course_discount_not_below_total_refused(session, changes):
    course = await course_service.get(
        session, (await create_course(session, total_price=500, discount_price=400)).id
    )

    with pytest.raises(RuleViolation, match="lower than total_price"):
        await course_service.update(session, course, data=CourseUpdate(**changes))

    await session.rollback()
    row = (await session.execute(select(Course.total_price, Course.discount_price))).one()
    assert tuple(row) == (500, 400)


async def test_delete_course_without_purchases(session):
    a = await create_lesson(session)
    course = await course_service.get(session, (await create_course(session, [a])).id)

    await course_service.delete(session, course)

    assert await session.scalar(select(func.count()).select_from(Course)) == 0
    assert await session.scalar(select(func.count()).select_from(CourseLesson)) == 0
    assert await session.scalar(select(func.count()).select_from(Lesson)) == 1


@pytest.mark.parametrize("status", [PurchaseStatus.COMPLETED, PurchaseStatus.REFUNDED])
async def test_delete_course_with_purchases_refused(session, status):
    user, a = await create_user(session), await create_lesson(session)
    course = await create_course(session, [a])
    await create_purchase(session, user, course, status=status)

    with pytest.raises(ItemInUse, match="has purchases"):
        await course_service.delete(session, course)

    assert await session.scalar(select(func.count()).select_from(Course)) == 1
    assert await session.scalar(select(func.count()).select_from(CourseLesson)) == 1


async def test_saving_against_lessons_on_sale(session):
    a, b = await create_lesson(session, price=60), await create_lesson(session, price=50)
    hidden = await create_lesson(session, price=500, is_active=False)
    course = await course_service.get(
        session, (await create_course(session, [a, b, hidden], total_price=120, discount_price=80)).id
    )

    assert course_service.saving(course) == 110 - 80
    course = await course_service.update(session, course, data=CourseUpdate(discount_price=None))
    assert course_service.saving(course) == 0  # 120 Stars against 110 separately: no saving


async def test_reorder_puts_the_lessons_in_order(session):
    a, b, c = await lessons(session, 3)
    course = await course_service.get(session, (await create_course(session, [a, b, c])).id)

    course = await course_service.reorder(session, course, lesson_ids=[b.id, c.id, a.id])

    assert await stored_links(session, course.id) == [(0, b.id), (1, c.id), (2, a.id)]


@pytest.mark.parametrize(
    "names", [["b"], ["b", "a", "c"], ["a", "b", "b"]], ids=["missing", "other", "repeated"]
)
async def test_reorder_other_lessons_refused(session, names):
    a, b, c = await lessons(session, 3)
    course = await course_service.get(session, (await create_course(session, [a, b])).id)
    named = {"a": a.id, "b": b.id, "c": c.id}

    with pytest.raises(ConflictError, match="have changed"):
        await course_service.reorder(session, course, lesson_ids=[named[name] for name in names])

    assert await stored_links(session, course.id) == [(0, a.id), (1, b.id)]


@pytest.mark.parametrize(
    ("position", "expected"),
    [(0, "cab"), (1, "acb"), (2, "abc"), (9, "abc")],
    ids=["first", "up", "same", "past"],
)
async def test_move_lesson(session, position, expected):
    a, b, c = await lessons(session, 3)
    course = await course_service.get(session, (await create_course(session, [a, b, c])).id)
    named = {"a": a.id, "b": b.id, "c": c.id}

    course = await course_service.move_lesson(session, course, lesson_id=c.id, position=position)

    assert [lesson_id for _, lesson_id in await stored_links(session, course.id)] == [
        named[n] for n in expected
    ]


async def test_move_lesson_not_in_course_refused(session):
    a, other = await lessons(session, 2)
    course = await course_service.get(session, (await create_course(session, [a])).id)

    with pytest.raises(NotFoundError):
        await course_service.move_lesson(session, course, lesson_id=other.id, position=0)
