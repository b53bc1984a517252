"""Purchases: the sales ledger."""

from typing import Annotated, Literal

from fastapi import APIRouter, Query, status

from backend.api.deps import (
    DEFAULT_LIMIT,
    IdFilter,
    Limit,
    Offset,
    PurchaseDep,
    SessionDep,
    TelegramDep,
    require_manager,
    require_staff,
)
from backend.api.errors import CONFLICT, FORBIDDEN, NOT_FOUND, RULE_VIOLATION, TELEGRAM, UNAUTHORIZED
from backend.services import payment_service, purchase_service
from shared.constants import PurchaseStatus
from shared.schemas import PurchaseCreate, PurchaseList, PurchaseRead, UtcDateTime

router = APIRouter(
    prefix="/purchases",
    tags=["purchases"],
    responses={**UNAUTHORIZED, **FORBIDDEN, **RULE_VIOLATION},
)

PurchaseSort = Literal["created_at", "-created_at", "amount", "-amount", "id", "-id"]


@router.get(
    "/",
    summary="List purchases with filters (user, item, promo code, status, date range) and paging",
    dependencies=[require_staff],
)
async def read_purchases(
    session: SessionDep,
    user_id: IdFilter = None,
    lesson_id: IdFilter = None,
    course_id: IdFilter = None,
    promo_code_id: IdFilter = None,
    status: PurchaseStatus | None = None,
    created_from: Annotated[
        UtcDateTime | None, Query(description="Created at or after (naive = UTC)")
    ] = None,
    created_to: Annotated[UtcDateTime | None, Query(description="Created before (naive = UTC)")] = None,
    sort: PurchaseSort = "-created_at",
    limit: Limit = DEFAULT_LIMIT,
    offset: Offset = 0,
) -> PurchaseList:
    page = await purchase_service.get_all(
        session,
        user_id=user_id,
        lesson_id=lesson_id,
        course_id=course_id,
        promo_code_id=promo_code_id,
        status=status,
        created_from=created_from,
        created_to=created_to,
        sort=sort,
        limit=limit,
        offset=offset,
    )
    return PurchaseList(
        items=[PurchaseRead.model_validate(p) for p in page.items],
        total=page.total,
        total_exact=page.total_exact,
        limit=limit,
        offset=offset,
    )


@router.get("/{purchase_id}", summary="A purchase", dependencies=[require_staff], responses={**NOT_FOUND})
async def read_purchase(purchase: PurchaseDep) -> PurchaseRead:
    return PurchaseRead.model_validate(purchase)


@router.post(
    "/",
    summary="Record a purchase at the current price (promo code applied)",
    status_code=status.HTTP_201_CREATED,
    dependencies=[require_manager],
    responses={**NOT_FOUND, **CONFLICT},
)
async def create_purchase(session: SessionDep, data: PurchaseCreate) -> PurchaseRead:
    return PurchaseRead.model_validate(await purchase_service.create(session, data=data))


router.add_api_route(
    "/create",
    create_purchase,
    methods=["POST"],
    summary="Record a purchase (the spec's documented path; same as POST /api/purchases/)",
    status_code=status.HTTP_201_CREATED,
    dependencies=[require_manager],
    responses={**NOT_FOUND, **CONFLICT},
    operation_id="create_purchase_spec_path",
)


@router.post(
    "/{purchase_id}/refund",
    summary="Refund a purchase paid in Stars: the Stars go back and the access it gave is removed",
    dependencies=[require_manager],
    responses={**NOT_FOUND, **CONFLICT, **TELEGRAM},
)
async def refund_purchase(session: SessionDep, purchase: PurchaseDep, telegram: TelegramDep) -> PurchaseRead:
    refunded = await payment_service.refund(session, purchase, telegram=telegram)
    return PurchaseRead.model_validate(refunded)


@router.post(
    "/{purchase_id}/revoke",
    summary="Revoke a grant (an item given for free): the access it gave is removed",
    dependencies=[require_manager],
    responses={**NOT_FOUND, **CONFLICT},
)
async def revoke_purchase(session: SessionDep, purchase: PurchaseDep) -> PurchaseRead:
    return PurchaseRead.model_validate(await purchase_service.revoke(session, purchase))
