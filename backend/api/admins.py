"""The admin team (owners only): accounts, roles, activity, and a new password for one who forgot theirs."""

from typing import Literal

from fastapi import APIRouter, status

from backend.api.deps import DEFAULT_LIMIT, AdminDep, Limit, Offset, SessionDep, require_owner
from backend.api.errors import CONFLICT, FORBIDDEN, NOT_FOUND, RULE_VIOLATION, UNAUTHORIZED
from backend.services import admin_service
from shared.constants import AdminRole
from shared.schemas import AdminCreate, AdminList, AdminRead, AdminUpdate

router = APIRouter(
    prefix="/admins",
    tags=["admins"],
    dependencies=[require_owner],
    responses={**UNAUTHORIZED, **FORBIDDEN, **RULE_VIOLATION},
)

AdminSort = Literal["username", "-username", "created_at", "-created_at", "id", "-id"]


@router.get("/", summary="List the admins with filters (role, active) and paging")
async def read_admins(
    session: SessionDep,
    role: AdminRole | None = None,
    is_active: bool | None = None,
    sort: AdminSort = "username",
    limit: Limit = DEFAULT_LIMIT,
    offset: Offset = 0,
) -> AdminList:
    page = await admin_service.get_all(
        session, role=role, is_active=is_active, sort=sort, limit=limit, offset=offset
    )
    return AdminList(
        items=[AdminRead.model_validate(a) for a in page.items],
        total=page.total,
        total_exact=page.total_exact,
        limit=limit,
        offset=offset,
    )


@router.post("/", summary="Add an admin", status_code=status.HTTP_201_CREATED, responses={**CONFLICT})
async def create_admin(session: SessionDep, data: AdminCreate) -> AdminRead:
    return AdminRead.model_validate(await admin_service.create(session, data=data))


@router.get("/{admin_id}", summary="An admin", responses={**NOT_FOUND})
async def read_admin(admin: AdminDep) -> AdminRead:
    return AdminRead.model_validate(admin)


@router.patch(
    "/{admin_id}",
    summary="Change an admin's role, activity, language or password (deactivation and a new password end "
    "their sessions; 409 for the last active owner)",
    responses={**NOT_FOUND, **CONFLICT},
)
async def update_admin(session: SessionDep, admin: AdminDep, data: AdminUpdate) -> AdminRead:
    return AdminRead.model_validate(await admin_service.update(session, admin, data=data))
