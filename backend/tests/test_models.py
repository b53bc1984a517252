"""The schema (shared/models.py and its migrations): rows round-trip, and the database itself enforces the
invariants, whatever code writes to it."""

import itertools
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import CheckConstraint, delete, func, inspect, select, text, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from alembic import command
from backend.tests.conftest import is_postgres
from backend.tests.factories import (
    create_course,
    create_lesson,
    create_promo_code,
    create_purchase,
    create_ticket,
    create_user,
)
from shared import database
from shared.constants import MAX_TELEGRAM_ID, PurchaseStatus, SupportMessageAuthor, TicketStatus
from shared.models import (
    Admin,
    AuthSession,
    Base,
    Course,
    CourseLesson,
    Lesson,
    LoginThrottle,
    PromoCode,
    Purchase,
    SupportTicket,
    User,
)
from shared.utils import utcnow


async def expect_integrity_error(session: AsyncSession, row: Any) -> IntegrityError:
    """Add the row, flush, and return the database's refusal (the session is rolled back)."""
    session.add(row)
    with pytest.raises(IntegrityError) as caught:
        await session.flush()
    await session.rollback()
    return caught.value


async def expect_statement_refused(session: AsyncSession, statement: Any) -> IntegrityError:
    with pytest.raises(IntegrityError) as caught:
        await session.execute(statement)
    await session.rollback()
    return caught.value


def assert_utc(value: datetime) -> None:
    assert value.tzinfo is not None
    assert value.utcoffset() == timedelta(0)


_payment_numbers = itertools.count(1)


def new_purchase(user: User, **fields: Any) -> Purchase:
    """An unsaved purchase (the factory commits at once, these tests need the flush to fail)."""
    values: dict[str, Any] = {
        "user_id": user.id,
        "payment_id": f"model-payment-{next(_payment_numbers)}",
        "amount": 10,
        "status": PurchaseStatus.PENDING,
    }
    return Purchase(**(values | fields))


# Round trips ---------------------------------------------------------------------------------------------


async def test_create_user_reads_back(session):
    user = await create_user(session, telegram_id=42, first_name="Ada", last_name="L", username="ada")
    session.expunge_all()

    loaded = await session.get(User, user.id)

    assert loaded is not None
    assert (loaded.telegram_id, loaded.first_name, loaded.last_name, loaded.username) == (
        42,
        "Ada",
        "L",
        "ada",
    )
    assert loaded.language_code == "en"
    assert loaded.is_active is True


async def test_create_lesson_reads_back(session):
    lesson = await create_lesson(session, title="SQL", price=7, video_path="v/1.mp4", text_content="")
    session.expunge_all()

    loaded = await session.get(Lesson, lesson.id)

    assert loaded is not None
    assert (loaded.title, loaded.price, loaded.is_free, loaded.is_active) == ("SQL", 7, False, True)
    assert loaded.has_video is True
    assert loaded.has_text is False


async def test_create_course_with_lessons_reads_back(session):
    first, second = await create_lesson(session), await create_lesson(session)
    course = await create_course(session, [first, second], total_price=300, discount_price=200)
    session.expunge_all()

    loaded = await session.scalar(
        select(Course).where(Course.id == course.id).options(selectinload(Course.course_lessons))
    )

    assert loaded is not None
    assert (loaded.total_price, loaded.discount_price) == (300, 200)
    assert [(link.lesson_id, link.position) for link in loaded.course_lessons] == [
        (first.id, 0),
        (second.id, 1),
    ]


async def test_create_promo_code_reads_back(session):
    expires = datetime(2031, 5, 6, 7, 8, 9, tzinfo=UTC)
    promo = await create_promo_code(session, code="SPRING", max_uses=3, expires_at=expires)
    session.expunge_all()

    loaded = await session.get(PromoCode, promo.id)

    assert loaded is not None
    assert (loaded.code, loaded.discount_percent, loaded.discount_amount) == ("SPRING", 10, None)
    assert (loaded.max_uses, loaded.current_uses, loaded.is_active) == (3, 0, True)
    assert loaded.expires_at == expires


async def test_create_purchase_reads_back(session):
    user = await create_user(session)
    lesson = await create_lesson(session)
    promo = await create_promo_code(session)
    purchase = await create_purchase(
        session, user, lesson, promo_code_id=promo.id, telegram_payment_charge_id="charge-1", amount=90
    )
    session.expunge_all()

    loaded = await session.get(Purchase, purchase.id)

    assert loaded is not None
    assert (loaded.user_id, loaded.lesson_id, loaded.course_id) == (user.id, lesson.id, None)
    assert (loaded.promo_code_id, loaded.telegram_payment_charge_id, loaded.amount) == (
        promo.id,
        "charge-1",
        90,
    )
    assert loaded.status is PurchaseStatus.COMPLETED


