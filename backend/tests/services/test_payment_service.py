"""payment_service against the real database: invoices, pre-checkout, exactly-once recording, refunds,
reconciliation. The concurrent tests use two sessions, as two bot processes would."""

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy import update as sql_update

from backend.services import payment_service, purchase_service
from backend.services.exceptions import (
    AlreadyPurchased,
    InvalidPayload,
    InvalidPurchaseTransition,
    ItemNotForSale,
    PriceChanged,
    PromoCodeUsedUp,
    RefundRefused,
    TelegramUnavailable,
    UnmatchedPaymentAlreadyResolved,
    WrongCurrency,
)
from backend.services.payment_service import InvoicePayload, LedgerPayment
from backend.tests.factories import (
    create_course,
    create_lesson,
    create_promo_code,
    create_purchase,
    create_user,
)
from shared.constants import PurchaseStatus
from shared.database import session_scope
from shared.models import PromoCode, Purchase, UnmatchedPayment, UnmatchedPaymentReason, User
from shared.utils import utcnow

# ---------------------------------------------------------------------------------------------- payload


@pytest.mark.parametrize(
    ("payload", "text"),
    [
        (InvoicePayload(purchase_id=7, lesson_id=3), "v1:7:l3"),
        (InvoicePayload(purchase_id=7, course_id=12), "v1:7:c12"),
        (InvoicePayload(purchase_id=7, lesson_id=3, promo_code_id=5), "v1:7:l3:p5"),
    ],
)
def test_payload_encode_decode(payload, text):
    assert payload.encode() == text
    assert InvoicePayload.decode(text) == payload


def test_payload_fits_telegram_limit():
    biggest = InvoicePayload(purchase_id=2**31 - 1, course_id=2**31 - 1, promo_code_id=2**31 - 1)
    assert len(biggest.encode().encode()) <= 128


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "v1",
        "v2:1:l1",
        "v1:1",
        "v1::l1",
        "v1:x:l1",
        "v1:1:x1",
        "v1:1:l",
        "v1:1:lx",
        "v1:0:l1",
        "v1:1:l0",
        "v1:1:l-1",
        "v1:-1:l1",
        "v1:1:l1:",
        "v1:1:l1:p",
        "v1:1:l1:p0",
        "v1:1:l1:q2",
        "v1:1:l1:p2:x",
        "v1: 1:l1",
        "v1:1:l+1",
        "v1:1_0:l1",
        "v1:1:l1\n",
        "v1:99999999999999999999:l1",
        '{"lesson": 1}',
    ],
)
def test_payload_decode_rejects_garbage(garbage):
    with pytest.raises(InvalidPayload):
        InvoicePayload.decode(garbage)


# ---------------------------------------------------------------------------------------------- invoices


async def test_create_invoice_pending_at_current_price(session):
    user = await create_user(session)
    lesson = await create_lesson(session, price=150)

    invoice = await payment_service.create_invoice(session, user_id=user.id, lesson_id=lesson.id)

    assert invoice.amount == 150
    assert invoice.purchase.status is PurchaseStatus.PENDING
    assert invoice.payload == f"v1:{invoice.purchase.id}:l{lesson.id}"


async def test_create_invoice_reuses_pending(session):
    user = await create_user(session)
    lesson = await create_lesson(session, price=150)

    first = await payment_service.create_invoice(session, user_id=user.id, lesson_id=lesson.id)
    second = await payment_service.create_invoice(session, user_id=user.id, lesson_id=lesson.id)

    assert second.purchase.id == first.purchase.id
    assert await session.scalar(select(func.count()).select_from(Purchase)) == 1


async def test_create_invoice_replaces_pending_after_price_change(session):
    user = await create_user(session)
    lesson = await create_lesson(session, price=150)
    first = await payment_service.create_invoice(session, user_id=user.id, lesson_id=lesson.id)
    lesson.price = 200
    await session.commit()

    second = await payment_service.create_invoice(session, user_id=user.id, lesson_id=lesson.id)

    assert second.purchase.id != first.purchase.id
    assert second.amount == 200
    await session.refresh(first.purchase)
    assert first.purchase.status is PurchaseStatus.FAILED


async def test_create_invoice_with_promo_reserves_one_use(session):
    user = await create_user(session)
    lesson = await create_lesson(session, price=100)
    promo = await create_promo_code(session, code="HALF", discount_percent=50, max_uses=1)

    first = await payment_service.create_invoice(
        session, user_id=user.id, lesson_id=lesson.id, promo_code="half"
    )
    # The user's own reservation took the last use: asking again must still work, and count nothing.
    second = await payment_service.create_invoice(
        session, user_id=user.id, lesson_id=lesson.id, promo_code="HALF"
    )

    assert first.amount == second.amount == 50
    assert second.purchase.id == first.purchase.id
    assert second.payload.endswith(f":p{promo.id}")
    await session.refresh(promo)
    assert promo.current_uses == 1


