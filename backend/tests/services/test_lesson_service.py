"""Lessons (backend/services/lesson_service.py)."""

import pytest
from sqlalchemy import func, select

from backend.services import lesson_service
from backend.services.exceptions import ItemInUse, LessonNotFound, RuleViolation
from backend.tests.factories import create_course, create_lesson, create_purchase, create_user
from shared.constants import PurchaseStatus
from shared.models import CourseLesson, Lesson
from shared.schemas import LessonCreate, LessonUpdate


async def titles(session, **filters) -> list[str]:
    lessons, _, _ = await lesson_service.get_all(session, limit=100, offset=0, **({"sort": "id"} | filters))
    return [lesson.title for lesson in lessons]


async def lesson_count(session) -> int:
    return await session.scalar(select(func.count()).select_from(Lesson))


async def test_create_lesson(session):
    lesson = await lesson_service.create(
        session, data=LessonCreate(title="  Intro  ", price=15, text_content="Hello", video_path="a.mp4")
    )
    session.expunge_all()

    loaded = await session.get(Lesson, lesson.id)
    assert loaded is not None
    assert (loaded.title, loaded.price, loaded.text_content, loaded.video_path) == (
        "Intro",
        15,
        "Hello",
        "a.mp4",
    )
    assert (loaded.is_free, loaded.is_active) == (False, True)


async def test_create_free_lesson_with_zero_price(session):
    lesson = await lesson_service.create(session, data=LessonCreate(title="Free", is_free=True))

    assert (lesson.price, lesson.is_free) == (0, True)
    assert await lesson_count(session) == 1


async def test_get_lesson(session):
    lesson = await create_lesson(session)

    assert (await lesson_service.get(session, lesson.id)).id == lesson.id


async def test_get_lesson_not_found(session):
    with pytest.raises(LessonNotFound, match="Lesson 404 not found"):
        await lesson_service.get(session, 404)


async def test_get_lesson_inactive_when_active_only(session):
    lesson = await create_lesson(session, is_active=False)

    assert (await lesson_service.get(session, lesson.id)).id == lesson.id
    with pytest.raises(LessonNotFound):
        await lesson_service.get(session, lesson.id, active_only=True)


async def test_get_all_lessons_filters_free(session):
    await create_lesson(session, title="Paid", price=10)
    await create_lesson(session, title="Free", price=0, is_free=True)

    assert await titles(session, is_free=True) == ["Free"]
    assert await titles(session, is_free=False) == ["Paid"]


async def test_get_all_lessons_filters_active(session):
    await create_lesson(session, title="On")
    await create_lesson(session, title="Off", is_active=False)

    assert await titles(session, is_active=True) == ["On"]
    assert await titles(session, is_active=False) == ["Off"]


@pytest.mark.parametrize(
    ("price_min", "price_max", "expected"),
    [
        (10, None, ["Ten", "Fifty"]),
        (None, 10, ["Five", "Ten"]),
        (6, 49, ["Ten"]),
        (10, 10, ["Ten"]),
        (51, None, []),
    ],
)
async def test_get_all_lessons_filters_price_range(session, price_min, price_max, expected):
    for title, price in [("Five", 5), ("Ten", 10), ("Fifty", 50)]:
        await create_lesson(session, title=title, price=price)

    assert await titles(session, price_min=price_min, price_max=price_max) == expected


@pytest.mark.parametrize(
    ("search", "expected"),
    [("python", ["Python basics", "Advanced"]), ("BASICS", ["Python basics"]), ("100%", ["Discounts"])],
)
async def test_get_all_lessons_search_title_and_description(session, search, expected):
    await create_lesson(session, title="Python basics", description="Start here")
    await create_lesson(session, title="Advanced", description="More python")
    await create_lesson(session, title="Discounts", description="Get 100% off")
    await create_lesson(session, title="Other", description="100 percent")

    assert await titles(session, search=search) == expected


