"""The sales rollup (by day, and by month for lessons, courses and promo codes) and the dashboard's figures
read from it.

Every change of a purchase's status goes through count_change, in the same transaction, so the rollup
(shared.models.SalesDaily and SalesMonthly) always equals a recount from the purchases (rebuild). A
purchase counts on the UTC day (and month) it was created, from the moment it is paid: its sale stays
counted when it is later refunded (then it counts as a refund too, and its Stars as refunded) or revoked.
The dashboard never scans purchases, and ranks a period mostly from month rows (see period_parts)."""

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import (
    Date,
    Integer,
    Select,
    and_,
    bindparam,
    cast,
    delete,
    func,
    literal,
    or_,
    select,
    union_all,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Executable
from sqlalchemy.sql.elements import ColumnElement

from backend.services import user_service
from backend.services.common import dialect_insert
from shared import metrics
from shared.constants import PurchaseStatus
from shared.database import writers_take_turns
from shared.models import (
    Course,
    Lesson,
    PromoCode,
    Purchase,
    SalesDaily,
    SalesDimension,
    SalesMonthly,
    User,
)
from shared.utils import as_utc, utcnow

# The status of a revoked admin grant (still a paid-state purchase: it was granted, then taken back).
REVOKED = PurchaseStatus.REVOKED.value
# Statuses of a purchase that was paid (or granted): it counts as a sale in the rollup.
COUNTED = frozenset({PurchaseStatus.COMPLETED.value, PurchaseStatus.REFUNDED.value, REVOKED})
FIGURES = ("sales", "grants", "revenue", "refunds", "refunded_stars", "revoked", "new_buyers")
PERIODS = (7, 30, 90, 365)
DEFAULT_PERIOD = 30
TOP_COUNT = 5
_KEY = ("dimension", "day", "key_id")
_MONTH_KEY = ("dimension", "month", "key_id")
# The dimensions that also have month rows (a ranking reads them; the store's own figures are per day).
ITEM_DIMENSIONS = (SalesDimension.LESSON, SalesDimension.COURSE, SalesDimension.PROMO_CODE)
# recount() and stored() key a month row as (dimension + MONTH_SUFFIX, the month's first day, key_id).
MONTH_SUFFIX = "-month"
REBUILD_CHUNK = 1000  # rows per UPSERT: far below SQLite's limit on parameters


def _counted_statuses() -> list[PurchaseStatus]:
    # Only the members this enum has (the column refuses unknown values).
    return [status for status in PurchaseStatus if status.value in COUNTED]


def purchase_figures(status: PurchaseStatus | str | None, amount: int) -> dict[str, int]:
    """What one purchase in this status adds to its day's rollup."""
    value = status.value if isinstance(status, PurchaseStatus) else status
    if value not in COUNTED:
        return {}
    figures = {"sales": int(amount > 0), "grants": int(amount == 0), "revenue": amount}
    if value == PurchaseStatus.REFUNDED.value:
        figures |= {"refunds": 1, "refunded_stars": amount}
    elif value == REVOKED:
        figures["revoked"] = 1
    return figures


def utc_day(moment: datetime) -> date:
    return as_utc(moment).date()


def month_end(day: date) -> date:
    """The last day of the day's month."""
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)


def _item_key(purchase: Purchase) -> tuple[SalesDimension, int]:
    if purchase.lesson_id is not None:
        return SalesDimension.LESSON, purchase.lesson_id
    assert purchase.course_id is not None
    return SalesDimension.COURSE, purchase.course_id


def _count_metrics(purchase: Purchase, before: PurchaseStatus | None) -> None:
    if purchase.status is before:
        return
    if purchase.status is PurchaseStatus.COMPLETED and purchase.granted_by_id is None:
        metrics.payments.labels("lesson" if purchase.lesson_id is not None else "course").inc()
    elif purchase.status is PurchaseStatus.REFUNDED:
        metrics.refunds.inc()


