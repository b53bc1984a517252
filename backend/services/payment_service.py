"""Telegram Stars payments: invoices, pre-checkout checks, exactly-once recording, refunds, reconciliation.

Telegram delivers updates at least once and a process can die between Telegram taking the Stars and our
write, so every step here is idempotent and keyed by Telegram's charge id:
- the same charge recorded twice, or by two processes at once, makes one completed purchase;
- a payment whose pending purchase is gone is recorded from the invoice payload alone;
- delivery of the content is claimed once per purchase (with a lease, so a crashed delivery is retried);
- a payment for something the payer already had is recorded, then refunded (claimed with a lease too);
- a payment that matches no purchase (unreadable payload, unknown item, not in Stars) is kept as an
  unmatched payment for the admin, never only logged.
"""

import contextlib
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, bindparam, or_, select
from sqlalchemy import update as sql_update
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from backend.services import (
    access_service,
    pricing,
    promo_code_service,
    purchase_service,
    stats_service,
    user_service,
)
from backend.services.common import PageResult, paginate, sort_order
from backend.services.exceptions import (
    BotNotConfigured,
    CourseNotFound,
    InvalidPayload,
    InvalidPurchaseTransition,
    LessonNotFound,
    PriceChanged,
    PromoCodeNotApplicable,
    PromoCodeUsedUp,
    RefundRefused,
    TelegramUnavailable,
    UnmatchedPaymentAlreadyResolved,
    UnmatchedPaymentNotFound,
    WrongCurrency,
)
from backend.services.telegram import Telegram
from shared.config import get_settings
from shared.constants import PurchaseStatus
from shared.database import commit_now, writers_take_turns, writes
from shared.models import (
    CURRENCY_MAX_LENGTH,
    REFUND_ERROR_MAX_LENGTH,
    UNMATCHED_PAYLOAD_MAX_LENGTH,
    Course,
    Lesson,
    PromoCode,
    Purchase,
    UnmatchedPayment,
    UnmatchedPaymentReason,
)
from shared.schemas import MAX_ID, PurchaseCreate
from shared.utils import utcnow

logger = logging.getLogger(__name__)

STARS_CURRENCY = "XTR"
PAYLOAD_VERSION = "v1"
# Canonical form only (no signs, spaces, underscores or leading zeros that int() would accept).
_ID = r"([1-9][0-9]{0,9})"
PAYLOAD_PATTERN = re.compile(rf"{PAYLOAD_VERSION}:{_ID}:([lc]){_ID}(?::p{_ID})?")
# Purchase.refund_reason of a payment for something the payer already had: its Stars go back.
DUPLICATE_PAYMENT = "duplicate_payment"
UNMATCHED_SORT_COLUMNS = {"created_at": UnmatchedPayment.created_at, "id": UnmatchedPayment.id}


def delivery_lease() -> timedelta:
    """A delivery claimed longer ago than this without finishing is assumed lost (the process died)."""
    return timedelta(seconds=get_settings().DELIVERY_LEASE_SECONDS)


@dataclass(frozen=True, slots=True)
class InvoicePayload:
    """What an invoice is for: compact enough for Telegram's 128-byte payload, parseable without the DB."""

    purchase_id: int
    lesson_id: int | None = None
    course_id: int | None = None
    promo_code_id: int | None = None

    def encode(self) -> str:
        item = f"l{self.lesson_id}" if self.lesson_id is not None else f"c{self.course_id}"
        promo = f":p{self.promo_code_id}" if self.promo_code_id is not None else ""
        return f"{PAYLOAD_VERSION}:{self.purchase_id}:{item}{promo}"

    @classmethod
    def decode(cls, payload: str) -> "InvoicePayload":
        """Parse a payload this store issued; InvalidPayload for anything else."""
        match = PAYLOAD_PATTERN.fullmatch(payload)
        if match is None:
            raise InvalidPayload(payload)
        purchase_id, kind, item_id = int(match[1]), match[2], int(match[3])
        promo_code_id = int(match[4]) if match[4] else None
        # Ids beyond the database's integer range would make the queries fail instead of finding nothing.
        if max(purchase_id, item_id, promo_code_id or 1) > MAX_ID:
            raise InvalidPayload(payload)
        return cls(
            purchase_id=purchase_id,
            lesson_id=item_id if kind == "l" else None,
            course_id=item_id if kind == "c" else None,
            promo_code_id=promo_code_id,
        )

    @classmethod
    def for_purchase(cls, purchase: Purchase) -> "InvoicePayload":
        return cls(
            purchase_id=purchase.id,
            lesson_id=purchase.lesson_id,
            course_id=purchase.course_id,
            promo_code_id=purchase.promo_code_id,
        )


@dataclass(frozen=True, slots=True)
class Invoice:
    purchase: Purchase
    item: Lesson | Course
    payload: str
    amount: int