async def test_create_support_ticket_reads_back(session):
    user = await create_user(session)
    ticket = await create_ticket(session, user, admin_response="On it", status=TicketStatus.ANSWERED)
    session.expunge_all()

    loaded = await session.get(SupportTicket, ticket.id, options=[selectinload(SupportTicket.messages)])

    assert loaded is not None
    assert (loaded.user_id, loaded.subject, loaded.message) == (user.id, "Help", "It does not open")
    assert (loaded.status, loaded.admin_response) == (TicketStatus.ANSWERED, "On it")
    assert [(m.author, m.text) for m in loaded.messages] == [
        (SupportMessageAuthor.STUDENT, "It does not open"),
        (SupportMessageAuthor.ADMIN, "On it"),
    ]


async def test_create_admin_session_and_throttle_read_back(session):
    admin = Admin(username="model-test-admin", password_hash="not-a-real-hash")
    session.add(admin)
    await session.commit()
    try:
        expires = utcnow() + timedelta(days=1)
        session.add(
            AuthSession(id="s" * 32, admin_id=admin.id, current_refresh_jti="j" * 32, expires_at=expires)
        )
        session.add(LoginThrottle(username="somebody", client="192.0.2.1", failures=2, expires_at=expires))
        await session.commit()
        session.expunge_all()

        loaded_admin = await session.scalar(
            select(Admin).where(Admin.id == admin.id).options(selectinload(Admin.sessions))
        )
        throttle = await session.get(LoginThrottle, ("somebody", "192.0.2.1"))

        assert loaded_admin is not None
        assert loaded_admin.is_active is True
        assert [(s.id, s.current_refresh_jti, s.revoked_at) for s in loaded_admin.sessions] == [
            ("s" * 32, "j" * 32, None)
        ]
        assert abs(loaded_admin.sessions[0].expires_at - expires) < timedelta(seconds=1)
        assert throttle is not None
        assert (throttle.failures, throttle.locked_until, throttle.known_until) == (2, None, None)
        assert abs(throttle.expires_at - expires) < timedelta(seconds=1)
    finally:
        # The admins table is kept between tests; its sessions go with it (ON DELETE CASCADE).
        await session.rollback()
        await session.execute(delete(Admin).where(Admin.username == "model-test-admin"))
        await session.commit()


async def test_create_user_accepts_max_telegram_id(session):
    user = await create_user(session, telegram_id=MAX_TELEGRAM_ID)
    session.expunge_all()

    assert await session.scalar(select(User.telegram_id).where(User.id == user.id)) == 2**63 - 1


@pytest.mark.parametrize("model", [User, Lesson, Course, PromoCode])
async def test_create_after_delete_never_reuses_id(session, model):
    fields = {
        User: {"telegram_id": 1, "first_name": "x"},
        Lesson: {"title": "x", "price": 1},
        Course: {"title": "x", "total_price": 1},
        PromoCode: {"code": "X", "discount_percent": 1},
    }[model]
    first = model(**fields)
    session.add(first)
    await session.commit()
    first_id = first.id
    await session.execute(delete(model))
    await session.commit()

    second = model(**fields)
    session.add(second)
    await session.commit()

    # A stale reference (a bot button, a cached admin page) must never point at a different row.
    assert second.id > first_id


# Unique constraints --------------------------------------------------------------------------------------


async def test_create_user_duplicate_telegram_id_refused(session):
    await create_user(session, telegram_id=555)

    error = await expect_integrity_error(session, User(telegram_id=555, first_name="Twin"))

    assert "telegram_id" in str(error.orig).lower()
    assert await session.scalar(select(func.count()).select_from(User)) == 1


async def test_create_purchase_duplicate_payment_id_refused(session):
    user, lesson = await create_user(session), await create_lesson(session)
    await create_purchase(session, user, lesson, payment_id="same")

    await expect_integrity_error(session, new_purchase(user, lesson_id=lesson.id, payment_id="same"))

    assert await session.scalar(select(func.count()).select_from(Purchase)) == 1