async def test_create_invoice_without_promo_releases_the_reservation(session):
    user = await create_user(session)
    lesson = await create_lesson(session, price=100)
    promo = await create_promo_code(session, discount_percent=50, max_uses=1)
    await payment_service.create_invoice(session, user_id=user.id, lesson_id=lesson.id, promo_code=promo.code)

    invoice = await payment_service.create_invoice(session, user_id=user.id, lesson_id=lesson.id)

    assert invoice.amount == 100
    await session.refresh(promo)
    assert promo.current_uses == 0


async def test_create_invoice_refuses_owned_and_inactive(session):
    user = await create_user(session)
    owned = await create_lesson(session)
    await create_purchase(session, user, owned)
    inactive = await create_lesson(session, is_active=False)

    with pytest.raises(AlreadyPurchased):
        await payment_service.create_invoice(session, user_id=user.id, lesson_id=owned.id)
    with pytest.raises(ItemNotForSale):
        await payment_service.create_invoice(session, user_id=user.id, lesson_id=inactive.id)


# ---------------------------------------------------------------------------------------------- pre-checkout


async def _invoice(session, *, price=100, promo_code=None, course=False):
    user = await create_user(session)
    if course:
        item = await create_course(session, [await create_lesson(session)], total_price=price)
        invoice = await payment_service.create_invoice(
            session, user_id=user.id, course_id=item.id, promo_code=promo_code
        )
    else:
        item = await create_lesson(session, price=price)
        invoice = await payment_service.create_invoice(
            session, user_id=user.id, lesson_id=item.id, promo_code=promo_code
        )
    # The test is the edge: its unit of work ends here, so that other sessions may write.
    await session.commit()
    return user, item, invoice


async def test_pre_checkout_accepts_valid(session):
    user, _, invoice = await _invoice(session)
    await payment_service.check_pre_checkout(
        session, user_id=user.id, payload=invoice.payload, currency="XTR", total_amount=100
    )


async def test_pre_checkout_refuses_lower_amount(session):
    user, _, invoice = await _invoice(session)
    with pytest.raises(PriceChanged) as refused:
        await payment_service.check_pre_checkout(
            session, user_id=user.id, payload=invoice.payload, currency="XTR", total_amount=1
        )
    assert refused.value.current == 100


async def test_pre_checkout_refuses_wrong_currency(session):
    user, _, invoice = await _invoice(session)
    with pytest.raises(WrongCurrency):
        await payment_service.check_pre_checkout(
            session, user_id=user.id, payload=invoice.payload, currency="USD", total_amount=100
        )


async def test_pre_checkout_refuses_already_owned(session):
    user, lesson, invoice = await _invoice(session)
    await create_purchase(session, user, lesson)
    with pytest.raises(AlreadyPurchased):
        await payment_service.check_pre_checkout(
            session, user_id=user.id, payload=invoice.payload, currency="XTR", total_amount=100
        )


async def test_pre_checkout_refuses_item_deactivated(session):
    user, course, invoice = await _invoice(session, course=True)
    course.is_active = False
    await session.commit()
    with pytest.raises(ItemNotForSale):
        await payment_service.check_pre_checkout(
            session, user_id=user.id, payload=invoice.payload, currency="XTR", total_amount=100
        )


async def test_pre_checkout_refuses_unknown_payload(session):
    user = await create_user(session)
    with pytest.raises(InvalidPayload):
        await payment_service.check_pre_checkout(
            session, user_id=user.id, payload="free-stuff", currency="XTR", total_amount=0
        )


async def test_pre_checkout_accepts_own_promo_reservation(session):
    promo = await create_promo_code(session, discount_percent=50, max_uses=1)
    user, _, invoice = await _invoice(session, promo_code=promo.code)
    # The reservation took the last use; the invoice it was issued with keeps the discount.
    await payment_service.check_pre_checkout(
        session, user_id=user.id, payload=invoice.payload, currency="XTR", total_amount=50
    )


async def test_pre_checkout_forwarded_promo_invoice_needs_a_free_use(session):
    promo = await create_promo_code(session, discount_percent=50, max_uses=1)
    _, _, invoice = await _invoice(session, promo_code=promo.code)
    other = await create_user(session)
    # Another user paying the forwarded invoice cannot ride on the first user's reservation.
    with pytest.raises(PromoCodeUsedUp):
        await payment_service.check_pre_checkout(
            session, user_id=other.id, payload=invoice.payload, currency="XTR", total_amount=50
        )
    promo.max_uses = 2
    await session.commit()
    await payment_service.check_pre_checkout(
        session, user_id=other.id, payload=invoice.payload, currency="XTR", total_amount=50
    )


