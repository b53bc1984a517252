"""Promo codes: discounts that teachers hand out, with limited uses and an expiry."""

from sqlalchemy import case, exists, or_, select
from sqlalchemy import update as sql_update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from backend.services import pricing
from backend.services.common import PageResult, paginate, sort_order, text_search, violates
from backend.services.exceptions import (
    DuplicatePromoCode,
    ItemInUse,
    PromoCodeNotApplicable,
    PromoCodeNotFound,
    PromoCodeUnknown,
    PromoCodeUsedUp,
    RuleViolation,
)
from shared.database import writes
from shared.models import Course, Lesson, PromoCode, Purchase
from shared.schemas import PromoCodeCreate, PromoCodeUpdate, check_discount_kind
from shared.utils import utcnow

SORT_COLUMNS = {"created_at": PromoCode.created_at, "code": PromoCode.code, "id": PromoCode.id}


def normalize(code: str) -> str:
    return code.strip().upper()


async def get(session: AsyncSession, promo_code_id: int) -> PromoCode:
    """The promo code with this id, or PromoCodeNotFound."""
    promo = await session.get(PromoCode, promo_code_id)
    if promo is None:
        raise PromoCodeNotFound(promo_code_id)
    return promo


async def get_by_code(session: AsyncSession, code: str) -> PromoCode | None:
    """The promo code with this text (case-insensitive), if any."""
    return await session.scalar(select(PromoCode).where(PromoCode.code == normalize(code)))


async def get_all(
    session: AsyncSession,
    *,
    is_active: bool | None = None,
    search: str | None = None,
    sort: str = "-created_at",
    limit: int,
    offset: int,
) -> PageResult[PromoCode]:
    """A page of promo codes matching the filters."""
    filters = []
    if is_active is not None:
        filters.append(PromoCode.is_active == is_active)
    if search:
        filters.append(text_search(search, PromoCode.code))
    return await paginate(
        session,
        PromoCode,
        filters=filters,
        order_by=sort_order(sort, SORT_COLUMNS, PromoCode.id),
        limit=limit,
        offset=offset,
    )


def _unique_error(error: IntegrityError, code: str) -> Exception:
    """The domain error behind a refused write of a promo code (the error itself if it is none of ours)."""
    # SQLite names the column, PostgreSQL the constraint.
    if violates(error, "promo_codes.code", "uq_promo_codes_code"):
        return DuplicatePromoCode(code)
    if violates(error, "current_uses_within_max"):
        return RuleViolation("max_uses cannot be lower than the uses so far")
    return error


@writes
async def create(session: AsyncSession, *, data: PromoCodeCreate) -> PromoCode:
    """Create a promo code; DuplicatePromoCode if the text is taken."""
    if await get_by_code(session, data.code) is not None:
        raise DuplicatePromoCode(data.code)
    promo = PromoCode(**data.model_dump())
    try:
        async with session.begin_nested():
            session.add(promo)
    except IntegrityError as error:
        raise _unique_error(error, data.code) from error
    return promo


@writes
async def update(session: AsyncSession, promo: PromoCode, *, data: PromoCodeUpdate) -> PromoCode:
    """Change the fields that were given, keeping one discount kind and max_uses above the uses so far."""
    changes = data.model_dump(exclude_unset=True)
    percent = changes.get("discount_percent", promo.discount_percent)
    amount = changes.get("discount_amount", promo.discount_amount)
    # Switching kinds in one request: setting one side implicitly clears the other.
    if "discount_amount" in changes and amount is not None and "discount_percent" not in changes:
        percent = 0
    if "discount_percent" in changes and percent and "discount_amount" not in changes:
        amount = None
    try:
        check_discount_kind(percent, amount)
    except ValueError as error:
        raise RuleViolation(str(error)) from error
    max_uses = changes.get("max_uses", promo.max_uses)
    if max_uses is not None and max_uses < promo.current_uses:
        raise RuleViolation(f"max_uses cannot be lower than the {promo.current_uses} uses so far")
    new_code = changes.get("code", promo.code)
    if new_code != promo.code and await get_by_code(session, new_code) is not None:
        raise DuplicatePromoCode(new_code)
    try:
        async with session.begin_nested():
            for field, value in changes.items():
                setattr(promo, field, value)
            promo.discount_percent, promo.discount_amount = percent, amount
    except IntegrityError as error:
        raise _unique_error(error, new_code) from error
    return promo


