"""Admin authentication (backend/services/auth_service.py): argon2id, JWT pairs, rotation, throttling.

The admins table is kept between tests: the configured admin is only read here, and any extra admin a
test creates is deleted when it ends.
"""

import asyncio
import functools
import itertools
import random
import threading
import uuid
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import jwt
import pytest
from sqlalchemy import delete, func, select, update

from backend.services import auth_service, lesson_service
from backend.services.exceptions import InvalidCredentials, InvalidToken, TooManyAttempts
from backend.tests.conftest import ADMIN_PASSWORD
from bot.tests.conftest import settings_env
from shared import database
from shared.config import get_settings
from shared.models import Admin, AuthSession, Lesson, LoginThrottle
from shared.schemas import LessonCreate
from shared.utils import utcnow

_admin_numbers = itertools.count(1)
REAL_VERIFY = auth_service.verify_password
REAL_HASH = auth_service.hash_password


@pytest.fixture(scope="module")
def known_hash() -> str:
    # argon2 is slow on purpose: hash once for the whole module.
    return auth_service.hash_password("correct horse")


@pytest.fixture
async def extra_admin(session) -> AsyncIterator[tuple[str, str]]:
    """Another admin (username, password), deleted afterwards whatever the test did to it."""
    username, password = f"extra-admin-{next(_admin_numbers)}", "extra-admin-password"
    async with database.session_scope() as work_session:
        await auth_service.ensure_admin(work_session, username=username, password=password)
    try:
        yield username, password
    finally:
        # The test's unit of work may still hold SQLite's writer lock: it ends first.
        await session.rollback()
        await session.execute(delete(Admin).where(Admin.username == username))
        await session.commit()


async def login(
    session, username: str = "admin", password: str = ADMIN_PASSWORD
) -> auth_service.IssuedTokens:
    return await auth_service.login(session, username=username, password=password)


def claims(**overrides: Any) -> dict[str, Any]:
    now = utcnow()
    values = {
        "sub": "1",
        "sid": "session-id",
        "iat": now,
        "jti": "token-id",
        "type": auth_service.ACCESS,
        "exp": now + timedelta(minutes=5),
    }
    return {key: value for key, value in (values | overrides).items() if value is not None}


def sign(payload: dict[str, Any], *, key: str | None = None, algorithm: str | None = None) -> str:
    settings = get_settings()
    return jwt.encode(
        payload, key or settings.SECRET_KEY.get_secret_value(), algorithm=algorithm or settings.ALGORITHM
    )


async def throttle_of(session, username: str, client: str = "") -> LoginThrottle | None:
    statement = select(LoginThrottle).where(
        LoginThrottle.username == username, LoginThrottle.client == client
    )
    return await session.scalar(statement.execution_options(populate_existing=True))


# Passwords -----------------------------------------------------------------------------------------------


def test_hash_password_is_argon2id(known_hash):
    assert known_hash.startswith("$argon2id$")
    assert "correct horse" not in known_hash


@pytest.mark.parametrize("environment", ["development", "production"])
def test_hash_password_at_the_recommended_cost_outside_tests(environment):
    with settings_env(ENVIRONMENT=environment):
        password_hash = auth_service.hash_password("correct horse")
        assert auth_service.verify_password(password_hash, "correct horse") is True
    assert password_hash.startswith("$argon2id$v=19$m=65536,t=3,p=4$")


def test_hash_password_at_the_cheapest_cost_in_tests(known_hash):
    assert known_hash.startswith("$argon2id$v=19$m=8,t=1,p=1$")


def test_hash_password_salted():
    assert auth_service.hash_password("same") != auth_service.hash_password("same")


def test_verify_password_right(known_hash):
    assert auth_service.verify_password(known_hash, "correct horse") is True


def test_verify_password_wrong(known_hash):
    assert auth_service.verify_password(known_hash, "battery staple") is False


@pytest.mark.parametrize("malformed", ["", "plain-text", "$argon2id$v=19$broken"])
def test_verify_password_malformed_hash(malformed):
    assert auth_service.verify_password(malformed, "anything") is False


# The configured admin ------------------------------------------------------------------------------------


