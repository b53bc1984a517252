"""The admin team: accounts, roles, passwords and each admin's panel language.

The store always keeps an active owner: the last one can be neither demoted nor deactivated. Passwords are
hashed (argon2, slow on purpose) before the write begins, so no writer's lock is held meanwhile; a new
password or a deactivation ends the admin's sessions at once. Which role each route needs is the edges'
business (the API's and the panel's role dependencies); check_role is the rule they apply.
"""

import logging
from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from backend.services import auth_service
from backend.services.common import PageResult, paginate, sort_order, violates
from backend.services.exceptions import (
    AdminNotFound,
    DuplicateAdminUsername,
    LastOwner,
    RoleRequired,
    WrongCurrentPassword,
)
from shared.constants import AdminRole
from shared.database import writes
from shared.models import Admin, AuthSession
from shared.schemas import AdminCreate, AdminUpdate, OwnSettingsUpdate
from shared.utils import utcnow

logger = logging.getLogger(__name__)

SORT_COLUMNS = {"username": Admin.username, "created_at": Admin.created_at, "id": Admin.id}


def check_role(admin: Admin, allowed: Iterable[AdminRole]) -> None:
    """Owners may do everything; anyone else only what one of the allowed roles may (RoleRequired)."""
    allowed = [AdminRole(role) for role in allowed if role != AdminRole.OWNER]
    if admin.role is not AdminRole.OWNER and admin.role not in allowed:
        raise RoleRequired(allowed or [AdminRole.OWNER], admin.role.value)


async def get(session: AsyncSession, admin_id: int) -> Admin:
    """The admin with this id, or AdminNotFound."""
    admin = await session.get(Admin, admin_id)
    if admin is None:
        raise AdminNotFound(admin_id)
    return admin


async def get_all(
    session: AsyncSession,
    *,
    role: AdminRole | None = None,
    is_active: bool | None = None,
    sort: str = "username",
    limit: int,
    offset: int,
) -> PageResult[Admin]:
    """A page of admins matching the filters."""
    filters = []
    if role is not None:
        filters.append(Admin.role == role)
    if is_active is not None:
        filters.append(Admin.is_active == is_active)
    return await paginate(
        session,
        Admin,
        filters=filters,
        order_by=sort_order(sort, SORT_COLUMNS, Admin.id),
        limit=limit,
        offset=offset,
    )


async def create(session: AsyncSession, *, data: AdminCreate) -> Admin:
    """Add an admin; DuplicateAdminUsername if the name is taken (whatever its case)."""
    password_hash = await auth_service.password_hash_of(data.password)
    return await _insert(session, data=data, password_hash=password_hash)


@writes
async def _insert(session: AsyncSession, *, data: AdminCreate, password_hash: str) -> Admin:
    # Names differing only in case would be told apart at login but not by people.
    if await session.scalar(select(Admin.id).where(func.lower(Admin.username) == data.username.lower())):
        raise DuplicateAdminUsername(data.username)
    admin = Admin(username=data.username, password_hash=password_hash, role=data.role, language=data.language)
    try:
        async with session.begin_nested():
            session.add(admin)
    except IntegrityError as error:
        if violates(error, "username"):
            raise DuplicateAdminUsername(data.username) from error
        raise
    logger.info("Created admin %s (%s)", admin.username, admin.role.value)
    return admin


async def update(session: AsyncSession, admin: Admin, *, data: AdminUpdate) -> Admin:
    """Change an admin's role, activity, language or password (only the fields given); LastOwner if the
    store would be left without an active owner. Deactivation and a new password end their sessions."""
    changes = data.model_dump(exclude_unset=True)
    password = changes.pop("password", None)
    password_hash = None if password is None else await auth_service.password_hash_of(password)
    return await _apply(session, admin, changes=changes, password_hash=password_hash)


@writes
async def _apply(
    session: AsyncSession, admin: Admin, *, changes: dict[str, object], password_hash: str | None
) -> Admin:
    stays_owner = changes.get("role", admin.role) is AdminRole.OWNER and changes.get(
        "is_active", admin.is_active
    )
    if not stays_owner and admin.role is AdminRole.OWNER and admin.is_active:
        await _check_other_owner(session, admin)
    for field, value in changes.items():
        setattr(admin, field, value)
    if password_hash is not None:
        admin.password_hash = password_hash
        admin.password_changed_at = utcnow()
    await session.flush()
    if password_hash is not None or changes.get("is_active") is False:
        await auth_service.revoke_all(session, admin.id)
    return admin


async def _check_other_owner(session: AsyncSession, admin: Admin) -> None:
    # The active owners' rows stay locked until the commit (PostgreSQL): two owners demoting each other at
    # once are then checked one after the other, and the second finds no other owner left.
    owners = await session.scalars(
        select(Admin.id).where(Admin.role == AdminRole.OWNER, Admin.is_active).with_for_update()
    )
    if not set(owners) - {admin.id}:
        raise LastOwner()


async def change_password(
    session: AsyncSession,
    current: AuthSession,
    *,
    current_password: str,
    new_password: str,
    client: str | None = None,
) -> Admin:
    """Change the signed-in admin's own password; WrongCurrentPassword if the current one does not match,
    TooManyAttempts after too many wrong ones from this client (counted as failed logins are). Their other
    sessions end; this one goes on."""
    admin = current.admin
    # argon2 outside any write, as at login.
    if not await auth_service.check_own_password(session, admin, current_password, client=client):
        raise WrongCurrentPassword()
    password_hash = await auth_service.password_hash_of(new_password)
    return await _set_password(session, admin, password_hash=password_hash, keep_session_id=current.id)


@writes
async def _set_password(
    session: AsyncSession, admin: Admin, *, password_hash: str, keep_session_id: str
) -> Admin:
    admin.password_hash = password_hash
    admin.password_changed_at = utcnow()
    await session.flush()
    await auth_service.revoke_all(session, admin.id, except_session_id=keep_session_id)
    return admin


@writes
async def update_own(session: AsyncSession, admin: Admin, *, data: OwnSettingsUpdate) -> Admin:
    """Change what an admin may change of their own account (the panel's language)."""
    for field, value in data.model_dump(exclude_unset=True).items():
        setattr(admin, field, value)
    await session.flush()
    return admin
