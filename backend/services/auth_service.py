"""Admin authentication: argon2id passwords, JWT access and refresh tokens, login throttling.

Every token belongs to an AuthSession (its `sid` claim). Refresh tokens rotate: only the newest one of a
session works, and presenting an older one revokes the whole session, since it means the token leaked.
Logout revokes the session, so its access and refresh tokens stop working at once.
"""

import asyncio
import logging
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from types import MappingProxyType
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import bindparam, select
from sqlalchemy import update as sql_update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from backend.services.exceptions import InvalidCredentials, InvalidToken, TooManyAttempts
from shared.config import Settings, get_settings
from shared.database import writes
from shared.inline_reads import InlineReader
from shared.models import Admin, AuthSession, LoginThrottle
from shared.utils import utcnow

logger = logging.getLogger(__name__)

ACCESS = "access"
REFRESH = "refresh"
REQUIRED_CLAIMS = ["exp", "iat", "jti", "sub", "sid", "type"]

_hasher = PasswordHasher()  # argon2id with the library's recommended cost


@dataclass(frozen=True, slots=True)
class IssuedTokens:
    access_token: str
    refresh_token: str
    expires_in: int
    refresh_expires_in: int


def hash_password(password: str) -> str:
    """An argon2id hash of the password."""
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """Whether the password matches the hash (False for a malformed hash)."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    # Verified against when the username is unknown, so both failures take the same time.
    return hash_password(uuid.uuid4().hex)


@writes
async def ensure_admin(session: AsyncSession, *, username: str, password: str) -> Admin:
    """Create the configured admin if missing; follow a password changed in the configuration."""
    admin = await session.scalar(select(Admin).where(Admin.username == username))
    if admin is None:
        admin = Admin(username=username, password_hash=await asyncio.to_thread(hash_password, password))
        session.add(admin)
        try:
            await session.commit()
        except IntegrityError:
            # Another worker created it at the same moment.
            await session.rollback()
            admin = await session.scalar(select(Admin).where(Admin.username == username))
            assert admin is not None
        logger.info("Created admin %s", username)
        return admin
    if not await asyncio.to_thread(verify_password, admin.password_hash, password):
        admin.password_hash = await asyncio.to_thread(hash_password, password)
        await session.commit()
        logger.info("Updated the password of admin %s from the configuration", username)
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
        claims = _verified_claims(token, settings.SECRET_KEY.get_secret_value(), settings.ALGORITHM)
    except jwt.ExpiredSignatureError as error:
        raise InvalidToken("Token has expired") from error
    except jwt.PyJWTError as error:
        raise InvalidToken() from error
    # The signature was checked once; the time is checked at every use, as jwt.decode does.
    if claims["exp"] <= time.time():
        raise InvalidToken("Token has expired")
    if claims.get("type") != expected_type:
        raise InvalidToken(
            f"This is not an {expected_type} token"
            if expected_type == ACCESS
            else "This is not a refresh token"
        )
    return dict(claims)


@lru_cache(maxsize=1024)
def _verified_claims(token: str, key: str, algorithm: str) -> Mapping[str, Any]:
    # Checking the signature is the costliest step of an authenticated request (about 25 microseconds),
    # and an admin panel sends the same access token with every request until it expires. Only tokens that
    # pass are kept, keyed by the token itself (its signature included) and the key that checked it.
    return MappingProxyType(
        jwt.decode(
            token,
            key,
            # Only the configured algorithm: no "none", no switching to another one.
            algorithms=[algorithm],
            options={"require": REQUIRED_CLAIMS},
        )
    )


async def _check_throttle(session: AsyncSession, username: str) -> None:
    throttle = await session.get(LoginThrottle, username)
    if throttle is not None and throttle.locked_until is not None and throttle.locked_until > utcnow():
        retry_after = int((throttle.locked_until - utcnow()).total_seconds()) + 1
        raise TooManyAttempts(
            f"Too many failed login attempts; try again in {retry_after} seconds", retry_after
        )


@writes
async def _record_failure(session: AsyncSession, username: str, settings: Settings) -> None:
    # One atomic upsert, so that concurrent wrong passwords are each counted.
    now = utcnow()
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    counted = (
        insert(LoginThrottle)
        .values(username=username, failures=1, created_at=now, updated_at=now)
        .on_conflict_do_update(
            index_elements=[LoginThrottle.username],
            set_={"failures": LoginThrottle.failures + 1, "updated_at": now},
        )
        .returning(LoginThrottle.failures)
    )
    failures = (await session.execute(counted)).scalar_one()
    if failures >= settings.LOGIN_MAX_FAILURES:
        await session.execute(
            sql_update(LoginThrottle)
            .where(LoginThrottle.username == username)
            .values(locked_until=now + timedelta(minutes=settings.LOGIN_LOCKOUT_MINUTES), failures=0)
        )
        logger.warning("Login for %r locked after repeated failures", username)
    await session.commit()


async def login(session: AsyncSession, *, username: str, password: str) -> IssuedTokens:
    """Tokens for a new session; InvalidCredentials (same for unknown user and wrong password).

    Not a writer as a whole: the slow password check must not hold SQLite's write lock.
    """
    settings = get_settings()
    await _check_throttle(session, username)
    admin = await session.scalar(select(Admin).where(Admin.username == username))
    password_hash = admin.password_hash if admin is not None else _dummy_hash()
    valid = await asyncio.to_thread(verify_password, password_hash, password)
    if admin is None or not valid or not admin.is_active:
        await _record_failure(session, username, settings)
        raise InvalidCredentials()
    return await _start_session(session, admin, settings)


@writes
async def _start_session(session: AsyncSession, admin: Admin, settings: Settings) -> IssuedTokens:
    throttle = await session.get(LoginThrottle, admin.username)
    if throttle is not None:
        await session.delete(throttle)
    refresh_jti = uuid.uuid4().hex
    auth_session = AuthSession(
        id=uuid.uuid4().hex,
        admin_id=admin.id,
        current_refresh_jti=refresh_jti,
        expires_at=utcnow() + timedelta(days=settings.REFRESH_TOKEN_EXPIRE_DAYS),
    )
    session.add(auth_session)
    await session.commit()
    return _issue(auth_session, refresh_jti, settings)


# Built once: every authenticated request looks its session up.
_SESSION_WITH_ADMIN = (
    select(AuthSession)
    .where(AuthSession.id == bindparam("session_id"))
    .options(joinedload(AuthSession.admin))
)


# What _is_live needs, as plain columns (for is_authenticated_inline).
_SESSION_STATE = (
    select(AuthSession.revoked_at, AuthSession.expires_at, Admin.is_active)
    .join(AuthSession.admin)
    .where(AuthSession.id == bindparam("session_id"))
)


def _is_live(revoked_at: datetime | None, expires_at: datetime, admin_is_active: bool) -> bool:
    return revoked_at is None and expires_at > utcnow() and admin_is_active


async def _live_session(session: AsyncSession, session_id: str) -> AuthSession:
    auth_session = await session.scalar(_SESSION_WITH_ADMIN, {"session_id": session_id})
    if auth_session is None or not _is_live(
        auth_session.revoked_at, auth_session.expires_at, auth_session.admin.is_active
    ):
        raise InvalidToken("Session has ended; log in again")
    return auth_session


async def authenticate(session: AsyncSession, access_token: str) -> AuthSession:
    """The live session behind an access token (with its admin loaded); InvalidToken otherwise."""
    claims = decode_token(access_token, expected_type=ACCESS)
    return await _live_session(session, claims["sid"])


def is_authenticated_inline(reader: InlineReader, access_token: str) -> bool:
    """Whether authenticate would accept the token, answered on an InlineReader."""
    try:
        claims = decode_token(access_token, expected_type=ACCESS)
    except InvalidToken:
        return False
    state = reader.first(_SESSION_STATE, {"session_id": claims["sid"]})
    return state is not None and _is_live(state["revoked_at"], state["expires_at"], state["is_active"])


@writes
async def refresh(session: AsyncSession, refresh_token: str) -> IssuedTokens:
    """Rotate a refresh token: a new pair, the old refresh token dead. Reuse revokes the session."""
    settings = get_settings()
    claims = decode_token(refresh_token, expected_type=REFRESH, settings=settings)
    auth_session = await _live_session(session, claims["sid"])
    new_jti = uuid.uuid4().hex
    # Compare-and-swap, so two concurrent refreshes with the same token cannot both succeed.
    rotated = await session.execute(
        sql_update(AuthSession)
        .where(AuthSession.id == auth_session.id, AuthSession.current_refresh_jti == claims["jti"])
        .values(current_refresh_jti=new_jti, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if rotated.rowcount != 1:  # type: ignore[attr-defined]
        await session.rollback()
        await revoke(session, claims["sid"])
        logger.warning("Refresh token reuse for session %s; session revoked", claims["sid"])
        raise InvalidToken("Refresh token was already used; the session has been revoked")
    await session.commit()
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
    await session.commit()
