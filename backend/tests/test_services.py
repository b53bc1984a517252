"""Cross-cutting service tests: the rules that hold across sessions running at the same time, and the
shared helpers every service stands on (shared/utils.py, shared/database.py, backend/config.py).

Per-module service tests live in tests/services/, mirroring backend/services/.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, TypeVar

import pytest
from pydantic import SecretStr, ValidationError
from sqlalchemy import delete, func, select, text

from backend.services import auth_service, promo_code_service, purchase_service, user_service
from backend.services.exceptions import (
    DomainError,
    DuplicatePaymentId,
    DuplicatePromoCode,
    InvalidCredentials,
    InvalidToken,
    PromoCodeUsedUp,
    TooManyAttempts,
)
from backend.tests.conftest import ADMIN_PASSWORD, is_postgres
from backend.tests.factories import create_lesson, create_promo_code, create_purchase, create_user
from shared import database
from shared.config import Settings, get_settings
from shared.constants import Environment, PurchaseStatus
from shared.models import Admin, AuthSession, LoginThrottle, PromoCode, Purchase, User
from shared.schemas import PromoCodeCreate, PurchaseCreate
from shared.utils import as_utc, escape_like, normalize_database_url, utcnow

T = TypeVar("T")


async def in_own_session(work: Callable[[Any], Awaitable[T]]) -> T:
    """Run one unit of work the way a request or a bot update does: its own writing session."""
    async with database.session_scope() as session:
        return await work(session)


async def run_concurrently(*works: Callable[[Any], Awaitable[T]]) -> tuple[list[T], list[BaseException]]:
    results = await asyncio.gather(*(in_own_session(work) for work in works), return_exceptions=True)
    errors = [r for r in results if isinstance(r, BaseException)]
    unexpected = [e for e in errors if not isinstance(e, DomainError)]
    assert unexpected == [], unexpected
    return [r for r in results if not isinstance(r, BaseException)], errors


def purchase_with_code(user_id: int, lesson_id: int, code: str | None, **fields: Any):
    data = PurchaseCreate(user_id=user_id, lesson_id=lesson_id, promo_code=code, **fields)

    async def work(session):
        return await purchase_service.create(session, data=data)

    return work


async def current_uses(session, promo_id: int) -> int:
    return await session.scalar(select(PromoCode.current_uses).where(PromoCode.id == promo_id))


# Concurrency: the promo code's last use ------------------------------------------------------------------


async def test_create_purchases_concurrently_last_promo_use_once(session):
    users = [await create_user(session) for _ in range(2)]
    lesson = await create_lesson(session, price=100)
    promo = await create_promo_code(session, code="LASTONE", max_uses=1)

    done, errors = await run_concurrently(*(purchase_with_code(u.id, lesson.id, "LASTONE") for u in users))

    assert len(done) == 1
    assert [type(e) for e in errors] == [PromoCodeUsedUp]
    assert done[0].amount == 90
    assert await current_uses(session, promo.id) == 1
    assert await session.scalar(select(func.count()).where(Purchase.promo_code_id == promo.id)) == 1


async def test_create_purchases_concurrently_respects_max_uses(session):
    users = [await create_user(session) for _ in range(20)]
    lesson = await create_lesson(session, price=100)
    promo = await create_promo_code(session, code="FIVE", max_uses=5)

    done, errors = await run_concurrently(*(purchase_with_code(u.id, lesson.id, "FIVE") for u in users))

    assert len(done) == 5
    assert len(errors) == 15
    assert all(isinstance(e, PromoCodeUsedUp) for e in errors)
    assert await current_uses(session, promo.id) == 5
    assert await session.scalar(select(func.count()).select_from(Purchase)) == 5


async def test_use_promo_code_concurrently_last_use_once(session):
    promo = await create_promo_code(session, max_uses=3, current_uses=2)
    promo_id = promo.id

    async def use(work_session):
        code = await promo_code_service.get(work_session, promo_id)
        await promo_code_service.use(work_session, code)
        await work_session.commit()
        return code.current_uses

    done, errors = await run_concurrently(use, use)

    assert done == [3]
    assert [type(e) for e in errors] == [PromoCodeUsedUp]
    assert await current_uses(session, promo_id) == 3


async def test_use_promo_code_last_use_after_both_read(session):
    if not is_postgres():
        pytest.skip("on SQLite a writing session holds the lock from its start, so both cannot read first")
    promo = await create_promo_code(session, max_uses=1)
    promo_id = promo.id
    both_read = asyncio.Barrier(2)

    async def use(work_session):
        code = await promo_code_service.get(work_session, promo_id)
        # Both have seen a free use before either takes it: only the atomic UPDATE can decide.
        await both_read.wait()
        await promo_code_service.use(work_session, code)
        await work_session.commit()
        return code.current_uses

    done, errors = await run_concurrently(use, use)

    assert done == [1]
    assert [type(e) for e in errors] == [PromoCodeUsedUp]
    assert await current_uses(session, promo_id) == 1


async def wait_for_lock_waiters(watcher, count: int, tasks: list[asyncio.Task[Any]]) -> None:
    """Until `count` other PostgreSQL sessions are blocked on a lock (or a task ended early)."""
    query = text(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE wait_event_type = 'Lock' AND datname = current_database()"
    )
    for _ in range(200):
        # Activity statistics are a snapshot per transaction; drop it to see the sessions as they are now.
        await watcher.execute(text("SELECT pg_stat_clear_snapshot()"))
        if await watcher.scalar(query) >= count or any(task.done() for task in tasks):
            return
        await asyncio.sleep(0.05)
    pytest.fail(f"{count} sessions never waited on the lock")


async def test_complete_failed_purchases_concurrently_count_each_use(session):
    users = [await create_user(session) for _ in range(2)]
    lesson = await create_lesson(session)
    promo_id = (await create_promo_code(session, code="LATE", max_uses=5)).id
    purchase_ids = [
        (await create_purchase(session, u, lesson, status=PurchaseStatus.FAILED, promo_code_id=promo_id)).id
        for u in users
    ]

    def complete(purchase_id: int):
        async def work(work_session):
            purchase = await purchase_service.get(work_session, purchase_id)
            return await purchase_service.complete(work_session, purchase)

        return work

    if is_postgres():
        # Hold the code's row so that both completions have read it before either writes.
        async with database.session_scope() as locker:
            await locker.execute(select(PromoCode.id).where(PromoCode.id == promo_id).with_for_update())
            tasks = [asyncio.create_task(in_own_session(complete(pid))) for pid in purchase_ids]
            await wait_for_lock_waiters(locker, 2, tasks)
            await locker.commit()
        results = await asyncio.gather(*tasks, return_exceptions=True)
    else:
        results, _ = await run_concurrently(*(complete(pid) for pid in purchase_ids))

    assert [getattr(r, "status", r) for r in results] == [PurchaseStatus.COMPLETED] * 2
    assert await current_uses(session, promo_id) == 2


# Concurrency: other races the services settle ------------------------------------------------------------


async def test_create_purchases_concurrently_same_payment_id_once(session):
    users = [await create_user(session) for _ in range(2)]
    lesson = await create_lesson(session)

    done, errors = await run_concurrently(
        *(purchase_with_code(u.id, lesson.id, None, payment_id="one-invoice") for u in users)
    )

    assert len(done) == 1
    assert [type(e) for e in errors] == [DuplicatePaymentId]
    assert await session.scalar(select(func.count()).select_from(Purchase)) == 1


async def test_register_user_concurrently_once(session):
    async def register(work_session):
        user = await user_service.register_or_update(
            work_session, telegram_id=31337, first_name="Racer", username="racer"
        )
        return user.id

    done, errors = await run_concurrently(register, register)

    assert errors == []
    assert done[0] == done[1]
    assert await session.scalar(select(func.count()).select_from(User)) == 1


async def test_refresh_concurrently_same_token_once(session):
    tokens = await auth_service.login(session, username="admin", password=ADMIN_PASSWORD)
    # The login's unit of work ends, as its request would: its session is visible, SQLite's lock free.
    await session.commit()

    async def rotate(work_session):
        return await auth_service.refresh(work_session, tokens.refresh_token)

    done, errors = await run_concurrently(rotate, rotate)

    assert len(done) == 1
    assert [type(e) for e in errors] == [InvalidToken]
    # The second use of the same refresh token counts as reuse: the session is revoked.
    revoked_at = await session.scalar(select(AuthSession.revoked_at))
    assert revoked_at is not None


async def test_create_promo_codes_concurrently_same_code_once(session):
    async def create(work_session):
        data = PromoCodeCreate(code="twins", discount_percent=10)
        return await promo_code_service.create(work_session, data=data)

    done, errors = await run_concurrently(create, create)

    assert [p.code for p in done] == ["TWINS"]
    assert [type(e) for e in errors] == [DuplicatePromoCode]
    assert await session.scalar(select(func.count()).select_from(PromoCode)) == 1


async def test_ensure_admin_concurrently_creates_once(session):
    username = "concurrent-admin"

    async def ensure(work_session):
        admin = await auth_service.ensure_admin(
            work_session, username=username, password="concurrent-password"
        )
        return admin.id

    try:
        done, errors = await run_concurrently(ensure, ensure)

        assert errors == []
        assert done[0] == done[1]
        assert await session.scalar(select(func.count()).where(Admin.username == username)) == 1
    finally:
        # The admins table is kept between tests.
        await session.execute(delete(Admin).where(Admin.username == username))
        await session.commit()


async def test_login_failures_concurrently_all_counted(session):
    max_failures = get_settings().LOGIN_MAX_FAILURES
    # An earlier attempt left the row; each attempt now only has to add one to it.
    forgotten_at = utcnow() + timedelta(minutes=15)
    session.add(LoginThrottle(username="admin", client="", failures=0, expires_at=forgotten_at))
    await session.commit()

    async def fail_login(work_session):
        return await auth_service.login(work_session, username="admin", password="guess")

    if is_postgres():
        # Hold the row so that every attempt has read the count before any of them writes it.
        async with database.session_scope() as locker:
            await locker.execute(
                select(LoginThrottle.username).where(LoginThrottle.username == "admin").with_for_update()
            )
            tasks = [asyncio.create_task(in_own_session(fail_login)) for _ in range(max_failures)]
            await wait_for_lock_waiters(locker, max_failures, tasks)
            await locker.commit()
        results = await asyncio.gather(*tasks, return_exceptions=True)
    else:
        _, results = await run_concurrently(*[fail_login] * max_failures)

    assert [type(r) for r in results] == [InvalidCredentials] * max_failures
    throttle = (await session.execute(select(LoginThrottle.failures, LoginThrottle.locked_until))).one()
    assert throttle.locked_until is not None, f"only {throttle.failures} of {max_failures} failures counted"
    with pytest.raises(TooManyAttempts):
        await auth_service.login(session, username="admin", password=ADMIN_PASSWORD)


async def test_login_failures_concurrently_for_new_username(session):
    async def fail_login(work_session):
        return await auth_service.login(work_session, username="intruder", password="guess")

    done, errors = await run_concurrently(fail_login, fail_login)

    assert done == []
    assert [type(e) for e in errors] == [InvalidCredentials, InvalidCredentials]
    failures = await session.scalar(
        select(LoginThrottle.failures).where(LoginThrottle.username == "intruder")
    )
    # Counted before the passwords were checked, one after the other.
    assert failures == 2


# shared/utils.py -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///./x.db", "sqlite+aiosqlite:///./x.db"),
        ("sqlite:////abs/path/x.db", "sqlite+aiosqlite:////abs/path/x.db"),
        ("sqlite+aiosqlite:///x.db", "sqlite+aiosqlite:///x.db"),
        ("postgresql://u:p@host:5432/db", "postgresql+asyncpg://u:p@host:5432/db"),
        ("postgres://u:p@host/db", "postgresql+asyncpg://u:p@host/db"),
        ("postgresql+psycopg2://u@host/db", "postgresql+asyncpg://u@host/db"),
        ("postgresql+asyncpg://u@host/db?ssl=require", "postgresql+asyncpg://u@host/db?ssl=require"),
        ("PostgreSQL://u@host/db", "postgresql+asyncpg://u@host/db"),
    ],
)
def test_normalize_database_url(url, expected):
    assert normalize_database_url(url) == expected


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://u@host/db", "Unsupported database 'mysql'"),
        ("oracle+cx://u@host/db", "Unsupported database 'oracle'"),
        ("./lessons.db", "not a URL"),
        ("", "not a URL"),
    ],
)
def test_normalize_database_url_refused(url, message):
    with pytest.raises(ValueError, match=message):
        normalize_database_url(url)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain", "plain"),
        ("100%", "100\\%"),
        ("a_b", "a\\_b"),
        ("back\\slash", "back\\\\slash"),
        ("\\%_", "\\\\\\%\\_"),
    ],
)
def test_escape_like(text, expected):
    assert escape_like(text) == expected


def test_as_utc_naive_taken_as_utc():
    assert as_utc(datetime(2030, 1, 1, 12, 0)) == datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
    assert as_utc(datetime(2030, 1, 1, 12, 0)).tzinfo is UTC


def test_as_utc_converts_other_zones():
    converted = as_utc(datetime(2030, 1, 1, 12, 0, tzinfo=timezone(timedelta(hours=-5))))

    assert converted.tzinfo is UTC
    assert (converted.hour, converted.utcoffset()) == (17, timedelta(0))


def test_utcnow_is_aware_utc():
    now = utcnow()

    assert now.utcoffset() == timedelta(0)
    assert abs(now - datetime.now(UTC)) < timedelta(seconds=5)


# shared/database.py --------------------------------------------------------------------------------------


async def test_ping_database():
    await database.ping()


async def test_create_engine_for_each_backend():
    sqlite_engine = database.create_engine("sqlite:///./never-opened.db")
    postgres_engine = database.create_engine("postgres://u:p@localhost:1/db")
    try:
        assert (sqlite_engine.dialect.name, sqlite_engine.dialect.driver) == ("sqlite", "aiosqlite")
        assert (postgres_engine.dialect.name, postgres_engine.dialect.driver) == ("postgresql", "asyncpg")
    finally:
        await sqlite_engine.dispose()
        await postgres_engine.dispose()


def test_create_engine_unsupported_url_refused():
    with pytest.raises(ValueError, match="Unsupported"):
        database.create_engine("mysql://u@h/db")


async def test_get_engine_configures_from_settings_on_first_use(monkeypatch):
    # Pretend this process has not configured the database yet; monkeypatch puts the real engine back.
    monkeypatch.setattr(database, "_engine", None)
    monkeypatch.setattr(database, "_session_factory", None)

    factory = database.get_session_factory()
    engine = database.get_engine()
    try:
        assert engine.url.render_as_string(hide_password=False) == get_settings().async_database_url
        async with factory() as session:
            assert await session.scalar(select(func.count()).select_from(PromoCode)) == 0
    finally:
        await database.dispose_engine()


# backend/config.py ---------------------------------------------------------------------------------------

GOOD_SECRET = "a-production-secret-key-that-is-long-enough-0123456789"


def settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)


@pytest.fixture
def no_secrets_in_env(monkeypatch):
    """The settings' own defaults, not the ones conftest puts in the environment."""
    for name in ("SECRET_KEY", "ADMIN_PASSWORD", "ENVIRONMENT"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        ({"SECRET_KEY": "your-secret-key-here"}, "SECRET_KEY is the default value"),
        ({"SECRET_KEY": "short-but-not-default"}, "SECRET_KEY is shorter than 32 bytes"),
        ({"ADMIN_PASSWORD": "admin123"}, "ADMIN_PASSWORD is a default value"),
        ({"ADMIN_PASSWORD": "admin"}, "ADMIN_PASSWORD is a default value"),
    ],
)
def test_settings_production_refuses_insecure_values(values, problem):
    good = {"SECRET_KEY": GOOD_SECRET, "ADMIN_PASSWORD": "a-strong-admin-password"}

    with pytest.raises(ValidationError) as caught:
        settings(ENVIRONMENT="production", **(good | values))

    assert "Refusing to start in production" in str(caught.value)
    assert problem in str(caught.value)