async def test_ensure_admin_existing_is_reused(session):
    before = await session.scalar(select(Admin).where(Admin.username == "admin"))
    assert before is not None
    before_id, before_hash = before.id, before.password_hash

    admin = await auth_service.ensure_admin(session, username="admin", password=ADMIN_PASSWORD)

    assert (admin.id, admin.password_hash) == (before_id, before_hash)
    assert await session.scalar(select(func.count()).where(Admin.username == "admin")) == 1


async def test_ensure_admin_creates_missing(session, extra_admin):
    username, password = extra_admin

    admin = await session.scalar(select(Admin).where(Admin.username == username))

    assert admin is not None
    assert admin.is_active is True
    assert admin.password_hash.startswith("$argon2id$")
    assert auth_service.verify_password(admin.password_hash, password) is True


async def test_ensure_admin_follows_changed_password(session, extra_admin):
    username, old_password = extra_admin
    first = await session.scalar(select(Admin).where(Admin.username == username))
    assert first is not None
    first_id = first.id

    admin = await auth_service.ensure_admin(session, username=username, password="a-new-password")

    assert admin.id == first_id
    assert await session.scalar(select(func.count()).where(Admin.username == username)) == 1
    stored_hash = await session.scalar(select(Admin.password_hash).where(Admin.username == username))
    assert auth_service.verify_password(stored_hash, "a-new-password") is True
    assert auth_service.verify_password(stored_hash, old_password) is False


@pytest.mark.parametrize("change", ["create", "new password"])
async def test_ensure_admin_hashes_outside_its_write(monkeypatch, extra_admin, change):
    username = extra_admin[0] if change == "new password" else f"{extra_admin[0]}-twin"
    hashing = threading.Event()
    release = threading.Event()

    def held_hash(password: str) -> str:
        # Held like argon2 on a busy machine, until the writer is done.
        hashing.set()
        release.wait(30)
        return REAL_HASH(password)

    async def ensure() -> Admin:
        async with database.session_scope() as work_session:
            return await auth_service.ensure_admin(work_session, username=username, password="changed")

    monkeypatch.setattr(auth_service, "hash_password", held_hash)
    task = asyncio.create_task(ensure())
    try:
        await until(hashing.is_set, "the password being hashed")
        async with asyncio.timeout(10):
            async with database.session_scope() as writer:
                await lesson_service.create(writer, data=LessonCreate(title="Meanwhile", price=10))
    finally:
        release.set()
    try:
        admin = await task
        assert auth_service.verify_password(admin.password_hash, "changed") is True
    finally:
        async with database.session_scope() as work_session:
            await work_session.execute(delete(Admin).where(Admin.username == f"{extra_admin[0]}-twin"))


# Login and throttling ------------------------------------------------------------------------------------

ATTACKER = "198.51.100.66"
WRONG = "wrong"
ADMIN_DESK = "203.0.113.10"


@pytest.fixture
def quick_checks(monkeypatch) -> None:
    """verify_password answering a (hash, password) pair it has seen at once: many failures, little argon2."""
    monkeypatch.setattr(auth_service, "verify_password", functools.lru_cache(maxsize=None)(REAL_VERIFY))


@pytest.fixture
def settings_for(monkeypatch) -> Callable[..., None]:
    def override(**values: Any) -> None:
        for name, value in values.items():
            monkeypatch.setattr(get_settings(), name, value)

    return override


async def fail_logins(count: int, username: str = "admin", client: str | None = ATTACKER) -> None:
    for _ in range(count):
        async with database.session_scope() as work_session:
            with pytest.raises(InvalidCredentials):
                await auth_service.login(work_session, username=username, password="wrong", client=client)


async def refusal(username: str = "admin", client: str | None = ATTACKER, password: str = WRONG) -> int:
    """The Retry-After of a refused attempt."""
    async with database.session_scope() as work_session:
        with pytest.raises(TooManyAttempts) as caught:
            await auth_service.login(work_session, username=username, password=password, client=client)
    return caught.value.retry_after


