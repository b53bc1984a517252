"""Admin authentication: argon2id passwords, JWT access and refresh tokens, login throttling.

Every token belongs to an AuthSession (its `sid` claim). Refresh tokens rotate: only the newest one of a
session works, and presenting an older one revokes the whole session, since it means the token leaked.
Logout revokes the session, so its access and refresh tokens stop working at once.

Login throttling counts attempts per username and client address: one client's failures slow only that
client down, for that username. Each attempt is counted as a failure before its password is checked, in a
short write of its own, committed at once: concurrent guesses are counted one after another, so no more
than LOGIN_MAX_FAILURES of them are checked, and argon2 runs outside any transaction. After
LOGIN_MAX_FAILURES failures a client waits LOGIN_LOCKOUT_MINUTES before its next attempt; a client that
logged in to the account before waits LOGIN_KNOWN_CLIENT_DELAY_SECONDS, doubled after each further failure
up to LOGIN_LOCKOUT_MINUTES. Sessions already open, and their tokens, are never throttled.
"""

import asyncio
import ipaddress
import logging
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, TypeVar

import jwt
from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import ColumnElement, bindparam, delete, select
from sqlalchemy import update as sql_update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from backend.services.common import dialect_insert
from backend.services.exceptions import InvalidCredentials, InvalidToken, TooManyAttempts
from shared.config import Settings, get_settings
from shared.constants import AdminRole, Environment
from shared.database import commit_now, writes
from shared.models import CLIENT_ADDRESS_MAX_LENGTH, Admin, AuthSession, LoginThrottle
from shared.utils import utcnow

logger = logging.getLogger(__name__)
_T = TypeVar("_T")

ACCESS = "access"
REFRESH = "refresh"
REQUIRED_CLAIMS = ["exp", "iat", "jti", "sub", "sid", "type"]
# PyJWT checks exp and iat only as far as int() takes them (so "9999999999" passes), and sub and jti only
# in recent versions. A signed claim of another type is still a bad token: a 401, not a TypeError later.
CLAIM_TYPES: dict[str, type | tuple[type, ...]] = {
    "exp": (int, float),
    "iat": (int, float),
    "jti": str,
    "sub": str,
    "sid": str,
    "type": str,
}


@lru_cache
def _hasher_for(environment: Environment) -> PasswordHasher:
    """argon2id at the library's recommended cost; under ENVIRONMENT=test at its cheapest (a profile made for
    test suites, as Rails and Django lower theirs), where thousands of logins took half the suite's time.
    A hash keeps the cost it was made with, so no account made under `test` belongs anywhere else."""
    if environment is Environment.TEST:
        return PasswordHasher.from_parameters(profiles.CHEAPEST)
    return PasswordHasher()


def _hasher() -> PasswordHasher:
    return _hasher_for(get_settings().ENVIRONMENT)


@dataclass(frozen=True, slots=True)
class IssuedTokens:
    access_token: str
    refresh_token: str
    expires_in: int
    refresh_expires_in: int


def hash_password(password: str) -> str:
    """An argon2id hash of the password."""
    return _hasher().hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """Whether the password matches the hash (False for a malformed hash)."""
    try:
        return _hasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


# argon2 runs on threads of its own, never on the event loop. Each hash costs about 0.1 s of CPU and
# 64 MiB, so a flood of guesses (from many addresses, each within its throttle) queues here instead of in
# the default executor, where file writes and the bot's DNS lookups of Telegram's API wait for a thread.
PASSWORD_THREAD_COUNT = 2
PASSWORD_THREADS = ThreadPoolExecutor(max_workers=PASSWORD_THREAD_COUNT, thread_name_prefix="argon2")


async def _on_password_threads(function: Callable[..., _T], *args: Any) -> _T:
    return await asyncio.get_running_loop().run_in_executor(PASSWORD_THREADS, function, *args)


