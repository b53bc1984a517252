"""Purchases and their state machine: pending -> completed -> refunded, pending -> failed; and grants (an
item given for free by an admin): completed -> revoked."""

import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, select, tuple_
from sqlalchemy import update as sql_update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from backend.services import (
    access_service,
    course_service,
    lesson_service,
    promo_code_service,
    stats_service,
    user_service,
)
from backend.services.common import PageResult, paginate, sort_order, violates
from backend.services.exceptions import (
    AlreadyPurchased,
    DuplicateChargeId,
    DuplicatePaymentId,
    InvalidPurchaseTransition,
    ItemNotForSale,
    NotAGrant,
    PurchaseNotFound,
    UserNotFound,
)
from shared.constants import PurchaseStatus
from shared.database import writes
from shared.models import Course, Lesson, Purchase, User
from shared.schemas import GrantCreate, PurchaseCreate
from shared.utils import utcnow

SORT_COLUMNS = {"created_at": Purchase.created_at, "amount": Purchase.amount, "id": Purchase.id}
NEWEST_FIRST = "-created_at"
# payment_id of a grant: it has no payment, but the column is unique and required.
GRANT_PAYMENT_PREFIX = "grant-"

TRANSITIONS: dict[PurchaseStatus, frozenset[PurchaseStatus]] = {
    PurchaseStatus.PENDING: frozenset({PurchaseStatus.COMPLETED, PurchaseStatus.FAILED}),
    # A payment that arrives after its invoice was given up on still counts: the user has paid.
    PurchaseStatus.FAILED: frozenset({PurchaseStatus.COMPLETED}),
    PurchaseStatus.COMPLETED: frozenset({PurchaseStatus.REFUNDED, PurchaseStatus.REVOKED}),
    PurchaseStatus.REFUNDED: frozenset(),
    PurchaseStatus.REVOKED: frozenset(),
}


async def get(session: AsyncSession, purchase_id: int) -> Purchase:
    """The purchase with this id, or PurchaseNotFound."""
    purchase = await session.get(Purchase, purchase_id)
    if purchase is None:
        raise PurchaseNotFound(purchase_id)
    return purchase


async def get_by_payment_id(session: AsyncSession, payment_id: str) -> Purchase | None:
    """The purchase with this payment id, if any."""
    return await session.scalar(select(Purchase).where(Purchase.payment_id == payment_id))


def _filters(
    *,
    user_id: int | None = None,
    lesson_id: int | None = None,
    course_id: int | None = None,
    promo_code_id: int | None = None,
    status: PurchaseStatus | None = None,
    created_from: datetime | None = None,
    created_to: datetime | None = None,
    statuses: Sequence[PurchaseStatus] = (),
) -> list[ColumnElement[bool]]:
    filters: list[ColumnElement[bool]] = []
    if user_id is not None:
        filters.append(Purchase.user_id == user_id)
    if lesson_id is not None:
        filters.append(Purchase.lesson_id == lesson_id)
    if course_id is not None:
        filters.append(Purchase.course_id == course_id)
    if promo_code_id is not None:
        filters.append(Purchase.promo_code_id == promo_code_id)
    if status is not None:
        filters.append(Purchase.status == status)
    if statuses:
        filters.append(Purchase.status.in_(statuses))
    if created_from is not None:
        filters.append(Purchase.created_at >= created_from)
    if created_to is not None:
        filters.append(Purchase.created_at < created_to)
    return filters


async def get_all(
    session: AsyncSession,
    *,
    user_id: int | None = None,
    lesson_id: int | None = None,
    course_id: int | None = None,
    promo_code_id: int | None = None,
    status: PurchaseStatus | None = None,
    created_from: datetime | None = None,
    created_to: datetime | None = None,
    statuses: Sequence[PurchaseStatus] = (),
    sort: str = NEWEST_FIRST,
    limit: int,
    offset: int,
    with_items: bool = False,
    check_user: bool = False,
    with_users: bool = False,
) -> PageResult[Purchase]:
    """A page of purchases matching the filters (created_from inclusive, created_to exclusive).

    check_user: UserNotFound if no user has this user_id (looked up only for an empty page: a purchase
    row proves that its user exists).
    """
    filters = _filters(
        user_id=user_id,
        lesson_id=lesson_id,
        course_id=course_id,
        promo_code_id=promo_code_id,
        status=status,
        created_from=created_from,
        created_to=created_to,
        statuses=statuses,
    )
    page = await paginate(
        session,
        Purchase,
        filters=filters,
        order_by=sort_order(sort, SORT_COLUMNS, Purchase.id),
        limit=limit,
        offset=offset,
        options=(
            *((selectinload(Purchase.lesson), selectinload(Purchase.course)) if with_items else ()),
            *((selectinload(Purchase.user),) if with_users else ()),
        ),
    )
    if check_user and user_id is not None and not page.items and await session.get(User, user_id) is None:
        raise UserNotFound(user_id)
    return page


