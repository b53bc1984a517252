"""The panel's promo codes pages: the list (uses against the limit), the form, deactivation, and a code's
page with the purchases that used it."""

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import Depends, Request
from fastapi.responses import Response
from pydantic import ValidationError

from backend.api.deps import IdPath, Offset, Search, SessionDep
from backend.panel.deps import ManagerSession
from backend.panel.forms import YesNoFilter, field_errors, posted, yes_no
from backend.panel.pages import page_router
from backend.panel.routes import ShowPage
from backend.panel.templating import language_of, panel_translator, redirect, render
from backend.services import promo_code_service, purchase_service
from backend.services.exceptions import DuplicatePromoCode, RuleViolation
from shared.models import PromoCode
from shared.schemas import PromoCodeCreate, PromoCodeUpdate
from shared.utils import as_utc, utcnow

router = page_router("/promo-codes")

LIST_PATH = "/admin/promo-codes"
PAGE_SIZE = 50
PromoSort = Literal["created_at", "-created_at", "code", "-code", "id", "-id"]
DISCOUNT_KINDS = ("percent", "amount")
# <input type="datetime-local"> speaks minutes, without a zone: the form's times are UTC.
FORM_TIME = "%Y-%m-%dT%H:%M"


async def get_promo_code(session: SessionDep, promo_code_id: IdPath) -> PromoCode:
    return await promo_code_service.get(session, promo_code_id)


PromoCodeDep = Annotated[PromoCode, Depends(get_promo_code)]


def _promo_url(promo: PromoCode, page: str = "") -> str:
    return f"{LIST_PATH}/{promo.id}{page}"


def _status(promo: PromoCode, now: datetime) -> str:
    """What the code is now, as a catalog key: inactive, expired, used up or usable."""
    if not promo.is_active:
        return "promo-status-inactive"
    if promo.expires_at is not None and as_utc(promo.expires_at) <= now:
        return "promo-status-expired"
    if promo.max_uses is not None and promo.current_uses >= promo.max_uses:
        return "promo-status-used-up"
    return "promo-status-active"


def _form_values(promo: PromoCode | None) -> dict[str, Any]:
    if promo is None:
        return {
            "code": "",
            "discount_kind": "percent",
            "discount": "",
            "max_uses": "",
            "expires_at": "",
            "is_active": True,
        }
    amount = promo.discount_amount is not None
    return {
        "code": promo.code,
        "discount_kind": "amount" if amount else "percent",
        "discount": promo.discount_amount if amount else promo.discount_percent,
        "max_uses": promo.max_uses if promo.max_uses is not None else "",
        "expires_at": as_utc(promo.expires_at).strftime(FORM_TIME) if promo.expires_at else "",
        "is_active": promo.is_active,
    }


async def _posted_promo(request: Request) -> tuple[dict[str, Any], dict[str, Any]]:
    """The form as typed (to show again), and as the API's schema reads it: one discount field of the
    chosen kind, empty optional fields as none, a box left unticked as false."""
    values = await posted(request)
    values.pop("csrf_token", None)
    values["is_active"] = values.get("is_active") == "true"
    kind = values.get("discount_kind")
    data: dict[str, Any] = {
        "code": values.get("code", ""),
        "max_uses": values.get("max_uses") or None,
        "expires_at": values.get("expires_at") or None,
        "is_active": values["is_active"],
    }
    discount = values.get("discount") or None
    if kind == "amount":
        data |= {"discount_amount": discount, "discount_percent": 0}
    elif discount is not None:
        data |= {"discount_percent": discount, "discount_amount": None}
    return values, data


def _errors(request: Request, error: ValidationError) -> dict[str, str]:
    """The schema's errors under the form's fields: the two discount fields are one, and the rule that a
    code has one kind of discount is said in the page's language."""
    t = panel_translator(language_of(request)).plain
    errors = field_errors(request, error)
    for field in ("discount_percent", "discount_amount"):
        if field in errors:
            errors.setdefault("discount", errors.pop(field))
    if "__all__" in errors:
        errors.pop("__all__")
        errors.setdefault("discount", t("promo-error-discount"))
    return errors


class _FormErrors(Exception):
    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__()
        self.errors = errors


def _validated(request: Request, values: dict[str, Any], data: dict[str, Any]) -> PromoCodeCreate:
    """The form as the API's schema reads it; _FormErrors when the discount kind is none of ours."""
    errors: dict[str, str] = {}
    if values.get("discount_kind") not in DISCOUNT_KINDS:
        errors["discount_kind"] = panel_translator(language_of(request)).plain("form-error-literal-error")
    try:
        checked = PromoCodeCreate.model_validate(data, strict=False)
    except ValidationError as error:
        raise _FormErrors(_errors(request, error) | errors) from error
    if errors:
        raise _FormErrors(errors)
    return checked


