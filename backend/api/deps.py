"""FastAPI dependencies, as Annotated aliases: sessions, the current admin, records by id, paging."""

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, Path, Query, Request, Security
from fastapi.security import OAuth2PasswordBearer, SecurityScopes
from sqlalchemy.ext.asyncio import AsyncSession

from backend.services import (
    admin_service,
    audit_service,
    auth_service,
    broadcast_service,
    course_service,
    lesson_service,
    payment_service,
    promo_code_service,
    purchase_service,
    support_ticket_service,
    user_service,
)
from backend.services.exceptions import InvalidToken
from backend.services.jobs import JobQueue
from backend.services.telegram import Telegram
from shared.constants import DEFAULT_PAGE_SIZE, MAX_OFFSET, MAX_PAGE_SIZE, SEARCH_MAX_LENGTH, AdminRole
from shared.database import session_scope
from shared.models import (
    Admin,
    AuthSession,
    Broadcast,
    Course,
    Lesson,
    PromoCode,
    Purchase,
    SupportTicket,
    UnmatchedPayment,
    User,
)
from shared.schemas import MAX_ID, SafeStr


async def get_session() -> AsyncIterator[AsyncSession]:
    async with session_scope() as session:
        yield session


# The request's unit of work, committed before the response is sent (scope="function"): the client never
# reads before its own write is visible, and a failed commit is the request's error.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


def get_client_address(request: Request) -> str | None:
    # The connection's peer, or the client a trusted proxy names (FORWARDED_ALLOW_IPS, backend/main.py).
    return request.client.host if request.client is not None else None


ClientAddress = Annotated[str | None, Depends(get_client_address)]

oauth2_scheme = OAuth2PasswordBearer(
    tokenUrl="/auth/token",
    auto_error=False,
    # The roles, as scopes: the document lists those of each admin operation. A token is not limited to
    # the scopes asked for at login; the admin's role decides.
    scopes={role.value: f"The {role.value} role" for role in AdminRole},
)
TokenDep = Annotated[str | None, Depends(oauth2_scheme)]


async def get_optional_admin(session: SessionDep, token: TokenDep) -> AuthSession | None:
    """The admin's session when a token is sent; a wrong token is an error, never anonymous access."""
    if token is None:
        return None
    auth_session = await auth_service.authenticate(session, token)
    # Whatever this request writes is the admin's, and lands in the audit log under their name.
    audit_service.set_actor(session, auth_session.admin)
    return auth_session


async def get_current_admin(
    auth_session: Annotated[AuthSession | None, Depends(get_optional_admin)],
) -> AuthSession:
    if auth_session is None:
        raise InvalidToken("Not authenticated")
    return auth_session


OptionalAdmin = Annotated[AuthSession | None, Depends(get_optional_admin)]
CurrentAdmin = Annotated[AuthSession, Depends(get_current_admin)]


async def check_role(scopes: SecurityScopes, current: CurrentAdmin) -> AuthSession:
    """The current admin, if their role is one of the route's (403 otherwise). The role is read from the
    admin's row on every request (the session lookup loads it), so a change applies to issued tokens."""
    admin_service.check_role(current.admin, [AdminRole(scope) for scope in scopes.scopes])
    return current


def require(*roles: AdminRole) -> Any:
    """A route's (or router's) `dependencies=[...]` entry: only these roles, and owners, may call it. The
    roles are OAuth2 scopes of the route, so the OpenAPI document lists them in its security requirement."""
    return Security(check_role, scopes=[AdminRole.OWNER.value, *(role.value for role in roles)])


# What each admin route needs, once per route or router; the OpenAPI document lists it as scopes.
require_owner = require()
require_manager = require(AdminRole.MANAGER)
require_support = require(AdminRole.SUPPORT)
# Reading students and sales: managers and support alike.
require_staff = require(AdminRole.MANAGER, AdminRole.SUPPORT)


def get_telegram(request: Request) -> Telegram | None:
    """The way to Telegram (refunds, ticket answers) wired at startup; None when the bot is off."""
    return getattr(request.app.state, "telegram", None)


TelegramDep = Annotated[Telegram | None, Depends(get_telegram)]

IdPath = Annotated[int, Path(ge=1, le=MAX_ID)]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="Page size")]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Rows to skip")]
Search = Annotated[SafeStr | None, Query(max_length=SEARCH_MAX_LENGTH, description="Text to look for")]
PriceFilter = Annotated[int | None, Query(ge=0, le=1_000_000)]
IdFilter = Annotated[int | None, Query(ge=1, le=MAX_ID)]
DEFAULT_LIMIT = DEFAULT_PAGE_SIZE


async def get_user(session: SessionDep, user_id: IdPath) -> User:
    return await user_service.get(session, user_id)


async def get_lesson(session: SessionDep, lesson_id: IdPath) -> Lesson:
    return await lesson_service.get(session, lesson_id)


async def get_course(session: SessionDep, course_id: IdPath) -> Course:
    return await course_service.get(session, course_id)


async def get_purchase(session: SessionDep, purchase_id: IdPath) -> Purchase:
    return await purchase_service.get(session, purchase_id)


async def get_promo_code(session: SessionDep, promo_code_id: IdPath) -> PromoCode:
    return await promo_code_service.get(session, promo_code_id)


async def get_ticket(session: SessionDep, ticket_id: IdPath) -> SupportTicket:
    return await support_ticket_service.get(session, ticket_id)


UserDep = Annotated[User, Depends(get_user)]
LessonDep = Annotated[Lesson, Depends(get_lesson)]
CourseDep = Annotated[Course, Depends(get_course)]
PurchaseDep = Annotated[Purchase, Depends(get_purchase)]
PromoCodeDep = Annotated[PromoCode, Depends(get_promo_code)]
TicketDep = Annotated[SupportTicket, Depends(get_ticket)]


async def get_unmatched_payment(session: SessionDep, unmatched_payment_id: IdPath) -> UnmatchedPayment:
    return await payment_service.get_unmatched(session, unmatched_payment_id)


UnmatchedPaymentDep = Annotated[UnmatchedPayment, Depends(get_unmatched_payment)]


async def get_admin(session: SessionDep, admin_id: IdPath) -> Admin:
    return await admin_service.get(session, admin_id)


AdminDep = Annotated[Admin, Depends(get_admin)]


def get_jobs(request: Request) -> JobQueue | None:
    """The job queue wired at startup (backend.main's lifespan); None where nothing wired one."""
    return getattr(request.app.state, "jobs", None)


JobsDep = Annotated[JobQueue | None, Depends(get_jobs)]


async def get_broadcast(session: SessionDep, broadcast_id: IdPath) -> Broadcast:
    return await broadcast_service.get(session, broadcast_id)


BroadcastDep = Annotated[Broadcast, Depends(get_broadcast)]