@writes
async def delete(session: AsyncSession, promo: PromoCode) -> None:
    """Delete a code no purchase used; ItemInUse otherwise."""
    if await session.scalar(select(exists().where(Purchase.promo_code_id == promo.id))):
        raise ItemInUse(f"Promo code {promo.code} was used in purchases; deactivate it instead")
    await session.delete(promo)
    await session.flush()


async def get_usable(session: AsyncSession, code: str) -> PromoCode:
    """The code if it can be used now, else the reason it cannot (unknown, inactive, expired, used up)."""
    promo = await get_by_code(session, code)
    if promo is None:
        raise PromoCodeUnknown(normalize(code))
    pricing.check_promo_code_usable(promo)
    return promo


async def quote(
    session: AsyncSession, *, item: Lesson | Course, code: str | None
) -> tuple[pricing.Quote, PromoCode | None]:
    """The item's price with the code applied; raises PromoCodeNotApplicable with the reason."""
    promo = await get_usable(session, code) if code else None
    return pricing.apply_promo_code(pricing.item_price(item), promo), promo


async def validate(
    session: AsyncSession, *, code: str, item: Lesson | Course
) -> tuple[pricing.Quote, PromoCodeNotApplicable | None]:
    """What the item costs with the code, or (the undiscounted price and) why the code does not apply."""
    try:
        price, _ = await quote(session, item=item, code=code)
    except PromoCodeNotApplicable as refusal:
        price = pricing.apply_promo_code(pricing.item_price(item), None)
        return price, refusal
    return price, None


@writes
async def use(session: AsyncSession, promo: PromoCode) -> None:
    """Count one use atomically: of two concurrent uses of the last one, exactly one succeeds.

    Flushes within the caller's transaction; the caller commits.
    """
    now = utcnow()
    result = await session.execute(
        sql_update(PromoCode)
        .where(
            PromoCode.id == promo.id,
            PromoCode.is_active.is_(True),
            or_(PromoCode.max_uses.is_(None), PromoCode.current_uses < PromoCode.max_uses),
            or_(PromoCode.expires_at.is_(None), PromoCode.expires_at > now),
        )
        .values(current_uses=PromoCode.current_uses + 1)
        .execution_options(synchronize_session="fetch")
    )
    await session.refresh(promo)
    if result.rowcount != 1:  # type: ignore[attr-defined]
        pricing.check_promo_code_usable(promo, now=now)
        raise PromoCodeUsedUp(promo.code)


@writes
async def take_again(session: AsyncSession, promo_code_id: int) -> None:
    """Count a use for a payment that arrived after its reservation was released (caller commits).

    Unconditional, raising max_uses if needed: the buyer has already paid the discounted price.
    One atomic UPDATE, so concurrent late payments each count.
    """
    taken = PromoCode.current_uses + 1
    await session.execute(
        sql_update(PromoCode)
        .where(PromoCode.id == promo_code_id)
        .values(
            current_uses=taken,
            max_uses=case((PromoCode.max_uses < taken, taken), else_=PromoCode.max_uses),
        )
        .execution_options(synchronize_session="fetch")
    )


@writes
async def release(session: AsyncSession, promo_code_id: int) -> None:
    """Give back a use reserved by a purchase that failed (within the caller's transaction)."""
    await session.execute(
        sql_update(PromoCode)
        .where(PromoCode.id == promo_code_id, PromoCode.current_uses > 0)
        .values(current_uses=PromoCode.current_uses - 1)
        # Keeps a copy of the code loaded in this session in step with the database.
        .execution_options(synchronize_session="fetch")
    )
