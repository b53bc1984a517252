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
from shared.models import PromoCode, Purchase, User
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


async def test_record_payment_same_invoice_paid_twice_is_two_purchases(session):
    user, _, invoice = await _invoice(session)
    first = await payment_service.record_payment(
        session, user_id=user.id, payload=invoice.payload, total_amount=100, charge_id="ch-a"
    )
    second = await payment_service.record_payment(
        session, user_id=user.id, payload=invoice.payload, total_amount=100, charge_id="ch-b"
    )

    assert first.newly_completed
    assert second.newly_completed
    assert first.purchase.id != second.purchase.id
    assert await _count(session, Purchase.status == PurchaseStatus.COMPLETED) == 2


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
    return user, lesson, recorded.purchase


async def test_record_refund_marks_refunded_once(session):
    _, _, purchase = await _paid(session)

    first = await payment_service.record_refund(session, charge_id="ch-1")
    second = await payment_service.record_refund(session, charge_id="ch-1")

    assert first.id == second.id == purchase.id
    assert second.status is PurchaseStatus.REFUNDED
    assert await payment_service.record_refund(session, charge_id="never-seen") is None


def _refunder(outcome: str | None, calls: list):
    async def refund_stars(telegram_user_id: int, charge_id: str) -> None:
        calls.append((telegram_user_id, charge_id))
        if outcome is not None:
            raise RefundRefused(outcome, outcome)

    return refund_stars


async def test_refund_ok(session):
    user, _, purchase = await _paid(session)
    calls: list = []

    refunded = await payment_service.refund(session, purchase, refund_stars=_refunder(None, calls))

    assert calls == [(user.telegram_id, "ch-1")]
    assert refunded.status is PurchaseStatus.REFUNDED
    with pytest.raises(RefundRefused) as again:
        await payment_service.refund(session, purchase, refund_stars=_refunder(None, calls))
    assert again.value.reason == "already_refunded"
    assert len(calls) == 1


async def test_refund_already_refunded_at_telegram_marks_refunded(session):
    _, _, purchase = await _paid(session)

    with pytest.raises(RefundRefused) as refused:
        await payment_service.refund(session, purchase, refund_stars=_refunder("already_refunded", []))

    assert refused.value.reason == "already_refunded"
    async with session_scope() as other:
        assert (await other.get(Purchase, purchase.id)).status is PurchaseStatus.REFUNDED


async def test_refund_charge_not_found_keeps_purchase(session):
    _, _, purchase = await _paid(session)

    with pytest.raises(RefundRefused) as refused:
        await payment_service.refund(session, purchase, refund_stars=_refunder("charge_not_found", []))

    assert refused.value.reason == "charge_not_found"
    async with session_scope() as other:
        assert (await other.get(Purchase, purchase.id)).status is PurchaseStatus.COMPLETED


async def test_refund_refuses_unpaid(session):
    _, _, invoice = await _invoice(session)
    calls: list = []
    with pytest.raises(RefundRefused) as refused:
        await payment_service.refund(session, invoice.purchase, refund_stars=_refunder(None, calls))
    assert refused.value.reason == "not_paid"
    assert calls == []


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
    assert report.unreadable == ["ch-other-bot"]
    await session.refresh(invoice.purchase)
    assert invoice.purchase.status is PurchaseStatus.COMPLETED
    stranger = await session.scalar(select(User).where(User.telegram_id == 555_000_111))
    assert stranger is not None

    again = await payment_service.reconcile(session, ledger, refunded_charges=["ch-refunded"])
    assert (again.recorded, again.refunded) == ([], [])
    assert await _count(session, Purchase.telegram_payment_charge_id.is_not(None)) == 5


async def test_writers_end_their_transaction(session):
    """On SQLite an open writer's transaction is the database's write lock: none may outlive the call."""
    user, lesson, invoice = await _invoice(session)
    await payment_service.create_invoice(session, user_id=user.id, lesson_id=lesson.id)
    assert not session.in_transaction()
    await payment_service.record_payment(
        session, user_id=user.id, payload=invoice.payload, total_amount=100, charge_id="ch-1"
    )
    await payment_service.record_payment(
        session, user_id=user.id, payload=invoice.payload, total_amount=100, charge_id="ch-1"
    )
    assert not session.in_transaction()
    with pytest.raises(AlreadyPurchased):
        await payment_service.create_invoice(session, user_id=user.id, lesson_id=lesson.id)
    assert not session.in_transaction()
    assert await payment_service.record_refund(session, charge_id="unknown") is None
    assert not session.in_transaction()
    assert lesson.id == invoice.purchase.lesson_id  # nothing was expired by a rollback


async def test_pre_checkout_refuses_old_invoice_after_price_change(session):
    user, lesson, old = await _invoice(session, price=100)
    lesson.price = 300
    await session.commit()
    await payment_service.create_invoice(session, user_id=user.id, lesson_id=lesson.id)  # replaces it

    with pytest.raises(PriceChanged):
        await payment_service.check_pre_checkout(
            session, user_id=user.id, payload=old.payload, currency="XTR", total_amount=100
        )