async def test_pre_checkout_expired_promo_invoice_needs_a_free_use(session):
    promo = await create_promo_code(session, discount_percent=50, max_uses=1)
    user, _, invoice = await _invoice(session, promo_code=promo.code)
    await payment_service.expire_pending(session, older_than=timedelta(0))
    # The released use went to someone else meanwhile.
    await session.execute(sql_update(PromoCode).values(current_uses=1))
    await session.commit()
    with pytest.raises(PromoCodeUsedUp):
        await payment_service.check_pre_checkout(
            session, user_id=user.id, payload=invoice.payload, currency="XTR", total_amount=50
        )


# ---------------------------------------------------------------------------------------------- payments


async def _count(session, *conditions) -> int:
    return await session.scalar(select(func.count()).select_from(Purchase).where(*conditions))


async def test_record_payment_completes_pending(session):
    user, _lesson, invoice = await _invoice(session)

    recorded = await payment_service.record_payment(
        session, user_id=user.id, payload=invoice.payload, total_amount=100, charge_id="ch-1"
    )

    assert recorded.newly_completed
    assert recorded.purchase.id == invoice.purchase.id
    assert recorded.purchase.status is PurchaseStatus.COMPLETED
    assert recorded.purchase.telegram_payment_charge_id == "ch-1"


async def test_record_payment_twice_is_one_purchase(session):
    user, _, invoice = await _invoice(session)
    args = {"user_id": user.id, "payload": invoice.payload, "total_amount": 100, "charge_id": "ch-1"}

    first = await payment_service.record_payment(session, **args)
    second = await payment_service.record_payment(session, **args)

    assert (first.newly_completed, second.newly_completed) == (True, False)
    assert second.purchase.id == first.purchase.id
    assert await _count(session) == 1


async def _record_in_own_session(**args):
    async with session_scope() as session:
        return await payment_service.record_payment(session, **args)


@pytest.mark.parametrize("with_pending", [True, False])
async def test_record_payment_concurrently_is_one_purchase(session, with_pending):
    user, _, invoice = await _invoice(session)
    payload = invoice.payload if with_pending else f"v1:2000000001:l{invoice.purchase.lesson_id}"
    args = {"user_id": user.id, "payload": payload, "total_amount": 100, "charge_id": "ch-race"}

    results = await asyncio.gather(*(_record_in_own_session(**args) for _ in range(2)))

    assert sorted(r.newly_completed for r in results) == [False, True]
    assert results[0].purchase.id == results[1].purchase.id
    assert await _count(session, Purchase.telegram_payment_charge_id == "ch-race") == 1
    assert await _count(session, Purchase.status == PurchaseStatus.COMPLETED) == 1


async def test_record_payment_missing_purchase_recorded_from_payload(session):
    user = await create_user(session)
    course = await create_course(session, [await create_lesson(session)], total_price=300)

    recorded = await payment_service.record_payment(
        session, user_id=user.id, payload=f"v1:2000000002:c{course.id}", total_amount=300, charge_id="ch-x"
    )

    assert recorded.newly_completed
    purchase = recorded.purchase
    assert (purchase.user_id, purchase.course_id, purchase.amount) == (user.id, course.id, 300)
    assert purchase.status is PurchaseStatus.COMPLETED


async def test_record_payment_after_expiry_completes_and_takes_promo_again(session):
    promo = await create_promo_code(session, discount_percent=50, max_uses=1)
    user, _, invoice = await _invoice(session, promo_code=promo.code)
    assert await payment_service.expire_pending(session, older_than=timedelta(0)) == 1
    await session.refresh(promo)
    assert promo.current_uses == 0

    recorded = await payment_service.record_payment(
        session, user_id=user.id, payload=invoice.payload, total_amount=50, charge_id="ch-late"
    )

    assert recorded.newly_completed
    assert recorded.purchase.id == invoice.purchase.id
    assert recorded.purchase.status is PurchaseStatus.COMPLETED
    await session.refresh(promo)
    assert promo.current_uses == 1


async def test_record_payment_forwarded_invoice_is_the_payers_purchase(session):
    promo = await create_promo_code(session, discount_percent=50)
    _owner, lesson, invoice = await _invoice(session, promo_code=promo.code)
    payer = await create_user(session)

    recorded = await payment_service.record_payment(
        session, user_id=payer.id, payload=invoice.payload, total_amount=50, charge_id="ch-fwd"
    )

    assert recorded.newly_completed
    assert recorded.purchase.id != invoice.purchase.id
    assert (recorded.purchase.user_id, recorded.purchase.lesson_id) == (payer.id, lesson.id)
    await session.refresh(invoice.purchase)
    assert invoice.purchase.status is PurchaseStatus.PENDING
    # Both the owner's reservation and the payer's purchase count as uses.
    await session.refresh(promo)
    assert promo.current_uses == 2


