"""Unmatched payments: Stars that Telegram took for no purchase we could record, for the admin to settle."""

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from backend.api.deps import DEFAULT_LIMIT, Limit, Offset, SessionDep, UnmatchedPaymentDep, require_manager
from backend.api.errors import CONFLICT, FORBIDDEN, NOT_FOUND, RULE_VIOLATION, UNAUTHORIZED
from backend.services import payment_service
from shared.constants import MAX_TELEGRAM_ID
from shared.models import UnmatchedPaymentReason
from shared.schemas import UnmatchedPaymentList, UnmatchedPaymentRead, UnmatchedPaymentResolve

router = APIRouter(
    prefix="/unmatched-payments",
    tags=["unmatched payments"],
    dependencies=[require_manager],
    responses={**UNAUTHORIZED, **FORBIDDEN, **RULE_VIOLATION},
)

UnmatchedSort = Literal["created_at", "-created_at", "id", "-id"]


@router.get("/", summary="List payments that match no purchase, with filters (reason, resolved) and paging")
async def read_unmatched_payments(
    session: SessionDep,
    reason: UnmatchedPaymentReason | None = None,
    resolved: Annotated[bool | None, Query(description="Resolved (true) or still open (false)")] = None,
    telegram_user_id: Annotated[int | None, Query(ge=1, le=MAX_TELEGRAM_ID)] = None,
    sort: UnmatchedSort = "-created_at",
    limit: Limit = DEFAULT_LIMIT,
    offset: Offset = 0,
) -> UnmatchedPaymentList:
    page = await payment_service.get_all_unmatched(
        session,
        reason=reason,
        resolved=resolved,
        telegram_user_id=telegram_user_id,
        sort=sort,
        limit=limit,
        offset=offset,
    )
    return UnmatchedPaymentList(
        items=[UnmatchedPaymentRead.model_validate(p) for p in page.items],
        total=page.total,
        total_exact=page.total_exact,
        limit=limit,
        offset=offset,
    )


@router.get("/{unmatched_payment_id}", summary="An unmatched payment", responses={**NOT_FOUND})
async def read_unmatched_payment(unmatched: UnmatchedPaymentDep) -> UnmatchedPaymentRead:
    return UnmatchedPaymentRead.model_validate(unmatched)


@router.post(
    "/{unmatched_payment_id}/resolve",
    summary="Mark an unmatched payment resolved, with a note on what was done (refunded, granted...)",
    responses={**NOT_FOUND, **CONFLICT},
)
async def resolve_unmatched_payment(
    session: SessionDep, unmatched: UnmatchedPaymentDep, data: UnmatchedPaymentResolve
) -> UnmatchedPaymentRead:
    resolved = await payment_service.resolve_unmatched(session, unmatched, resolution=data.resolution)
    return UnmatchedPaymentRead.model_validate(resolved)