async def end_wait(username: str = "admin", client: str = ATTACKER) -> None:
    """As if the client had waited as long as it was told to."""
    async with database.session_scope() as work_session:
        await work_session.execute(
            update(LoginThrottle)
            .where(LoginThrottle.username == username, LoginThrottle.client == client)
            .values(locked_until=utcnow() - timedelta(seconds=1))
        )


async def until(condition: Callable[[], bool], what: str) -> None:
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0.01)
    pytest.fail(f"never happened: {what}")


async def test_login_issues_token_pair(session):
    tokens = await login(session)
    settings = get_settings()

    access = auth_service.decode_token(tokens.access_token, expected_type=auth_service.ACCESS)
    refresh = auth_service.decode_token(tokens.refresh_token, expected_type=auth_service.REFRESH)
    auth_session = await session.get(AuthSession, access["sid"])

    assert access["sid"] == refresh["sid"]
    assert access["jti"] != refresh["jti"]
    assert auth_session is not None
    assert auth_session.current_refresh_jti == refresh["jti"]
    assert auth_session.revoked_at is None
    assert tokens.expires_in == settings.ACCESS_TOKEN_EXPIRE_MINUTES * 60
    expected_refresh = settings.REFRESH_TOKEN_EXPIRE_DAYS * 24 * 3600
    assert expected_refresh - 5 <= tokens.refresh_expires_in <= expected_refresh


async def test_login_while_the_default_executor_is_busy(session):
    """A flood of guesses cannot take the threads that file writes and DNS lookups share, nor need them."""
    loop = asyncio.get_running_loop()
    one_thread = ThreadPoolExecutor(max_workers=1)
    loop.set_default_executor(one_thread)
    release = threading.Event()
    busy = loop.run_in_executor(None, release.wait)
    try:
        tokens = await asyncio.wait_for(login(session), timeout=10)
        with pytest.raises(InvalidCredentials):
            await asyncio.wait_for(login(session, "admin", "wrong"), timeout=10)
    finally:
        release.set()
        await busy
        loop.set_default_executor(ThreadPoolExecutor())
        one_thread.shutdown()
    assert auth_service.decode_token(tokens.access_token, expected_type=auth_service.ACCESS)["sub"]


@pytest.mark.parametrize(
    ("username", "password"), [("admin", "wrong"), ("nobody", "wrong"), ("nobody", ADMIN_PASSWORD)]
)
async def test_login_bad_credentials_same_error(session, username, password):
    with pytest.raises(InvalidCredentials) as caught:
        await login(session, username, password)

    assert caught.value.message == "Incorrect username or password"
    assert type(caught.value) is InvalidCredentials
    assert await session.scalar(select(func.count()).select_from(AuthSession)) == 0
    throttle = await throttle_of(session, username)
    assert throttle is not None
    assert throttle.failures == 1


async def test_login_inactive_admin_refused(session, extra_admin):
    username, password = extra_admin
    await session.execute(update(Admin).where(Admin.username == username).values(is_active=False))
    await session.commit()

    with pytest.raises(InvalidCredentials):
        await login(session, username, password)


@pytest.mark.parametrize("username", ["admin", "nobody"], ids=["known", "unknown"])
async def test_login_locked_after_max_failures(session, username):
    max_failures = get_settings().LOGIN_MAX_FAILURES
    assert max_failures == 5
    for _ in range(max_failures):
        with pytest.raises(InvalidCredentials):
            await login(session, username, "wrong")

    with pytest.raises(TooManyAttempts) as caught:
        await login(session, username, ADMIN_PASSWORD)

    lockout = get_settings().LOGIN_LOCKOUT_MINUTES * 60
    assert 0 < caught.value.retry_after <= lockout + 1
    assert caught.value.retry_after > lockout - 60
    assert str(caught.value.retry_after) in caught.value.message
    assert await session.scalar(select(func.count()).select_from(AuthSession)) == 0


async def test_login_lock_of_one_username_spares_others(session, extra_admin):
    username, password = extra_admin
    locked_until = utcnow() + timedelta(minutes=5)
    session.add(
        LoginThrottle(
            username="admin", client="", failures=5, locked_until=locked_until, expires_at=locked_until
        )
    )
    await session.commit()

    tokens = await login(session, username, password)

    assert tokens.access_token
    with pytest.raises(TooManyAttempts):
        await login(session)