async def count_change(session: AsyncSession, purchase: Purchase, *, before: PurchaseStatus | None) -> None:
    """Keep the rollup after a purchase's status changed (before: its previous status, None when the
    purchase is new). Called by every path that sets a status, in the same transaction as the change."""
    _count_metrics(purchase, before)
    new = purchase_figures(purchase.status, purchase.amount)
    old = purchase_figures(before, purchase.amount)
    delta = {name: new.get(name, 0) - old.get(name, 0) for name in FIGURES}
    if not any(delta.values()):
        return
    day = utc_day(purchase.created_at)
    item_dimension, item_id = _item_key(purchase)
    rows: dict[tuple[SalesDimension, date, int], dict[str, int]] = {
        (SalesDimension.ALL, day, 0): dict(delta),
        (item_dimension, day, item_id): dict(delta),
    }
    if purchase.promo_code_id is not None:
        rows[(SalesDimension.PROMO_CODE, day, purchase.promo_code_id)] = dict(delta)
    if delta["sales"]:
        for buyer_day, change in (await _first_sale_moves(session, purchase, delta["sales"])).items():
            row = rows.setdefault((SalesDimension.ALL, buyer_day, 0), dict.fromkeys(FIGURES, 0))
            row["new_buyers"] += change
    await _add(session, rows)
    month = day.replace(day=1)
    await _add(
        session,
        {
            (dimension, month, key_id): row
            for (dimension, _, key_id), row in rows.items()
            if dimension in ITEM_DIMENSIONS
        },
        monthly=True,
    )


async def _first_sale_moves(session: AsyncSession, purchase: Purchase, change: int) -> dict[date, int]:
    """How the day of the buyer's first paid purchase moves when this one starts (1) or stops (-1)
    counting: new_buyers changes on those days."""
    if not writers_take_turns(session):
        # Serialises the buyer's changes, so two of their purchases paid at once cannot both be the first.
        await user_service.lock(session, purchase.user_id)
    other = (
        await session.execute(_FIRST_OTHER_SALE, {"user_id": purchase.user_id, "purchase_id": purchase.id})
    ).scalar()
    moves: dict[date, int] = defaultdict(int)
    # Of two at the same moment, either is the first: the day is the same.
    if other is None or as_utc(purchase.created_at) < as_utc(other):
        moves[utc_day(purchase.created_at)] += change
        if other is not None:
            moves[utc_day(other)] -= change
    return {day: value for day, value in moves.items() if value}


async def _add(
    session: AsyncSession,
    rows: Mapping[tuple[SalesDimension, date, int], Mapping[str, int]],
    *,
    monthly: bool = False,
) -> None:
    """Add to the rollup's day rows (monthly: month rows, keyed by the month's first day), creating them
    as needed, by an atomic UPSERT: concurrent purchases of the same day add up instead of overwriting
    each other. Rows go in key order, so that two transactions lock them in the same order (no deadlock:
    every transaction writes its day rows first, then its month rows)."""
    key_names = _MONTH_KEY if monthly else _KEY
    values = [
        {**dict(zip(key_names, key, strict=True)), **{name: row.get(name, 0) for name in FIGURES}}
        for key, row in sorted(rows.items(), key=lambda item: (item[0][0].value, item[0][1], item[0][2]))
    ]
    if values:
        await session.execute(_UPSERTS[dialect_insert(session), monthly], values)


# Statements of every payment, built once: building them per payment took half of its rollup's time.
_FIRST_OTHER_SALE = (
    select(Purchase.created_at)
    .where(
        Purchase.user_id == bindparam("user_id"),
        Purchase.id != bindparam("purchase_id"),
        Purchase.status.in_(_counted_statuses()),
        Purchase.amount > 0,
    )
    .order_by(Purchase.created_at, Purchase.id)
    .limit(1)
)