async def password_hash_of(password: str) -> str:
    """hash_password, off the event loop."""
    return await _on_password_threads(hash_password, password)


async def password_matches(password_hash: str, password: str) -> bool:
    """verify_password, off the event loop."""
    return await _on_password_threads(verify_password, password_hash, password)


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    # Verified against when the username is unknown, so both failures take the same time.
    return hash_password(uuid.uuid4().hex)


async def ensure_admin(session: AsyncSession, *, username: str, password: str) -> Admin:
    """Create the configured admin, as an owner, if missing; follow a password changed in the configuration
    until the admin sets one in the app (from then on the app's password stands)."""
    admin = await session.scalar(select(Admin).where(Admin.username == username))
    if admin is not None and (
        admin.password_changed_at is not None or await password_matches(admin.password_hash, password)
    ):
        return admin
    # Hashed before the write begins: argon2 must not hold SQLite's writer lock.
    password_hash = await password_hash_of(password)
    return await _store_admin(session, username=username, password_hash=password_hash)


@writes
async def _store_admin(session: AsyncSession, *, username: str, password_hash: str) -> Admin:
    by_username = select(Admin).where(Admin.username == username).execution_options(populate_existing=True)
    admin = await session.scalar(by_username)
    if admin is not None:
        if admin.password_changed_at is not None:
            return admin  # set in the app meanwhile
        admin.password_hash = password_hash
        await session.flush()
        logger.info("Updated the password of admin %s from the configuration", username)
        return admin
    admin = Admin(username=username, password_hash=password_hash, role=AdminRole.OWNER)
    try:
        async with session.begin_nested():
            session.add(admin)
    except IntegrityError:
        # Another worker created it at the same moment, from the same configuration.
        admin = await session.scalar(by_username)
        assert admin is not None
        return admin
    logger.info("Created admin %s", username)
    return admin


def _encode(claims: dict[str, Any], settings: Settings) -> str:
    return jwt.encode(claims, settings.SECRET_KEY.get_secret_value(), algorithm=settings.ALGORITHM)


def _issue(auth_session: AuthSession, refresh_jti: str, settings: Settings) -> IssuedTokens:
    now = utcnow()
    access_ttl = timedelta(minutes=settings.ACCESS_TOKEN_EXPIRE_MINUTES)
    common = {"sub": str(auth_session.admin_id), "sid": auth_session.id, "iat": now}
    access = _encode({**common, "type": ACCESS, "jti": uuid.uuid4().hex, "exp": now + access_ttl}, settings)
    refresh = _encode(
        {**common, "type": REFRESH, "jti": refresh_jti, "exp": auth_session.expires_at}, settings
    )
    return IssuedTokens(
        access_token=access,
        refresh_token=refresh,
        expires_in=int(access_ttl.total_seconds()),
        refresh_expires_in=max(int((auth_session.expires_at - now).total_seconds()), 0),
    )


def decode_token(token: str, *, expected_type: str, settings: Settings | None = None) -> dict[str, Any]:
    """The claims of a valid, unexpired token of the expected type; InvalidToken otherwise."""
    settings = settings or get_settings()
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            settings.SECRET_KEY.get_secret_value(),
            # Only the configured algorithm: no "none", no switching to another one.
            algorithms=[settings.ALGORITHM],
            options={"require": REQUIRED_CLAIMS},
        )
    except jwt.ExpiredSignatureError as error:
        raise InvalidToken("Token has expired") from error
    except jwt.PyJWTError as error:
        raise InvalidToken() from error
    if not _well_typed(claims):
        raise InvalidToken()
    if claims.get("type") != expected_type:
        raise InvalidToken(
            f"This is not an {expected_type} token"
            if expected_type == ACCESS
            else "This is not a refresh token"
        )
    return claims


def _well_typed(claims: Mapping[str, Any]) -> bool:
    return all(
        isinstance(claims[name], expected) and not isinstance(claims[name], bool)
        for name, expected in CLAIM_TYPES.items()
    )