@dataclass(frozen=True, slots=True)
class RecordedPayment:
    purchase: Purchase
    newly_completed: bool
    # The caller holds the delivery claim (see claim_delivery): taken with the completion, when asked for.
    delivery_claimed: bool = False

    @property
    def duplicate(self) -> bool:
        """The payer already had the item: nothing to deliver, the Stars go back (see refund_due)."""
        return self.purchase.refund_reason == DUPLICATE_PAYMENT


@dataclass(frozen=True, slots=True)
class LedgerPayment:
    """An incoming Stars payment as Telegram's ledger (getStarTransactions) lists it."""

    charge_id: str
    telegram_user_id: int
    amount: int
    payload: str
    date: datetime


@dataclass(slots=True)
class ReconciliationReport:
    recorded: list[Purchase] = field(default_factory=list)
    refunded: list[Purchase] = field(default_factory=list)
    unknown_to_telegram: list[Purchase] = field(default_factory=list)
    # Ledger payments that match no purchase, recorded for the admin in this run.
    unmatched: list[UnmatchedPayment] = field(default_factory=list)


@writes
async def create_invoice(
    session: AsyncSession,
    *,
    user_id: int,
    lesson_id: int | None = None,
    course_id: int | None = None,
    promo_code: str | None = None,
) -> Invoice:
    """A pending purchase at the current price, and the invoice payload that identifies it.

    Asking again for the same item reuses the user's pending purchase when nothing about it changed,
    so repeated taps on Buy do not pile up pending purchases or promo code reservations.
    """
    item = await purchase_service.get_item_for_sale(session, lesson_id=lesson_id, course_id=course_id)
    await purchase_service.check_not_owned(session, user_id=user_id, item=item)
    pending = await session.scalar(
        select(Purchase)
        .where(
            Purchase.user_id == user_id,
            Purchase.status == PurchaseStatus.PENDING,
            Purchase.lesson_id == lesson_id if lesson_id is not None else Purchase.course_id == course_id,
        )
        .order_by(Purchase.id.desc())
        .limit(1)
    )
    if pending is not None and await _still_valid(session, pending, item=item, promo_code=promo_code):
        return Invoice(pending, item, InvoicePayload.for_purchase(pending).encode(), pending.amount)
    # Raises (leaving any pending purchase alone) if the code cannot be used.
    await promo_code_service.quote(session, item=item, code=promo_code)
    if pending is not None:
        await purchase_service.fail(session, pending)
    purchase = await purchase_service.create(
        session,
        data=PurchaseCreate(user_id=user_id, lesson_id=lesson_id, course_id=course_id, promo_code=promo_code),
    )
    return Invoice(purchase, item, InvoicePayload.for_purchase(purchase).encode(), purchase.amount)


async def _still_valid(
    session: AsyncSession, pending: Purchase, *, item: Lesson | Course, promo_code: str | None
) -> bool:
    """Whether a pending purchase is what the user asks for now: same promo code, same price."""
    promo = await promo_code_service.get_by_code(session, promo_code) if promo_code else None
    if (promo.id if promo else None) != pending.promo_code_id or (promo_code and promo is None):
        return False
    if promo is not None:
        try:
            pricing.check_promo_code_usable(promo)
        except PromoCodeUsedUp:
            pass  # the pending purchase holds one of the uses already (maybe the last one)
        except PromoCodeNotApplicable:
            return False
    return pending.amount == pricing.apply_promo_code(pricing.item_price(item), promo).final_price


async def _holds_reservation(session: AsyncSession, parsed: InvoicePayload, *, user_id: int) -> bool:
    """Whether the invoice's purchase is this user's, still pending with its promo code use reserved."""
    purchase = await session.get(Purchase, parsed.purchase_id, populate_existing=True)
    return (
        purchase is not None
        and purchase.user_id == user_id
        and purchase.status is PurchaseStatus.PENDING
        and (purchase.lesson_id, purchase.course_id, purchase.promo_code_id)
        == (parsed.lesson_id, parsed.course_id, parsed.promo_code_id)
    )


async def check_pre_checkout(
    session: AsyncSession, *, user_id: int, payload: str, currency: str, total_amount: int
) -> None:
    """Raise why Telegram must not take this payment; return when it may.

    Checks that the payload is ours, the item is still on sale, the currency is Stars, the amount is the
    current price (with the invoice's promo code), and the user does not already have the item. The
    purchase named in the payload is trusted only for the user it belongs to: a forwarded invoice, or one
    whose reservation expired, gets the promo discount only if the code has a use left now.
    """
    parsed = InvoicePayload.decode(payload)
    if currency != STARS_CURRENCY:
        raise WrongCurrency(currency)
    item = await purchase_service.get_item_for_sale(
        session, lesson_id=parsed.lesson_id, course_id=parsed.course_id
    )
    await purchase_service.check_not_owned(session, user_id=user_id, item=item)
    promo = await session.get(PromoCode, parsed.promo_code_id) if parsed.promo_code_id else None
    if promo is not None and not await _holds_reservation(session, parsed, user_id=user_id):
        pricing.check_promo_code_usable(promo)
    expected = pricing.apply_promo_code(pricing.item_price(item), promo).final_price
    if total_amount != expected:
        raise PriceChanged(total_amount, expected)


