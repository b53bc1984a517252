"""The panel's team pages (owners): the admins, adding one, their role, activity and a new password.

The rules are admin_service's, as for /api/admins/: a duplicate username, and the last active owner (who
can be neither demoted nor deactivated), are refused there and shown here beside the form they concern.
"""

from typing import Any, Literal

from fastapi import Request
from fastapi.responses import Response
from pydantic import ValidationError

from backend.api.deps import IdPath, Offset, SessionDep
from backend.panel.deps import OwnerSession
from backend.panel.forms import YesNoFilter, field_errors, posted, yes_no
from backend.panel.pages import page_router
from backend.panel.routes import DASHBOARD_PATH, ShowPage
from backend.panel.templating import language_of, panel_translator, redirect, render
from backend.services import admin_service
from backend.services.exceptions import DuplicateAdminUsername, LastOwner
from shared.constants import PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH, AdminLanguage, AdminRole
from shared.models import Admin
from shared.schemas import AdminCreate, AdminUpdate

router = page_router("/team")

PAGE_SIZE = 50
AdminSort = Literal["username", "-username", "created_at", "-created_at", "id", "-id"]
CREATE_FIELDS = ("username", "password", "role", "language")
PASSWORD_LIMITS = {"password_min": PASSWORD_MIN_LENGTH, "password_max": PASSWORD_MAX_LENGTH}


def _path(admin_id: int) -> str:
    return f"{router.prefix}/{admin_id}"


def _t(request: Request, key: str) -> str:
    return panel_translator(language_of(request)).plain(key)


@router.get("")
async def read_admins(
    request: Request,
    session: SessionDep,
    auth: OwnerSession,
    role: AdminRole | Literal[""] = "",
    active: YesNoFilter = "",
    sort: AdminSort = "username",
    offset: Offset = 0,
) -> Response:
    page = await admin_service.get_all(
        session,
        role=role or None,
        is_active=yes_no(active),
        sort=sort,
        limit=PAGE_SIZE,
        offset=offset,
    )
    return render(
        request,
        "team/list.html",
        {
            "page": page,
            "roles": list(AdminRole),
            "role": role,
            "active": active,
            "sort": sort,
            "offset": offset,
            "limit": PAGE_SIZE,
            "me": auth.admin_id,
        },
    )


def _new_admin_page(
    request: Request, values: dict[str, Any], errors: dict[str, str], status_code: int = 200
) -> Response:
    return render(
        request,
        "team/new.html",
        {
            "values": values,
            "errors": errors,
            "roles": list(AdminRole),
            "admin_languages": list(AdminLanguage),
            **PASSWORD_LIMITS,
        },
        status_code=status_code,
    )


@router.get("/new")
async def new_admin(request: Request, _auth: OwnerSession) -> Response:
    return _new_admin_page(request, {"role": AdminRole.SUPPORT.value}, {})


@router.post("")
async def create_admin(request: Request, session: SessionDep, _auth: OwnerSession) -> Response:
    values = await posted(request, optional=("language",))
    fields = {key: values[key] for key in CREATE_FIELDS if key in values}
    # The password is never sent back to the browser.
    shown = {key: value for key, value in fields.items() if key != "password"}
    try:
        data = AdminCreate.model_validate(fields)
    except ValidationError as error:
        errors = field_errors(request, error)
        if any(e["type"] == "string_pattern_mismatch" for e in error.errors() if e["loc"] == ("username",)):
            errors["username"] = _t(request, "team-username-help")
        return _new_admin_page(request, shown, errors, status_code=422)
    try:
        admin = await admin_service.create(session, data=data)
    except DuplicateAdminUsername:
        errors = {"username": _t(request, "team-error-duplicate")}
        raise ShowPage(_new_admin_page(request, shown, errors, status_code=409)) from None
    return redirect(_path(admin.id), flash="flash-admin-created")


def _admin_page(
    request: Request,
    admin: Admin,
    me: int,
    *,
    errors: dict[str, str] | None = None,
    refusal: str | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "team/admin.html",
        {
            "admin": admin,
            "me": me,
            "roles": list(AdminRole),
            "errors": errors or {},
            "refusal": refusal,
            **PASSWORD_LIMITS,
        },
        status_code=status_code,
    )


@router.get("/{admin_id}")
async def read_admin(request: Request, session: SessionDep, auth: OwnerSession, admin_id: IdPath) -> Response:
    admin = await admin_service.get(session, admin_id)
    return _admin_page(request, admin, auth.admin_id)


# A form posts text; the schema's flags are strict booleans.
FLAGS = {"true": True, "false": False}


async def _update(
    request: Request, session: SessionDep, me: int, admin_id: int, field: str, flash: str
) -> Response:
    """Change one field of an admin through the API's schema and service."""
    admin = await admin_service.get(session, admin_id)
    value = (await posted(request)).get(field)
    if field == "is_active":
        value = FLAGS.get(value, value) if isinstance(value, str) else value
    try:
        data = AdminUpdate.model_validate({field: value})
    except ValidationError as error:
        return _admin_page(request, admin, me, errors=field_errors(request, error), status_code=422)
    try:
        await admin_service.update(session, admin, data=data)
    except LastOwner:
        # Refused before anything changed: the page shows the admin as stored.
        refusal = _t(request, "team-error-last-owner")
        raise ShowPage(_admin_page(request, admin, me, refusal=refusal, status_code=409)) from None
    if admin.id == me and not (admin.is_active and admin.role is AdminRole.OWNER):
        # An owner who gave up the role (or their account) may no longer open the team's pages.
        return redirect(DASHBOARD_PATH, flash=flash)
    return redirect(_path(admin_id), flash=flash)


@router.post("/{admin_id}/role")
async def change_role(
    request: Request, session: SessionDep, auth: OwnerSession, admin_id: IdPath
) -> Response:
    return await _update(request, session, auth.admin_id, admin_id, "role", "flash-admin-role-changed")


@router.post("/{admin_id}/active")
async def change_activity(
    request: Request, session: SessionDep, auth: OwnerSession, admin_id: IdPath
) -> Response:
    values = await posted(request)
    flash = "flash-admin-reactivated" if values.get("is_active") == "true" else "flash-admin-deactivated"
    return await _update(request, session, auth.admin_id, admin_id, "is_active", flash)


@router.post("/{admin_id}/password")
async def set_password(
    request: Request, session: SessionDep, auth: OwnerSession, admin_id: IdPath
) -> Response:
    return await _update(request, session, auth.admin_id, admin_id, "password", "flash-admin-password-set")