async def test_create_purchase_duplicate_charge_id_refused(session):
    user, lesson = await create_user(session), await create_lesson(session)
    await create_purchase(session, user, lesson, telegram_payment_charge_id="charge")

    await expect_integrity_error(
        session,
        new_purchase(user, lesson_id=lesson.id, payment_id="other", telegram_payment_charge_id="charge"),
    )

    assert await session.scalar(select(func.count()).select_from(Purchase)) == 1


async def test_create_purchases_without_charge_id_allows_several_nulls(session):
    user, lesson = await create_user(session), await create_lesson(session)

    for _ in range(3):
        await create_purchase(
            session, user, lesson, status=PurchaseStatus.PENDING, telegram_payment_charge_id=None
        )

    count = await session.scalar(select(func.count()).where(Purchase.telegram_payment_charge_id.is_(None)))
    assert count == 3


async def test_create_promo_code_duplicate_code_refused(session):
    await create_promo_code(session, code="ONCE")

    await expect_integrity_error(session, PromoCode(code="ONCE", discount_percent=5))

    assert await session.scalar(select(func.count()).select_from(PromoCode)) == 1


async def test_create_course_lesson_duplicate_position_refused(session):
    first, second = await create_lesson(session), await create_lesson(session)
    course = await create_course(session, [first])

    await expect_integrity_error(session, CourseLesson(course_id=course.id, lesson_id=second.id, position=0))

    assert await session.scalar(select(func.count()).select_from(CourseLesson)) == 1


# Check constraints ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "accepted"),
    [
        ({"price": -1, "is_free": True}, False),
        ({"price": 0, "is_free": False}, False),
        ({"price": 0, "is_free": True}, True),
        ({"price": 1, "is_free": False}, True),
    ],
    ids=["negative", "paid-zero", "free-zero", "paid-one"],
)
async def test_create_lesson_price_rule(session, fields, accepted):
    row = Lesson(title="Priced", text_content="x", **fields)

    if accepted:
        session.add(row)
        await session.commit()
        assert row.id is not None
    else:
        error = await expect_integrity_error(session, row)
        assert "price" in str(error.orig).lower()
        assert await session.scalar(select(func.count()).select_from(Lesson)) == 0


@pytest.mark.parametrize(
    ("total_price", "discount_price", "accepted"),
    [
        (0, None, False),
        (1, None, True),
        (100, 100, False),
        (100, 150, False),
        (100, 0, False),
        (100, 99, True),
    ],
    ids=["zero-total", "one-star", "discount-equal", "discount-above", "discount-zero", "discount-below"],
)
async def test_create_course_price_rule(session, total_price, discount_price, accepted):
    row = Course(title="Bundle", total_price=total_price, discount_price=discount_price)

    if accepted:
        session.add(row)
        await session.commit()
        assert row.id is not None
    else:
        await expect_integrity_error(session, row)
        assert await session.scalar(select(func.count()).select_from(Course)) == 0


@pytest.mark.parametrize("item", ["none", "both"])
async def test_create_purchase_without_exactly_one_item_refused(session, item):
    user, lesson = await create_user(session), await create_lesson(session)
    course = await create_course(session)
    ids = {"lesson_id": lesson.id, "course_id": course.id} if item == "both" else {}

    error = await expect_integrity_error(session, new_purchase(user, **ids))

    assert "exactly_one_item" in str(error.orig).lower()
    assert await session.scalar(select(func.count()).select_from(Purchase)) == 0


async def test_create_purchase_negative_amount_refused(session):
    user, lesson = await create_user(session), await create_lesson(session)

    await expect_integrity_error(session, new_purchase(user, lesson_id=lesson.id, amount=-1))


@pytest.mark.parametrize(
    "fields",
    [
        {"discount_percent": 10, "discount_amount": 5},
        {"discount_percent": 0, "discount_amount": None},
        {"discount_percent": 101},
        {"discount_percent": 0, "discount_amount": 0},
        {"discount_percent": 10, "max_uses": 0},
        {"discount_percent": 10, "max_uses": 2, "current_uses": 3},
        {"discount_percent": 10, "current_uses": -1},
    ],
    ids=["both-kinds", "no-kind", "percent-over-100", "zero-amount", "zero-max", "over-max", "negative-uses"],
)
async def test_create_promo_code_invalid_refused(session, fields):
    await expect_integrity_error(session, PromoCode(code="BROKEN", **fields))

    assert await session.scalar(select(func.count()).select_from(PromoCode)) == 0