def _upsert(insert: Callable[..., Any], *, monthly: bool) -> Executable:
    table = (SalesMonthly if monthly else SalesDaily).__table__
    statement = insert(table)
    return statement.on_conflict_do_update(
        index_elements=list(_MONTH_KEY if monthly else _KEY),
        set_={name: table.c[name] + statement.excluded[name] for name in FIGURES},
    )


_UPSERTS = {
    (insert, monthly): _upsert(insert, monthly=monthly)
    for insert in (postgresql.insert, sqlite.insert)
    for monthly in (False, True)
}


# --------------------------------------------------------------------------------------- recount / rebuild


def day_of(column: ColumnElement[datetime], dialect: str) -> ColumnElement[date]:
    """The UTC day of a stored timestamp, in SQL."""
    if dialect == "postgresql":
        return cast(func.timezone("UTC", column), Date)
    return func.date(column)  # SQLite stores UTC text


def month_of(column: ColumnElement[datetime], dialect: str) -> ColumnElement[date]:
    """The first day of the UTC month of a stored timestamp, in SQL."""
    if dialect == "postgresql":
        return cast(func.date_trunc("month", func.timezone("UTC", column)), Date)
    return func.date(column, "start of month")


def _paid_sums(dialect: str, dimension: SalesDimension, key: Any, *, monthly: bool = False) -> Select[Any]:
    amount = Purchase.amount
    status = Purchase.status
    day = (month_of if monthly else day_of)(Purchase.created_at, dialect)
    columns = [
        literal(dimension.value).label("dimension"),
        day.label("day"),
        (key if key is not None else literal(0)).label("key_id"),
        func.sum(cast(amount > 0, Integer)).label("sales"),
        func.sum(cast(amount == 0, Integer)).label("grants"),
        func.sum(amount).label("revenue"),
        func.sum(cast(status == PurchaseStatus.REFUNDED, Integer)).label("refunds"),
        func.sum(cast(status == PurchaseStatus.REFUNDED, Integer) * amount).label("refunded_stars"),
        func.sum(cast(status.in_([s for s in _counted_statuses() if s.value == REVOKED]), Integer)).label(
            "revoked"
        ),
        literal(0).label("new_buyers"),
    ]
    query = select(*columns).where(Purchase.status.in_(_counted_statuses()))
    if key is not None:
        query = query.where(key.is_not(None))
        return query.group_by(day, key)
    return query.group_by(day)


async def rebuild(session: AsyncSession) -> None:
    """Fill the rollup again from the purchases, in a few set-based statements (the migration's backfill
    does the same; benchmarks use this after bulk inserts)."""
    dialect = session.get_bind().dialect.name
    await session.execute(delete(SalesDaily))
    await session.execute(delete(SalesMonthly))
    table = SalesDaily.__table__
    names = list(_KEY) + list(FIGURES)
    month_table = SalesMonthly.__table__
    month_names = list(_MONTH_KEY) + list(FIGURES)
    for dimension, key in (
        (SalesDimension.ALL, None),
        (SalesDimension.LESSON, Purchase.lesson_id),
        (SalesDimension.COURSE, Purchase.course_id),
        (SalesDimension.PROMO_CODE, Purchase.promo_code_id),
    ):
        await session.execute(table.insert().from_select(names, _paid_sums(dialect, dimension, key)))
        if key is not None:
            await session.execute(
                month_table.insert().from_select(
                    month_names, _paid_sums(dialect, dimension, key, monthly=True)
                )
            )
    first = (
        select(func.min(Purchase.created_at).label("first"))
        .where(Purchase.status.in_(_counted_statuses()), Purchase.amount > 0)
        .group_by(Purchase.user_id)
        .subquery()
    )
    first_day = day_of(first.c.first, dialect)
    buyers = {
        (SalesDimension.ALL, _as_date(day), 0): {"new_buyers": count}
        for day, count in (await session.execute(select(first_day, func.count()).group_by(first_day))).all()
    }
    keys = list(buyers)
    for start in range(0, len(keys), REBUILD_CHUNK):
        await _add(session, {key: buyers[key] for key in keys[start : start + REBUILD_CHUNK]})


