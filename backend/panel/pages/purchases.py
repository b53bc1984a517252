"""The panel's purchases pages: the filtered list with refunds and revocations, its CSV export (streamed),
and the unmatched payments that reconciliation found."""

import codecs
import csv
import io
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any, Literal

from fastapi import Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from starlette.datastructures import URL

from backend.api.deps import IdPath, SessionDep, get_telegram
from backend.api.errors import http_status_for
from backend.api.purchases import PurchaseSort
from backend.panel.deps import MANAGER, ManagerSession, StaffSession
from backend.panel.errors import error_page
from backend.panel.forms import field_errors, posted
from backend.panel.pages import page_router
from backend.panel.routes import safe_next
from backend.panel.templating import language_of, panel_translator, redirect, render
from backend.services import payment_service, purchase_service
from backend.services.exceptions import (
    BotNotConfigured,
    InvalidPurchaseTransition,
    NotAGrant,
    RefundRefused,
    TelegramUnavailable,
)
from shared.constants import MAX_OFFSET, PurchaseStatus
from shared.database import session_scope
from shared.models import Purchase, UnmatchedPaymentReason
from shared.schemas import MAX_ID, UnmatchedPaymentResolve

router = page_router("/purchases")

LIST_PATH = "/admin/purchases"
UNMATCHED_PATH = f"{LIST_PATH}/unmatched"
LIMIT = 50
# Rows read from the database per batch of the CSV export: one batch in memory at a time.
EXPORT_BATCH_SIZE = 500
# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
FilterId = Annotated[int, Field(ge=1, le=MAX_ID)]
EXPORT_COLUMNS = (
    "id",
    "created_at",
    "status",
    "amount",
    "item_type",
    "item_id",
    "item_title",
    "user_id",
    "telegram_id",
    "student_name",
    "username",
    "promo_code_id",
    "payment_id",
    "telegram_payment_charge_id",
    "granted_by_id",
    "refund_reason",
)


class PurchaseFilters(BaseModel):
    """The list's filters as the browser sends them (a date range of whole days, in UTC)."""

    model_config = ConfigDict(extra="ignore")

    status: PurchaseStatus | None = None
    date_from: date | None = None
    date_to: date | None = None
    lesson_id: FilterId | None = None
    course_id: FilterId | None = None
    user_id: FilterId | None = None
    sort: PurchaseSort = "-created_at"
    offset: Annotated[int, Field(ge=0, le=MAX_OFFSET)] = 0

    @model_validator(mode="after")
    def _range_in_order(self) -> "PurchaseFilters":
        if self.date_from and self.date_to and self.date_to < self.date_from:
            raise ValueError("date_to")
        return self

    def service_filters(self) -> dict[str, Any]:
        """The keyword arguments of purchase_service.get_all / iter_batches (the end day included)."""
        return {
            "user_id": self.user_id,
            "lesson_id": self.lesson_id,
            "course_id": self.course_id,
            "status": self.status,
            "created_from": datetime.combine(self.date_from, time.min, UTC) if self.date_from else None,
            "created_to": (
                datetime.combine(self.date_to + timedelta(days=1), time.min, UTC) if self.date_to else None
            ),
            "sort": self.sort,
        }


def _query_filters(request: Request) -> tuple[PurchaseFilters, dict[str, str], dict[str, str]]:
    """The filters of the page's query, what was typed (to show again), and the errors per field."""
    typed = {
        key: value.strip()
        for key, value in request.query_params.items()
        if key in PurchaseFilters.model_fields
    }
    given = {key: value for key, value in typed.items() if value != ""}
    try:
        return PurchaseFilters.model_validate(given), typed, {}
    except ValidationError as error:
        errors = field_errors(request, error)
        if "__all__" in errors:
            errors["date_to"] = panel_translator(language_of(request)).plain("purchases-error-range")
            del errors["__all__"]
        return PurchaseFilters(), typed, errors


@router.get("")
async def list_purchases(request: Request, session: SessionDep, _auth: StaffSession) -> Response:
    filters, typed, errors = _query_filters(request)
    page = None
    if not errors:
        page = await purchase_service.get_all(
            session,
            **filters.service_filters(),
            limit=LIMIT,
            offset=filters.offset,
            with_items=True,
            with_users=True,
        )
    context = {
        "page": page,
        "filters": filters,
        "typed": typed,
        "errors": errors,
        "limit": LIMIT,
        "statuses": list(PurchaseStatus),
        "manager": request.state.panel_user.may(MANAGER),
        "export_url": _export_url(request),
        "here": str(request.url.path) + (f"?{request.url.query}" if request.url.query else ""),
        "tab": "purchases",
    }
    return render(request, "purchases/list.html", context, status_code=422 if errors else 200)


def _export_url(request: Request) -> str:
    """The CSV export of what the list shows: its filters and order, every page."""
    params = {key: value for key, value in request.query_params.items() if key != "offset" and value != ""}
    return str(URL(f"{LIST_PATH}/export.csv").include_query_params(**params))


def _cell(value: object) -> object:
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _row(purchase: Purchase) -> list[object]:
    user = purchase.user
    item = purchase.lesson or purchase.course
    name = " ".join(part for part in (user.first_name, user.last_name) if part)
    return [
        _cell(value)
        for value in (
            purchase.id,
            purchase.created_at.isoformat(),
            purchase.status.value,
            purchase.amount,
            "lesson" if purchase.lesson_id is not None else "course",
            purchase.lesson_id or purchase.course_id,
            item.title if item is not None else "",
            purchase.user_id,
            user.telegram_id,
            name,
            user.username or "",
            purchase.promo_code_id or "",
            purchase.payment_id,
            purchase.telegram_payment_charge_id or "",
            purchase.granted_by_id or "",
            purchase.refund_reason or "",
        )
    ]


