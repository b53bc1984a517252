"""Promo codes (backend/services/promo_code_service.py). The concurrency rule is in tests/test_services.py."""

from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from backend.services import promo_code_service
from backend.services.exceptions import (
    DuplicatePromoCode,
    ItemInUse,
    PromoCodeExpired,
    PromoCodeInactive,
    PromoCodeNotFound,
    PromoCodeUnknown,
    PromoCodeUsedUp,
    RuleViolation,
)
from backend.services.pricing import Quote
from backend.tests.factories import (
    create_course,
    create_lesson,
    create_promo_code,
    create_purchase,
    create_user,
)
from shared import database
from shared.models import PromoCode
from shared.schemas import PromoCodeCreate, PromoCodeUpdate
from shared.utils import utcnow


async def stored(session, promo_id: int) -> PromoCode:
    """The promo code as stored now (not the session's possibly stale copy)."""
    return (
        await session.scalars(
            select(PromoCode).where(PromoCode.id == promo_id).execution_options(populate_existing=True)
        )
    ).one()


async def test_create_promo_code_normalizes_text(session):
    promo = await promo_code_service.create(
        session, data=PromoCodeCreate(code="  summer-sale_1 ", discount_percent=20)
    )

    assert (await stored(session, promo.id)).code == "SUMMER-SALE_1"


async def test_create_promo_code_amount_with_limits(session):
    expires = utcnow() + timedelta(days=3)

    promo = await promo_code_service.create(
        session, data=PromoCodeCreate(code="FIXED", discount_amount=50, max_uses=10, expires_at=expires)
    )

    loaded = await stored(session, promo.id)
    assert (loaded.discount_percent, loaded.discount_amount, loaded.max_uses, loaded.current_uses) == (
        0,
        50,
        10,
        0,
    )
    assert abs(loaded.expires_at - expires) < timedelta(seconds=1)


async def test_create_promo_code_duplicate_any_case_refused(session):
    await create_promo_code(session, code="WELCOME")

    with pytest.raises(DuplicatePromoCode, match="WELCOME"):
        await promo_code_service.create(session, data=PromoCodeCreate(code="welcome", discount_percent=5))

    assert await session.scalar(select(func.count()).select_from(PromoCode)) == 1


async def test_get_promo_code(session):
    promo = await create_promo_code(session)

    assert (await promo_code_service.get(session, promo.id)).id == promo.id
    with pytest.raises(PromoCodeNotFound):
        await promo_code_service.get(session, promo.id + 1000)


async def test_get_by_code_case_insensitive(session):
    promo = await create_promo_code(session, code="SPRING")

    found = await promo_code_service.get_by_code(session, " spring ")

    assert found is not None
    assert found.id == promo.id
    assert await promo_code_service.get_by_code(session, "AUTUMN") is None


async def test_get_all_promo_codes_filters(session):
    await create_promo_code(session, code="ALPHA")
    await create_promo_code(session, code="BETA", is_active=False)
    await create_promo_code(session, code="ALPHA_2")

    async def codes(**filters) -> list[str]:
        promos, _, _ = await promo_code_service.get_all(session, sort="code", limit=10, offset=0, **filters)
        return [p.code for p in promos]

    assert await codes() == ["ALPHA", "ALPHA_2", "BETA"]
    assert await codes(is_active=True) == ["ALPHA", "ALPHA_2"]
    assert await codes(is_active=False) == ["BETA"]
    assert await codes(search="a_") == ["ALPHA_2"]


async def test_update_promo_code_percent_to_amount(session):
    promo = await create_promo_code(session, discount_percent=10)

    await promo_code_service.update(session, promo, data=PromoCodeUpdate(discount_amount=25))

    loaded = await stored(session, promo.id)
    assert (loaded.discount_percent, loaded.discount_amount) == (0, 25)


async def test_update_promo_code_amount_to_percent(session):
    promo = await create_promo_code(session, discount_percent=0, discount_amount=25)

    await promo_code_service.update(session, promo, data=PromoCodeUpdate(discount_percent=30))

    loaded = await stored(session, promo.id)
    assert (loaded.discount_percent, loaded.discount_amount) == (30, None)


async def test_update_promo_code_both_kinds_explicitly(session):
    promo = await create_promo_code(session, discount_percent=10)

    await promo_code_service.update(
        session, promo, data=PromoCodeUpdate(discount_percent=0, discount_amount=7)
    )

    loaded = await stored(session, promo.id)
    assert (loaded.discount_percent, loaded.discount_amount) == (0, 7)