async def recount(session: AsyncSession) -> dict[tuple[str, date, int], dict[str, int]]:
    """The rollup as the purchases say it should be, computed in Python (for tests and checks). Day rows
    are keyed (dimension, day, key_id), month rows (dimension + MONTH_SUFFIX, month, key_id)."""
    rows: dict[tuple[str, date, int], dict[str, int]] = defaultdict(lambda: dict.fromkeys(FIGURES, 0))
    first_sale: dict[int, tuple[datetime, int]] = {}
    for purchase in await session.scalars(select(Purchase).execution_options(populate_existing=True)):
        figures = purchase_figures(purchase.status, purchase.amount)
        if not figures:
            continue
        day = utc_day(purchase.created_at)
        kind, item_id = _item_key(purchase)
        keys = [(SalesDimension.ALL.value, day, 0), (kind.value, day, item_id)]
        if purchase.promo_code_id is not None:
            keys.append((SalesDimension.PROMO_CODE.value, day, purchase.promo_code_id))
        month = day.replace(day=1)
        keys += [
            (dimension + MONTH_SUFFIX, month, key_id)
            for dimension, _, key_id in keys
            if dimension != SalesDimension.ALL.value
        ]
        for key in keys:
            for name, value in figures.items():
                rows[key][name] += value
        if purchase.amount > 0:
            moment = (as_utc(purchase.created_at), purchase.id)
            first_sale[purchase.user_id] = min(first_sale.get(purchase.user_id, moment), moment)
    for moment, _ in first_sale.values():
        rows[(SalesDimension.ALL.value, utc_day(moment), 0)]["new_buyers"] += 1
    return {key: row for key, row in rows.items() if any(row.values())}


async def stored(session: AsyncSession) -> dict[tuple[str, date, int], dict[str, int]]:
    """The rollup as stored (rows of zeros left out), keyed as recount() keys it."""
    result: dict[tuple[str, date, int], dict[str, int]] = {}
    for row in await session.scalars(select(SalesDaily).execution_options(populate_existing=True)):
        figures = {name: getattr(row, name) for name in FIGURES}
        if any(figures.values()):
            result[(SalesDimension(row.dimension).value, row.day, row.key_id)] = figures
    for month_row in await session.scalars(select(SalesMonthly).execution_options(populate_existing=True)):
        figures = {name: getattr(month_row, name) for name in FIGURES}
        if any(figures.values()):
            dimension = SalesDimension(month_row.dimension).value + MONTH_SUFFIX
            result[(dimension, month_row.month, month_row.key_id)] = figures
    return result


# ---------------------------------------------------------------------------------------------- dashboard


@dataclass(frozen=True, slots=True)
class DayFigures:
    day: date
    sales: int = 0
    grants: int = 0
    revenue: int = 0
    refunds: int = 0
    refunded_stars: int = 0
    new_students: int = 0
    new_buyers: int = 0

    @property
    def net_revenue(self) -> int:
        return self.revenue - self.refunded_stars


@dataclass(frozen=True, slots=True)
class TopItem:
    kind: str  # "lesson", "course" or "promo_code"
    id: int
    title: str
    sales: int
    revenue: int  # net of refunds


@dataclass(frozen=True, slots=True)
class Dashboard:
    period: int
    first_day: date
    last_day: date
    days: Sequence[DayFigures]
    totals: DayFigures  # the period's sums (day: its first day)
    students: int  # all students who started the bot
    paying_students: int  # of them, those who have paid at least once
    all_time_net_revenue: int
    top_items: Sequence[TopItem]
    top_promo_codes: Sequence[TopItem]

    @property
    def conversion(self) -> float | None:
        """Students who bought / students who started the bot (all time)."""
        return self.paying_students / self.students if self.students else None

    @property
    def revenue_per_paying_student(self) -> float | None:
        """Net revenue per paying student (all time)."""
        return self.all_time_net_revenue / self.paying_students if self.paying_students else None