async def _csv(filters: PurchaseFilters) -> AsyncIterator[bytes]:
    """The CSV file, a batch of rows at a time: UTF-8 with a BOM (so that Excel reads it as UTF-8)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(EXPORT_COLUMNS)
    yield codecs.BOM_UTF8 + buffer.getvalue().encode("utf-8")
    # Its own unit of work: the request's has ended when the body is sent.
    async with session_scope() as session:
        async for batch in purchase_service.iter_batches(
            session, **filters.service_filters(), batch_size=EXPORT_BATCH_SIZE
        ):
            buffer.seek(0)
            buffer.truncate()
            writer.writerows(_row(purchase) for purchase in batch)
            yield buffer.getvalue().encode("utf-8")


@router.get("/export.csv")
async def export_purchases(request: Request, _auth: StaffSession) -> Response:
    filters, _typed, errors = _query_filters(request)
    if errors:
        return error_page(request, 422)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return StreamingResponse(
        _csv(filters),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="purchases-{stamp}.csv"'},
    )


def _back(form: dict[str, Any], default: str) -> str:
    target = form.get("next")
    return safe_next(target if isinstance(target, str) else None) if target else default


def _refused(request: Request, error: Exception, back: str, title_key: str) -> Response:
    assert isinstance(
        error, (RefundRefused, BotNotConfigured, TelegramUnavailable, NotAGrant, InvalidPurchaseTransition)
    )
    return render(
        request,
        "purchases/refused.html",
        {"title_key": title_key, "message": str(error), "back": back},
        status_code=http_status_for(error),
    )


@router.post("/{purchase_id}/refund")
async def refund_purchase(
    request: Request, session: SessionDep, _auth: ManagerSession, purchase_id: IdPath
) -> Response:
    purchase = await purchase_service.get(session, purchase_id)
    back = _back(await posted(request), LIST_PATH)
    try:
        # The same service and Telegram gateway as POST /api/purchases/{id}/refund.
        await payment_service.refund(session, purchase, telegram=get_telegram(request))
    except (RefundRefused, BotNotConfigured, TelegramUnavailable) as error:
        return _refused(request, error, back, "purchases-refund-refused")
    return redirect(back, flash="flash-purchases-refunded")


@router.post("/{purchase_id}/revoke")
async def revoke_purchase(
    request: Request, session: SessionDep, _auth: ManagerSession, purchase_id: IdPath
) -> Response:
    purchase = await purchase_service.get(session, purchase_id)
    back = _back(await posted(request), LIST_PATH)
    try:
        await purchase_service.revoke(session, purchase)
    except (NotAGrant, InvalidPurchaseTransition) as error:
        return _refused(request, error, back, "purchases-revoke-refused")
    return redirect(back, flash="flash-purchases-revoked")


# Unmatched payments -----------------------------------------------------------------------------------

UnmatchedState = Literal["open", "resolved", "all"]


class UnmatchedFilters(BaseModel):
    model_config = ConfigDict(extra="ignore")

    state: UnmatchedState = "open"
    reason: UnmatchedPaymentReason | None = None
    offset: Annotated[int, Field(ge=0, le=MAX_OFFSET)] = 0


async def _unmatched_page(
    request: Request,
    session: SessionDep,
    *,
    typed_resolution: dict[int, str] | None = None,
    resolution_errors: dict[int, str] | None = None,
    status_code: int = 200,
) -> Response:
    given = {key: value for key, value in request.query_params.items() if value != ""}
    try:
        filters, errors = UnmatchedFilters.model_validate(given), {}
    except ValidationError as error:
        filters, errors = UnmatchedFilters(), field_errors(request, error)
    page = None
    if not errors:
        resolved = {"open": False, "resolved": True, "all": None}[filters.state]
        page = await payment_service.get_all_unmatched(
            session, reason=filters.reason, resolved=resolved, limit=LIMIT, offset=filters.offset
        )
    context = {
        "page": page,
        "filters": filters,
        "errors": errors,
        "limit": LIMIT,
        "reasons": list(UnmatchedPaymentReason),
        "typed_resolution": typed_resolution or {},
        "resolution_errors": resolution_errors or {},
        "here": str(request.url.path) + (f"?{request.url.query}" if request.url.query else ""),
        "manager": True,
        "tab": "unmatched",
    }
    return render(request, "purchases/unmatched.html", context, status_code=422 if errors else status_code)


@router.get("/unmatched")
async def list_unmatched(request: Request, session: SessionDep, _auth: ManagerSession) -> Response:
    return await _unmatched_page(request, session)


@router.post("/unmatched/{unmatched_payment_id}/resolve")
async def resolve_unmatched(
    request: Request, session: SessionDep, _auth: ManagerSession, unmatched_payment_id: IdPath
) -> Response:
    unmatched = await payment_service.get_unmatched(session, unmatched_payment_id)
    form = await posted(request)
    resolution = form.get("resolution")
    try:
        # Left empty, it is missing ("required"), not a text too short.
        data = UnmatchedPaymentResolve.model_validate({"resolution": resolution} if resolution else {})
    except ValidationError as error:
        message = field_errors(request, error).get("resolution") or next(
            iter(field_errors(request, error).values())
        )
        return await _unmatched_page(
            request,
            session,
            typed_resolution={unmatched.id: resolution if isinstance(resolution, str) else ""},
            resolution_errors={unmatched.id: message},
            status_code=422,
        )
    # The same service as POST /api/unmatched-payments/{id}/resolve; resolving twice is a 409 page.
    await payment_service.resolve_unmatched(session, unmatched, resolution=data.resolution)
    return redirect(_back(form, UNMATCHED_PATH), flash="flash-purchases-unmatched-resolved")
