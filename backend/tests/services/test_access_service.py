"""The access rule (backend/services/access_service.py): free, bought, or bought as part of a course."""

import pytest

from backend.services import access_service
from backend.tests.factories import create_course, create_lesson, create_purchase, create_user
from shared.constants import PurchaseStatus


async def can_access(session, user, lesson) -> bool:
    return await access_service.can_access_lesson(session, user_id=user.id, lesson=lesson)


async def test_can_access_free_active_lesson(session):
    user = await create_user(session)
    lesson = await create_lesson(session, is_free=True, price=0)

    assert await can_access(session, user, lesson) is True


async def test_can_access_free_inactive_lesson_refused(session):
    user = await create_user(session)
    lesson = await create_lesson(session, is_free=True, price=0, is_active=False)

    assert await can_access(session, user, lesson) is False


async def test_can_access_paid_lesson_without_purchase_refused(session):
    user = await create_user(session)
    lesson = await create_lesson(session)

    assert await can_access(session, user, lesson) is False


async def test_can_access_lesson_bought_directly(session):
    user = await create_user(session)
    lesson = await create_lesson(session)
    await create_purchase(session, user, lesson, status=PurchaseStatus.COMPLETED)

    assert await can_access(session, user, lesson) is True


async def test_can_access_inactive_lesson_bought_directly(session):
    user = await create_user(session)
    lesson = await create_lesson(session, is_active=False)
    await create_purchase(session, user, lesson)

    assert await can_access(session, user, lesson) is True


@pytest.mark.parametrize("status", [PurchaseStatus.PENDING, PurchaseStatus.FAILED, PurchaseStatus.REFUNDED])
async def test_can_access_lesson_unpaid_purchase_refused(session, status):
    user = await create_user(session)
    lesson = await create_lesson(session)
    course = await create_course(session, [lesson])
    await create_purchase(session, user, lesson, status=status)
    await create_purchase(session, user, course, status=status)

    assert await can_access(session, user, lesson) is False
    assert await access_service.accessible_lesson_ids(session, user_id=user.id) == set()
    assert await access_service.owns_course(session, user_id=user.id, course_id=course.id) is False


async def test_can_access_lesson_through_bought_course(session):
    user = await create_user(session)
    inside, outside = await create_lesson(session), await create_lesson(session)
    course = await create_course(session, [inside])
    await create_purchase(session, user, course)

    assert await can_access(session, user, inside) is True
    assert await can_access(session, user, outside) is False


async def test_can_access_lesson_through_bought_inactive_course(session):
    user = await create_user(session)
    lesson = await create_lesson(session)
    course = await create_course(session, [lesson])
    await create_purchase(session, user, course)
    course.is_active = False
    await session.commit()

    assert await can_access(session, user, lesson) is True


async def test_can_access_inactive_lesson_through_bought_course(session):
    user = await create_user(session)
    lesson = await create_lesson(session, is_active=False)
    free_inactive = await create_lesson(session, is_active=False, is_free=True, price=0)
    course = await create_course(session, [lesson, free_inactive])
    await create_purchase(session, user, course)

    assert await can_access(session, user, lesson) is True
    assert await can_access(session, user, free_inactive) is True


async def test_can_access_lesson_bought_by_another_user_refused(session):
    buyer, other = await create_user(session), await create_user(session)
    lesson, in_course = await create_lesson(session), await create_lesson(session)
    course = await create_course(session, [in_course])
    await create_purchase(session, buyer, lesson)
    await create_purchase(session, buyer, course)

    assert await can_access(session, other, lesson) is False
    assert await can_access(session, other, in_course) is False
    assert await access_service.owns_course(session, user_id=other.id, course_id=course.id) is False
    assert await access_service.accessible_lesson_ids(session, user_id=other.id) == set()


async def test_owns_course_after_completed_purchase(session):
    user = await create_user(session)
    course, other_course = await create_course(session), await create_course(session)
    await create_purchase(session, user, course)

    assert await access_service.owns_course(session, user_id=user.id, course_id=course.id) is True
    assert await access_service.owns_course(session, user_id=user.id, course_id=other_course.id) is False


async def test_owns_course_not_from_its_lessons(session):
    user = await create_user(session)
    lesson = await create_lesson(session)
    course = await create_course(session, [lesson])
    await create_purchase(session, user, lesson)

    assert await access_service.owns_course(session, user_id=user.id, course_id=course.id) is False


async def test_accessible_lesson_ids_direct_and_through_courses(session):
    user, other = await create_user(session), await create_user(session)
    direct, in_course, in_both, pending, unbought = [await create_lesson(session) for _ in range(5)]
    free = await create_lesson(session, is_free=True, price=0)
    course = await create_course(session, [in_course, in_both, free])
    await create_purchase(session, user, direct)
    await create_purchase(session, user, in_both)
    await create_purchase(session, user, course)
    await create_purchase(session, user, pending, status=PurchaseStatus.PENDING)
    await create_purchase(session, other, unbought)

    ids = await access_service.accessible_lesson_ids(session, user_id=user.id)

    # Free lessons are included only when bought, here through the course.
    assert ids == {direct.id, in_course.id, in_both.id, free.id}


async def test_accessible_lesson_ids_excludes_free_lessons_not_bought(session):
    user = await create_user(session)
    await create_lesson(session, is_free=True, price=0)

    assert await access_service.accessible_lesson_ids(session, user_id=user.id) == set()