async def test_get_all_lessons_sort_by_price_with_id_tiebreak(session):
    a = await create_lesson(session, title="a", price=20)
    b = await create_lesson(session, title="b", price=10)
    c = await create_lesson(session, title="c", price=20)
    d = await create_lesson(session, title="d", price=10)

    ascending, _, _ = await lesson_service.get_all(session, sort="price", limit=10, offset=0)
    descending, _, _ = await lesson_service.get_all(session, sort="-price", limit=10, offset=0)

    assert [x.id for x in ascending] == [b.id, d.id, a.id, c.id]
    assert [x.id for x in descending] == [c.id, a.id, d.id, b.id]


async def test_get_all_lessons_pages_are_stable(session):
    for _ in range(5):
        await create_lesson(session, price=7)

    pages = [await lesson_service.get_all(session, sort="price", limit=2, offset=o) for o in (0, 2, 4)]

    ids = [lesson.id for page, _, _ in pages for lesson in page]
    assert len(ids) == len(set(ids)) == 5
    assert ids == sorted(ids)
    assert {(total, exact) for _, total, exact in pages} == {(5, True)}


async def test_update_lesson_changes_given_fields(session):
    lesson = await create_lesson(session, title="Old", price=10, video_path="v.mp4")

    await lesson_service.update(session, lesson, data=LessonUpdate(title="New", video_path=None))
    session.expunge_all()

    loaded = await session.get(Lesson, lesson.id)
    assert loaded is not None
    assert (loaded.title, loaded.price, loaded.video_path) == ("New", 10, None)


async def test_update_lesson_make_free(session):
    lesson = await create_lesson(session, price=10)

    await lesson_service.update(session, lesson, data=LessonUpdate(is_free=True, price=0))

    row = (await session.execute(select(Lesson.is_free, Lesson.price).where(Lesson.id == lesson.id))).one()
    assert tuple(row) == (True, 0)


async def test_update_lesson_zero_price_paid_refused(session):
    lesson = await create_lesson(session, is_free=True, price=0)
    lesson_id = lesson.id

    with pytest.raises(RuleViolation, match="at least 1 Star"):
        await lesson_service.update(session, lesson, data=LessonUpdate(is_free=False))

    row = (await session.execute(select(Lesson.is_free, Lesson.price).where(Lesson.id == lesson_id))).one()
    assert tuple(row) == (True, 0)


async def test_update_lesson_paid_price_to_zero_refused(session):
    lesson = await create_lesson(session, price=10)
    lesson_id = lesson.id

    with pytest.raises(RuleViolation):
        await lesson_service.update(session, lesson, data=LessonUpdate(price=0))

    assert await session.scalar(select(Lesson.price).where(Lesson.id == lesson_id)) == 10


async def test_delete_lesson_without_purchases(session):
    lesson, kept = await create_lesson(session), await create_lesson(session)
    course = await create_course(session, [lesson, kept])
    user = await create_user(session)
    await create_purchase(session, user, kept)

    await lesson_service.delete(session, lesson)

    assert await session.get(Lesson, lesson.id) is None
    links = (await session.execute(select(CourseLesson.course_id, CourseLesson.lesson_id))).all()
    assert links == [(course.id, kept.id)]


async def test_delete_lesson_with_direct_purchase_refused(session):
    user, lesson = await create_user(session), await create_lesson(session)
    # Even a failed purchase is history that must keep pointing at the lesson.
    await create_purchase(session, user, lesson, status=PurchaseStatus.FAILED)

    with pytest.raises(ItemInUse, match="deactivate"):
        await lesson_service.delete(session, lesson)

    assert await lesson_count(session) == 1


async def test_delete_lesson_in_purchased_course_refused(session):
    user, lesson = await create_user(session), await create_lesson(session)
    course = await create_course(session, [lesson])
    await create_purchase(session, user, course)

    with pytest.raises(ItemInUse):
        await lesson_service.delete(session, lesson)

    assert await lesson_count(session) == 1
    assert await session.scalar(select(func.count()).select_from(CourseLesson)) == 1