async def iter_batches(
    session: AsyncSession,
    *,
    user_id: int | None = None,
    lesson_id: int | None = None,
    course_id: int | None = None,
    status: PurchaseStatus | None = None,
    created_from: datetime | None = None,
    created_to: datetime | None = None,
    sort: str = NEWEST_FIRST,
    batch_size: int = 500,
) -> AsyncIterator[Sequence[Purchase]]:
    """Every purchase matching the filters, in batches (buyer and item loaded), in the order of `sort`: for
    an export of any length, one batch in memory at a time. Keyset paging (the last row's sort key and id),
    not offsets: each batch costs the same, and every row comes once."""
    filters = _filters(
        user_id=user_id,
        lesson_id=lesson_id,
        course_id=course_id,
        status=status,
        created_from=created_from,
        created_to=created_to,
    )
    descending = sort.startswith("-")
    column = SORT_COLUMNS[sort.lstrip("-")]
    after: tuple[Any, int] | None = None
    while True:
        statement = (
            select(Purchase)
            .where(*filters)
            .order_by(*sort_order(sort, SORT_COLUMNS, Purchase.id))
            .limit(batch_size)
            .options(
                selectinload(Purchase.user), selectinload(Purchase.lesson), selectinload(Purchase.course)
            )
        )
        if after is not None:
            # A plain tuple: each value is bound with its column's type (UTC datetimes stored alike).
            key = tuple_(column, Purchase.id)
            statement = statement.where(key < after if descending else key > after)
        batch = (await session.scalars(statement)).all()
        if not batch:
            return
        yield batch
        if len(batch) < batch_size:
            return
        after = (getattr(batch[-1], column.key), batch[-1].id)
        # The rows already given are not kept: the identity map would otherwise grow with the export.
        session.expunge_all()


async def get_item_for_sale(
    session: AsyncSession, *, lesson_id: int | None = None, course_id: int | None = None
) -> Lesson | Course:
    """The lesson or course if it can be bought now; ItemNotForSale if inactive or free."""
    if lesson_id is not None:
        lesson = await lesson_service.get(session, lesson_id)
        if not lesson.is_active:
            raise ItemNotForSale(f"Lesson {lesson_id} is not on sale")
        if lesson.is_free:
            raise ItemNotForSale(f"Lesson {lesson_id} is free; it needs no purchase")
        return lesson
    assert course_id is not None
    course = await course_service.get(session, course_id)
    if not course.is_active:
        raise ItemNotForSale(f"Course {course_id} is not on sale")
    return course


async def check_not_owned(session: AsyncSession, *, user_id: int, item: Lesson | Course) -> None:
    """AlreadyPurchased if the user already has access to the item."""
    if isinstance(item, Lesson):
        if await access_service.can_access_lesson(session, user_id=user_id, lesson=item):
            raise AlreadyPurchased(f"lesson {item.id}")
    elif await access_service.owns_course(session, user_id=user_id, course_id=item.id):
        raise AlreadyPurchased(f"course {item.id}")


@writes
async def create(session: AsyncSession, *, data: PurchaseCreate) -> Purchase:
    """Record a purchase at the current price (promo code applied, and its use reserved).

    Pending purchases await payment; a purchase created as completed grants access at once.
    """
    # Locking the buyer's row serialises this user's purchases, so two concurrent requests cannot both
    # pass the "already owned" check (SQLite's write lock does the same there).
    if not await user_service.lock(session, data.user_id):
        raise UserNotFound(data.user_id)
    item = await get_item_for_sale(session, lesson_id=data.lesson_id, course_id=data.course_id)
    await check_not_owned(session, user_id=data.user_id, item=item)
    price, promo = await promo_code_service.quote(session, item=item, code=data.promo_code)
    payment_id = data.payment_id or f"pay_{uuid.uuid4().hex}"
    if await get_by_payment_id(session, payment_id) is not None:
        raise DuplicatePaymentId(payment_id)
    if promo is not None:
        await promo_code_service.use(session, promo)
    purchase = Purchase(
        user_id=data.user_id,
        lesson_id=data.lesson_id,
        course_id=data.course_id,
        promo_code_id=promo.id if promo else None,
        payment_id=payment_id,
        telegram_payment_charge_id=data.telegram_payment_charge_id,
        amount=price.final_price,
        status=data.status,
    )
    try:
        async with session.begin_nested():
            session.add(purchase)
    except IntegrityError as error:
        if violates(error, "telegram_payment_charge_id"):
            raise DuplicateChargeId(data.telegram_payment_charge_id or "") from error
        if violates(error, "payment_id"):
            raise DuplicatePaymentId(payment_id) from error
        raise
    await stats_service.count_change(session, purchase, before=None)
    return purchase


