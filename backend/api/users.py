"""Users (students) of the store."""

from typing import Annotated, Literal

from fastapi import APIRouter, Query, status

from backend.api.deps import (
    DEFAULT_LIMIT,
    CurrentAdmin,
    IdPath,
    Limit,
    Offset,
    Search,
    SessionDep,
    UserDep,
    require_manager,
    require_staff,
)
from backend.api.errors import CONFLICT, FORBIDDEN, NOT_FOUND, RULE_VIOLATION, UNAUTHORIZED
from backend.services import purchase_service, user_service
from shared.constants import LANGUAGE_CODE_MAX_LENGTH, MAX_TELEGRAM_ID
from shared.schemas import (
    GrantCreate,
    PurchaseList,
    PurchaseRead,
    SafeStr,
    UserCreate,
    UserList,
    UserRead,
    UserUpdate,
)

router = APIRouter(
    prefix="/users",
    tags=["users"],
    responses={**UNAUTHORIZED, **FORBIDDEN, **RULE_VIOLATION},
)

UserSort = Literal["created_at", "-created_at", "first_name", "-first_name", "id", "-id"]


@router.get(
    "/",
    summary="List users, newest first, with filters and paging (q: a name, @username or Telegram id)",
    dependencies=[require_staff],
)
async def read_users(
    session: SessionDep,
    is_active: bool | None = None,
    q: Search = None,
    language_code: Annotated[SafeStr | None, Query(max_length=LANGUAGE_CODE_MAX_LENGTH)] = None,
    telegram_id: Annotated[
        int | None, Query(ge=1, le=MAX_TELEGRAM_ID, description="Find by Telegram id")
    ] = None,
    sort: UserSort = "-created_at",
    limit: Limit = DEFAULT_LIMIT,
    offset: Offset = 0,
) -> UserList:
    page = await user_service.get_all(
        session,
        is_active=is_active,
        search=q,
        language_code=language_code,
        telegram_id=telegram_id,
        sort=sort,
        limit=limit,
        offset=offset,
    )
    return UserList(
        items=[UserRead.model_validate(u) for u in page.items],
        total=page.total,
        total_exact=page.total_exact,
        limit=limit,
        offset=offset,
    )


@router.post(
    "/",
    summary="Register a user",
    status_code=status.HTTP_201_CREATED,
    dependencies=[require_manager],
    responses={**CONFLICT},
)
async def create_user(session: SessionDep, data: UserCreate) -> UserRead:
    return UserRead.model_validate(await user_service.create(session, data=data))


@router.get("/{user_id}", summary="A user's profile", dependencies=[require_staff], responses={**NOT_FOUND})
async def read_user(user: UserDep) -> UserRead:
    return UserRead.model_validate(user)


@router.put(
    "/{user_id}",
    summary="Update a user (only the fields given)",
    dependencies=[require_manager],
    responses={**NOT_FOUND},
)
async def update_user(session: SessionDep, user: UserDep, data: UserUpdate) -> UserRead:
    return UserRead.model_validate(await user_service.update(session, user, data=data))


@router.get(
    "/{user_id}/purchases",
    summary="A user's purchases, newest first",
    dependencies=[require_staff],
    responses={**NOT_FOUND},
)
async def read_user_purchases(
    session: SessionDep, user_id: IdPath, limit: Limit = DEFAULT_LIMIT, offset: Offset = 0
) -> PurchaseList:
    page = await purchase_service.get_all(
        session, user_id=user_id, limit=limit, offset=offset, check_user=True
    )
    return PurchaseList(
        items=page.items,  # type: ignore[arg-type]
        total=page.total,
        total_exact=page.total_exact,
        limit=limit,
        offset=offset,
    )


@router.post(
    "/{user_id}/grants",
    summary="Give the user a lesson or course for free (a completed purchase of 0 Stars, by this admin)",
    status_code=status.HTTP_201_CREATED,
    dependencies=[require_manager],
    responses={**NOT_FOUND, **CONFLICT},
)
async def grant_item(
    session: SessionDep, user_id: IdPath, data: GrantCreate, current: CurrentAdmin
) -> PurchaseRead:
    purchase = await purchase_service.grant(session, user_id=user_id, data=data, admin_id=current.admin.id)
    return PurchaseRead.model_validate(purchase)