async def test_expire_pending_never_fails_a_paid_purchase(session):
    promo = await create_promo_code(session, discount_percent=50)
    user, _, invoice = await _invoice(session, promo_code=promo.code)
    stale, promo_id = invoice.purchase, promo.id  # loaded as pending, as the expiry job had it
    await _record_in_own_session(user_id=user.id, payload=invoice.payload, total_amount=50, charge_id="ch-1")

    with pytest.raises(InvalidPurchaseTransition):
        await purchase_service.fail(session, stale)

    async with session_scope() as other:
        purchase = await other.get(Purchase, invoice.purchase.id)
        assert purchase.status is PurchaseStatus.COMPLETED
        assert (await other.get(PromoCode, promo_id)).current_uses == 1


# ---------------------------------------------------------------------------------------------- delivery


async def _claim_in_own_session(purchase_id: int) -> bool:
    async with session_scope() as session:
        return await payment_service.claim_delivery(session, await session.get(Purchase, purchase_id))


async def test_claim_delivery_concurrently_one_winner(session):
    user, _, invoice = await _invoice(session)
    recorded = await payment_service.record_payment(
        session, user_id=user.id, payload=invoice.payload, total_amount=100, charge_id="ch-1"
    )
    await session.commit()

    claims = await asyncio.gather(*(_claim_in_own_session(recorded.purchase.id) for _ in range(4)))

    assert sorted(claims) == [False, False, False, True]


async def test_claim_delivery_lease_expires(session):
    user, _, invoice = await _invoice(session)
    purchase = (
        await payment_service.record_payment(
            session, user_id=user.id, payload=invoice.payload, total_amount=100, charge_id="ch-1"
        )
    ).purchase
    assert await payment_service.claim_delivery(session, purchase)
    assert not await payment_service.claim_delivery(session, purchase)
    assert await payment_service.undelivered(session) == []

    # The claimer died: once its lease is over, the delivery is up for grabs again.
    past = utcnow() - payment_service.delivery_lease() - timedelta(seconds=1)
    await session.execute(sql_update(Purchase).values(delivery_claimed_at=past))
    await session.commit()
    assert [p.id for p in await payment_service.undelivered(session)] == [purchase.id]
    assert await payment_service.claim_delivery(session, purchase)

    await payment_service.mark_delivered(session, purchase)
    await session.execute(sql_update(Purchase).values(delivery_claimed_at=past))
    await session.commit()
    assert not await payment_service.claim_delivery(session, purchase)
    assert await payment_service.undelivered(session) == []


async def test_claim_delivery_refuses_unpaid(session):
    _, _, invoice = await _invoice(session)
    assert not await payment_service.claim_delivery(session, invoice.purchase)


# ---------------------------------------------------------------------------------------------- refunds


async def _paid(session, charge_id="ch-1"):
    user, lesson, invoice = await _invoice(session)
    recorded = await payment_service.record_payment(
        session, user_id=user.id, payload=invoice.payload, total_amount=100, charge_id=charge_id
    )
    await session.commit()
    return user, lesson, recorded.purchase


async def test_record_refund_marks_refunded_once(session):
    _, _, purchase = await _paid(session)

    first = await payment_service.record_refund(session, charge_id="ch-1")
    second = await payment_service.record_refund(session, charge_id="ch-1")

    assert first.id == second.id == purchase.id
    assert second.status is PurchaseStatus.REFUNDED
    assert await payment_service.record_refund(session, charge_id="never-seen") is None


class FakeTelegram:
    """The services' Telegram interface: records refunds, and fails them as told (one outcome per call)."""

    def __init__(self, *outcomes: Exception | None) -> None:
        self.calls: list[tuple[int, str]] = []
        self.outcomes = list(outcomes)

    async def refund_star_payment(self, *, telegram_user_id: int, charge_id: str) -> None:
        self.calls.append((telegram_user_id, charge_id))
        outcome = self.outcomes.pop(0) if self.outcomes else None
        if outcome is not None:
            raise outcome


def _refused(reason: str) -> RefundRefused:
    return RefundRefused(reason, f"Telegram says {reason}")


async def test_refund_ok(session):
    user, _, purchase = await _paid(session)
    telegram = FakeTelegram()

    refunded = await payment_service.refund(session, purchase, telegram=telegram)

    assert telegram.calls == [(user.telegram_id, "ch-1")]
    assert refunded.status is PurchaseStatus.REFUNDED
    with pytest.raises(RefundRefused) as again:
        await payment_service.refund(session, purchase, telegram=telegram)
    assert again.value.reason == "already_refunded"
    assert len(telegram.calls) == 1


async def test_refund_already_refunded_at_telegram_marks_refunded(session):
    _, _, purchase = await _paid(session)

    with pytest.raises(RefundRefused) as refused:
        await payment_service.refund(session, purchase, telegram=FakeTelegram(_refused("already_refunded")))

    assert refused.value.reason == "already_refunded"
    async with session_scope() as other:
        assert (await other.get(Purchase, purchase.id)).status is PurchaseStatus.REFUNDED