@pytest.mark.parametrize(
    "fields",
    [
        {"discount_percent": 100},
        {"discount_percent": 0, "discount_amount": 1},
        {"discount_percent": 1, "max_uses": 2, "current_uses": 2},
    ],
    ids=["full-percent", "amount", "uses-at-max"],
)
async def test_create_promo_code_valid_accepted(session, fields):
    session.add(PromoCode(code="FINE", **fields))
    await session.commit()

    assert await session.scalar(select(func.count()).select_from(PromoCode)) == 1


async def test_update_promo_code_uses_above_max_refused(session):
    promo_id = (await create_promo_code(session, max_uses=1, current_uses=1)).id

    await expect_statement_refused(
        session, update(PromoCode).where(PromoCode.id == promo_id).values(current_uses=2)
    )

    assert await session.scalar(select(PromoCode.current_uses).where(PromoCode.id == promo_id)) == 1


async def test_create_course_lesson_negative_position_refused(session):
    lesson = await create_lesson(session)
    course = await create_course(session)

    await expect_integrity_error(session, CourseLesson(course_id=course.id, lesson_id=lesson.id, position=-1))


@pytest.mark.parametrize(
    ("table", "status", "accepted"),
    [
        ("purchases", "completed", True),
        ("purchases", "stolen", False),
        ("support_tickets", "answered", True),
        ("support_tickets", "in_progress", False),
        ("support_tickets", "lost", False),
    ],
)
async def test_insert_status_outside_enum_refused(session, table, status, accepted):
    user, lesson = await create_user(session), await create_lesson(session)
    columns, values = {
        "purchases": ("user_id, lesson_id, payment_id, amount", f"{user.id}, {lesson.id}, 'raw', 1"),
        "support_tickets": ("user_id, subject, message", f"{user.id}, 's', 'm'"),
    }[table]
    statement = text(
        f"INSERT INTO {table} ({columns}, status, created_at, updated_at)"  # noqa: S608 (test constants)
        f" VALUES ({values}, :status, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
    ).bindparams(status=status)

    if accepted:
        await session.execute(statement)
        await session.commit()
    else:
        error = await expect_statement_refused(session, statement)
        assert "status" in str(error.orig).lower()
    count = await session.scalar(text(f"SELECT count(*) FROM {table}"))  # noqa: S608
    assert count == (1 if accepted else 0)


# Foreign keys --------------------------------------------------------------------------------------------


async def test_create_purchase_unknown_user_refused(session):
    lesson = await create_lesson(session)

    error = await expect_integrity_error(
        session, Purchase(user_id=999_999, lesson_id=lesson.id, payment_id="orphan", amount=1)
    )

    assert "foreign" in str(error.orig).lower()
    assert await session.scalar(select(func.count()).select_from(Purchase)) == 0


async def test_create_ticket_unknown_user_refused(session):
    await expect_integrity_error(session, SupportTicket(user_id=999_999, subject="s", message="m"))


async def test_delete_lesson_with_purchases_refused(session):
    user, lesson = await create_user(session), await create_lesson(session)
    await create_purchase(session, user, lesson)

    await expect_statement_refused(session, delete(Lesson).where(Lesson.id == lesson.id))

    assert await session.scalar(select(func.count()).select_from(Lesson)) == 1


async def test_delete_course_with_purchases_refused(session):
    user, course = await create_user(session), await create_course(session)
    await create_purchase(session, user, course)

    await expect_statement_refused(session, delete(Course).where(Course.id == course.id))

    assert await session.scalar(select(func.count()).select_from(Course)) == 1


async def test_delete_user_with_purchases_refused(session):
    user, lesson = await create_user(session), await create_lesson(session)
    await create_purchase(session, user, lesson)

    await expect_statement_refused(session, delete(User).where(User.id == user.id))

    assert await session.scalar(select(func.count()).select_from(User)) == 1


async def test_delete_course_cascades_course_lessons(session):
    lessons = [await create_lesson(session) for _ in range(3)]
    course = await create_course(session, lessons)
    other = await create_course(session, lessons[:1])

    await session.execute(delete(Course).where(Course.id == course.id))
    await session.commit()

    remaining = (await session.execute(select(CourseLesson.course_id, CourseLesson.lesson_id))).all()
    assert remaining == [(other.id, lessons[0].id)]
    assert await session.scalar(select(func.count()).select_from(Lesson)) == 3


