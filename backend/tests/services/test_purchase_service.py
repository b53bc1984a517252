"""Purchases and their state machine (backend/services/purchase_service.py)."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from backend.services import access_service, purchase_service
from backend.services.exceptions import (
    AlreadyPurchased,
    CourseNotFound,
    DuplicateChargeId,
    DuplicatePaymentId,
    InvalidPurchaseTransition,
    ItemNotForSale,
    LessonNotFound,
    PromoCodeExpired,
    PromoCodeUnknown,
    PromoCodeUsedUp,
    PurchaseNotFound,
    UserNotFound,
)
from backend.tests.factories import (
    create_course,
    create_lesson,
    create_promo_code,
    create_purchase,
    create_user,
)
from shared import database
from shared.constants import PurchaseStatus
from shared.models import PromoCode, Purchase
from shared.schemas import PurchaseCreate
from shared.utils import utcnow

PENDING, COMPLETED = PurchaseStatus.PENDING, PurchaseStatus.COMPLETED
FAILED, REFUNDED = PurchaseStatus.FAILED, PurchaseStatus.REFUNDED


async def uses_of(session, promo_id: int) -> tuple[int, int | None]:
    row = (
        await session.execute(
            select(PromoCode.current_uses, PromoCode.max_uses).where(PromoCode.id == promo_id)
        )
    ).one()
    return tuple(row)


async def purchase_count(session) -> int:
    return await session.scalar(select(func.count()).select_from(Purchase))


async def buy(session, user, *, lesson=None, course=None, **fields) -> Purchase:
    data = PurchaseCreate(
        user_id=user.id,
        lesson_id=lesson.id if lesson is not None else None,
        course_id=course.id if course is not None else None,
        **fields,
    )
    return await purchase_service.create(session, data=data)


async def can_open(session, user, lesson) -> bool:
    return await access_service.can_access_lesson(session, user_id=user.id, lesson=lesson)


# Creation ------------------------------------------------------------------------------------------------


async def test_create_purchase_pending_at_lesson_price(session):
    user, lesson = await create_user(session), await create_lesson(session, price=120)

    purchase = await buy(session, user, lesson=lesson)
    session.expunge_all()

    loaded = await session.get(Purchase, purchase.id)
    assert loaded is not None
    assert (loaded.status, loaded.amount, loaded.lesson_id, loaded.course_id) == (
        PENDING,
        120,
        lesson.id,
        None,
    )
    assert loaded.payment_id.startswith("pay_")
    assert loaded.promo_code_id is None
    assert await can_open(session, user, lesson) is False


async def test_create_purchase_generates_unique_payment_ids(session):
    user, lesson = await create_user(session), await create_lesson(session)

    first = await buy(session, user, lesson=lesson)
    second = await buy(session, user, lesson=lesson)

    assert first.payment_id != second.payment_id


async def test_create_purchase_course_at_discount_price(session):
    user = await create_user(session)
    course = await create_course(session, [await create_lesson(session)], total_price=500, discount_price=300)

    purchase = await buy(session, user, course=course, payment_id="course-pay")

    assert (purchase.amount, purchase.course_id, purchase.payment_id) == (300, course.id, "course-pay")


async def test_create_purchase_with_promo_reserves_use(session):
    user, lesson = await create_user(session), await create_lesson(session, price=99)
    promo = await create_promo_code(session, code="SAVE15", discount_percent=15, max_uses=3)

    purchase = await buy(session, user, lesson=lesson, promo_code="save15")

    assert (purchase.amount, purchase.promo_code_id) == (85, promo.id)
    assert await uses_of(session, promo.id) == (1, 3)


async def test_create_purchase_with_fixed_promo_never_below_one_star(session):
    user, lesson = await create_user(session), await create_lesson(session, price=40)
    await create_promo_code(session, code="HUGE", discount_percent=0, discount_amount=1000)

    purchase = await buy(session, user, lesson=lesson, promo_code="HUGE")

    assert purchase.amount == 1


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"max_uses": 1, "current_uses": 1}, PromoCodeUsedUp),
        ({"expires_at": datetime(2020, 1, 1, tzinfo=UTC)}, PromoCodeExpired),
    ],
)
async def test_create_purchase_with_unusable_promo_refused(session, fields, error):
    user, lesson = await create_user(session), await create_lesson(session)
    await create_promo_code(session, code="BAD", **fields)

    with pytest.raises(error):
        await buy(session, user, lesson=lesson, promo_code="BAD")

    assert await purchase_count(session) == 0


async def test_create_purchase_with_unknown_promo_refused(session):
    user, lesson = await create_user(session), await create_lesson(session)

    with pytest.raises(PromoCodeUnknown):
        await buy(session, user, lesson=lesson, promo_code="MISSING")

    assert await purchase_count(session) == 0


async def test_create_purchase_completed_grants_access(session):
    user = await create_user(session)
    a, b = await create_lesson(session), await create_lesson(session)
    course = await create_course(session, [a, b])

    purchase = await buy(session, user, course=course, status=COMPLETED, telegram_payment_charge_id="ch-1")

    assert purchase.status is COMPLETED
    assert purchase.telegram_payment_charge_id == "ch-1"
    assert await can_open(session, user, a) is True
    assert await access_service.accessible_lesson_ids(session, user_id=user.id) == {a.id, b.id}


async def test_create_purchase_free_lesson_not_for_sale(session):
    user, lesson = await create_user(session), await create_lesson(session, is_free=True, price=0)

    with pytest.raises(ItemNotForSale, match="free"):
        await buy(session, user, lesson=lesson)

    assert await purchase_count(session) == 0


async def test_create_purchase_inactive_lesson_not_for_sale(session):
    user, lesson = await create_user(session), await create_lesson(session, is_active=False)

    with pytest.raises(ItemNotForSale, match="not on sale"):
        await buy(session, user, lesson=lesson)


async def test_create_purchase_inactive_course_not_for_sale(session):
    user, course = await create_user(session), await create_course(session, is_active=False)

    with pytest.raises(ItemNotForSale, match="not on sale"):
        await buy(session, user, course=course)


async def test_create_purchase_unknown_items(session):
    user = await create_user(session)

    with pytest.raises(LessonNotFound):
        await purchase_service.create(session, data=PurchaseCreate(user_id=user.id, lesson_id=999))
    with pytest.raises(CourseNotFound):
        await purchase_service.create(session, data=PurchaseCreate(user_id=user.id, course_id=999))


async def test_create_purchase_unknown_user(session):
    lesson = await create_lesson(session)

    with pytest.raises(UserNotFound):
        await purchase_service.create(session, data=PurchaseCreate(user_id=424242, lesson_id=lesson.id))

    assert await purchase_count(session) == 0


async def test_create_purchase_lesson_already_owned(session):
    user, lesson = await create_user(session), await create_lesson(session)
    await create_purchase(session, user, lesson)

    with pytest.raises(AlreadyPurchased, match=f"lesson {lesson.id}"):
        await buy(session, user, lesson=lesson)

    assert await purchase_count(session) == 1


async def test_create_purchase_lesson_owned_through_course(session):
    user, lesson = await create_user(session), await create_lesson(session)
    await create_purchase(session, user, await create_course(session, [lesson]))

    with pytest.raises(AlreadyPurchased):
        await buy(session, user, lesson=lesson)


async def test_create_purchase_course_already_owned(session):
    user, course = await create_user(session), await create_course(session)
    await create_purchase(session, user, course)

    with pytest.raises(AlreadyPurchased, match=f"course {course.id}"):
        await buy(session, user, course=course)


@pytest.mark.parametrize("status", [PENDING, FAILED, REFUNDED])
async def test_create_purchase_again_after_unpaid_or_refunded(session, status):
    user, lesson = await create_user(session), await create_lesson(session)
    await create_purchase(session, user, lesson, status=status)

    purchase = await buy(session, user, lesson=lesson)

    assert purchase.status is PENDING
    assert await purchase_count(session) == 2


async def test_create_purchase_duplicate_payment_id(session):
    user, lesson = await create_user(session), await create_lesson(session)
    promo = await create_promo_code(session, code="KEEP", max_uses=5)
    await create_purchase(session, user, lesson, status=PENDING, payment_id="p-1")

    with pytest.raises(DuplicatePaymentId, match="p-1"):
        await buy(session, user, lesson=lesson, payment_id="p-1", promo_code="KEEP")

    assert await purchase_count(session) == 1
    # Refused before the promo code's use was taken.
    assert await uses_of(session, promo.id) == (0, 5)


async def test_create_purchase_duplicate_charge_id(session):
    user, a, b = await create_user(session), await create_lesson(session), await create_lesson(session)
    promo_id = (await create_promo_code(session, code="KEEP", max_uses=5)).id
    await create_purchase(session, user, a, telegram_payment_charge_id="charge-1")

    with pytest.raises(DuplicateChargeId, match="charge-1"):
        await buy(session, user, lesson=b, telegram_payment_charge_id="charge-1", promo_code="KEEP")
    # What the unit of work does with an error: roll back, the promo code's use with it.
    await session.rollback()

    assert await purchase_count(session) == 1
    assert await uses_of(session, promo_id) == (0, 5)


async def test_get_purchase(session):
    purchase = await create_purchase(session, await create_user(session), await create_lesson(session))

    assert (await purchase_service.get(session, purchase.id)).id == purchase.id
    with pytest.raises(PurchaseNotFound):
        await purchase_service.get(session, purchase.id + 100)


async def test_get_purchase_by_payment_id(session):
    purchase = await create_purchase(
        session, await create_user(session), await create_lesson(session), payment_id="find-me"
    )

    found = await purchase_service.get_by_payment_id(session, "find-me")

    assert found is not None
    assert found.id == purchase.id
    assert await purchase_service.get_by_payment_id(session, "missing") is None


# Transitions ---------------------------------------------------------------------------------------------


async def test_complete_purchase_grants_access(session):
    user, lesson = await create_user(session), await create_lesson(session)
    purchase = await buy(session, user, lesson=lesson)

    await purchase_service.complete(session, purchase, telegram_payment_charge_id="tg-charge")
    session.expunge_all()

    loaded = await session.get(Purchase, purchase.id)
    assert loaded is not None
    assert (loaded.status, loaded.telegram_payment_charge_id) == (COMPLETED, "tg-charge")
    assert await can_open(session, user, lesson) is True


async def test_complete_purchase_again_changes_nothing(session):
    user, lesson = await create_user(session), await create_lesson(session)
    purchase = await buy(session, user, lesson=lesson)
    await purchase_service.complete(session, purchase, telegram_payment_charge_id="first")

    again = await purchase_service.complete(session, purchase, telegram_payment_charge_id="second")
    session.expunge_all()

    loaded = await session.get(Purchase, purchase.id)
    assert again.status is COMPLETED
    assert loaded is not None
    assert (loaded.status, loaded.telegram_payment_charge_id) == (COMPLETED, "first")


async def test_complete_purchase_without_charge_id(session):
    user, lesson = await create_user(session), await create_lesson(session)
    purchase = await buy(session, user, lesson=lesson)

    await purchase_service.complete(session, purchase)

    row = (
        await session.execute(
            select(Purchase.status, Purchase.telegram_payment_charge_id).where(Purchase.id == purchase.id)
        )
    ).one()
    assert tuple(row) == (COMPLETED, None)


async def test_complete_purchase_duplicate_charge_id(session):
    user, a, b = await create_user(session), await create_lesson(session), await create_lesson(session)
    await create_purchase(session, user, a, telegram_payment_charge_id="used")
    purchase = await buy(session, user, lesson=b)
    purchase_id = purchase.id

    with pytest.raises(DuplicateChargeId):
        await purchase_service.complete(session, purchase, telegram_payment_charge_id="used")

    assert await session.scalar(select(Purchase.status).where(Purchase.id == purchase_id)) is PENDING


async def test_fail_purchase_releases_promo_use(session):
    user, lesson = await create_user(session), await create_lesson(session)
    promo = await create_promo_code(session, code="ONE", max_uses=1)
    purchase = await buy(session, user, lesson=lesson, promo_code="ONE")
    assert await uses_of(session, promo.id) == (1, 1)

    await purchase_service.fail(session, purchase)

    assert await session.scalar(select(Purchase.status).where(Purchase.id == purchase.id)) is FAILED
    assert await uses_of(session, promo.id) == (0, 1)
    assert await can_open(session, user, lesson) is False
    # The released use is available to somebody else.
    other_id = (await create_user(session)).id
    async with database.session_scope() as other_session:
        other = await purchase_service.create(
            other_session, data=PurchaseCreate(user_id=other_id, lesson_id=lesson.id, promo_code="ONE")
        )
    assert other.promo_code_id == promo.id
    assert await uses_of(session, promo.id) == (1, 1)


async def test_fail_purchase_released_promo_usable_in_same_session(session):
    user, other, lesson = await create_user(session), await create_user(session), await create_lesson(session)
    # Held by the caller, so it stays in the session's identity map.
    promo = await create_promo_code(session, code="ONE", max_uses=1)
    purchase = await buy(session, user, lesson=lesson, promo_code="ONE")
    await purchase_service.fail(session, purchase)

    again = await buy(session, other, lesson=lesson, promo_code="ONE")

    assert again.promo_code_id == promo.id
    assert await uses_of(session, promo.id) == (1, 1)


async def test_fail_purchase_without_promo(session):
    user, lesson = await create_user(session), await create_lesson(session)
    purchase = await buy(session, user, lesson=lesson)

    await purchase_service.fail(session, purchase)

    assert await session.scalar(select(Purchase.status).where(Purchase.id == purchase.id)) is FAILED


async def test_complete_failed_purchase_late_payment(session):
    user, lesson = await create_user(session), await create_lesson(session)
    purchase = await create_purchase(session, user, lesson, status=FAILED)

    await purchase_service.complete(session, purchase, telegram_payment_charge_id="late")

    assert await session.scalar(select(Purchase.status).where(Purchase.id == purchase.id)) is COMPLETED
    assert await can_open(session, user, lesson) is True


async def test_complete_failed_purchase_retakes_promo_use(session):
    user, lesson = await create_user(session), await create_lesson(session)
    promo = await create_promo_code(session, code="LATE", max_uses=3, current_uses=1)
    purchase = await create_purchase(session, user, lesson, status=FAILED, promo_code_id=promo.id)
    # Each step in its own session, as the API and the bot do it.
    session.expunge_all()

    async with database.session_scope() as step:
        await purchase_service.complete(step, await purchase_service.get(step, purchase.id))

    assert await uses_of(session, promo.id) == (2, 3)


async def test_complete_failed_purchase_retakes_used_up_promo(session):
    user, lesson = await create_user(session), await create_lesson(session)
    promo = await create_promo_code(session, code="GONE", max_uses=2, current_uses=2)
    purchase = await create_purchase(session, user, lesson, status=FAILED, promo_code_id=promo.id)
    session.expunge_all()

    async with database.session_scope() as step:
        await purchase_service.complete(step, await purchase_service.get(step, purchase.id))

    # The buyer already paid the discounted price, so the code stretches to count them.
    assert await uses_of(session, promo.id) == (3, 3)


async def test_fail_then_complete_with_promo_in_separate_sessions(session):
    user, lesson = await create_user(session), await create_lesson(session)
    promo = await create_promo_code(session, code="STEP", max_uses=5)
    user_id, lesson_id, promo_id = user.id, lesson.id, promo.id

    async with database.session_scope() as step:
        purchase = await purchase_service.create(
            step, data=PurchaseCreate(user_id=user_id, lesson_id=lesson_id, promo_code="STEP")
        )
    async with database.session_scope() as step:
        await purchase_service.fail(step, await purchase_service.get(step, purchase.id))
    async with database.session_scope() as step:
        await purchase_service.complete(step, await purchase_service.get(step, purchase.id))

    assert await uses_of(session, promo_id) == (1, 5)


async def test_fail_then_complete_with_promo_in_one_session(session):
    user, lesson = await create_user(session), await create_lesson(session)
    # Held by the caller (as after showing the discounted price), so it stays in the identity map.
    promo = await create_promo_code(session, code="SAME", max_uses=5)
    purchase = await buy(session, user, lesson=lesson, promo_code="SAME")

    await purchase_service.fail(session, purchase)
    await purchase_service.complete(session, purchase)

    # One completed purchase used the code once.
    assert await uses_of(session, promo.id) == (1, 5)


async def test_refund_purchase_removes_access(session):
    user, lesson = await create_user(session), await create_lesson(session)
    course = await create_course(session, [lesson])
    purchase = await create_purchase(session, user, course)
    assert await can_open(session, user, lesson) is True

    await purchase_service.mark_refunded(session, purchase)

    assert await session.scalar(select(Purchase.status).where(Purchase.id == purchase.id)) is REFUNDED
    assert await can_open(session, user, lesson) is False
    assert await access_service.owns_course(session, user_id=user.id, course_id=course.id) is False


@pytest.mark.parametrize(
    ("start", "action"),
    [
        (REFUNDED, "complete"),
        (REFUNDED, "fail"),
        (REFUNDED, "mark_refunded"),
        (PENDING, "mark_refunded"),
        (FAILED, "mark_refunded"),
        (FAILED, "fail"),
        (COMPLETED, "fail"),
    ],
)
async def test_transition_purchase_refused(session, start, action):
    user, lesson = await create_user(session), await create_lesson(session)
    purchase = await create_purchase(session, user, lesson, status=start)

    with pytest.raises(InvalidPurchaseTransition, match=f"is {start.value} and cannot become"):
        await getattr(purchase_service, action)(session, purchase)

    session.expunge_all()
    assert await session.scalar(select(Purchase.status).where(Purchase.id == purchase.id)) is start


# Listing -------------------------------------------------------------------------------------------------


async def test_get_all_purchases_filters(session):
    alice, bob = await create_user(session), await create_user(session)
    lesson, other_lesson = await create_lesson(session), await create_lesson(session)
    course = await create_course(session)
    a1 = await create_purchase(session, alice, lesson)
    a2 = await create_purchase(session, alice, course, status=PENDING)
    b1 = await create_purchase(session, bob, lesson, status=REFUNDED)
    b2 = await create_purchase(session, bob, other_lesson)

    async def ids(**filters) -> list[int]:
        purchases, total, _ = await purchase_service.get_all(
            session, sort="id", limit=10, offset=0, **filters
        )
        assert total == len(purchases)
        return [p.id for p in purchases]

    assert await ids() == [a1.id, a2.id, b1.id, b2.id]
    assert await ids(user_id=alice.id) == [a1.id, a2.id]
    assert await ids(lesson_id=lesson.id) == [a1.id, b1.id]
    assert await ids(course_id=course.id) == [a2.id]
    assert await ids(status=COMPLETED) == [a1.id, b2.id]
    assert await ids(user_id=bob.id, status=COMPLETED) == [b2.id]


async def test_a_users_purchases_page_by_page_and_past_the_end(session):
    alice, bob = await create_user(session), await create_user(session)
    lessons = [await create_lesson(session) for _ in range(3)]
    mine = [await create_purchase(session, alice, lesson) for lesson in lessons]
    await create_purchase(session, bob, lessons[0])

    async def page(user_id: int, offset: int) -> tuple[list[int], int]:
        purchases, total, _ = await purchase_service.get_all(
            session, user_id=user_id, sort="id", limit=2, offset=offset
        )
        return [p.id for p in purchases], total

    assert await page(alice.id, 0) == ([mine[0].id, mine[1].id], 3)
    assert await page(alice.id, 2) == ([mine[2].id], 3)
    # Past the end: no row carries the total, so it is counted on its own, for this user only.
    assert await page(alice.id, 5) == ([], 3)
    assert (await page(bob.id, 5))[1] == 1


async def test_get_all_purchases_date_range(session):
    user, lesson = await create_user(session), await create_lesson(session)
    start = datetime(2030, 3, 1, tzinfo=UTC)
    times = [start - timedelta(microseconds=1), start, start + timedelta(days=1), start + timedelta(days=2)]
    purchases = [await create_purchase(session, user, lesson, created_at=t) for t in times]

    found, total, _ = await purchase_service.get_all(
        session,
        created_from=start,
        created_to=start + timedelta(days=2),
        sort="created_at",
        limit=10,
        offset=0,
    )

    # created_from is inclusive, created_to exclusive.
    assert [p.id for p in found] == [purchases[1].id, purchases[2].id]
    assert total == 2


async def test_get_all_purchases_date_range_in_other_timezone(session):
    user, lesson = await create_user(session), await create_lesson(session)
    early = await create_purchase(session, user, lesson, created_at=datetime(2030, 3, 1, 9, 0, tzinfo=UTC))
    late = await create_purchase(session, user, lesson, created_at=datetime(2030, 3, 1, 11, 0, tzinfo=UTC))
    plus_two = timezone(timedelta(hours=2))

    found, _, _ = await purchase_service.get_all(
        session, created_from=datetime(2030, 3, 1, 12, 0, tzinfo=plus_two), limit=10, offset=0
    )
    before, _, _ = await purchase_service.get_all(
        session, created_to=datetime(2030, 3, 1, 12, 0, tzinfo=plus_two), limit=10, offset=0
    )

    assert [p.id for p in found] == [late.id]
    assert [p.id for p in before] == [early.id]


async def test_get_all_purchases_sort_by_amount(session):
    user = await create_user(session)
    lessons = [await create_lesson(session) for _ in range(3)]
    for lesson, amount in zip(lessons, [30, 10, 20], strict=True):
        await create_purchase(session, user, lesson, amount=amount)

    found, _, _ = await purchase_service.get_all(session, sort="-amount", limit=10, offset=0)
    newest_first, _, _ = await purchase_service.get_all(session, limit=2, offset=0)

    assert [p.amount for p in found] == [30, 20, 10]
    assert len(newest_first) == 2
    assert newest_first[0].created_at >= newest_first[1].created_at
    assert utcnow() - newest_first[0].created_at < timedelta(minutes=1)