@pytest.mark.usefixtures("no_secrets_in_env")
def test_settings_production_with_defaults_names_every_problem():
    with pytest.raises(ValidationError) as caught:
        settings(ENVIRONMENT="production")

    message = str(caught.value)
    assert "SECRET_KEY is the default value" in message
    assert "SECRET_KEY is shorter than 32 bytes" in message
    assert "ADMIN_PASSWORD is a default value" in message


def test_settings_production_with_good_values():
    production = settings(
        ENVIRONMENT="production", SECRET_KEY=GOOD_SECRET, ADMIN_PASSWORD="a-strong-admin-password"
    )

    assert production.ENVIRONMENT is Environment.PRODUCTION
    assert production.insecure_settings == []
    assert SecretStr(GOOD_SECRET) == production.SECRET_KEY


@pytest.mark.usefixtures("no_secrets_in_env")
def test_settings_development_with_defaults_reports_insecure(caplog):
    development = settings()

    assert development.ENVIRONMENT is Environment.DEVELOPMENT
    assert development.insecure_settings == [
        "SECRET_KEY is the default value",
        "SECRET_KEY is shorter than 32 bytes",
        "ADMIN_PASSWORD is a default value",
    ]
    with caplog.at_level(logging.WARNING, logger="shared.config"):
        development.warn_if_insecure()

    warnings = [r for r in caplog.records if r.name == "shared.config" and r.levelno == logging.WARNING]
    assert len(warnings) == 3
    assert all("INSECURE CONFIGURATION" in r.getMessage() for r in warnings)
    assert "ADMIN_PASSWORD is a default value" in warnings[2].getMessage()