async def test_delete_lesson_cascades_course_lessons(session):
    kept, dropped = await create_lesson(session), await create_lesson(session)
    course = await create_course(session, [kept, dropped])

    await session.execute(delete(Lesson).where(Lesson.id == dropped.id))
    await session.commit()

    remaining = (await session.execute(select(CourseLesson.course_id, CourseLesson.lesson_id))).all()
    assert remaining == [(course.id, kept.id)]


# Types: timestamps, enums --------------------------------------------------------------------------------


async def test_create_user_timestamps_are_utc_aware(session):
    user = await create_user(session)
    session.expunge_all()

    loaded = await session.get(User, user.id)

    assert loaded is not None
    assert_utc(loaded.created_at)
    assert_utc(loaded.updated_at)
    assert abs(loaded.created_at - utcnow()) < timedelta(minutes=1)


@pytest.mark.parametrize(
    "written",
    [
        datetime(2030, 1, 2, 12, 0),
        datetime(2030, 1, 2, 12, 0, tzinfo=UTC),
        datetime(2030, 1, 2, 14, 0, tzinfo=timezone(timedelta(hours=2))),
    ],
    ids=["naive-as-utc", "utc", "plus-two-hours"],
)
async def test_create_promo_code_expiry_stored_as_utc(session, written):
    promo = await create_promo_code(session, expires_at=written)
    session.expunge_all()

    loaded = await session.get(PromoCode, promo.id)

    assert loaded is not None
    assert_utc(loaded.expires_at)
    assert loaded.expires_at == datetime(2030, 1, 2, 12, 0, tzinfo=UTC)


async def test_filter_by_timestamp_compares_instants(session):
    await create_promo_code(session, code="EARLY", expires_at=datetime(2030, 1, 1, 9, 0, tzinfo=UTC))
    await create_promo_code(session, code="LATE", expires_at=datetime(2030, 1, 1, 11, 0, tzinfo=UTC))
    # 12:00 at UTC+2 is 10:00 UTC: between the two, whatever the offset written.
    boundary = datetime(2030, 1, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))

    codes = (await session.scalars(select(PromoCode.code).where(PromoCode.expires_at > boundary))).all()

    assert codes == ["LATE"]


async def test_update_user_refreshes_updated_at(session):
    user = await create_user(session, created_at=datetime(2020, 1, 1, tzinfo=UTC))
    user.updated_at = datetime(2020, 1, 1, tzinfo=UTC)
    await session.commit()

    user.first_name = "Renamed"
    await session.commit()
    session.expunge_all()

    loaded = await session.get(User, user.id)
    assert loaded is not None
    assert loaded.created_at == datetime(2020, 1, 1, tzinfo=UTC)
    assert loaded.updated_at > datetime(2024, 1, 1, tzinfo=UTC)


async def test_create_purchase_status_stored_as_value(session):
    user, lesson = await create_user(session), await create_lesson(session)
    purchase = await create_purchase(session, user, lesson, status=PurchaseStatus.REFUNDED)
    ticket = await create_ticket(session, user, status=TicketStatus.ANSWERED)

    raw_status = await session.scalar(
        text("SELECT status FROM purchases WHERE id = :id"), {"id": purchase.id}
    )
    raw_ticket = await session.scalar(
        text("SELECT status FROM support_tickets WHERE id = :id"), {"id": ticket.id}
    )
    session.expunge_all()
    loaded = await session.get(Purchase, purchase.id)

    assert (raw_status, raw_ticket) == ("refunded", "answered")
    assert loaded is not None
    assert loaded.status is PurchaseStatus.REFUNDED


# Relationships -------------------------------------------------------------------------------------------


async def test_load_user_purchases_and_tickets_with_selectinload(session):
    user, other = await create_user(session), await create_user(session)
    lesson, course = await create_lesson(session), await create_course(session)
    mine = [await create_purchase(session, user, lesson), await create_purchase(session, user, course)]
    await create_purchase(session, other, lesson)
    ticket = await create_ticket(session, user)
    session.expunge_all()

    loaded = await session.scalar(
        select(User)
        .where(User.id == user.id)
        .options(selectinload(User.purchases), selectinload(User.support_tickets))
    )

    assert loaded is not None
    assert sorted(p.id for p in loaded.purchases) == sorted(p.id for p in mine)
    assert [t.id for t in loaded.support_tickets] == [ticket.id]