@writes
async def record_payment(
    session: AsyncSession,
    *,
    user_id: int,
    payload: str,
    total_amount: int,
    charge_id: str,
    currency: str = STARS_CURRENCY,
    claim_delivery: bool = False,
) -> RecordedPayment:
    """Record a successful payment exactly once per charge id; the paying user always gets access.

    A payment for something the payer could already open (the access rule: a lesson bought directly or in
    a course, a course they own) is recorded too, with refund_reason "duplicate_payment": its Stars go
    back (refund_due) and nothing is delivered. Refused before anything is written, so that take_payment
    keeps it as an unmatched payment: InvalidPayload, WrongCurrency (no access without Stars),
    LessonNotFound/CourseNotFound (an item this store does not have).

    With claim_delivery, the call that completes the purchase also claims its delivery, in the same write
    (the caller is about to send the content; a repeated update claims through claim_delivery instead).
    """
    existing = await _by_charge_id(session, charge_id)
    if existing is not None:
        return RecordedPayment(existing, newly_completed=False)
    if currency != STARS_CURRENCY:
        raise WrongCurrency(currency)
    parsed = InvoicePayload.decode(payload)
    if not writers_take_turns(session):
        # Serialises the payer's payments: of two charges for one item recorded at once, the second sees the
        # first and is the duplicate.
        await user_service.lock(session, user_id)
    duplicate = await _already_has(session, user_id, parsed)
    claimed_at = utcnow() if claim_delivery and not duplicate else None
    refund_reason = DUPLICATE_PAYMENT if duplicate else None
    if duplicate:
        logger.warning(
            "User %s paid again for an item they had (charge %s): refunding it", user_id, charge_id
        )
    completed = await _complete_pending(
        session,
        parsed,
        user_id=user_id,
        charge_id=charge_id,
        claimed_at=claimed_at,
        refund_reason=refund_reason,
    )
    if completed is not None:
        return completed
    # The pending purchase is gone, belongs to someone else (a forwarded invoice) or was already paid
    # (the same invoice paid twice): this charge is a purchase of its own, if we have its item.
    await _check_item_exists(session, parsed)
    promo_code_id = parsed.promo_code_id if await _promo_exists(session, parsed.promo_code_id) else None
    purchase = Purchase(
        user_id=user_id,
        lesson_id=parsed.lesson_id,
        course_id=parsed.course_id,
        promo_code_id=promo_code_id,
        payment_id=f"tg:{charge_id}",
        telegram_payment_charge_id=charge_id,
        amount=total_amount,
        status=PurchaseStatus.COMPLETED,
        delivery_claimed_at=claimed_at,
        refund_reason=refund_reason,
    )
    # A savepoint: if another process recorded the charge meanwhile, only this insert is undone (a full
    # rollback would also expire every object the caller holds, e.g. reconcile's report).
    try:
        async with session.begin_nested():
            if promo_code_id is not None:
                # No reservation covers this payment, made at the discounted price: it counts as a use.
                await promo_code_service.take_again(session, promo_code_id)
            session.add(purchase)
    except IntegrityError:
        existing = await _by_charge_id(session, charge_id)
        if existing is None:
            raise
        return RecordedPayment(existing, newly_completed=False)
    await stats_service.count_change(session, purchase, before=None)
    return RecordedPayment(purchase, newly_completed=True, delivery_claimed=claimed_at is not None)


# The statements of every payment, built once: building one costs more than running it.
_BY_CHARGE_ID = (
    select(Purchase)
    .where(Purchase.telegram_payment_charge_id == bindparam("charge_id"))
    .execution_options(populate_existing=True)
)
# Of two processes completing the purchase, only one gets it. (IS, not =, for the item ids: one is NULL.)
_COMPLETE = (
    sql_update(Purchase)
    .where(
        Purchase.id == bindparam("purchase_id"),
        Purchase.user_id == bindparam("payer_id"),
        Purchase.lesson_id.is_not_distinct_from(bindparam("paid_lesson_id")),
        Purchase.course_id.is_not_distinct_from(bindparam("paid_course_id")),
        Purchase.status == bindparam("from_status"),
    )
    .values(
        status=PurchaseStatus.COMPLETED,
        telegram_payment_charge_id=bindparam("paid_charge_id"),
        updated_at=bindparam("now"),
        delivery_claimed_at=bindparam("claimed_at"),
        refund_reason=bindparam("paid_refund_reason"),
    )
    .returning(Purchase)
    .execution_options(populate_existing=True)
)
_MARK_DELIVERED = (
    sql_update(Purchase)
    .where(Purchase.id == bindparam("purchase_id"))
    .values(delivered_at=bindparam("now"))
    .execution_options(synchronize_session=False)
)


