"""Promo codes: CRUD, and checking what a code does to an item's price."""

from typing import Literal

from fastapi import APIRouter, status

from backend.api.deps import DEFAULT_LIMIT, Limit, Offset, PromoCodeDep, Search, SessionDep, require_manager
from backend.api.errors import CONFLICT, FORBIDDEN, NOT_FOUND, RULE_VIOLATION, UNAUTHORIZED
from backend.services import course_service, lesson_service, promo_code_service
from shared.schemas import (
    PromoCodeCreate,
    PromoCodeList,
    PromoCodeRead,
    PromoCodeUpdate,
    PromoCodeValidate,
    PromoCodeValidation,
)

router = APIRouter(
    prefix="/promo-codes",
    tags=["promo codes"],
    dependencies=[require_manager],
    responses={**UNAUTHORIZED, **FORBIDDEN, **RULE_VIOLATION},
)

PromoSort = Literal["created_at", "-created_at", "code", "-code", "id", "-id"]


@router.get("/", summary="List promo codes with filters and paging")
async def read_promo_codes(
    session: SessionDep,
    is_active: bool | None = None,
    q: Search = None,
    sort: PromoSort = "-created_at",
    limit: Limit = DEFAULT_LIMIT,
    offset: Offset = 0,
) -> PromoCodeList:
    page = await promo_code_service.get_all(
        session, is_active=is_active, search=q, sort=sort, limit=limit, offset=offset
    )
    return PromoCodeList(
        items=[PromoCodeRead.model_validate(c) for c in page.items],
        total=page.total,
        total_exact=page.total_exact,
        limit=limit,
        offset=offset,
    )


@router.post(
    "/validate",
    summary="What a lesson or course costs with a code, or why the code does not apply",
    responses={**NOT_FOUND},
)
async def validate_promo_code(session: SessionDep, data: PromoCodeValidate) -> PromoCodeValidation:
    if data.lesson_id is not None:
        item = await lesson_service.get(session, data.lesson_id)
    else:
        assert data.course_id is not None
        item = await course_service.get(session, data.course_id)
    quote, refusal = await promo_code_service.validate(session, code=data.code, item=item)
    return PromoCodeValidation(
        code=promo_code_service.normalize(data.code),
        valid=refusal is None,
        reason=refusal.reason if refusal else None,  # type: ignore[arg-type]
        message=refusal.message if refusal else None,
        original_price=quote.original_price,
        discount=quote.discount,
        final_price=quote.final_price,
    )


@router.post("/", summary="Create a promo code", status_code=status.HTTP_201_CREATED, responses={**CONFLICT})
async def create_promo_code(session: SessionDep, data: PromoCodeCreate) -> PromoCodeRead:
    return PromoCodeRead.model_validate(await promo_code_service.create(session, data=data))


@router.get("/{promo_code_id}", summary="A promo code", responses={**NOT_FOUND})
async def read_promo_code(promo: PromoCodeDep) -> PromoCodeRead:
    return PromoCodeRead.model_validate(promo)


@router.put(
    "/{promo_code_id}",
    summary="Update a promo code (only the fields given)",
    responses={**NOT_FOUND, **CONFLICT},
)
async def update_promo_code(session: SessionDep, promo: PromoCodeDep, data: PromoCodeUpdate) -> PromoCodeRead:
    return PromoCodeRead.model_validate(await promo_code_service.update(session, promo, data=data))


@router.delete(
    "/{promo_code_id}",
    summary="Delete a promo code no purchase used (409 otherwise: deactivate it instead)",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={**NOT_FOUND, **CONFLICT},
)
async def delete_promo_code(session: SessionDep, promo: PromoCodeDep) -> None:
    await promo_code_service.delete(session, promo)