def _check_transition(purchase: Purchase, target: PurchaseStatus) -> None:
    if target not in TRANSITIONS[purchase.status]:
        raise InvalidPurchaseTransition(purchase.id, purchase.status.value, target.value)


@writes
async def complete(
    session: AsyncSession, purchase: Purchase, *, telegram_payment_charge_id: str | None = None
) -> Purchase:
    """Mark a purchase paid: it grants access from now on. Completing it again changes nothing."""
    if purchase.status is PurchaseStatus.COMPLETED:
        return purchase
    _check_transition(purchase, PurchaseStatus.COMPLETED)
    before = purchase.status
    if purchase.status is PurchaseStatus.FAILED and purchase.promo_code_id is not None:
        # The failure gave the code's use back; the late payment takes it again.
        await promo_code_service.take_again(session, purchase.promo_code_id)
    try:
        async with session.begin_nested():
            purchase.status = PurchaseStatus.COMPLETED
            if telegram_payment_charge_id is not None:
                purchase.telegram_payment_charge_id = telegram_payment_charge_id
    except IntegrityError as error:
        raise DuplicateChargeId(telegram_payment_charge_id or "") from error
    await stats_service.count_change(session, purchase, before=before)
    return purchase


@writes
async def fail(session: AsyncSession, purchase: Purchase) -> Purchase:
    """Give up on an unpaid purchase and release the promo code use it reserved."""
    _check_transition(purchase, PurchaseStatus.FAILED)
    # Conditional on the stored status, not the loaded one: a payment recorded meanwhile by another
    # process must not be turned back into a failure.
    result = await session.execute(
        sql_update(Purchase)
        .where(Purchase.id == purchase.id, Purchase.status == PurchaseStatus.PENDING)
        .values(status=PurchaseStatus.FAILED)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        await session.refresh(purchase)
        raise InvalidPurchaseTransition(purchase.id, purchase.status.value, PurchaseStatus.FAILED.value)
    if purchase.promo_code_id is not None:
        await promo_code_service.release(session, purchase.promo_code_id)
    await session.refresh(purchase)
    await stats_service.count_change(session, purchase, before=PurchaseStatus.PENDING)
    return purchase


@writes
async def mark_refunded(session: AsyncSession, purchase: Purchase) -> Purchase:
    """Record that the Stars went back to the buyer: the purchase no longer grants access."""
    _check_transition(purchase, PurchaseStatus.REFUNDED)
    before = purchase.status
    purchase.status = PurchaseStatus.REFUNDED
    await session.flush()
    await stats_service.count_change(session, purchase, before=before)
    return purchase


@writes
async def grant(session: AsyncSession, *, user_id: int, data: GrantCreate, admin_id: int) -> Purchase:
    """Give the user a lesson or course for free: a completed purchase of 0 Stars, granted by this admin.
    AlreadyPurchased if they can already open it (bought, in a bought course, granted, or free)."""
    # The buyer's row locked, as in create(): a grant and a payment of the same item cannot both pass.
    if not await user_service.lock(session, user_id):
        raise UserNotFound(user_id)
    item: Lesson | Course
    if data.lesson_id is not None:
        item = await lesson_service.get(session, data.lesson_id)
    else:
        assert data.course_id is not None
        item = await course_service.get(session, data.course_id)
    await check_not_owned(session, user_id=user_id, item=item)
    purchase = Purchase(
        user_id=user_id,
        lesson_id=data.lesson_id,
        course_id=data.course_id,
        payment_id=f"{GRANT_PAYMENT_PREFIX}{uuid.uuid4()}",
        amount=0,
        status=PurchaseStatus.COMPLETED,
        granted_by_id=admin_id,
    )
    session.add(purchase)
    await session.flush()
    await stats_service.count_change(session, purchase, before=None)
    return purchase


@writes
async def revoke(session: AsyncSession, purchase: Purchase) -> Purchase:
    """Take a grant back: it no longer gives access. NotAGrant for a sale (refund it instead);
    InvalidPurchaseTransition when it is revoked already."""
    if purchase.granted_by_id is None:
        raise NotAGrant(purchase.id)
    _check_transition(purchase, PurchaseStatus.REVOKED)
    # Conditional on the stored status: of two admins revoking at once, one does; the other gets the 409.
    result = await session.execute(
        sql_update(Purchase)
        .where(Purchase.id == purchase.id, Purchase.status == PurchaseStatus.COMPLETED)
        .values(status=PurchaseStatus.REVOKED, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    await session.refresh(purchase)
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise InvalidPurchaseTransition(purchase.id, purchase.status.value, PurchaseStatus.REVOKED.value)
    await stats_service.count_change(session, purchase, before=PurchaseStatus.COMPLETED)
    return purchase