async def test_load_course_lessons_ordered_by_position(session):
    lessons = [await create_lesson(session, title=f"L{n}") for n in range(3)]
    course = await create_course(session)
    # Inserted out of order on purpose: the relationship must sort by position, not by insertion.
    for position, lesson in zip([2, 0, 1], lessons, strict=True):
        session.add(CourseLesson(course_id=course.id, lesson_id=lesson.id, position=position))
    await session.commit()
    session.expunge_all()

    loaded = await session.scalar(
        select(Course)
        .where(Course.id == course.id)
        .options(selectinload(Course.course_lessons).selectinload(CourseLesson.lesson))
    )

    assert loaded is not None
    assert [link.position for link in loaded.course_lessons] == [0, 1, 2]
    assert [link.lesson.title for link in loaded.course_lessons] == ["L1", "L2", "L0"]


async def test_load_purchase_item_relationships(session):
    user, lesson = await create_user(session), await create_lesson(session)
    promo = await create_promo_code(session)
    purchase = await create_purchase(session, user, lesson, promo_code_id=promo.id)
    session.expunge_all()

    loaded = await session.scalar(
        select(Purchase)
        .where(Purchase.id == purchase.id)
        .options(
            selectinload(Purchase.user),
            selectinload(Purchase.lesson),
            selectinload(Purchase.course),
            selectinload(Purchase.promo_code),
        )
    )

    assert loaded is not None
    assert (loaded.user.id, loaded.lesson.id, loaded.course, loaded.promo_code.code) == (
        user.id,
        lesson.id,
        None,
        promo.code,
    )


# The database itself -------------------------------------------------------------------------------------


def _schema_diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return compare_metadata(context, Base.metadata)


async def test_migrated_schema_matches_models():
    async with database.get_engine().connect() as connection:
        diff = await connection.run_sync(_schema_diff)

    assert diff == []


def _check_constraint_names(connection: Connection) -> dict[str, set[str]]:
    inspector = inspect(connection)
    return {
        table: {c["name"] for c in inspector.get_check_constraints(table)} for table in Base.metadata.tables
    }


async def test_migrated_schema_has_model_check_constraints():
    # compare_metadata ignores CHECK constraints, so compare their names separately.
    expected = {
        table.name: {str(c.name) for c in table.constraints if isinstance(c, CheckConstraint)}
        for table in Base.metadata.tables.values()
    }
    async with database.get_engine().connect() as connection:
        actual = await connection.run_sync(_check_constraint_names)

    assert actual == expected
    assert "ck_promo_codes_one_discount_kind" in actual["promo_codes"]


async def test_migrate_again_is_a_no_op():
    await database.migrate()

    async with database.get_engine().connect() as connection:
        versions = (await connection.execute(text("SELECT version_num FROM alembic_version"))).scalars().all()
        diff = await connection.run_sync(_schema_diff)
    assert len(versions) == 1
    assert diff == []


# Migrations in both directions ------------------------------------------------------------------------


def _migrate(connection: Connection, revision: str, *, down: bool) -> None:
    config = database.alembic_config()
    config.attributes["connection"] = connection
    (command.downgrade if down else command.upgrade)(config, revision)


async def test_migrations_down_and_up_again_keep_the_data(session):
    await create_lesson(session, title="Paid")
    await create_lesson(session, title="Free", is_free=True, price=0)
    async with database.get_engine().begin() as connection:
        await connection.run_sync(_migrate, "0003_undeliverable_answers", down=True)
        await connection.run_sync(_migrate, "head", down=False)
        tables = await connection.run_sync(lambda c: inspect(c).get_table_names())
        titles = (await connection.execute(select(Lesson.title).order_by(Lesson.title))).scalars().all()
        diff = await connection.run_sync(_schema_diff)

    assert "lesson_totals" not in tables
    assert titles == ["Free", "Paid"]
    assert diff == []


@pytest.fixture
def sqlite_only() -> None:
    if is_postgres():
        pytest.skip("SQLite connection settings")


@pytest.mark.usefixtures("sqlite_only")
@pytest.mark.parametrize(
    ("pragma", "expected"),
    [
        ("journal_mode", "wal"),
        ("foreign_keys", 1),
        ("busy_timeout", database.SQLITE_BUSY_TIMEOUT_SECONDS * 1000),
    ],
)
async def test_connect_sqlite_sets_pragmas(pragma, expected):
    async with database.get_engine().connect() as connection:
        value = await connection.scalar(text(f"PRAGMA {pragma}"))

    assert value == expected


async def test_session_scope_read_starts_no_transaction():
    async with database.session_scope() as reader:
        assert not reader.in_transaction()
