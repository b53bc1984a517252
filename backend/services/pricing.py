"""The price rules: what a lesson or a course costs, and what a promo code takes off."""

from dataclasses import dataclass
from datetime import datetime

from backend.services.exceptions import PromoCodeExpired, PromoCodeInactive, PromoCodeUsedUp
from shared.constants import MIN_PAID_PRICE_STARS
from shared.models import Course, Lesson, PromoCode
from shared.utils import as_utc, utcnow


@dataclass(frozen=True, slots=True)
class Quote:
    original_price: int
    discount: int
    final_price: int


def lesson_price(lesson: Lesson) -> int:
    """Stars a lesson costs: 0 when free."""
    return 0 if lesson.is_free else lesson.price


def course_price(course: Course) -> int:
    """Stars a course costs: its discount price when set, else its total price."""
    return course.discount_price if course.discount_price is not None else course.total_price


def item_price(item: Lesson | Course) -> int:
    return lesson_price(item) if isinstance(item, Lesson) else course_price(item)


def check_promo_code_usable(promo: PromoCode, *, now: datetime | None = None) -> None:
    """Raise why the code cannot be used now (inactive, expired, used up)."""
    now = now or utcnow()
    if not promo.is_active:
        raise PromoCodeInactive(promo.code)
    # as_utc: a value assigned in this session may still be naive (the models treat naive as UTC).
    if promo.expires_at is not None and as_utc(promo.expires_at) <= as_utc(now):
        raise PromoCodeExpired(promo.code)
    if promo.max_uses is not None and promo.current_uses >= promo.max_uses:
        raise PromoCodeUsedUp(promo.code)


def apply_promo_code(price: int, promo: PromoCode | None) -> Quote:
    """The price after the code's discount: never below 1 Star for a paid item, never above the price."""
    if promo is None or price <= 0:
        return Quote(price, 0, price)
    if promo.discount_amount is not None:
        discounted = price - promo.discount_amount
    else:
        # Integer arithmetic: the discount is rounded down, in the buyer's disfavour by less than a Star.
        discounted = price - price * promo.discount_percent // 100
    final = max(discounted, MIN_PAID_PRICE_STARS)
    return Quote(price, price - final, final)