def _client_key(address: str | None) -> str:
    """How a client is told apart: its IP address, its /64 network for IPv6, "" when it is not known."""
    if not address:
        return ""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:CLIENT_ADDRESS_MAX_LENGTH]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        # An IPv6 host gets a whole /64: counted per address, it could start afresh at will.
        return str(ipaddress.IPv6Network((int(ip) >> 64 << 64, 64)))
    return str(ip)


@dataclass(frozen=True, slots=True)
class _Account:
    id: int
    password_hash: str


def _throttle_of(username: str, client: str) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    return LoginThrottle.username == username, LoginThrottle.client == client


def _refusal(locked_until: datetime, now: datetime) -> TooManyAttempts:
    retry_after = int((locked_until - now).total_seconds()) + 1
    return TooManyAttempts(f"Too many failed login attempts; try again in {retry_after} seconds", retry_after)


def _wait(failures: int, known_client: bool, settings: Settings) -> timedelta:
    lockout = timedelta(minutes=settings.LOGIN_LOCKOUT_MINUTES)
    if not known_client:
        return lockout
    doublings = min(failures - settings.LOGIN_MAX_FAILURES, 32)
    return min(timedelta(seconds=settings.LOGIN_KNOWN_CLIENT_DELAY_SECONDS * 2**doublings), lockout)


async def _refuse_while_waiting(session: AsyncSession, username: str, client: str) -> None:
    # Only a read: a flood of attempts that must wait never queues for the writer's lock.
    locked_until = await session.scalar(
        select(LoginThrottle.locked_until).where(*_throttle_of(username, client))
    )
    now = utcnow()
    if locked_until is not None and locked_until > now:
        raise _refusal(locked_until, now)


@writes
async def _count_attempt(
    session: AsyncSession, username: str, client: str, settings: Settings
) -> _Account | None:
    """Count an attempt as a failure before its password is checked (TooManyAttempts while the client
    must wait); the active account of that username, if there is one.

    Committed at once: the count holds although the login fails, and the password is checked after it.
    """
    now = utcnow()
    # The upsert locks the row until the commit (SQLite's writer lock is held already): concurrent attempts
    # of a client are counted one after another, so at most LOGIN_MAX_FAILURES of them get checked.
    row = (
        await session.execute(
            dialect_insert(session)(LoginThrottle)
            .values(
                username=username, client=client, failures=0, expires_at=now, created_at=now, updated_at=now
            )
            .on_conflict_do_update(
                index_elements=[LoginThrottle.username, LoginThrottle.client], set_={"updated_at": now}
            )
            .returning(
                LoginThrottle.failures,
                LoginThrottle.locked_until,
                LoginThrottle.failures_reset_at,
                LoginThrottle.known_until,
            )
        )
    ).one()
    if row.locked_until is not None and row.locked_until > now:
        raise _refusal(row.locked_until, now)
    counting = row.failures_reset_at is not None and row.failures_reset_at > now
    failures = (row.failures if counting else 0) + 1
    locked_until = None
    if failures >= settings.LOGIN_MAX_FAILURES:
        known_client = row.known_until is not None and row.known_until > now
        locked_until = now + _wait(failures, known_client, settings)
        logger.warning(
            "Login for %r from %r: %d failures, waits until %s", username, client, failures, locked_until
        )
    failures_reset_at = (locked_until or now) + timedelta(minutes=settings.LOGIN_LOCKOUT_MINUTES)
    await session.execute(
        sql_update(LoginThrottle)
        .where(*_throttle_of(username, client))
        .values(
            failures=failures,
            locked_until=locked_until,
            failures_reset_at=failures_reset_at,
            expires_at=max(failures_reset_at, row.known_until or failures_reset_at),
        )
        .execution_options(synchronize_session=False)
    )
    if not counting:
        await _prune_throttles(session, now, settings)
    account = (
        await session.execute(
            select(Admin.id, Admin.password_hash).where(Admin.username == username, Admin.is_active)
        )
    ).one_or_none()
    await commit_now(session)
    return None if account is None else _Account(account.id, account.password_hash)


