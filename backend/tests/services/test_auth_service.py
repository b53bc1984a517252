"""Admin authentication (backend/services/auth_service.py): argon2id, JWT pairs, rotation, throttling.

The admins table is kept between tests: the configured admin is only read here, and any extra admin a
test creates is deleted when it ends.
"""

import itertools
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import jwt
import pytest
from sqlalchemy import delete, func, select, update

from backend.services import auth_service
from backend.services.exceptions import InvalidCredentials, InvalidToken, TooManyAttempts
from backend.tests.conftest import ADMIN_PASSWORD
from shared import database
from shared.config import get_settings
from shared.models import Admin, AuthSession, LoginThrottle
from shared.utils import utcnow

_admin_numbers = itertools.count(1)


@pytest.fixture(scope="module")
def known_hash() -> str:
    # argon2 is slow on purpose: hash once for the whole module.
    return auth_service.hash_password("correct horse")


@pytest.fixture
async def extra_admin() -> AsyncIterator[tuple[str, str]]:
    """Another admin (username, password), deleted afterwards whatever the test did to it."""
    username, password = f"extra-admin-{next(_admin_numbers)}", "extra-admin-password"
    async with database.session_scope() as session:
        await auth_service.ensure_admin(session, username=username, password=password)
    try:
        yield username, password
    finally:
        async with database.session_scope(write=True) as session:
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


async def throttle_of(session, username: str) -> LoginThrottle | None:
    statement = select(LoginThrottle).where(LoginThrottle.username == username)
    return await session.scalar(statement.execution_options(populate_existing=True))


# Passwords -----------------------------------------------------------------------------------------------


def test_hash_password_is_argon2id(known_hash):
    assert known_hash.startswith("$argon2id$")
    assert "correct horse" not in known_hash


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


# Login and throttling ------------------------------------------------------------------------------------


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
    session.add(LoginThrottle(username="admin", failures=0, locked_until=utcnow() + timedelta(minutes=5)))
    await session.commit()

    tokens = await login(session, username, password)

    assert tokens.access_token
    with pytest.raises(TooManyAttempts):
        await login(session)


async def test_login_after_lock_expired(session):
    session.add(LoginThrottle(username="admin", failures=0, locked_until=utcnow() - timedelta(seconds=1)))
    await session.commit()

    tokens = await login(session)

    assert tokens.access_token
    assert await throttle_of(session, "admin") is None


async def test_login_success_clears_failures(session):
    for _ in range(get_settings().LOGIN_MAX_FAILURES - 1):
        with pytest.raises(InvalidCredentials):
            await login(session, "admin", "wrong")
    assert (await throttle_of(session, "admin")).failures == 4

    await login(session)
    assert await throttle_of(session, "admin") is None

    with pytest.raises(InvalidCredentials):
        await login(session, "admin", "wrong")
    assert (await throttle_of(session, "admin")).failures == 1


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
