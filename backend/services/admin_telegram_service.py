"""Admins' own Telegram accounts: linking one through a one-time deep link, unlinking it, and the opt-in to
hear about support tickets there.

The panel creates a token and shows it once, in the link `https://t.me/<bot>?start=admin-<token>`; only its
SHA-256 is stored, with an expiry. The bot's /start takes it from the admin's Telegram account, which proves
that the person signed in to the panel holds that account. A token works once. A Telegram account belongs
to one admin at most: linking it to another moves it there.

Admins who linked their account and opted in are told there of the students' support messages (the job
support.notify_admins); support_notifications records who was told of what.
"""

import hashlib
import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from backend.services import audit_service
from backend.services.common import dialect_insert
from backend.services.exceptions import InvalidLinkToken, TelegramNotLinked
from shared.constants import AdminRole
from shared.database import writes
from shared.models import Admin, SupportNotification
from shared.utils import utcnow

logger = logging.getLogger(__name__)

LINK_TOKEN_TTL = timedelta(minutes=10)
# /start's argument: Telegram allows up to 64 characters of A-Z a-z 0-9 _ - in a deep link.
START_PREFIX = "admin-"
TOKEN_PATTERN = r"[A-Za-z0-9_-]{20,58}"  # noqa: S105 (a pattern, not a secret)
_TOKEN_BYTES = 24  # 32 characters in base64url
# The roles that answer support tickets, and so hear about them.
SUPPORT_ROLES = (AdminRole.OWNER, AdminRole.MANAGER, AdminRole.SUPPORT)


@dataclass(frozen=True)
class LinkToken:
    token: str
    expires_at: datetime

    @property
    def start_parameter(self) -> str:
        return f"{START_PREFIX}{self.token}"

    def url(self, bot_username: str) -> str:
        """The deep link that opens the bot with this token."""
        return f"https://t.me/{bot_username}?start={self.start_parameter}"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@writes
async def create_link_token(session: AsyncSession, admin: Admin) -> LinkToken:
    """A new one-time token to link the admin's Telegram account (an earlier one stops working)."""
    token = secrets.token_urlsafe(_TOKEN_BYTES)
    expires_at = utcnow() + LINK_TOKEN_TTL
    admin.telegram_link_token_hash = _hash(token)
    admin.telegram_link_expires_at = expires_at
    await session.flush()
    return LinkToken(token, expires_at)


@writes
async def link(session: AsyncSession, *, token: str, telegram_id: int) -> Admin:
    """Link the Telegram account `telegram_id` to the admin whose token this is, and use the token up;
    InvalidLinkToken if it is unknown, used, expired or its admin deactivated."""
    token_hash = _hash(token)
    admin = await session.scalar(select(Admin).where(Admin.telegram_link_token_hash == token_hash))
    if admin is None or not admin.is_active:
        raise InvalidLinkToken()
    # The admin links their own account: the change is theirs in the audit log, as if made in the panel.
    audit_service.set_actor(session, admin)
    # One use even when the same link arrives twice at once: only one conditional update finds the token.
    used = await session.scalar(
        update(Admin)
        .where(
            Admin.id == admin.id,
            Admin.telegram_link_token_hash == token_hash,
            Admin.telegram_link_expires_at > utcnow(),
        )
        .values(telegram_link_token_hash=None, telegram_link_expires_at=None)
        .returning(Admin.id)
        .execution_options(synchronize_session=False)
    )
    if used is None:
        raise InvalidLinkToken()
    await session.refresh(admin)
    try:
        async with session.begin_nested():
            await _take_account(session, admin, telegram_id)
    except IntegrityError:
        # Another admin took the same account at the same instant (PostgreSQL: its unique key waited for
        # that transaction): now that it is visible, the account moves from them, as if one came after the
        # other.
        await session.refresh(admin)
        async with session.begin_nested():
            await _take_account(session, admin, telegram_id)
    logger.info("Admin %s linked a Telegram account", admin.username)
    return admin


async def _take_account(session: AsyncSession, admin: Admin, telegram_id: int) -> None:
    previous = await session.scalar(
        select(Admin).where(Admin.telegram_id == telegram_id, Admin.id != admin.id)
    )
    if previous is not None:
        previous.telegram_id = None
        previous.notify_support = False
        # Freed before it is taken: the column is unique.
        await session.flush()
        logger.info("Telegram account moved from admin %s to admin %s", previous.username, admin.username)
    admin.telegram_id = telegram_id
    await session.flush()


@writes
async def unlink(session: AsyncSession, admin: Admin) -> Admin:
    """Forget the admin's Telegram account (and so their notifications there)."""
    admin.telegram_id = None
    admin.notify_support = False
    admin.telegram_link_token_hash = None
    admin.telegram_link_expires_at = None
    await session.flush()
    return admin


@writes
async def set_notify_support(session: AsyncSession, admin: Admin, *, enabled: bool) -> Admin:
    """Opt the admin in to (or out of) Telegram notifications of support tickets; TelegramNotLinked to opt
    in without a linked account."""
    if enabled and admin.telegram_id is None:
        raise TelegramNotLinked()
    admin.notify_support = enabled
    await session.flush()
    return admin


async def support_notification_recipients(session: AsyncSession) -> Sequence[Admin]:
    """The active admins who answer tickets, linked their Telegram account and opted in to hear of them."""
    statement = (
        select(Admin)
        .where(
            Admin.is_active,
            Admin.notify_support,
            Admin.telegram_id.is_not(None),
            Admin.role.in_(SUPPORT_ROLES),
        )
        .order_by(Admin.id)
    )
    return (await session.scalars(statement)).all()


@writes
async def claim_support_notification(
    session: AsyncSession, *, admin_id: int, support_message_id: int
) -> bool:
    """Record that the admin is being told of the support message; False if they already were (or are)."""
    statement = (
        dialect_insert(session)(SupportNotification)
        .values(admin_id=admin_id, support_message_id=support_message_id, created_at=utcnow())
        .on_conflict_do_nothing(index_elements=["support_message_id", "admin_id"])
    )
    result = await session.execute(statement)
    return bool(result.rowcount)  # type: ignore[attr-defined]