def _render_form(
    request: Request,
    promo: PromoCode | None,
    values: dict[str, Any],
    errors: dict[str, str] | None = None,
    *,
    status_code: int = 200,
) -> Response:
    # The code's id and text as plain values: after a refused write the row's attributes may be expired.
    saved = {"id": promo.id, "code": promo.code} if promo is not None else None
    return render(
        request,
        "promo_codes/form.html",
        {"promo": saved, "values": _form_values(None) | values, "errors": errors or {}},
        status_code=status_code,
    )


def _duplicate(request: Request, saved: dict[str, Any] | None, values: dict[str, Any]) -> ShowPage:
    t = panel_translator(language_of(request)).plain
    return ShowPage(
        render(
            request,
            "promo_codes/form.html",
            {
                "promo": saved,
                "values": _form_values(None) | values,
                "errors": {"code": t("promo-error-duplicate")},
            },
            status_code=422,
        )
    )


@router.get("")
async def read_promo_codes(
    request: Request,
    session: SessionDep,
    _auth: ManagerSession,
    q: Search = None,
    is_active: YesNoFilter = "",
    sort: PromoSort = "-created_at",
    offset: Offset = 0,
) -> Response:
    page = await promo_code_service.get_all(
        session,
        is_active=yes_no(is_active),
        search=q,
        sort=sort,
        limit=PAGE_SIZE,
        offset=offset,
    )
    now = utcnow()
    return render(
        request,
        "promo_codes/list.html",
        {
            "page": page,
            "rows": [(promo, _status(promo, now)) for promo in page.items],
            "q": q or "",
            "is_active": is_active,
            "sort": sort,
            "offset": offset,
            "limit": PAGE_SIZE,
        },
    )


@router.get("/new")
async def new_promo_code(request: Request, _auth: ManagerSession) -> Response:
    return _render_form(request, None, _form_values(None))


@router.post("/new")
async def create_promo_code(request: Request, session: SessionDep, _auth: ManagerSession) -> Response:
    values, data = await _posted_promo(request)
    try:
        create = _validated(request, values, data)
    except ValidationError as error:
        return _render_form(request, None, values, _errors(request, error), status_code=422)
    except _FormErrors as error:
        return _render_form(request, None, values, error.errors, status_code=422)
    try:
        promo = await promo_code_service.create(session, data=create)
    except DuplicatePromoCode as error:
        raise _duplicate(request, None, values) from error
    return redirect(_promo_url(promo), flash="flash-promo-code-created")


@router.get("/{promo_code_id}")
async def read_promo_code(
    request: Request, session: SessionDep, _auth: ManagerSession, promo: PromoCodeDep, offset: Offset = 0
) -> Response:
    purchases = await purchase_service.get_all(
        session, promo_code_id=promo.id, with_items=True, limit=PAGE_SIZE, offset=offset
    )
    return render(
        request,
        "promo_codes/detail.html",
        {
            "promo": promo,
            "status": _status(promo, utcnow()),
            "purchases": purchases,
            "offset": offset,
            "limit": PAGE_SIZE,
        },
    )


@router.get("/{promo_code_id}/edit")
async def edit_promo_code(request: Request, _auth: ManagerSession, promo: PromoCodeDep) -> Response:
    return _render_form(request, promo, _form_values(promo))


@router.post("/{promo_code_id}/edit")
async def update_promo_code(
    request: Request, session: SessionDep, _auth: ManagerSession, promo: PromoCodeDep
) -> Response:
    values, data = await _posted_promo(request)
    try:
        # The form has every field: checked as a whole, as a new code would be, then applied as an update.
        _validated(request, values, data)
        update = PromoCodeUpdate.model_validate(data, strict=False)
    except ValidationError as error:
        return _render_form(request, promo, values, _errors(request, error), status_code=422)
    except _FormErrors as error:
        return _render_form(request, promo, values, error.errors, status_code=422)
    saved = {"id": promo.id, "code": promo.code}
    try:
        promo = await promo_code_service.update(session, promo, data=update)
    except DuplicatePromoCode as error:
        raise _duplicate(request, saved, values) from error
    except RuleViolation as error:  # fewer uses allowed than the code already had
        raise ShowPage(
            render(
                request,
                "promo_codes/form.html",
                {
                    "promo": saved,
                    "values": _form_values(None) | values,
                    "errors": {"max_uses": error.message},
                },
                status_code=422,
            )
        ) from error
    return redirect(_promo_url(promo), flash="flash-promo-code-saved")


@router.post("/{promo_code_id}/deactivate")
async def deactivate_promo_code(session: SessionDep, _auth: ManagerSession, promo: PromoCodeDep) -> Response:
    await promo_code_service.update(session, promo, data=PromoCodeUpdate(is_active=False))
    return redirect(_promo_url(promo), flash="flash-promo-code-deactivated")