async def test_login_after_lock_expired(session):
    ended = utcnow() - timedelta(seconds=1)
    session.add(
        LoginThrottle(
            username="admin",
            client="",
            failures=5,
            locked_until=ended,
            failures_reset_at=ended + timedelta(minutes=15),
            expires_at=ended + timedelta(minutes=15),
        )
    )
    await session.commit()

    tokens = await login(session)

    assert tokens.access_token
    throttle = await throttle_of(session, "admin")
    assert (throttle.failures, throttle.locked_until) == (0, None)


async def test_login_success_clears_failures(session):
    for _ in range(get_settings().LOGIN_MAX_FAILURES - 1):
        with pytest.raises(InvalidCredentials):
            await login(session, "admin", "wrong")
    assert (await throttle_of(session, "admin")).failures == 4

    await login(session)
    assert (await throttle_of(session, "admin")).failures == 0

    with pytest.raises(InvalidCredentials):
        await login(session, "admin", "wrong")
    assert (await throttle_of(session, "admin")).failures == 1


async def test_login_checks_password_outside_any_transaction(monkeypatch):
    # More bad logins than SQLite's connection pool holds (10, and 10 more on overflow): had each kept its
    # connection while its password was checked, the writer below could not even start.
    logins = 24
    sessions: dict[str, Any] = {}
    in_transaction: list[bool] = []
    release = threading.Event()

    def held_check(_password_hash: str, password: str) -> bool:
        # Held like argon2 on a busy machine, until the writer is done.
        in_transaction.append(sessions[password].in_transaction())
        release.wait(30)
        return False

    async def bad_login(n: int) -> None:
        async with database.session_scope() as work_session:
            sessions[f"guess-{n}"] = work_session
            await auth_service.login(
                work_session, username=f"intruder-{n}", password=f"guess-{n}", client=ATTACKER
            )

    monkeypatch.setattr(auth_service, "verify_password", held_check)
    tasks = [asyncio.create_task(bad_login(n)) for n in range(logins)]
    try:
        await until(
            lambda: len(in_transaction) == auth_service.PASSWORD_THREAD_COUNT,
            "as many logins checking their passwords as there are threads for it",
        )
        async with asyncio.timeout(10):
            async with database.session_scope() as writer:
                lesson = await lesson_service.create(
                    writer, data=LessonCreate(title="Written meanwhile", price=10, text_content="Body")
                )
        logins_done = sum(task.done() for task in tasks)
    finally:
        release.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)

    # The writer finished while every login was still at its password check (or queued for one).
    assert logins_done == 0
    async with database.session_scope() as reader:
        assert await reader.get(Lesson, lesson.id) is not None
    assert [type(result) for result in results] == [InvalidCredentials] * logins
    # No login held a transaction (a writer's lock, a connection, a snapshot) while argon2 ran.
    assert in_transaction == [False] * logins
    async with database.session_scope() as reader:
        counted = await reader.scalar(select(func.sum(LoginThrottle.failures)))
    assert counted == logins


async def test_login_concurrent_guesses_checked_at_most_max_failures(monkeypatch):
    max_failures = get_settings().LOGIN_MAX_FAILURES
    guesses = [f"guess-{n}" for n in range(29)] + [ADMIN_PASSWORD]
    random.shuffle(guesses)
    lock = threading.Lock()
    checked: list[str] = []
    refused: list[str] = []
    all_arrived = threading.Event()

    def arrived(into: list[str], password: str) -> None:
        with lock:
            into.append(password)
            if len(checked) + len(refused) == len(guesses):
                all_arrived.set()

    def counted_check(password_hash: str, password: str) -> bool:
        arrived(checked, password)
        # A slow argon2: every guess has arrived before the first check ends.
        all_arrived.wait(10)
        return REAL_VERIFY(password_hash, password)

    async def guess(password: str) -> auth_service.IssuedTokens:
        async with database.session_scope() as work_session:
            try:
                return await auth_service.login(
                    work_session, username="admin", password=password, client=ATTACKER
                )
            except TooManyAttempts:
                arrived(refused, password)
                raise

    monkeypatch.setattr(auth_service, "verify_password", counted_check)
    # A thread for each guess, so that every one that gets past the count is checked at once (with the
    # production's two, the waits above would run two at a time).
    with ThreadPoolExecutor(max_workers=len(guesses)) as threads:
        monkeypatch.setattr(auth_service, "PASSWORD_THREADS", threads)
        answers = await asyncio.gather(*map(guess, guesses), return_exceptions=True)
    results = dict(zip(guesses, answers, strict=True))

    assert len(checked) == max_failures, checked
    right = results.pop(ADMIN_PASSWORD)
    if ADMIN_PASSWORD in checked:
        assert isinstance(right, auth_service.IssuedTokens)
    else:
        assert isinstance(right, TooManyAttempts)
    wrong = [type(results[password]) for password in guesses if password != ADMIN_PASSWORD]
    assert wrong.count(InvalidCredentials) == len(set(checked) - {ADMIN_PASSWORD})
    assert wrong.count(TooManyAttempts) == len(guesses) - max_failures - (ADMIN_PASSWORD not in checked)