async def test_refund_charge_not_found_keeps_purchase(session):
    _, _, purchase = await _paid(session)
    purchase_id = purchase.id

    with pytest.raises(RefundRefused) as refused:
        await payment_service.refund(session, purchase, telegram=FakeTelegram(_refused("charge_not_found")))
    await session.rollback()  # the request fails: its unit of work is rolled back

    assert refused.value.reason == "charge_not_found"
    assert (await _stored(purchase_id)).status is PurchaseStatus.COMPLETED


async def test_refund_refuses_unpaid(session):
    _, _, invoice = await _invoice(session)
    telegram = FakeTelegram()
    with pytest.raises(RefundRefused) as refused:
        await payment_service.refund(session, invoice.purchase, telegram=telegram)
    assert refused.value.reason == "not_paid"
    assert telegram.calls == []


# ---------------------------------------------------------------------------------------------- duplicates


async def _pay(session, user, *, charge_id, lesson=None, course=None) -> payment_service.RecordedPayment:
    """A new invoice of the user for the item, paid with this charge (the test's unit of work ends)."""
    payload = InvoicePayload(
        purchase_id=2_000_000_000 + len(charge_id),
        lesson_id=lesson.id if lesson else None,
        course_id=course.id if course else None,
    ).encode()
    recorded = await payment_service.record_payment(
        session, user_id=user.id, payload=payload, total_amount=100, charge_id=charge_id, claim_delivery=True
    )
    await session.commit()
    return recorded


async def _stored(purchase_id: int) -> Purchase:
    async with session_scope() as other:
        return await other.get(Purchase, purchase_id)


async def test_record_payment_for_a_lesson_already_bought_is_a_duplicate(session):
    user, lesson, invoice = await _invoice(session)
    # Two invoices open (the second one's purchase row is gone, as after an expiry): both paid.
    first = await payment_service.record_payment(
        session, user_id=user.id, payload=invoice.payload, total_amount=100, charge_id="ch-first"
    )
    await session.commit()

    second = await _pay(session, user, charge_id="ch-second", lesson=lesson)

    assert not first.duplicate
    assert second.newly_completed
    assert second.duplicate
    assert not second.delivery_claimed
    stored = await _stored(second.purchase.id)
    assert (stored.status, stored.refund_reason) == (PurchaseStatus.COMPLETED, "duplicate_payment")
    assert (await _stored(first.purchase.id)).refund_reason is None
    assert await payment_service.refunds_due(session) == [second.purchase.id]
    # Nothing to deliver: the buyer had it.
    assert [p.id for p in await payment_service.undelivered(session)] == [first.purchase.id]


async def test_record_payment_same_invoice_paid_twice_second_is_a_duplicate(session):
    user, _, invoice = await _invoice(session)
    first = await payment_service.record_payment(
        session, user_id=user.id, payload=invoice.payload, total_amount=100, charge_id="ch-a"
    )
    second = await payment_service.record_payment(
        session, user_id=user.id, payload=invoice.payload, total_amount=100, charge_id="ch-b"
    )

    assert (first.newly_completed, second.newly_completed) == (True, True)
    assert (first.duplicate, second.duplicate) == (False, True)
    assert first.purchase.id != second.purchase.id


async def test_record_payment_for_a_lesson_of_an_owned_course_is_a_duplicate(session):
    user = await create_user(session)
    lesson = await create_lesson(session)
    course = await create_course(session, [lesson])
    await create_purchase(session, user, course)

    assert (await _pay(session, user, charge_id="ch-lesson", lesson=lesson)).duplicate


async def test_record_payment_for_an_owned_course_is_a_duplicate(session):
    user = await create_user(session)
    course = await create_course(session, [await create_lesson(session)])
    await _pay(session, user, charge_id="ch-course-1", course=course)

    assert (await _pay(session, user, charge_id="ch-course-2", course=course)).duplicate


async def test_record_payment_course_after_some_of_its_lessons_is_not_a_duplicate(session):
    user = await create_user(session)
    lessons = [await create_lesson(session), await create_lesson(session)]
    course = await create_course(session, lessons)
    await _pay(session, user, charge_id="ch-part", lesson=lessons[0])

    recorded = await _pay(session, user, charge_id="ch-whole", course=course)

    assert not recorded.duplicate
    assert recorded.delivery_claimed


async def test_record_payment_after_a_refund_or_a_failure_is_not_a_duplicate(session):
    user = await create_user(session)
    refunded, failed = await create_lesson(session), await create_lesson(session)
    await create_purchase(session, user, refunded, status=PurchaseStatus.REFUNDED)
    await create_purchase(session, user, failed, status=PurchaseStatus.FAILED)

    assert not (await _pay(session, user, charge_id="ch-r", lesson=refunded)).duplicate
    assert not (await _pay(session, user, charge_id="ch-f", lesson=failed)).duplicate