def _as_date(value: date | str) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


async def dashboard(
    session: AsyncSession, *, period: int = DEFAULT_PERIOD, today: date | None = None
) -> Dashboard:
    """The dashboard's figures for the last `period` UTC days up to today, from the rollup and indexes."""
    dialect = session.get_bind().dialect.name
    last_day = today or utcnow().date()
    first_day = last_day - timedelta(days=period - 1)
    daily = SalesDaily
    in_period = and_(daily.day >= first_day, daily.day <= last_day)
    by_day: dict[date, dict[str, int]] = {}
    for row in (
        await session.execute(
            select(daily.day, *(getattr(daily, name) for name in FIGURES)).where(
                daily.dimension == SalesDimension.ALL, in_period
            )
        )
    ).all():
        by_day[_as_date(row[0])] = dict(zip(FIGURES, row[1:], strict=True))
    since = datetime.combine(first_day, time(), tzinfo=UTC)
    until = datetime.combine(last_day + timedelta(days=1), time(), tzinfo=UTC)
    user_day = day_of(User.created_at, dialect)
    new_students = {
        _as_date(day): count
        for day, count in (
            await session.execute(
                select(user_day, func.count())
                .where(User.created_at >= since, User.created_at < until)
                .group_by(user_day)
            )
        ).all()
    }
    days = []
    for offset in range(period):
        day = first_day + timedelta(days=offset)
        figures = by_day.get(day, {})
        days.append(
            DayFigures(
                day=day,
                sales=figures.get("sales", 0),
                grants=figures.get("grants", 0),
                revenue=figures.get("revenue", 0),
                refunds=figures.get("refunds", 0),
                refunded_stars=figures.get("refunded_stars", 0),
                new_students=new_students.get(day, 0),
                new_buyers=figures.get("new_buyers", 0),
            )
        )
    totals = DayFigures(
        day=first_day,
        **{
            name: sum(getattr(day, name) for day in days)
            for name in (
                "sales",
                "grants",
                "revenue",
                "refunds",
                "refunded_stars",
                "new_students",
                "new_buyers",
            )
        },
    )
    all_time = (
        await session.execute(
            select(
                func.coalesce(func.sum(daily.revenue - daily.refunded_stars), 0),
                func.coalesce(func.sum(daily.new_buyers), 0),
                select(func.count()).select_from(User).scalar_subquery(),
            ).where(daily.dimension == SalesDimension.ALL)
        )
    ).one()
    return Dashboard(
        period=period,
        first_day=first_day,
        last_day=last_day,
        days=days,
        totals=totals,
        students=int(all_time[2]),
        paying_students=int(all_time[1]),
        all_time_net_revenue=int(all_time[0]),
        top_items=await _named(
            session, await rank(session, (SalesDimension.LESSON, SalesDimension.COURSE), first_day, last_day)
        ),
        top_promo_codes=await _named(
            session, await rank(session, (SalesDimension.PROMO_CODE,), first_day, last_day)
        ),
    )


@dataclass(frozen=True, slots=True)
class PeriodParts:
    """Where a period's sums per item come from: the month rows of `months`, plus the day rows of the
    ranges in `added`, minus the day rows of the ranges in `subtracted` (ranges inclusive)."""

    months: tuple[date, ...]
    added: tuple[tuple[date, date], ...]
    subtracted: tuple[tuple[date, date], ...]


