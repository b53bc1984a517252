"""The admin panel's browser sessions, built on auth_service's logins.

A panel login is an ordinary login (same accounts, argon2, throttling, AuthSession row); the browser keeps
the session's refresh token in an HttpOnly cookie and never sends it anywhere else. Each request checks the
server-side row, so logout and revocation end the session at once. The session also ends after
PANEL_IDLE_MINUTES without a request (its updated_at, moved at most once a minute so that reading pages
does not turn every request into a write) and at the row's expires_at, as a refresh token does.
"""

from datetime import timedelta

from sqlalchemy import update as sql_update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.services import auth_service
from backend.services.exceptions import InvalidToken
from shared.config import get_settings
from shared.database import writes
from shared.models import AuthSession
from shared.utils import utcnow

# How stale updated_at may get before a request moves it: the idle limit is this much less precise.
TOUCH_INTERVAL = timedelta(minutes=1)


async def login(session: AsyncSession, *, username: str, password: str, client: str | None) -> str:
    """A new session's cookie value; InvalidCredentials or TooManyAttempts as auth_service.login raises."""
    tokens = await auth_service.login(session, username=username, password=password, client=client)
    return tokens.refresh_token


async def authenticate(session: AsyncSession, cookie: str) -> AuthSession:
    """The live session a cookie names (its admin loaded); InvalidToken if it has ended or is forged."""
    claims = auth_service.decode_token(cookie, expected_type=auth_service.REFRESH)
    auth_session = await auth_service.live_session(session, claims["sid"])
    now = utcnow()
    idle_limit = timedelta(minutes=get_settings().PANEL_IDLE_MINUTES)
    if (
        # Refreshed through the API (the cookie's token leaked or was copied): this cookie is stale.
        auth_session.current_refresh_jti != claims["jti"] or auth_session.updated_at + idle_limit <= now
    ):
        raise InvalidToken("Session has ended; log in again")
    if auth_session.updated_at + TOUCH_INTERVAL <= now:
        await _touch(session, auth_session.id)
    return auth_session


@writes
async def _touch(session: AsyncSession, session_id: str) -> None:
    await session.execute(
        sql_update(AuthSession)
        .where(AuthSession.id == session_id)
        .values(updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )


async def logout(session: AsyncSession, auth_session: AuthSession) -> None:
    """End the session: the cookie, and any token of the same session, stop working."""
    await auth_service.revoke(session, auth_session.id)