async def _duplicate(session) -> tuple[User, Purchase, Purchase]:
    user = await create_user(session)
    lesson = await create_lesson(session)
    first = await _pay(session, user, charge_id="ch-first", lesson=lesson)
    second = await _pay(session, user, charge_id="ch-second", lesson=lesson)
    assert second.duplicate
    return user, first.purchase, second.purchase


async def test_refund_due_refunds_the_duplicate_once(session):
    user, first, second = await _duplicate(session)
    telegram = FakeTelegram()

    assert await payment_service.refund_due(session, second.id, telegram=telegram)
    await session.commit()
    assert not await payment_service.refund_due(session, second.id, telegram=telegram)
    await session.commit()

    assert telegram.calls == [(user.telegram_id, "ch-second")]
    stored = await _stored(second.id)
    assert (stored.status, stored.refund_reason) == (PurchaseStatus.REFUNDED, "duplicate_payment")
    assert (await _stored(first.id)).status is PurchaseStatus.COMPLETED
    assert await payment_service.refunds_due(session) == []


async def test_refund_due_concurrently_one_call(session):
    _, _, second = await _duplicate(session)
    telegram = FakeTelegram()

    async def refund_in_own_session() -> bool:
        async with session_scope() as other:
            return await payment_service.refund_due(other, second.id, telegram=telegram)

    results = await asyncio.gather(*(refund_in_own_session() for _ in range(3)))

    assert sorted(results) == [False, False, True]
    assert len(telegram.calls) == 1


async def test_refund_due_when_telegram_is_down_is_tried_again(session):
    _, _, second = await _duplicate(session)
    telegram = FakeTelegram(TelegramUnavailable("Telegram is down"))

    assert not await payment_service.refund_due(session, second.id, telegram=telegram)
    await session.commit()
    assert (await _stored(second.id)).status is PurchaseStatus.COMPLETED
    assert await payment_service.refunds_due(session) == [second.id]
    assert await payment_service.refund_due(session, second.id, telegram=telegram)
    await session.commit()

    assert len(telegram.calls) == 2
    assert (await _stored(second.id)).status is PurchaseStatus.REFUNDED


async def test_refund_due_claim_of_a_dead_process_is_taken_over_after_its_lease(session):
    _, _, second = await _duplicate(session)
    # A process claimed the refund, then died (before or after Telegram refunded: Telegram says which).
    assert await payment_service.claim_refund(session, second.id) is not None
    await session.commit()
    telegram = FakeTelegram(_refused("already_refunded"))
    assert await payment_service.refunds_due(session) == []
    assert not await payment_service.refund_due(session, second.id, telegram=telegram)

    past = utcnow() - payment_service.refund_lease() - timedelta(seconds=1)
    await session.execute(sql_update(Purchase).values(refund_claimed_at=past))
    await session.commit()
    assert await payment_service.refund_due(session, second.id, telegram=telegram)
    await session.commit()

    assert len(telegram.calls) == 1
    assert (await _stored(second.id)).status is PurchaseStatus.REFUNDED


async def test_refund_due_refused_for_good_is_kept_for_the_admin(session):
    _, _, second = await _duplicate(session)
    telegram = FakeTelegram(_refused("charge_not_found"))

    assert not await payment_service.refund_due(session, second.id, telegram=telegram)
    await session.commit()

    stored = await _stored(second.id)
    assert stored.status is PurchaseStatus.COMPLETED
    assert stored.refund_error == "Telegram says charge_not_found"
    assert await payment_service.refunds_due(session) == []
    assert not await payment_service.refund_due(session, second.id, telegram=telegram)
    assert len(telegram.calls) == 1


# ---------------------------------------------------------------------------------------------- unmatched


async def _unmatched(charge_id: str) -> list[UnmatchedPayment]:
    async with session_scope() as other:
        statement = select(UnmatchedPayment).where(UnmatchedPayment.telegram_payment_charge_id == charge_id)
        return list((await other.scalars(statement)).all())