async def _by_charge_id(session: AsyncSession, charge_id: str) -> Purchase | None:
    return await session.scalar(_BY_CHARGE_ID, {"charge_id": charge_id})


async def _promo_exists(session: AsyncSession, promo_code_id: int | None) -> bool:
    return promo_code_id is not None and await session.get(PromoCode, promo_code_id) is not None


async def _check_item_exists(session: AsyncSession, parsed: InvoicePayload) -> None:
    if parsed.lesson_id is not None:
        if await session.get(Lesson, parsed.lesson_id) is None:
            raise LessonNotFound(parsed.lesson_id)
    elif await session.get(Course, parsed.course_id) is None:
        raise CourseNotFound(parsed.course_id)  # type: ignore[arg-type]


async def _already_has(session: AsyncSession, user_id: int, parsed: InvoicePayload) -> bool:
    """Whether the payer could already open what they paid for, through what they bought (a lesson that
    became free is not had: its payment stands). A course bought after some of its lessons is not had."""
    if parsed.lesson_id is not None:
        return parsed.lesson_id in await access_service.accessible_lesson_ids(session, user_id=user_id)
    assert parsed.course_id is not None
    return await access_service.owns_course(session, user_id=user_id, course_id=parsed.course_id)


async def _complete_pending(
    session: AsyncSession,
    parsed: InvoicePayload,
    *,
    user_id: int,
    charge_id: str,
    claimed_at: datetime | None,
    refund_reason: str | None,
) -> RecordedPayment | None:
    """Complete the invoice's own purchase: pending (its promo code use still reserved), else failed (it
    waited too long and gave its use back, so the use is taken again). None if it is neither, or not this
    payer's purchase of this item."""
    # A savepoint where another process can record the same charge meanwhile: the collision undoes only this.
    guard = contextlib.nullcontext() if writers_take_turns(session) else session.begin_nested()
    try:
        async with guard:
            paid = (user_id, charge_id, claimed_at, refund_reason)
            before = PurchaseStatus.PENDING
            purchase = await _complete_from(session, parsed, before, *paid)
            if purchase is None:
                before = PurchaseStatus.FAILED
                purchase = await _complete_from(session, parsed, before, *paid)
                if purchase is not None and purchase.promo_code_id is not None:
                    await promo_code_service.take_again(session, purchase.promo_code_id)
    except IntegrityError as error:
        return await _recorded_meanwhile(session, charge_id, error)
    if purchase is None:
        return None
    await stats_service.count_change(session, purchase, before=before)
    return RecordedPayment(purchase, newly_completed=True, delivery_claimed=claimed_at is not None)


async def _complete_from(
    session: AsyncSession,
    parsed: InvoicePayload,
    status: PurchaseStatus,
    user_id: int,
    charge_id: str,
    claimed_at: datetime | None,
    refund_reason: str | None,
) -> Purchase | None:
    """One conditional UPDATE ... RETURNING: of two processes completing the purchase, only one gets it."""
    return await session.scalar(
        _COMPLETE,
        {
            "purchase_id": parsed.purchase_id,
            "payer_id": user_id,
            "paid_lesson_id": parsed.lesson_id,
            "paid_course_id": parsed.course_id,
            "from_status": status,
            "paid_charge_id": charge_id,
            "now": utcnow(),
            "claimed_at": claimed_at,
            "paid_refund_reason": refund_reason,
        },
    )


async def _recorded_meanwhile(
    session: AsyncSession, charge_id: str, error: IntegrityError
) -> RecordedPayment:
    """After a unique-key collision on the charge id: the purchase another process recorded it on."""
    existing = await _by_charge_id(session, charge_id)
    if existing is None:
        raise error
    return RecordedPayment(existing, newly_completed=False)