@pytest.mark.parametrize(
    ("initial", "changes"),
    [
        ({"discount_percent": 10}, {"discount_percent": 15, "discount_amount": 5}),
        ({"discount_percent": 10}, {"discount_percent": 0}),
        ({"discount_percent": 0, "discount_amount": 25}, {"discount_amount": None}),
    ],
    ids=["both", "percent-zero", "amount-cleared"],
)
async def test_update_promo_code_without_one_discount_kind_refused(session, initial, changes):
    promo = await create_promo_code(session, **initial)
    promo_id = promo.id

    with pytest.raises(RuleViolation):
        await promo_code_service.update(session, promo, data=PromoCodeUpdate(**changes))

    await session.rollback()
    loaded = await stored(session, promo_id)
    assert (loaded.discount_percent, loaded.discount_amount) == (
        initial["discount_percent"],
        initial.get("discount_amount"),
    )


async def test_update_promo_code_clear_amount_of_percent_code(session):
    promo = await create_promo_code(session, discount_percent=10)

    await promo_code_service.update(session, promo, data=PromoCodeUpdate(discount_amount=None))

    loaded = await stored(session, promo.id)
    assert (loaded.discount_percent, loaded.discount_amount) == (10, None)


async def test_update_promo_code_max_uses_below_current_uses_refused(session):
    promo = await create_promo_code(session, max_uses=10, current_uses=4)
    promo_id = promo.id

    with pytest.raises(RuleViolation, match="4 uses"):
        await promo_code_service.update(session, promo, data=PromoCodeUpdate(max_uses=3))

    await session.rollback()
    assert (await stored(session, promo_id)).max_uses == 10


async def test_update_promo_code_max_uses_below_uses_taken_meanwhile(session):
    promo = await create_promo_code(session, code="BUSY", max_uses=10, current_uses=1)
    promo_id = promo.id
    # Purchases in other sessions took two more uses after this copy was loaded.
    async with database.session_scope() as other:
        await other.execute(update(PromoCode).where(PromoCode.id == promo_id).values(current_uses=3))
        await other.commit()

    with pytest.raises(RuleViolation):
        await promo_code_service.update(session, promo, data=PromoCodeUpdate(max_uses=2))

    await session.rollback()
    assert (await stored(session, promo_id)).max_uses == 10


@pytest.mark.parametrize("max_uses", [4, None])
async def test_update_promo_code_max_uses_at_or_above_current_uses(session, max_uses):
    promo = await create_promo_code(session, max_uses=10, current_uses=4)

    await promo_code_service.update(session, promo, data=PromoCodeUpdate(max_uses=max_uses))

    assert (await stored(session, promo.id)).max_uses == max_uses


async def test_update_promo_code_rename(session):
    promo = await create_promo_code(session, code="OLD")

    await promo_code_service.update(session, promo, data=PromoCodeUpdate(code="new", is_active=False))

    loaded = await stored(session, promo.id)
    assert (loaded.code, loaded.is_active) == ("NEW", False)


async def test_update_promo_code_rename_to_taken_refused(session):
    await create_promo_code(session, code="TAKEN")
    promo = await create_promo_code(session, code="MINE")
    promo_id = promo.id

    with pytest.raises(DuplicatePromoCode):
        await promo_code_service.update(session, promo, data=PromoCodeUpdate(code="taken"))

    await session.rollback()
    assert (await stored(session, promo_id)).code == "MINE"


async def test_delete_unused_promo_code(session):
    promo = await create_promo_code(session)

    await promo_code_service.delete(session, promo)

    assert await session.scalar(select(func.count()).select_from(PromoCode)) == 0


async def test_delete_used_promo_code_refused(session):
    promo = await create_promo_code(session, current_uses=1)
    user, lesson = await create_user(session), await create_lesson(session)
    await create_purchase(session, user, lesson, promo_code_id=promo.id)

    with pytest.raises(ItemInUse, match="deactivate"):
        await promo_code_service.delete(session, promo)

    assert await session.scalar(select(func.count()).select_from(PromoCode)) == 1


async def test_get_usable_promo_code(session):
    promo = await create_promo_code(session, code="OK", max_uses=2, current_uses=1)

    assert (await promo_code_service.get_usable(session, "ok")).id == promo.id


@pytest.mark.parametrize(
    ("fields", "error", "reason"),
    [
        (None, PromoCodeUnknown, "unknown"),
        ({"is_active": False}, PromoCodeInactive, "inactive"),
        ({"expires_at": datetime(2020, 1, 1)}, PromoCodeExpired, "expired"),
        ({"max_uses": 3, "current_uses": 3}, PromoCodeUsedUp, "used_up"),
    ],
)
async def test_get_usable_promo_code_refused(session, fields, error, reason):
    if fields is not None:
        await create_promo_code(session, code="NOPE", **fields)
    # A fresh session: the expiry is read back from the database, timezone-aware.
    session.expunge_all()

    with pytest.raises(error) as caught:
        await promo_code_service.get_usable(session, "nope")

    assert (caught.value.code, caught.value.reason) == ("NOPE", reason)