@pytest.mark.parametrize(
    ("payload", "currency", "reason"),
    [
        ("v0:legacy", "XTR", UnmatchedPaymentReason.UNREADABLE_PAYLOAD),
        ("v1:2000000005:l2000000005", "XTR", UnmatchedPaymentReason.UNKNOWN_ITEM),
        ("v1:2000000005:c2000000005", "XTR", UnmatchedPaymentReason.UNKNOWN_ITEM),
        (None, "USD", UnmatchedPaymentReason.WRONG_CURRENCY),
    ],
)
async def test_take_payment_that_matches_no_purchase_is_kept_unmatched(session, payload, currency, reason):
    user, _, invoice = await _invoice(session)
    payload = payload or invoice.payload
    args = {
        "user_id": user.id,
        "telegram_user_id": user.telegram_id,
        "payload": payload,
        "total_amount": 100,
        "charge_id": "ch-odd",
        "currency": currency,
    }

    first = await payment_service.take_payment(session, **args)
    second = await payment_service.take_payment(session, **args)
    await session.commit()

    assert isinstance(first, UnmatchedPayment)
    assert second.id == first.id
    [stored] = await _unmatched("ch-odd")
    assert (stored.reason, stored.telegram_user_id, stored.amount, stored.currency, stored.payload) == (
        reason,
        user.telegram_id,
        100,
        currency,
        payload,
    )
    assert stored.resolved_at is None
    # No access without a payment in Stars for something we have.
    assert await _count(session, Purchase.status == PurchaseStatus.COMPLETED) == 0


async def test_record_unmatched_concurrently_is_one_row():
    async def keep_in_own_session() -> int:
        async with session_scope() as other:
            kept = await payment_service.record_unmatched(
                other,
                charge_id="ch-twice",
                telegram_user_id=42,
                amount=5,
                currency="XTR",
                payload="odd\x00" + "x" * 1000,
                reason=UnmatchedPaymentReason.UNREADABLE_PAYLOAD,
            )
            return kept.id

    ids = await asyncio.gather(*(keep_in_own_session() for _ in range(3)))

    assert len(set(ids)) == 1
    [stored] = await _unmatched("ch-twice")
    # Cut to a bounded length, and storable by every database.
    assert stored.payload == ("odd\ufffd" + "x" * 1000)[:256]


async def test_keep_refused_payment_records_what_the_database_takes_and_keeps_the_rest(session):
    user, lesson, invoice = await _invoice(session)
    _, _, earlier = await _paid(session, charge_id="ch-in")
    args = {"telegram_user_id": user.telegram_id, "amount": 100, "currency": "XTR"}

    # Recorded before (the handler failed after recording it), recordable now, refused (the CHECK on
    # amounts), and a payer never registered.
    before = await payment_service.keep_refused_payment(
        session, charge_id="ch-in", payload=f"v1:{earlier.id}:l{earlier.lesson_id}", **args
    )
    now = await payment_service.keep_refused_payment(
        session, charge_id="ch-now", payload=invoice.payload, **args
    )
    refused = await payment_service.keep_refused_payment(
        session, charge_id="ch-refused", payload=f"v1:2000000008:l{lesson.id}", **(args | {"amount": -1})
    )
    stranger = await payment_service.keep_refused_payment(
        session, charge_id="ch-stranger", payload=invoice.payload, **(args | {"telegram_user_id": 777})
    )
    await session.commit()

    assert (before.id, now.id) == (earlier.id, invoice.purchase.id)
    assert (await _stored(invoice.purchase.id)).status is PurchaseStatus.COMPLETED
    assert isinstance(refused, UnmatchedPayment)
    assert isinstance(stranger, UnmatchedPayment)
    assert [u.reason for u in await _unmatched("ch-refused") + await _unmatched("ch-stranger")] == [
        UnmatchedPaymentReason.NOT_RECORDED
    ] * 2
    assert await _unmatched("ch-in") == await _unmatched("ch-now") == []


async def test_resolve_unmatched_once(session):
    kept = await payment_service.record_unmatched(
        session,
        charge_id="ch-kept",
        telegram_user_id=42,
        amount=100,
        currency="XTR",
        payload="v0:legacy",
        reason=UnmatchedPaymentReason.UNREADABLE_PAYLOAD,
    )
    await session.commit()

    resolved = await payment_service.resolve_unmatched(session, kept, resolution="Refunded by hand")
    await session.commit()
    with pytest.raises(UnmatchedPaymentAlreadyResolved):
        await payment_service.resolve_unmatched(session, kept, resolution="Again")

    [stored] = await _unmatched("ch-kept")
    assert stored.resolved_at is not None
    assert stored.resolution == resolved.resolution == "Refunded by hand"


# ---------------------------------------------------------------------------------------------- reconcile


def _ledger(charge_id: str, telegram_id: int, amount: int, payload: str) -> LedgerPayment:
    return LedgerPayment(charge_id, telegram_id, amount, payload, utcnow())