@pytest.mark.usefixtures("quick_checks")
async def test_login_failures_of_one_client_spare_another():
    await fail_logins(get_settings().LOGIN_MAX_FAILURES)
    assert await refusal(client=ATTACKER) > 0

    async with database.session_scope() as work_session:
        tokens = await auth_service.login(
            work_session, username="admin", password=ADMIN_PASSWORD, client=ADMIN_DESK
        )

    assert tokens.access_token


@pytest.mark.usefixtures("quick_checks")
async def test_login_ipv6_clients_counted_per_network():
    for n in range(get_settings().LOGIN_MAX_FAILURES):
        await fail_logins(1, client=f"2001:db8:1:2::{n + 1:x}")

    # Another address of the same /64 network is the same client; another network is not.
    assert await refusal(client="2001:db8:1:2:ffff::1") > 0
    await fail_logins(1, client="2001:db8:1:3::1")


@pytest.mark.usefixtures("quick_checks")
async def test_login_known_client_waits_grow(settings_for):
    settings_for(LOGIN_KNOWN_CLIENT_DELAY_SECONDS=30, LOGIN_LOCKOUT_MINUTES=15)
    max_failures = get_settings().LOGIN_MAX_FAILURES
    async with database.session_scope() as work_session:
        await auth_service.login(work_session, username="admin", password=ADMIN_PASSWORD, client=ADMIN_DESK)
    await fail_logins(max_failures, client=ADMIN_DESK)

    waits = [await refusal(client=ADMIN_DESK)]
    for _ in range(6):
        await end_wait(client=ADMIN_DESK)
        await fail_logins(1, client=ADMIN_DESK)
        waits.append(await refusal(client=ADMIN_DESK))

    # Doubling from 30 seconds up to the lockout, instead of a lockout at once.
    expected = [30, 60, 120, 240, 480, 900, 900]
    assert all(wait - 10 < got <= wait for got, wait in zip(waits, expected, strict=True)), waits
    # A client that never logged in is locked out at once.
    await fail_logins(max_failures, client=ATTACKER)
    assert await refusal(client=ATTACKER) > 15 * 60 - 60


@pytest.mark.usefixtures("quick_checks")
async def test_login_known_client_logs_in_after_wait():
    async with database.session_scope() as work_session:
        await auth_service.login(work_session, username="admin", password=ADMIN_PASSWORD, client=ADMIN_DESK)
    await fail_logins(get_settings().LOGIN_MAX_FAILURES, client=ADMIN_DESK)
    await refusal(client=ADMIN_DESK, password=ADMIN_PASSWORD)

    await end_wait(client=ADMIN_DESK)
    async with database.session_scope() as work_session:
        tokens = await auth_service.login(
            work_session, username="admin", password=ADMIN_PASSWORD, client=ADMIN_DESK
        )

    assert tokens.access_token


