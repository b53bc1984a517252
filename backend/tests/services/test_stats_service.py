"""The sales rollup (day rows, and month rows of lessons, courses and promo codes): every path that changes a
purchase's status keeps it equal to a recount from the purchases; concurrent purchases lose no increment;
the migrations' backfills and rebuild() agree with it; a period's ranking read mostly from month rows is
exactly the ranking of its day rows."""

import asyncio
import random
from datetime import UTC, date, datetime, timedelta, timezone

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from alembic import command
from backend.services import payment_service, purchase_service, stats_service
from backend.services.payment_service import InvoicePayload, LedgerPayment
from backend.tests.factories import (
    create_course,
    create_lesson,
    create_promo_code,
    create_purchase,
    create_user,
)
from shared import database
from shared.constants import PurchaseStatus
from shared.database import session_scope
from shared.models import Purchase, SalesDaily, SalesDimension
from shared.schemas import PurchaseCreate
from shared.utils import utcnow


class FakeTelegram:
    """The services' Telegram interface (the boundary, not our code): every refund succeeds."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, str]] = []

    async def refund_star_payment(self, *, telegram_user_id: int, charge_id: str) -> None:
        self.calls.append((telegram_user_id, charge_id))


async def assert_rollup_matches(session) -> dict:
    await session.commit()
    async with session_scope() as other:
        stored = await stats_service.stored(other)
        expected = await stats_service.recount(other)
    assert stored == expected
    return stored


def _all(stored: dict, day: date | None = None) -> dict:
    return stored[(SalesDimension.ALL.value, day or utcnow().date(), 0)]


async def _invoice(session, *, price=100, promo_code=None):
    user = await create_user(session)
    lesson = await create_lesson(session, price=price)
    invoice = await payment_service.create_invoice(
        session, user_id=user.id, lesson_id=lesson.id, promo_code=promo_code
    )
    await session.commit()
    return user, lesson, invoice


# ---------------------------------------------------------------------------------------- every path


async def test_create_completed_counts_a_sale(session):
    user, lesson = await create_user(session), await create_lesson(session, price=80)
    promo = await create_promo_code(session, code="HALF", discount_percent=50)

    await purchase_service.create(
        session,
        data=PurchaseCreate(
            user_id=user.id, lesson_id=lesson.id, promo_code="HALF", status=PurchaseStatus.COMPLETED
        ),
    )

    stored = await assert_rollup_matches(session)
    assert _all(stored) | {} == {
        "sales": 1,
        "grants": 0,
        "revenue": 40,
        "refunds": 0,
        "refunded_stars": 0,
        "revoked": 0,
        "new_buyers": 1,
    }
    today = utcnow().date()
    month = today.replace(day=1)
    assert stored[("lesson", today, lesson.id)]["revenue"] == 40
    assert stored[("promo_code", today, promo.id)]["sales"] == 1
    assert stored[("lesson-month", month, lesson.id)]["revenue"] == 40
    assert stored[("promo_code-month", month, promo.id)]["sales"] == 1
    assert ("all-month", month, 0) not in stored


async def test_create_pending_counts_nothing_until_completed(session):
    user, lesson = await create_user(session), await create_lesson(session, price=60)
    purchase = await purchase_service.create(
        session, data=PurchaseCreate(user_id=user.id, lesson_id=lesson.id)
    )
    assert await assert_rollup_matches(session) == {}

    await purchase_service.complete(session, purchase, telegram_payment_charge_id="ch-complete")

    assert _all(await assert_rollup_matches(session))["revenue"] == 60


async def test_fail_then_late_complete(session):
    user, lesson = await create_user(session), await create_lesson(session, price=60)
    purchase = await purchase_service.create(
        session, data=PurchaseCreate(user_id=user.id, lesson_id=lesson.id)
    )
    await purchase_service.fail(session, purchase)
    assert await assert_rollup_matches(session) == {}

    await purchase_service.complete(session, purchase)

    assert _all(await assert_rollup_matches(session))["sales"] == 1


async def test_mark_refunded_counts_a_refund_on_the_sale_day(session):
    user, lesson = await create_user(session), await create_lesson(session)
    purchase = await create_purchase(
        session, user, lesson, amount=90, created_at=utcnow() - timedelta(days=3)
    )

    await purchase_service.mark_refunded(session, purchase)

    stored = await assert_rollup_matches(session)
    sale_day = _all(stored, utcnow().date() - timedelta(days=3))
    assert (sale_day["sales"], sale_day["revenue"], sale_day["refunds"], sale_day["refunded_stars"]) == (
        1,
        90,
        1,
        90,
    )


async def test_record_payment_completes_the_pending_purchase(session):
    user, _, invoice = await _invoice(session, price=70)

    await payment_service.record_payment(
        session, user_id=user.id, payload=invoice.payload, total_amount=70, charge_id="ch-1"
    )

    assert _all(await assert_rollup_matches(session))["revenue"] == 70


async def test_record_payment_after_the_invoice_expired(session):
    user, _, invoice = await _invoice(session, price=70)
    assert await payment_service.expire_pending(session, older_than=timedelta(0)) == 1
    assert await assert_rollup_matches(session) == {}

    await payment_service.record_payment(
        session, user_id=user.id, payload=invoice.payload, total_amount=70, charge_id="ch-late"
    )

    assert _all(await assert_rollup_matches(session))["sales"] == 1


async def test_record_payment_without_a_pending_purchase_and_its_duplicate(session):
    user, lesson = await create_user(session), await create_lesson(session, price=30)
    payload = InvoicePayload(purchase_id=2_000_000_001, lesson_id=lesson.id).encode()

    for charge_id in ("ch-a", "ch-b", "ch-a"):  # a new purchase, a duplicate payment, a repeated update
        await payment_service.record_payment(
            session, user_id=user.id, payload=payload, total_amount=30, charge_id=charge_id
        )

    figures = _all(await assert_rollup_matches(session))
    assert (figures["sales"], figures["revenue"], figures["new_buyers"]) == (2, 60, 1)


async def test_record_refund_and_refund(session):
    user, _, invoice = await _invoice(session, price=70)
    recorded = await payment_service.record_payment(
        session, user_id=user.id, payload=invoice.payload, total_amount=70, charge_id="ch-r"
    )
    await payment_service.record_refund(session, charge_id="ch-r")
    await payment_service.record_refund(session, charge_id="ch-r")
    other_user, _, other_invoice = await _invoice(session, price=20)
    other = await payment_service.record_payment(
        session, user_id=other_user.id, payload=other_invoice.payload, total_amount=20, charge_id="ch-s"
    )
    await session.commit()

    await payment_service.refund(session, other.purchase, telegram=FakeTelegram())

    figures = _all(await assert_rollup_matches(session))
    assert recorded.purchase.status is PurchaseStatus.REFUNDED
    assert (figures["refunds"], figures["refunded_stars"], figures["revenue"]) == (2, 90, 90)


async def test_refund_due_of_a_duplicate(session):
    user, lesson = await create_user(session), await create_lesson(session, price=30)
    payload = InvoicePayload(purchase_id=2_000_000_001, lesson_id=lesson.id).encode()
    await payment_service.record_payment(
        session, user_id=user.id, payload=payload, total_amount=30, charge_id="a"
    )
    second = await payment_service.record_payment(
        session, user_id=user.id, payload=payload, total_amount=30, charge_id="b"
    )
    await session.commit()

    assert await payment_service.refund_due(session, second.purchase.id, telegram=FakeTelegram())

    figures = _all(await assert_rollup_matches(session))
    assert (figures["sales"], figures["refunds"], figures["refunded_stars"]) == (2, 1, 30)


async def test_reconcile_records_missed_and_refunded_charges(session):
    user, _, invoice = await _invoice(session, price=40)
    paid_user, _, paid_invoice = await _invoice(session, price=50)
    await payment_service.record_payment(
        session, user_id=paid_user.id, payload=paid_invoice.payload, total_amount=50, charge_id="ch-paid"
    )
    await session.commit()
    ledger = [LedgerPayment("ch-missed", user.telegram_id, 40, invoice.payload, utcnow())]

    report = await payment_service.reconcile(session, ledger, refunded_charges=["ch-paid"])

    figures = _all(await assert_rollup_matches(session))
    assert (len(report.recorded), len(report.refunded)) == (1, 1)
    assert (figures["sales"], figures["revenue"], figures["refunded_stars"]) == (2, 90, 50)


async def test_grant_of_zero_stars_counts_but_earns_nothing(session):
    user, lesson = await create_user(session), await create_lesson(session)
    course = await create_course(session, [lesson], total_price=300)

    await create_purchase(session, user, course, amount=0)

    figures = _all(await assert_rollup_matches(session))
    assert (figures["sales"], figures["grants"], figures["revenue"], figures["new_buyers"]) == (0, 1, 0, 0)


async def test_first_paid_purchase_moves_to_an_earlier_one_completed_later(session):
    user, first_lesson, second_lesson = (
        await create_user(session),
        await create_lesson(session),
        await create_lesson(session),
    )
    early = await purchase_service.create(
        session, data=PurchaseCreate(user_id=user.id, lesson_id=first_lesson.id)
    )
    early.created_at = utcnow() - timedelta(days=2)
    await create_purchase(session, user, second_lesson)
    assert _all(await assert_rollup_matches(session))["new_buyers"] == 1

    await purchase_service.complete(session, early)

    stored = await assert_rollup_matches(session)
    assert _all(stored)["new_buyers"] == 0
    assert _all(stored, utcnow().date() - timedelta(days=2))["new_buyers"] == 1


async def test_concurrent_payments_on_the_same_day_lose_no_increment(session):
    invoices = [await _invoice(session, price=10 + n) for n in range(6)]

    async def pay(user, invoice, n: int) -> None:
        async with session_scope() as other:
            await payment_service.record_payment(
                other,
                user_id=user.id,
                payload=invoice.payload,
                total_amount=invoice.amount,
                charge_id=f"c{n}",
            )

    await asyncio.gather(*(pay(user, invoice, n) for n, (user, _, invoice) in enumerate(invoices)))

    figures = _all(await assert_rollup_matches(session))
    assert (figures["sales"], figures["revenue"]) == (6, sum(10 + n for n in range(6)))


# --------------------------------------------------------------------------------------- rebuild, backfill


async def _mixed_history(session) -> tuple[list, object, object]:
    lessons = [await create_lesson(session, price=50 + n) for n in range(3)]
    course = await create_course(session, lessons[:2], total_price=90)
    promo = await create_promo_code(session)
    users = [await create_user(session) for _ in range(4)]
    now = utcnow()
    await create_purchase(session, users[0], lessons[0], amount=50, created_at=now - timedelta(days=1))
    await create_purchase(
        session, users[0], course, amount=80, promo_code_id=promo.id, created_at=now - timedelta(days=40)
    )
    await create_purchase(
        session,
        users[1],
        lessons[1],
        amount=51,
        status=PurchaseStatus.REFUNDED,
        created_at=now - timedelta(days=5),
    )
    await create_purchase(session, users[2], lessons[2], amount=0, created_at=now - timedelta(days=100))
    await create_purchase(session, users[3], lessons[2], status=PurchaseStatus.PENDING)
    await create_purchase(session, users[3], lessons[1], status=PurchaseStatus.FAILED)
    # At the edges of a UTC month: the last minute of November, and 01:30 on 1 December at UTC+3 (November
    # too, in UTC).
    await create_purchase(
        session, users[1], course, amount=70, created_at=datetime(2025, 11, 30, 23, 59, tzinfo=UTC)
    )
    await create_purchase(
        session,
        users[2],
        lessons[0],
        amount=40,
        promo_code_id=promo.id,
        created_at=datetime(2025, 12, 1, 1, 30, tzinfo=timezone(timedelta(hours=3))),
    )
    return lessons, course, promo


async def test_rebuild_gives_the_same_rollup(session):
    lessons, course, promo = await _mixed_history(session)
    kept = await assert_rollup_matches(session)

    await stats_service.rebuild(session)

    assert await assert_rollup_matches(session) == kept
    assert len(kept) > 5
    november = date(2025, 11, 1)
    assert kept[("lesson-month", november, lessons[0].id)]["revenue"] == 40
    assert kept[("course-month", november, course.id)]["revenue"] == 70
    assert kept[("promo_code-month", november, promo.id)]["revenue"] == 40
    assert ("lesson-month", date(2025, 12, 1), lessons[0].id) not in kept


def _migrate(connection: Connection, revision: str, *, down: bool) -> None:
    config = database.alembic_config()
    config.attributes["connection"] = connection
    (command.downgrade if down else command.upgrade)(config, revision)


async def test_migration_backfills_the_rollup_from_existing_purchases(session):
    await _mixed_history(session)
    kept = await assert_rollup_matches(session)

    async with database.get_engine().begin() as connection:
        await connection.run_sync(_migrate, "0009_purchase_grants", down=True)
        await connection.run_sync(_migrate, "head", down=False)

    async with session_scope() as other:
        assert await stats_service.stored(other) == kept
        assert await other.scalar(select(Purchase.id).limit(1)) is not None


# ------------------------------------------------------------------------------------- rankings by month


async def _day_rows_ranking(session, dimensions, first_day: date, last_day: date) -> list:
    """The oracle: the whole ranking of the period from its day rows alone."""
    daily = SalesDaily
    net = func.sum(daily.revenue - daily.refunded_stars)
    uses = func.sum(daily.sales + daily.grants)
    rows = (
        await session.execute(
            select(daily.dimension, daily.key_id, uses, net)
            .where(daily.dimension.in_(dimensions), daily.day.between(first_day, last_day))
            .group_by(daily.dimension, daily.key_id)
            .having(uses > 0)
            .order_by(net.desc(), uses.desc(), daily.dimension, daily.key_id)
        )
    ).all()
    return [
        stats_service.TopItem(kind=SalesDimension(kind).value, id=key_id, title="", sales=count, revenue=net)
        for kind, key_id, count, net in rows
    ]


ITEMS = (SalesDimension.LESSON, SalesDimension.COURSE)
PROMO_CODES = (SalesDimension.PROMO_CODE,)


async def _random_history(session, rng: random.Random, *, purchases: int, days_back: int) -> None:
    """Purchases of few items on random days (some future ones too), with few amounts: many ties."""
    lessons = [await create_lesson(session) for _ in range(4)]
    courses = [await create_course(session, lessons[:2]) for _ in range(2)]
    promos = [await create_promo_code(session) for _ in range(3)]
    users = [await create_user(session) for _ in range(6)]
    now = utcnow()
    # Mostly completed, and every other status (refunded, pending, failed, ...) now and then.
    statuses = [PurchaseStatus.COMPLETED] * 6 + [
        s for s in PurchaseStatus if s is not PurchaseStatus.COMPLETED
    ]
    for _ in range(purchases):
        created_at = now - timedelta(days=rng.randint(-20, days_back), minutes=rng.randint(0, 1439))
        await create_purchase(
            session,
            rng.choice(users),
            rng.choice(lessons + courses),
            status=rng.choice(statuses),
            amount=rng.choice([0, 10, 20, 30]),
            promo_code_id=rng.choice([None, None, *(promo.id for promo in promos)]),
            created_at=created_at,
        )


async def test_ranking_from_month_rows_equals_the_ranking_of_day_rows(session):
    rng = random.Random(20261207)
    await _random_history(session, rng, purchases=250, days_back=500)
    await assert_rollup_matches(session)
    real_today = utcnow().date()
    checked = 0
    async with session_scope() as other:
        for _ in range(150):
            last_day = real_today - timedelta(days=rng.randint(-25, 480))
            first_day = last_day - timedelta(days=rng.choice([0, 1, 6, 29, 30, 45, 89, 200, 364, 400]))
            today = rng.choice([real_today, last_day, last_day + timedelta(days=rng.randint(0, 40))])
            for dimensions in (ITEMS, PROMO_CODES):
                expected = await _day_rows_ranking(other, dimensions, first_day, last_day)
                ranked = await stats_service.rank(
                    other, dimensions, first_day, last_day, today=today, limit=1000
                )
                assert ranked == expected, (first_day, last_day, today, dimensions)
                checked += bool(expected)
        for period in stats_service.PERIODS:
            first_day = real_today - timedelta(days=period - 1)
            dashboard = await stats_service.dashboard(other, period=period)
            for ranked, dimensions in (
                (dashboard.top_items, ITEMS),
                (dashboard.top_promo_codes, PROMO_CODES),
            ):
                expected = await _day_rows_ranking(other, dimensions, first_day, real_today)
                assert [(item.kind, item.id, item.sales, item.revenue) for item in ranked] == [
                    (item.kind, item.id, item.sales, item.revenue)
                    for item in expected[: stats_service.TOP_COUNT]
                ]
    assert checked > 150


def _days_read(ranges, today: date) -> int:
    return sum(max(0, (min(end, today) - start).days + 1) for start, end in ranges)


def test_a_year_reads_thirteen_months_and_at_most_fifteen_days():
    today = date(2026, 1, 1)
    for _ in range(800):
        parts = stats_service.period_parts(today - timedelta(days=364), today, today=today)
        assert len(parts.months) <= 13
        assert _days_read(parts.added + parts.subtracted, today) <= 15
        today += timedelta(days=1)


def test_period_parts_of_30_days_to_7_december():
    parts = stats_service.period_parts(date(2026, 11, 8), date(2026, 12, 7), today=date(2026, 12, 7))

    assert parts == stats_service.PeriodParts(
        months=(date(2026, 11, 1), date(2026, 12, 1)),
        added=(),
        subtracted=((date(2026, 11, 1), date(2026, 11, 7)), (date(2026, 12, 8), date(2026, 12, 31))),
    )
    # In the past (nothing after `today` is empty): the last month's 7 days are read as day rows.
    assert stats_service.period_parts(date(2026, 11, 8), date(2026, 12, 7), today=date(2027, 1, 1)) == (
        stats_service.PeriodParts(
            months=(date(2026, 11, 1),),
            added=((date(2026, 12, 1), date(2026, 12, 7)),),
            subtracted=((date(2026, 11, 1), date(2026, 11, 7)),),
        )
    )
    # An empty period ranks nothing.
    assert stats_service.period_parts(date(2026, 3, 2), date(2026, 3, 1), today=date(2026, 3, 1)) == (
        stats_service.PeriodParts(months=(), added=(), subtracted=())
    )
    # A single day.
    assert stats_service.period_parts(date(2026, 2, 28), date(2026, 2, 28), today=date(2026, 3, 1)) == (
        stats_service.PeriodParts(months=(), added=((date(2026, 2, 28), date(2026, 2, 28)),), subtracted=())
    )
