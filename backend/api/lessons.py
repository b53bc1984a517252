"""Lessons: the catalog is public (active lessons, no paid content); changes need an admin."""

from typing import Literal

from fastapi import APIRouter, Response, status

from backend.api.deps import (
    DEFAULT_LIMIT,
    IdPath,
    LessonDep,
    Limit,
    Offset,
    OptionalAdmin,
    PriceFilter,
    Search,
    SessionDep,
    require_manager,
)
from backend.api.errors import CONFLICT, FORBIDDEN, NOT_FOUND, RULE_VIOLATION, UNAUTHORIZED
from backend.services import lesson_service
from backend.services.lesson_service import LessonKind
from shared.schemas import LessonCreate, LessonList, LessonPublic, LessonPublicList, LessonRead, LessonUpdate

router = APIRouter(prefix="/lessons", tags=["lessons"], responses={**RULE_VIOLATION})

LessonSort = Literal["created_at", "-created_at", "price", "-price", "title", "-title", "id", "-id"]


@router.get(
    "/",
    summary="List lessons (anonymous: active ones without paid content; admin: all, with content)",
    response_model=LessonList | LessonPublicList,
    responses={**UNAUTHORIZED},
)
async def read_lessons(
    session: SessionDep,
    admin: OptionalAdmin,
    is_active: bool | None = None,
    is_free: bool | None = None,
    price_min: PriceFilter = None,
    price_max: PriceFilter = None,
    q: Search = None,
    kind: LessonKind | None = None,
    sort: LessonSort = "-created_at",
    limit: Limit = DEFAULT_LIMIT,
    offset: Offset = 0,
) -> Response:
    found = await lesson_service.get_all(
        session,
        is_active=is_active if admin else True,
        is_free=is_free,
        price_min=price_min,
        price_max=price_max,
        search=q,
        kind=kind,
        sort=sort,
        limit=limit,
        offset=offset,
        public=admin is None,
    )
    page: LessonList | LessonPublicList
    if admin:
        page = LessonList(
            items=[LessonRead.model_validate(x) for x in found.items],
            total=found.total,
            total_exact=found.total_exact,
            limit=limit,
            offset=offset,
        )
    else:
        page = LessonPublicList(
            items=[LessonPublic.model_validate(x) for x in found.items],
            total=found.total,
            total_exact=found.total_exact,
            limit=limit,
            offset=offset,
        )
    # The page is valid by construction; returned as is, FastAPI would validate it again against the union
    # of both page types, the costliest step of this hot endpoint.
    return Response(page.model_dump_json(), media_type="application/json")


@router.get(
    "/{lesson_id}",
    summary="A lesson (anonymous: only active ones, without paid content)",
    responses={**UNAUTHORIZED, **NOT_FOUND},
)
async def read_lesson(
    session: SessionDep, admin: OptionalAdmin, lesson_id: IdPath
) -> LessonRead | LessonPublic:
    lesson = await lesson_service.get(session, lesson_id, active_only=admin is None)
    return LessonRead.model_validate(lesson) if admin else LessonPublic.model_validate(lesson)


@router.post(
    "/",
    summary="Create a lesson",
    status_code=status.HTTP_201_CREATED,
    dependencies=[require_manager],
    responses={**UNAUTHORIZED, **FORBIDDEN},
)
async def create_lesson(session: SessionDep, data: LessonCreate) -> LessonRead:
    return LessonRead.model_validate(await lesson_service.create(session, data=data))


@router.put(
    "/{lesson_id}",
    summary="Update a lesson (only the fields given)",
    dependencies=[require_manager],
    responses={**UNAUTHORIZED, **FORBIDDEN, **NOT_FOUND},
)
async def update_lesson(session: SessionDep, lesson: LessonDep, data: LessonUpdate) -> LessonRead:
    return LessonRead.model_validate(await lesson_service.update(session, lesson, data=data))


@router.delete(
    "/{lesson_id}",
    summary="Delete a lesson nobody bought (409 otherwise: deactivate it instead)",
    status_code=status.HTTP_204_NO_CONTENT,
    dependencies=[require_manager],
    responses={**UNAUTHORIZED, **FORBIDDEN, **NOT_FOUND, **CONFLICT},
)
async def delete_lesson(session: SessionDep, lesson: LessonDep) -> None:
    await lesson_service.delete(session, lesson)