@writes
async def claim_delivery(session: AsyncSession, purchase: Purchase) -> bool:
    """Whether this caller should deliver the purchase's content now (true for exactly one caller)."""
    now = utcnow()
    result = await session.execute(
        sql_update(Purchase)
        .where(
            Purchase.id == purchase.id,
            Purchase.status == PurchaseStatus.COMPLETED,
            Purchase.refund_reason.is_(None),
            Purchase.delivered_at.is_(None),
            or_(
                Purchase.delivery_claimed_at.is_(None), Purchase.delivery_claimed_at < now - delivery_lease()
            ),
        )
        .values(delivery_claimed_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


@writes
async def renew_delivery_claim(session: AsyncSession, purchase_id: int) -> None:
    """Extend the lease of a delivery still in progress, so that no one takes it for a dead process's."""
    await session.execute(
        sql_update(Purchase)
        .where(
            Purchase.id == purchase_id,
            Purchase.delivered_at.is_(None),
            Purchase.delivery_claimed_at.is_not(None),
        )
        .values(delivery_claimed_at=utcnow())
        .execution_options(synchronize_session=False)
    )


@writes
async def mark_delivered(session: AsyncSession, purchase: Purchase) -> None:
    """Record that the content reached the user."""
    await session.execute(_MARK_DELIVERED, {"purchase_id": purchase.id, "now": utcnow()})


async def undelivered(session: AsyncSession, *, limit: int = 100) -> Sequence[Purchase]:
    """Completed purchases whose delivery never finished (for a retry after a crash), buyers loaded; and
    grants not yet announced to their student (the job is how a grant reaches the bot)."""
    stale = utcnow() - delivery_lease()
    return (
        await session.scalars(
            select(Purchase)
            .where(
                Purchase.status == PurchaseStatus.COMPLETED,
                or_(Purchase.telegram_payment_charge_id.is_not(None), Purchase.granted_by_id.is_not(None)),
                Purchase.refund_reason.is_(None),
                Purchase.delivered_at.is_(None),
                or_(Purchase.delivery_claimed_at.is_(None), Purchase.delivery_claimed_at < stale),
            )
            .options(selectinload(Purchase.user))
            .order_by(Purchase.id)
            .limit(limit)
        )
    ).all()


@writes
async def record_refund(session: AsyncSession, *, charge_id: str) -> Purchase | None:
    """Mark the purchase of a refunded charge refunded (idempotent); None if we never recorded it."""
    purchase = await _by_charge_id(session, charge_id)
    if purchase is None:
        logger.warning("Refund of unknown charge %s", charge_id)
        return None
    if purchase.status is not PurchaseStatus.REFUNDED:
        await purchase_service.mark_refunded(session, purchase)
    return purchase


async def refund(session: AsyncSession, purchase: Purchase, *, telegram: Telegram | None) -> Purchase:
    """Give the Stars back through Telegram, then mark the purchase refunded (access removed)."""
    if purchase.granted_by_id is not None:
        raise RefundRefused(
            "grant", f"Purchase {purchase.id} was granted for free: there is nothing to refund; revoke it"
        )
    if telegram is None:
        raise BotNotConfigured()
    if purchase.status is PurchaseStatus.REFUNDED:
        raise RefundRefused("already_refunded", f"Purchase {purchase.id} is already refunded")
    if purchase.status is not PurchaseStatus.COMPLETED:
        raise RefundRefused(
            "not_paid", f"Purchase {purchase.id} is {purchase.status.value}: nothing to refund"
        )
    if not purchase.telegram_payment_charge_id:
        raise RefundRefused(
            "no_charge", f"Purchase {purchase.id} was not paid through Telegram: nothing to refund there"
        )
    user = await purchase.awaitable_attrs.user
    try:
        await telegram.refund_star_payment(
            telegram_user_id=user.telegram_id, charge_id=purchase.telegram_payment_charge_id
        )
    except RefundRefused as refusal:
        if refusal.reason == "already_refunded":
            # Refunded elsewhere: make our ledger agree (kept although the request fails), and still say so.
            await purchase_service.mark_refunded(session, purchase)
            await commit_now(session)
        raise
    return await purchase_service.mark_refunded(session, purchase)


async def reconcile(
    session: AsyncSession,
    ledger: Sequence[LedgerPayment],
    *,
    refunded_charges: Sequence[str] = (),
    since: datetime | None = None,
) -> ReconciliationReport:
    """Compare Telegram's ledger with our purchases: record missed charges, report what Telegram lacks.

    Each ledger payment is taken on its own (a savepoint): one that matches no purchase, or that the
    database refuses, becomes an unmatched payment and the ones after it are still recorded. A payment
    kept as not recorded is tried again, and resolved once it is. `since` bounds the comparison to the
    period the ledger covers. Not a writer as a whole: a run that finds nothing to record takes no lock.
    """
    report = ReconciliationReport()
    recorded, kept_unmatched = await _known_charges(session, [payment.charge_id for payment in ledger])
    for payment in ledger:
        if payment.charge_id in recorded:
            continue
        kept = kept_unmatched.get(payment.charge_id)
        if kept is not None and (kept.reason is not UnmatchedPaymentReason.NOT_RECORDED or kept.resolved_at):
            continue
        taken = await _take_on_its_own(session, payment)
        if isinstance(taken, UnmatchedPayment):
            if taken is not kept:
                report.unmatched.append(taken)
            continue
        if taken.newly_completed:
            logger.warning("Reconciliation recorded missed charge %s", payment.charge_id)
            report.recorded.append(taken.purchase)
            if kept is not None:
                await resolve_unmatched(
                    session, kept, resolution=f"Recorded by reconciliation as purchase {taken.purchase.id}"
                )
    for charge_id in refunded_charges:
        purchase = await _by_charge_id(session, charge_id)
        if purchase is not None and purchase.status is PurchaseStatus.COMPLETED:
            report.refunded.append(await purchase_service.mark_refunded(session, purchase))
    known = {payment.charge_id for payment in ledger} | set(refunded_charges)
    window = [
        Purchase.telegram_payment_charge_id.is_not(None),
        Purchase.status.in_([PurchaseStatus.COMPLETED, PurchaseStatus.REFUNDED]),
    ]
    if since is not None:
        window.append(Purchase.created_at >= since)
    for purchase in await session.scalars(select(Purchase).where(and_(*window)).order_by(Purchase.id)):
        if purchase.telegram_payment_charge_id not in known:
            report.unknown_to_telegram.append(purchase)
    return report


# Charge ids looked up per statement: far below any database's limit on parameters.
CHARGE_IDS_PER_QUERY = 500


async def _known_charges(
    session: AsyncSession, charge_ids: Sequence[str]
) -> tuple[set[str], dict[str, UnmatchedPayment]]:
    """Which of these charges are recorded as purchases, and which are kept as unmatched payments: a few
    statements for the whole ledger, not two per entry."""
    recorded: set[str] = set()
    unmatched: dict[str, UnmatchedPayment] = {}
    for start in range(0, len(charge_ids), CHARGE_IDS_PER_QUERY):
        chunk = charge_ids[start : start + CHARGE_IDS_PER_QUERY]
        recorded.update(
            await session.scalars(
                select(Purchase.telegram_payment_charge_id).where(
                    Purchase.telegram_payment_charge_id.in_(chunk)
                )
            )
        )
        kept = await session.scalars(
            select(UnmatchedPayment).where(UnmatchedPayment.telegram_payment_charge_id.in_(chunk))
        )
        unmatched.update((row.telegram_payment_charge_id, row) for row in kept)
    return recorded, unmatched


@writes
async def _take_on_its_own(
    session: AsyncSession, payment: LedgerPayment
) -> RecordedPayment | UnmatchedPayment:
    """A ledger payment in a savepoint of its own: one the database refuses is kept as not recorded."""
    try:
        async with session.begin_nested():
            return await _take_ledger_payment(session, payment)
    except (IntegrityError, DataError) as error:
        logger.error("Reconciliation could not record charge %s: %s", payment.charge_id, error)
        return await _record_unmatched(session, payment, UnmatchedPaymentReason.NOT_RECORDED)


async def _take_ledger_payment(
    session: AsyncSession, payment: LedgerPayment
) -> RecordedPayment | UnmatchedPayment:
    user = await user_service.get_by_telegram_id(session, payment.telegram_user_id)
    if user is None:
        user = await user_service.register_or_update(
            session, telegram_id=payment.telegram_user_id, first_name=str(payment.telegram_user_id)
        )
    return await take_payment(
        session,
        user_id=user.id,
        telegram_user_id=payment.telegram_user_id,
        payload=payment.payload,
        total_amount=payment.amount,
        charge_id=payment.charge_id,
    )


async def _record_unmatched(
    session: AsyncSession, payment: LedgerPayment, reason: UnmatchedPaymentReason
) -> UnmatchedPayment:
    return await record_unmatched(
        session,
        charge_id=payment.charge_id,
        telegram_user_id=payment.telegram_user_id,
        amount=payment.amount,
        currency=STARS_CURRENCY,
        payload=payment.payload,
        reason=reason,
    )


# ---------------------------------------------------------------------------------------------- unmatched


@writes
async def take_payment(
    session: AsyncSession,
    *,
    user_id: int,
    telegram_user_id: int,
    payload: str,
    total_amount: int,
    charge_id: str,
    currency: str = STARS_CURRENCY,
    claim_delivery: bool = False,
) -> RecordedPayment | UnmatchedPayment:
    """Record a payment Telegram took: as a purchase (record_payment) or, when it matches none (an
    unreadable payload, an unknown item, not in Stars), as an unmatched payment for the admin."""
    try:
        return await record_payment(
            session,
            user_id=user_id,
            payload=payload,
            total_amount=total_amount,
            charge_id=charge_id,
            currency=currency,
            claim_delivery=claim_delivery,
        )
    except InvalidPayload:
        reason = UnmatchedPaymentReason.UNREADABLE_PAYLOAD
    except WrongCurrency:
        reason = UnmatchedPaymentReason.WRONG_CURRENCY
    except (LessonNotFound, CourseNotFound):
        reason = UnmatchedPaymentReason.UNKNOWN_ITEM
    return await record_unmatched(
        session,
        charge_id=charge_id,
        telegram_user_id=telegram_user_id,
        amount=total_amount,
        currency=currency,
        payload=payload,
        reason=reason,
    )


@writes
async def record_unmatched(
    session: AsyncSession,
    *,
    charge_id: str,
    telegram_user_id: int,
    amount: int,
    currency: str,
    payload: str,
    reason: UnmatchedPaymentReason,
) -> UnmatchedPayment:
    """Keep a payment that matches no purchase for the admin: one row per charge (the first reason stays)."""
    existing = await _unmatched_by_charge_id(session, charge_id)
    if existing is not None:
        return existing
    unmatched = UnmatchedPayment(
        telegram_payment_charge_id=charge_id,
        telegram_user_id=telegram_user_id,
        amount=max(amount, 0),
        currency=_storable(currency, CURRENCY_MAX_LENGTH),
        payload=_storable(payload, UNMATCHED_PAYLOAD_MAX_LENGTH),
        reason=reason,
    )
    try:
        # A savepoint: another process keeping the same charge meanwhile undoes only this.
        async with session.begin_nested():
            session.add(unmatched)
    except IntegrityError:
        existing = await _unmatched_by_charge_id(session, charge_id)
        if existing is None:
            raise
        return existing
    logger.error(
        "Payment %s of Telegram user %s (%s %s) matches no purchase (%s): kept for the admin",
        charge_id,
        telegram_user_id,
        amount,
        currency,
        reason.value,
    )
    return unmatched


@writes
async def keep_refused_payment(
    session: AsyncSession,
    *,
    telegram_user_id: int,
    charge_id: str,
    amount: int,
    currency: str,
    payload: str,
) -> Purchase | UnmatchedPayment:
    """A payment the database kept refusing: its purchase if it is recorded (before, or now after all),
    else an unmatched payment (not_recorded) for the admin. Tried and kept in one transaction, so that a
    database that has just come back never gets an unmatched payment for a payment it takes."""
    recorded = await _by_charge_id(session, charge_id)
    if recorded is not None:
        return recorded
    try:
        async with session.begin_nested():
            payer = await user_service.get_by_telegram_id(session, telegram_user_id)
            if payer is not None:
                taken = await take_payment(
                    session,
                    user_id=payer.id,
                    telegram_user_id=telegram_user_id,
                    payload=payload,
                    total_amount=amount,
                    charge_id=charge_id,
                    currency=currency,
                )
                return taken.purchase if isinstance(taken, RecordedPayment) else taken
    except DBAPIError as error:
        logger.error("The database still refuses payment %s: %s", charge_id, error)
    return await record_unmatched(
        session,
        charge_id=charge_id,
        telegram_user_id=telegram_user_id,
        amount=amount,
        currency=currency,
        payload=payload,
        reason=UnmatchedPaymentReason.NOT_RECORDED,
    )


async def _unmatched_by_charge_id(session: AsyncSession, charge_id: str) -> UnmatchedPayment | None:
    return await session.scalar(
        select(UnmatchedPayment)
        .where(UnmatchedPayment.telegram_payment_charge_id == charge_id)
        .execution_options(populate_existing=True)
    )


def _storable(text: str, max_length: int) -> str:
    # Whatever Telegram sent: no NUL or lone surrogate (which no database stores), at most max_length.
    return text.encode("utf-8", "replace").decode("utf-8").replace("\x00", "\ufffd")[:max_length]


async def get_unmatched(session: AsyncSession, unmatched_id: int) -> UnmatchedPayment:
    """The unmatched payment with this id, or UnmatchedPaymentNotFound."""
    unmatched = await session.get(UnmatchedPayment, unmatched_id)
    if unmatched is None:
        raise UnmatchedPaymentNotFound(unmatched_id)
    return unmatched


async def get_all_unmatched(
    session: AsyncSession,
    *,
    reason: UnmatchedPaymentReason | None = None,
    resolved: bool | None = None,
    telegram_user_id: int | None = None,
    sort: str = "-created_at",
    limit: int,
    offset: int,
) -> PageResult[UnmatchedPayment]:
    """A page of unmatched payments matching the filters."""
    filters = []
    if reason is not None:
        filters.append(UnmatchedPayment.reason == reason)
    if resolved is not None:
        resolved_at = UnmatchedPayment.resolved_at
        filters.append(resolved_at.is_not(None) if resolved else resolved_at.is_(None))
    if telegram_user_id is not None:
        filters.append(UnmatchedPayment.telegram_user_id == telegram_user_id)
    return await paginate(
        session,
        UnmatchedPayment,
        filters=filters,
        order_by=sort_order(sort, UNMATCHED_SORT_COLUMNS, UnmatchedPayment.id),
        limit=limit,
        offset=offset,
    )


@writes
async def resolve_unmatched(
    session: AsyncSession, unmatched: UnmatchedPayment, *, resolution: str
) -> UnmatchedPayment:
    """Mark an unmatched payment dealt with (refunded, granted by hand...), with a note on what was done."""
    # Conditional on the stored row: of two admins resolving it at once, one does.
    result = await session.execute(
        sql_update(UnmatchedPayment)
        .where(UnmatchedPayment.id == unmatched.id, UnmatchedPayment.resolved_at.is_(None))
        .values(resolved_at=utcnow(), resolution=resolution, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    await session.refresh(unmatched)
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise UnmatchedPaymentAlreadyResolved(unmatched.id)
    return unmatched


# ---------------------------------------------------------------------------------------------- refunds due


def refund_lease() -> timedelta:
    """An automatic refund claimed longer ago than this without finishing is assumed lost."""
    return delivery_lease()


async def refunds_due(session: AsyncSession, *, limit: int = 100) -> list[int]:
    """Ids of the purchases whose Stars must go back (duplicate payments) and that no one is refunding."""
    stale = utcnow() - refund_lease()
    return list(
        (
            await session.scalars(
                select(Purchase.id)
                .where(
                    *_REFUND_DUE,
                    or_(Purchase.refund_claimed_at.is_(None), Purchase.refund_claimed_at < stale),
                )
                .order_by(Purchase.id)
                .limit(limit)
            )
        ).all()
    )


_REFUND_DUE = (
    Purchase.status == PurchaseStatus.COMPLETED,
    Purchase.refund_reason.is_not(None),
    Purchase.refund_error.is_(None),
    Purchase.telegram_payment_charge_id.is_not(None),
)


@writes
async def claim_refund(session: AsyncSession, purchase_id: int) -> Purchase | None:
    """The purchase, if this caller is to refund it now (true for one caller at a time, with a lease)."""
    now = utcnow()
    return await session.scalar(
        sql_update(Purchase)
        .where(
            Purchase.id == purchase_id,
            *_REFUND_DUE,
            or_(Purchase.refund_claimed_at.is_(None), Purchase.refund_claimed_at < now - refund_lease()),
        )
        .values(refund_claimed_at=now)
        .returning(Purchase)
        .execution_options(populate_existing=True)
    )


@writes
async def _end_refund_claim(session: AsyncSession, purchase: Purchase, *, error: str | None) -> None:
    purchase.refund_claimed_at = None
    purchase.refund_error = error[:REFUND_ERROR_MAX_LENGTH] if error else None
    await session.flush()


async def refund_due(session: AsyncSession, purchase_id: int, *, telegram: Telegram) -> bool:
    """Give back the Stars of a purchase marked to be refunded (a duplicate payment); whether it is
    refunded now. The claim is durable before Telegram is called (every call commits first), so a refund
    is asked for once: when Telegram cannot be reached the claim is given up and the job tries again; after
    a crash, once its lease is over. Telegram's "already refunded" counts as done; any other refusal is
    kept in refund_error, for the admin, and not retried."""
    purchase = await claim_refund(session, purchase_id)
    if purchase is None:
        return False
    assert purchase.telegram_payment_charge_id is not None
    user = await purchase.awaitable_attrs.user
    try:
        await telegram.refund_star_payment(
            telegram_user_id=user.telegram_id, charge_id=purchase.telegram_payment_charge_id
        )
    except TelegramUnavailable as error:
        logger.warning("Refund of purchase %s not made now (%s); the job tries again", purchase.id, error)
        await _end_refund_claim(session, purchase, error=None)
        return False
    except RefundRefused as refusal:
        if refusal.reason != "already_refunded":
            logger.error("Telegram refused the refund of purchase %s: %s", purchase.id, refusal.message)
            await _end_refund_claim(session, purchase, error=refusal.message)
            return False
    await purchase_service.mark_refunded(session, purchase)
    logger.info("Purchase %s refunded (%s)", purchase.id, purchase.refund_reason)
    return True


@writes
async def expire_pending(session: AsyncSession, *, older_than: timedelta) -> int:
    """Fail pending purchases nobody paid for in time, releasing their promo code uses."""
    cutoff = utcnow() - older_than
    stale = (
        await session.scalars(
            select(Purchase).where(Purchase.status == PurchaseStatus.PENDING, Purchase.created_at < cutoff)
        )
    ).all()
    expired = 0
    for purchase in stale:
        try:
            await purchase_service.fail(session, purchase)
        except InvalidPurchaseTransition:
            continue  # paid meanwhile: the payment wins
        expired += 1
    return expired