async def test_get_usable_promo_code_naive_expiry_same_session(session):
    # Held by the caller, so the session's identity map hands back this very object, naive expiry and all.
    created = await create_promo_code(session, code="NAIVE", expires_at=datetime(2020, 1, 1))

    with pytest.raises(PromoCodeExpired):
        await promo_code_service.get_usable(session, "NAIVE")
    assert created.code == "NAIVE"


async def test_get_usable_promo_code_expiring_later(session):
    await create_promo_code(session, code="LATER", expires_at=utcnow() + timedelta(minutes=5))
    session.expunge_all()

    assert (await promo_code_service.get_usable(session, "LATER")).code == "LATER"


async def test_quote_without_code(session):
    lesson = await create_lesson(session, price=80)

    price, promo = await promo_code_service.quote(session, item=lesson, code=None)

    assert (price, promo) == (Quote(80, 0, 80), None)


async def test_quote_course_uses_discount_price(session):
    course = await create_course(session, total_price=500, discount_price=400)
    await create_promo_code(session, code="QUARTER", discount_percent=25)

    price, promo = await promo_code_service.quote(session, item=course, code="quarter")

    assert price == Quote(400, 100, 300)
    assert promo is not None
    assert promo.code == "QUARTER"


async def test_validate_promo_code_usable(session):
    lesson = await create_lesson(session, price=100)
    await create_promo_code(session, code="TEN", discount_amount=10, discount_percent=0)

    price, refusal = await promo_code_service.validate(session, code="ten", item=lesson)

    assert (price, refusal) == (Quote(100, 10, 90), None)


async def test_validate_promo_code_refused_returns_full_price(session):
    lesson = await create_lesson(session, price=100)
    await create_promo_code(session, code="OLD", expires_at=utcnow() - timedelta(seconds=1))

    price, refusal = await promo_code_service.validate(session, code="old", item=lesson)

    assert price == Quote(100, 0, 100)
    assert isinstance(refusal, PromoCodeExpired)


async def test_validate_unknown_promo_code(session):
    course = await create_course(session, total_price=10)

    price, refusal = await promo_code_service.validate(session, code="who", item=course)

    assert price == Quote(10, 0, 10)
    assert isinstance(refusal, PromoCodeUnknown)
    assert refusal.code == "WHO"


async def test_use_promo_code_counts_uses(session):
    promo = await create_promo_code(session, max_uses=2)

    await promo_code_service.use(session, promo)
    await session.commit()
    await promo_code_service.use(session, promo)
    await session.commit()

    assert promo.current_uses == 2
    assert (await stored(session, promo.id)).current_uses == 2


async def test_use_promo_code_used_up_refused(session):
    promo = await create_promo_code(session, max_uses=1)
    await promo_code_service.use(session, promo)
    await session.commit()

    with pytest.raises(PromoCodeUsedUp):
        await promo_code_service.use(session, promo)
    await session.commit()

    assert (await stored(session, promo.id)).current_uses == 1


async def test_use_promo_code_unlimited(session):
    promo = await create_promo_code(session, max_uses=None, current_uses=99)

    await promo_code_service.use(session, promo)
    await session.commit()

    assert (await stored(session, promo.id)).current_uses == 100


@pytest.mark.parametrize(
    ("fields", "error"),
    [({"is_active": False}, PromoCodeInactive), ({"expires_at": datetime(2020, 1, 1)}, PromoCodeExpired)],
)
async def test_use_promo_code_not_usable_refused(session, fields, error):
    promo = await create_promo_code(session, **fields)
    session.expunge_all()
    promo = await promo_code_service.get(session, promo.id)

    with pytest.raises(error):
        await promo_code_service.use(session, promo)
    await session.commit()

    assert (await stored(session, promo.id)).current_uses == 0


async def test_use_promo_code_expiring_later(session):
    # The expiry is compared in SQL: on SQLite as stored text, so both sides must share one UTC form.
    promo = await create_promo_code(session, expires_at=utcnow() + timedelta(minutes=1))

    await promo_code_service.use(session, promo)
    await session.commit()

    assert (await stored(session, promo.id)).current_uses == 1


async def test_use_promo_code_stale_copy_still_refused(session):
    promo = await create_promo_code(session, max_uses=1)
    # Somebody else took the last use after this copy was loaded.
    await session.execute(PromoCode.__table__.update().values(current_uses=1))
    await session.commit()
    assert promo.current_uses == 0

    with pytest.raises(PromoCodeUsedUp):
        await promo_code_service.use(session, promo)

    assert promo.current_uses == 1


async def test_release_promo_code_use(session):
    promo = await create_promo_code(session, max_uses=5, current_uses=2)

    await promo_code_service.release(session, promo.id)
    await session.commit()

    assert (await stored(session, promo.id)).current_uses == 1


async def test_release_promo_code_never_below_zero(session):
    promo = await create_promo_code(session, current_uses=0)

    await promo_code_service.release(session, promo.id)
    await session.commit()

    assert (await stored(session, promo.id)).current_uses == 0