async def _prune_throttles(session: AsyncSession, now: datetime, settings: Settings) -> None:
    await session.execute(
        delete(LoginThrottle)
        .where(LoginThrottle.expires_at <= now)
        .execution_options(synchronize_session=False)
    )
    # Usernames that are no account can be made up without end, so only the newest of their rows are kept.
    # Dropping the oldest lets a flood restart its own counts, on accounts that do not exist; an account's
    # rows only expire, so no flood wipes a client's count for it. (Counting unknown usernames per client
    # address alone would bound them too, but a client refused for every unknown name and not for a real
    # one would learn which usernames exist.)
    no_account = LoginThrottle.username.not_in(select(Admin.username))
    oldest_kept = await session.scalar(
        select(LoginThrottle.expires_at)
        .where(no_account)
        .order_by(LoginThrottle.expires_at.desc())
        .offset(settings.LOGIN_THROTTLE_MAX_ROWS - 1)
        .limit(1)
    )
    if oldest_kept is not None:
        await session.execute(
            delete(LoginThrottle)
            .where(no_account, LoginThrottle.expires_at < oldest_kept)
            .execution_options(synchronize_session=False)
        )


def _password_matches(account: _Account | None, password: str) -> bool:
    # An unknown username is checked against a dummy hash, so both failures take the same time.
    matches = verify_password(account.password_hash if account is not None else _dummy_hash(), password)
    return matches and account is not None


async def login(
    session: AsyncSession, *, username: str, password: str, client: str | None = None
) -> IssuedTokens:
    """Tokens for a new session; InvalidCredentials (same for unknown user and wrong password), or
    TooManyAttempts while this client (its address, None if unknown) must wait before trying this username.
    """
    settings = get_settings()
    client_key = _client_key(client)
    await _refuse_while_waiting(session, username, client_key)
    account = await _count_attempt(session, username, client_key, settings)
    # This unit of work holds no transaction now: argon2 runs without the writer's lock or a connection.
    if not await _on_password_threads(_password_matches, account, password):
        raise InvalidCredentials()
    assert account is not None
    return await _start_session(session, account, username, client_key, settings)


async def check_own_password(
    session: AsyncSession, admin: Admin, password: str, *, client: str | None = None
) -> bool:
    """Whether a signed-in admin's password is this one, throttled as logins are (the same counts, per
    username and client): TooManyAttempts while this client must wait. A session's holder who does not know
    the password (a borrowed laptop, a stolen cookie) gets no more guesses here than at the login page."""
    settings = get_settings()
    client_key = _client_key(client)
    await _refuse_while_waiting(session, admin.username, client_key)
    account = await _count_attempt(session, admin.username, client_key, settings)
    if account is None or account.id != admin.id:
        return False
    if not await password_matches(account.password_hash, password):
        return False
    await _forget_failures(session, admin.username, client_key)
    return True