@pytest.mark.usefixtures("quick_checks")
async def test_login_failures_forgotten_after_lockout():
    max_failures = get_settings().LOGIN_MAX_FAILURES
    await fail_logins(max_failures - 1)
    async with database.session_scope() as work_session:
        await work_session.execute(
            update(LoginThrottle).values(failures_reset_at=utcnow() - timedelta(seconds=1))
        )

    await fail_logins(max_failures - 1)

    async with database.session_scope() as work_session:
        assert (await throttle_of(work_session, "admin", ATTACKER)).failures == max_failures - 1


@pytest.mark.usefixtures("quick_checks")
async def test_login_throttling_spares_open_sessions(session):
    async with database.session_scope() as work_session:
        tokens = await auth_service.login(
            work_session, username="admin", password=ADMIN_PASSWORD, client=ATTACKER
        )
    await fail_logins(get_settings().LOGIN_MAX_FAILURES, client=None)
    await fail_logins(get_settings().LOGIN_MAX_FAILURES, client=ATTACKER)
    await refusal(client=ATTACKER)
    await refusal(client=None)

    assert (await auth_service.authenticate(session, tokens.access_token)).admin.username == "admin"
    assert (await auth_service.refresh(session, tokens.refresh_token)).access_token


@pytest.mark.usefixtures("quick_checks")
async def test_login_expired_throttles_deleted():
    long_ago = utcnow() - timedelta(days=1)
    async with database.session_scope() as work_session:
        for n in range(3):
            work_session.add(
                LoginThrottle(username=f"old-{n}", client=ATTACKER, failures=3, expires_at=long_ago)
            )

    await fail_logins(1, username="someone-new")

    async with database.session_scope() as work_session:
        usernames = await work_session.scalars(select(LoginThrottle.username))
        assert set(usernames) == {"someone-new"}


@pytest.mark.usefixtures("quick_checks")
async def test_login_flood_of_unknown_usernames_bounded(settings_for):
    settings_for(LOGIN_THROTTLE_MAX_ROWS=10)
    await fail_logins(3, username="admin")

    for n in range(40):
        await fail_logins(1, username=f"made-up-{uuid.uuid4().hex[:12]}-{n}")

    async with database.session_scope() as work_session:
        unknown = await work_session.scalar(
            select(func.count()).select_from(LoginThrottle).where(LoginThrottle.username != "admin")
        )
        newest = await work_session.scalar(
            select(LoginThrottle.username)
            .where(LoginThrottle.username != "admin")
            .order_by(LoginThrottle.expires_at.desc())
            .limit(1)
        )
        # An account's count is never dropped to make room: the flood did not reset the attacker's.
        admin_failures = (await throttle_of(work_session, "admin", ATTACKER)).failures
    assert unknown == 10
    assert newest.endswith("-39")
    assert admin_failures == 3


# Tokens --------------------------------------------------------------------------------------------------


async def test_authenticate_access_token(session):
    tokens = await login(session)

    auth_session = await auth_service.authenticate(session, tokens.access_token)

    assert auth_session.admin.username == "admin"


async def test_refresh_rotates_tokens(session):
    first = await login(session)

    second = await auth_service.refresh(session, first.refresh_token)

    assert second.refresh_token != first.refresh_token
    assert (await auth_service.authenticate(session, second.access_token)).admin.username == "admin"
    third = await auth_service.refresh(session, second.refresh_token)
    assert third.access_token


async def test_refresh_reuse_revokes_session(session):
    first = await login(session)
    second = await auth_service.refresh(session, first.refresh_token)

    with pytest.raises(InvalidToken, match="already used"):
        await auth_service.refresh(session, first.refresh_token)

    # The old token leaked: nothing of this session works any more, the new tokens included.
    with pytest.raises(InvalidToken, match="Session has ended"):
        await auth_service.authenticate(session, second.access_token)
    with pytest.raises(InvalidToken):
        await auth_service.refresh(session, second.refresh_token)
    revoked_at = await session.scalar(
        select(AuthSession.revoked_at).execution_options(populate_existing=True)
    )
    assert revoked_at is not None


async def test_refresh_reuse_spares_other_sessions(session):
    other = await login(session)
    first = await login(session)
    await auth_service.refresh(session, first.refresh_token)

    with pytest.raises(InvalidToken):
        await auth_service.refresh(session, first.refresh_token)

    assert (await auth_service.authenticate(session, other.access_token)).admin.username == "admin"