def test_settings_secure_warns_nothing(caplog):
    secure = settings(SECRET_KEY=GOOD_SECRET, ADMIN_PASSWORD="a-strong-admin-password")

    with caplog.at_level(logging.WARNING, logger="shared.config"):
        secure.warn_if_insecure()

    assert [r for r in caplog.records if r.name == "shared.config"] == []


@pytest.mark.parametrize("url", ["mysql://u@h/db", "lessons.db"])
def test_settings_unsupported_database_url_refused(url):
    with pytest.raises(ValidationError, match="DATABASE_URL"):
        settings(DATABASE_URL=url)


@pytest.mark.parametrize(
    ("url", "async_url", "is_sqlite"),
    [
        ("sqlite:///./lessons.db", "sqlite+aiosqlite:///./lessons.db", True),
        ("postgres://u@h/db", "postgresql+asyncpg://u@h/db", False),
    ],
)
def test_settings_derived_database_values(url, async_url, is_sqlite):
    configured = settings(DATABASE_URL=url)

    assert configured.async_database_url == async_url
    assert configured.is_sqlite is is_sqlite
    assert url == configured.DATABASE_URL


def test_settings_read_from_environment(monkeypatch):
    monkeypatch.setenv("LOGIN_MAX_FAILURES", "7")
    monkeypatch.setenv("CORS_ORIGINS", '["https://admin.example"]')

    configured = settings()

    assert configured.LOGIN_MAX_FAILURES == 7
    assert configured.CORS_ORIGINS == ["https://admin.example"]
    assert configured.ENVIRONMENT is Environment.TEST