@writes
async def _forget_failures(session: AsyncSession, username: str, client: str) -> None:
    await session.execute(
        sql_update(LoginThrottle)
        .where(*_throttle_of(username, client))
        .values(failures=0, locked_until=None, failures_reset_at=None, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )


@writes
async def _start_session(
    session: AsyncSession, account: _Account, username: str, client: str, settings: Settings
) -> IssuedTokens:
    if not await session.scalar(select(Admin.is_active).where(Admin.id == account.id)):
        raise InvalidCredentials()  # deactivated or deleted while its password was being checked
    now = utcnow()
    known_until = now + timedelta(days=settings.LOGIN_KNOWN_CLIENT_DAYS)
    # The client is known from now on, and its failures are forgotten.
    known = {
        "failures": 0,
        "locked_until": None,
        "failures_reset_at": None,
        "known_until": known_until,
        "expires_at": known_until,
        "updated_at": now,
    }
    await session.execute(
        dialect_insert(session)(LoginThrottle)
        .values(username=username, client=client, created_at=now, **known)
        .on_conflict_do_update(index_elements=[LoginThrottle.username, LoginThrottle.client], set_=known)
    )
    refresh_jti = uuid.uuid4().hex
    auth_session = AuthSession(
        id=uuid.uuid4().hex,
        admin_id=account.id,
        current_refresh_jti=refresh_jti,
        expires_at=now + timedelta(days=settings.REFRESH_TOKEN_EXPIRE_DAYS),
    )
    session.add(auth_session)
    await session.flush()
    return _issue(auth_session, refresh_jti, settings)


# Built once: every authenticated request looks its session up.
_SESSION_WITH_ADMIN = (
    select(AuthSession)
    .where(AuthSession.id == bindparam("session_id"))
    .options(joinedload(AuthSession.admin))
)


def _is_live(revoked_at: datetime | None, expires_at: datetime, admin_is_active: bool) -> bool:
    return revoked_at is None and expires_at > utcnow() and admin_is_active


async def live_session(session: AsyncSession, session_id: str) -> AuthSession:
    """The session with this id (its admin loaded) if it has not ended; InvalidToken otherwise."""
    auth_session = await session.scalar(_SESSION_WITH_ADMIN, {"session_id": session_id})
    if auth_session is None or not _is_live(
        auth_session.revoked_at, auth_session.expires_at, auth_session.admin.is_active
    ):
        raise InvalidToken("Session has ended; log in again")
    return auth_session


async def authenticate(session: AsyncSession, access_token: str) -> AuthSession:
    """The live session behind an access token (with its admin loaded); InvalidToken otherwise."""
    claims = decode_token(access_token, expected_type=ACCESS)
    return await live_session(session, claims["sid"])


@writes
async def refresh(session: AsyncSession, refresh_token: str) -> IssuedTokens:
    """Rotate a refresh token: a new pair, the old refresh token dead. Reuse revokes the session."""
    settings = get_settings()
    claims = decode_token(refresh_token, expected_type=REFRESH, settings=settings)
    auth_session = await live_session(session, claims["sid"])
    new_jti = uuid.uuid4().hex
    # Compare-and-swap, so two concurrent refreshes with the same token cannot both succeed.
    rotated = await session.execute(
        sql_update(AuthSession)
        .where(AuthSession.id == auth_session.id, AuthSession.current_refresh_jti == claims["jti"])
        .values(current_refresh_jti=new_jti, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if rotated.rowcount != 1:  # type: ignore[attr-defined]
        await revoke(session, claims["sid"])
        # Kept although this request fails: the token leaked, its session must end.
        await commit_now(session)
        logger.warning("Refresh token reuse for session %s; session revoked", claims["sid"])
        raise InvalidToken("Refresh token was already used; the session has been revoked")
    await session.flush()
    return _issue(auth_session, new_jti, settings)


@writes
async def revoke(session: AsyncSession, session_id: str) -> None:
    """End a session: its access and refresh tokens stop working."""
    await session.execute(
        sql_update(AuthSession)
        .where(AuthSession.id == session_id, AuthSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    await session.flush()


@writes
async def revoke_all(session: AsyncSession, admin_id: int, *, except_session_id: str | None = None) -> None:
    """End every session of an admin (but one, if given): their tokens stop working at once."""
    statement = sql_update(AuthSession).where(
        AuthSession.admin_id == admin_id, AuthSession.revoked_at.is_(None)
    )
    if except_session_id is not None:
        statement = statement.where(AuthSession.id != except_session_id)
    await session.execute(statement.values(revoked_at=utcnow()).execution_options(synchronize_session=False))