def period_parts(first_day: date, last_day: date, *, today: date) -> PeriodParts:
    """Rollup rows whose sum is exactly the period's, as few as the grains allow: each month wholly inside
    it is its month row; a month the period covers in part is either its day rows in the period or its
    month row minus its day rows outside the period, whichever reads fewer days. Days after `today` count
    as empty there (a purchase counts on the day it was created), so the current month's row is read as
    is; the result is exact whatever `today` is: only the choice (the cost) depends on it."""
    months: list[date] = []
    added: list[tuple[date, date]] = []
    subtracted: list[tuple[date, date]] = []
    one_day = timedelta(days=1)
    start = first_day
    while start <= last_day:
        month, last_of_month = start.replace(day=1), month_end(start)
        end = min(last_of_month, last_day)
        days_in = (end - start).days + 1
        days_out = (start - month).days + max(0, (min(last_of_month, today) - end).days)
        if days_out < days_in:
            months.append(month)
            if start > month:
                subtracted.append((month, start - one_day))
            if end < last_of_month:
                subtracted.append((end + one_day, last_of_month))
        else:
            added.append((start, end))
        start = last_of_month + one_day
    return PeriodParts(tuple(months), tuple(added), tuple(subtracted))


async def rank(
    session: AsyncSession,
    dimensions: tuple[SalesDimension, ...],
    first_day: date,
    last_day: date,
    *,
    today: date | None = None,
    limit: int = TOP_COUNT,
) -> list["TopItem"]:
    """The period's best lessons and courses (or promo codes) by net revenue, then by uses (unnamed):
    exactly the ranking of the period's day rows, read mostly from month rows (a year: ~13 rows per item
    and at most ~15 days of day rows instead of 365 days)."""
    parts = period_parts(first_day, last_day, today=today or utcnow().date())
    daily, monthly = SalesDaily, SalesMonthly

    def signed(model: Any, sign: int, where: ColumnElement[bool]) -> Select[Any]:
        uses = model.sales + model.grants
        net = model.revenue - model.refunded_stars
        return select(
            model.dimension.label("dimension"),
            model.key_id.label("key_id"),
            (uses if sign > 0 else -uses).label("uses"),
            (net if sign > 0 else -net).label("net"),
        ).where(model.dimension.in_(dimensions), where)

    def days(ranges: tuple[tuple[date, date], ...]) -> ColumnElement[bool]:
        return or_(*(daily.day.between(start, end) for start, end in ranges))

    selects = []
    if parts.months:
        selects.append(signed(monthly, 1, monthly.month.in_(parts.months)))
    if parts.added:
        selects.append(signed(daily, 1, days(parts.added)))
    if parts.subtracted:
        selects.append(signed(daily, -1, days(parts.subtracted)))
    if not selects:  # an empty period (first_day after last_day)
        return []
    rows_of = union_all(*selects).subquery()
    uses = func.sum(rows_of.c.uses)
    net = func.sum(rows_of.c.net)
    rows = (
        await session.execute(
            select(rows_of.c.dimension, rows_of.c.key_id, uses, net)
            .group_by(rows_of.c.dimension, rows_of.c.key_id)
            .having(uses > 0)
            .order_by(net.desc(), uses.desc(), rows_of.c.dimension, rows_of.c.key_id)
            .limit(limit)
        )
    ).all()
    return [
        TopItem(kind=SalesDimension(kind).value, id=key_id, title="", sales=int(count), revenue=int(revenue))
        for kind, key_id, count, revenue in rows
    ]


async def _named(session: AsyncSession, ranking: list["TopItem"]) -> list["TopItem"]:
    """The ranking with the items' current titles (promo codes: their code)."""
    names: dict[tuple[str, int], str] = {}
    for dimension, model, column in (
        (SalesDimension.LESSON, Lesson, Lesson.title),
        (SalesDimension.COURSE, Course, Course.title),
        (SalesDimension.PROMO_CODE, PromoCode, PromoCode.code),
    ):
        ids = [item.id for item in ranking if item.kind == dimension.value]
        if ids:
            for item_id, name in await session.execute(select(model.id, column).where(model.id.in_(ids))):
                names[(dimension.value, item_id)] = name
    return [replace(item, title=names.get((item.kind, item.id), f"#{item.id}")) for item in ranking]