async def test_reconcile_records_missed_and_reports_unknown(session):
    user, _, invoice = await _invoice(session)
    known_user, _, known = await _paid(session, charge_id="ch-known")
    _, _, lost = await _paid(session, charge_id="ch-unknown-to-telegram")
    _, _, refunded = await _paid(session, charge_id="ch-refunded")
    stranger_lesson = await create_lesson(session, price=70)
    ledger = [
        _ledger("ch-known", known_user.telegram_id, 100, f"v1:{known.id}:l{known.lesson_id}"),
        _ledger("ch-missed", user.telegram_id, 100, invoice.payload),
        _ledger("ch-stranger", 555_000_111, 70, f"v1:2000000003:l{stranger_lesson.id}"),
        _ledger("ch-other-bot", user.telegram_id, 5, "something else"),
    ]

    report = await payment_service.reconcile(session, ledger, refunded_charges=["ch-refunded"])

    assert sorted(p.telegram_payment_charge_id for p in report.recorded) == ["ch-missed", "ch-stranger"]
    assert [p.id for p in report.refunded] == [refunded.id]
    assert [p.id for p in report.unknown_to_telegram] == [lost.id]
    assert [(u.telegram_payment_charge_id, u.reason) for u in report.unmatched] == [
        ("ch-other-bot", UnmatchedPaymentReason.UNREADABLE_PAYLOAD)
    ]
    await session.refresh(invoice.purchase)
    assert invoice.purchase.status is PurchaseStatus.COMPLETED
    stranger = await session.scalar(select(User).where(User.telegram_id == 555_000_111))
    assert stranger is not None

    again = await payment_service.reconcile(session, ledger, refunded_charges=["ch-refunded"])
    assert (again.recorded, again.refunded, again.unmatched) == ([], [], [])
    assert await _count(session, Purchase.telegram_payment_charge_id.is_not(None)) == 5
    await session.commit()
    assert len(await _unmatched("ch-other-bot")) == 1


async def test_reconcile_goes_on_after_a_payment_for_an_unknown_item(session):
    user, _, invoice = await _invoice(session)
    gone = await create_lesson(session)
    gone_id = gone.id
    await session.delete(gone)
    await session.commit()
    ledger = [
        _ledger("ch-gone", user.telegram_id, 100, f"v1:2000000004:l{gone_id}"),
        _ledger("ch-course-gone", user.telegram_id, 100, "v1:2000000004:c2000000004"),
        _ledger("ch-missed", user.telegram_id, 100, invoice.payload),
    ]

    report = await payment_service.reconcile(session, ledger)
    await session.commit()

    assert [p.telegram_payment_charge_id for p in report.recorded] == ["ch-missed"]
    assert [(u.telegram_payment_charge_id, u.reason) for u in report.unmatched] == [
        ("ch-gone", UnmatchedPaymentReason.UNKNOWN_ITEM),
        ("ch-course-gone", UnmatchedPaymentReason.UNKNOWN_ITEM),
    ]
    assert (await _stored(invoice.purchase.id)).status is PurchaseStatus.COMPLETED
    again = await payment_service.reconcile(session, ledger)
    await session.commit()
    assert (again.recorded, again.unmatched) == ([], [])
    assert [len(await _unmatched(charge)) for charge in ("ch-gone", "ch-course-gone")] == [1, 1]


async def test_reconcile_goes_on_after_a_payment_the_database_refuses(session):
    user, lesson, invoice = await _invoice(session)
    ledger = [
        # An amount the database's CHECK refuses: this payment, and only this one, cannot be recorded.
        _ledger("ch-refused", user.telegram_id, -1, f"v1:2000000004:l{lesson.id}"),
        _ledger("ch-missed", user.telegram_id, 100, invoice.payload),
    ]

    report = await payment_service.reconcile(session, ledger)
    await session.commit()

    assert [p.telegram_payment_charge_id for p in report.recorded] == ["ch-missed"]
    [kept] = await _unmatched("ch-refused")
    assert kept.reason is UnmatchedPaymentReason.NOT_RECORDED


async def test_reconcile_records_a_payment_kept_as_not_recorded_and_resolves_it(session):
    user, _, invoice = await _invoice(session)
    kept = await payment_service.record_unmatched(
        session,
        charge_id="ch-late",
        telegram_user_id=user.telegram_id,
        amount=100,
        currency="XTR",
        payload=invoice.payload,
        reason=UnmatchedPaymentReason.NOT_RECORDED,
    )
    await session.commit()

    report = await payment_service.reconcile(
        session, [_ledger("ch-late", user.telegram_id, 100, invoice.payload)]
    )
    await session.commit()

    assert [p.id for p in report.recorded] == [invoice.purchase.id]
    [stored] = await _unmatched("ch-late")
    assert stored.id == kept.id
    assert stored.resolved_at is not None
    assert stored.resolution == f"Recorded by reconciliation as purchase {invoice.purchase.id}"


async def test_pre_checkout_refuses_old_invoice_after_price_change(session):
    user, lesson, old = await _invoice(session, price=100)
    lesson.price = 300
    await session.commit()
    await payment_service.create_invoice(session, user_id=user.id, lesson_id=lesson.id)  # replaces it

    with pytest.raises(PriceChanged):
        await payment_service.check_pre_checkout(
            session, user_id=user.id, payload=old.payload, currency="XTR", total_amount=100
        )