async def test_refresh_with_access_token_refused(session):
    tokens = await login(session)

    with pytest.raises(InvalidToken, match="not a refresh token"):
        await auth_service.refresh(session, tokens.access_token)

    # A refused token of the wrong type does not revoke anything.
    assert (await auth_service.authenticate(session, tokens.access_token)).admin.username == "admin"


async def test_authenticate_with_refresh_token_refused(session):
    tokens = await login(session)

    with pytest.raises(InvalidToken, match="not an access token"):
        await auth_service.authenticate(session, tokens.refresh_token)


async def test_revoke_session_ends_its_tokens(session):
    tokens = await login(session)
    session_id = auth_service.decode_token(tokens.access_token, expected_type=auth_service.ACCESS)["sid"]

    await auth_service.revoke(session, session_id)

    with pytest.raises(InvalidToken, match="Session has ended"):
        await auth_service.authenticate(session, tokens.access_token)
    with pytest.raises(InvalidToken):
        await auth_service.refresh(session, tokens.refresh_token)


async def test_authenticate_expired_session_refused(session):
    tokens = await login(session)
    await session.execute(update(AuthSession).values(expires_at=utcnow() - timedelta(seconds=1)))
    await session.commit()

    with pytest.raises(InvalidToken, match="Session has ended"):
        await auth_service.authenticate(session, tokens.access_token)


async def test_authenticate_deactivated_admin_refused(session, extra_admin):
    username, password = extra_admin
    tokens = await login(session, username, password)
    await session.execute(update(Admin).where(Admin.username == username).values(is_active=False))
    await session.commit()

    with pytest.raises(InvalidToken):
        await auth_service.authenticate(session, tokens.access_token)


async def test_authenticate_unknown_session_refused(session):
    with pytest.raises(InvalidToken, match="Session has ended"):
        await auth_service.authenticate(session, sign(claims(sid="no-such-session")))


def test_decode_token_valid():
    decoded = auth_service.decode_token(sign(claims()), expected_type=auth_service.ACCESS)

    assert (decoded["sub"], decoded["sid"], decoded["type"]) == ("1", "session-id", "access")


def test_decode_token_other_key_refused():
    token = sign(claims(), key="another-secret-key-that-is-long-enough-0123456789")

    with pytest.raises(InvalidToken, match="Invalid or expired token"):
        auth_service.decode_token(token, expected_type=auth_service.ACCESS)


def test_decode_token_alg_none_refused():
    token = jwt.encode(claims(), None, algorithm="none")

    with pytest.raises(InvalidToken):
        auth_service.decode_token(token, expected_type=auth_service.ACCESS)


# The test key is fine for HS256 but short for HS512, which PyJWT warns about when signing.
@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
def test_decode_token_other_algorithm_refused():
    assert get_settings().ALGORITHM == "HS256"
    token = sign(claims(), algorithm="HS512")

    with pytest.raises(InvalidToken):
        auth_service.decode_token(token, expected_type=auth_service.ACCESS)


def test_decode_token_expired_refused():
    token = sign(claims(exp=utcnow() - timedelta(seconds=1)))

    with pytest.raises(InvalidToken, match="Token has expired"):
        auth_service.decode_token(token, expected_type=auth_service.ACCESS)


@pytest.mark.parametrize("missing", ["exp", "iat", "jti", "sub", "sid", "type"])
def test_decode_token_missing_claim_refused(missing):
    token = sign(claims(**{missing: None}))

    with pytest.raises(InvalidToken):
        auth_service.decode_token(token, expected_type=auth_service.ACCESS)


@pytest.mark.parametrize("token", ["", "not-a-jwt", "a.b.c"])
def test_decode_token_garbage_refused(token):
    with pytest.raises(InvalidToken):
        auth_service.decode_token(token, expected_type=auth_service.ACCESS)


def test_decode_token_tampered_payload_refused():
    header, _, signature = sign(claims()).split(".")
    forged_payload = sign(claims(sub="2")).split(".")[1]

    with pytest.raises(InvalidToken):
        auth_service.decode_token(f"{header}.{forged_payload}.{signature}", expected_type=auth_service.ACCESS)
