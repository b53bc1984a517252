"""The price rules (backend/services/pricing.py): pure functions over unsaved rows."""

from datetime import UTC, datetime, timedelta

import pytest

from backend.services import pricing
from backend.services.exceptions import PromoCodeExpired, PromoCodeInactive, PromoCodeUsedUp
from shared.models import Course, Lesson, PromoCode
from shared.utils import utcnow


@pytest.fixture(autouse=True)
def clean_database() -> None:
    """Pure functions over unsaved rows: nothing to empty afterwards (overrides conftest's fixture)."""


def promo(**fields) -> PromoCode:
    values = {"code": "CODE", "discount_percent": 0, "discount_amount": None, "max_uses": None}
    values |= {"current_uses": 0, "is_active": True, "expires_at": None}
    return PromoCode(**(values | fields))


def test_lesson_price_paid():
    assert pricing.lesson_price(Lesson(price=70, is_free=False)) == 70


def test_lesson_price_free_is_zero_whatever_the_price():
    assert pricing.lesson_price(Lesson(price=70, is_free=True)) == 0


def test_course_price_without_discount_is_total():
    assert pricing.course_price(Course(total_price=500, discount_price=None)) == 500


def test_course_price_with_discount_is_discount():
    assert pricing.course_price(Course(total_price=500, discount_price=350)) == 350


def test_item_price_dispatches_on_type():
    assert pricing.item_price(Lesson(price=5, is_free=False)) == 5
    assert pricing.item_price(Course(total_price=9, discount_price=8)) == 8


@pytest.mark.parametrize(
    ("price", "percent", "expected"),
    [
        (100, 10, pricing.Quote(100, 10, 90)),
        # 99 * 15 / 100 = 14.85: the discount is rounded down.
        (99, 15, pricing.Quote(99, 14, 85)),
        (3, 50, pricing.Quote(3, 1, 2)),
        (1, 50, pricing.Quote(1, 0, 1)),
        (100, 99, pricing.Quote(100, 99, 1)),
        (100, 100, pricing.Quote(100, 99, 1)),
    ],
)
def test_apply_promo_code_percent(price, percent, expected):
    assert pricing.apply_promo_code(price, promo(discount_percent=percent)) == expected


@pytest.mark.parametrize(
    ("price", "amount", "expected"),
    [
        (100, 30, pricing.Quote(100, 30, 70)),
        (100, 99, pricing.Quote(100, 99, 1)),
        (100, 100, pricing.Quote(100, 99, 1)),
        (100, 5000, pricing.Quote(100, 99, 1)),
    ],
)
def test_apply_promo_code_amount_never_below_one_star(price, amount, expected):
    assert pricing.apply_promo_code(price, promo(discount_amount=amount)) == expected


def test_apply_promo_code_none_leaves_price():
    assert pricing.apply_promo_code(250, None) == pricing.Quote(250, 0, 250)


def test_apply_promo_code_free_item_stays_free():
    assert pricing.apply_promo_code(0, promo(discount_percent=50)) == pricing.Quote(0, 0, 0)


def test_check_promo_code_usable_accepts_valid_code():
    future = utcnow() + timedelta(days=1)

    pricing.check_promo_code_usable(promo(discount_percent=5, max_uses=2, current_uses=1, expires_at=future))


def test_check_promo_code_usable_inactive():
    with pytest.raises(PromoCodeInactive) as caught:
        pricing.check_promo_code_usable(promo(discount_percent=5, is_active=False))

    assert (caught.value.code, caught.value.reason) == ("CODE", "inactive")


@pytest.mark.parametrize("offset", [timedelta(seconds=-1), timedelta(0)], ids=["past", "now"])
def test_check_promo_code_usable_expired(offset):
    now = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)

    with pytest.raises(PromoCodeExpired) as caught:
        pricing.check_promo_code_usable(promo(discount_percent=5, expires_at=now + offset), now=now)

    assert caught.value.reason == "expired"


def test_check_promo_code_usable_expiry_in_future():
    now = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)

    pricing.check_promo_code_usable(promo(discount_percent=5, expires_at=now + timedelta(seconds=1)), now=now)


def test_check_promo_code_usable_naive_expiry_in_past():
    past = datetime.now(UTC).replace(tzinfo=None) - timedelta(minutes=1)

    with pytest.raises(PromoCodeExpired):
        pricing.check_promo_code_usable(promo(discount_percent=5, expires_at=past))


def test_check_promo_code_usable_naive_expiry_in_future():
    future = datetime.now(UTC).replace(tzinfo=None) + timedelta(minutes=1)

    pricing.check_promo_code_usable(promo(discount_percent=5, expires_at=future))


def test_check_promo_code_usable_used_up():
    with pytest.raises(PromoCodeUsedUp) as caught:
        pricing.check_promo_code_usable(promo(discount_percent=5, max_uses=3, current_uses=3))

    assert caught.value.reason == "used_up"
    assert caught.value.message == "Promo code CODE has no uses left"


def test_check_promo_code_usable_unlimited_uses():
    pricing.check_promo_code_usable(promo(discount_percent=5, max_uses=None, current_uses=10_000))


def test_check_promo_code_usable_inactive_reported_before_expired():
    past = utcnow() - timedelta(days=1)

    with pytest.raises(PromoCodeInactive):
        pricing.check_promo_code_usable(promo(discount_percent=5, is_active=False, expires_at=past))
