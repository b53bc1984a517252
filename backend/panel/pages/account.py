"""The panel's account page (every admin): their own password and panel language.

A new password goes through admin_service.change_password, as POST /auth/password does: the current one is
checked (and wrong ones throttled as logins are), the admin's other sessions end and this one goes on, so
the browser keeps its cookie.
"""

from typing import Any

from fastapi import Request
from fastapi.responses import Response
from pydantic import ValidationError

from backend.api.deps import ClientAddress, SessionDep
from backend.panel import security
from backend.panel.deps import CurrentPanelSession
from backend.panel.forms import field_errors, posted
from backend.panel.pages import page_router
from backend.panel.routes import LANGUAGE_COOKIE_MAX_AGE, ShowPage
from backend.panel.templating import language_of, panel_translator, redirect, render
from backend.services import admin_service
from backend.services.exceptions import TooManyAttempts, WrongCurrentPassword
from shared.constants import PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH, AdminLanguage
from shared.schemas import OwnSettingsUpdate, PasswordChange

router = page_router("/account")

PASSWORD_FIELDS = ("current_password", "new_password")


def _account_page(
    request: Request,
    auth_session: CurrentPanelSession,
    *,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    return render(
        request,
        "account/account.html",
        {
            "admin": auth_session.admin,
            "admin_languages": list(AdminLanguage),
            "errors": errors or {},
            "password_min": PASSWORD_MIN_LENGTH,
            "password_max": PASSWORD_MAX_LENGTH,
        },
        status_code=status_code,
        headers=headers,
    )


@router.get("")
async def read_account(request: Request, auth_session: CurrentPanelSession) -> Response:
    return _account_page(request, auth_session)


@router.post("/password")
async def change_password(
    request: Request, session: SessionDep, auth_session: CurrentPanelSession, client: ClientAddress
) -> Response:
    t = panel_translator(language_of(request)).plain
    values = await posted(request)
    fields: dict[str, Any] = {key: values[key] for key in PASSWORD_FIELDS if key in values}
    errors: dict[str, str] = {}
    try:
        data = PasswordChange.model_validate(fields)
    except ValidationError as error:
        errors = field_errors(request, error)
        data = None
    if values.get("new_password") != values.get("repeat_password"):
        errors.setdefault("repeat_password", t("account-error-repeat"))
    if data is None or errors:
        # Passwords are never sent back to the browser: the fields come back empty.
        return _account_page(request, auth_session, errors=errors, status_code=422)
    try:
        await admin_service.change_password(
            session,
            auth_session,
            current_password=data.current_password,
            new_password=data.new_password,
            client=client,
        )
    except WrongCurrentPassword:
        errors = {"current_password": t("account-error-current")}
        raise ShowPage(_account_page(request, auth_session, errors=errors, status_code=422)) from None
    except TooManyAttempts as error:
        errors = {"current_password": t("login-error-throttled", seconds=error.retry_after)}
        page = _account_page(
            request,
            auth_session,
            errors=errors,
            status_code=429,
            headers={"Retry-After": str(error.retry_after)},
        )
        raise ShowPage(page) from None
    return redirect(router.prefix, flash="flash-account-password-changed")


@router.post("/language")
async def change_language(
    request: Request, session: SessionDep, auth_session: CurrentPanelSession
) -> Response:
    values = await posted(request, optional=("language",))
    try:
        data = OwnSettingsUpdate.model_validate({"language": values.get("language")})
    except ValidationError as error:
        return _account_page(request, auth_session, errors=field_errors(request, error), status_code=422)
    await admin_service.update_own(session, auth_session.admin, data=data)
    response = redirect(router.prefix, flash="flash-account-language-changed")
    if data.language is None:
        # Following the browser again: an earlier choice kept in this browser would otherwise stay.
        response.delete_cookie(
            security.LANGUAGE_COOKIE,
            path=security.PANEL_PREFIX,
            httponly=True,
            secure=security.secure_cookies(),
        )
    else:
        response.set_cookie(
            security.LANGUAGE_COOKIE,
            data.language.value,
            max_age=LANGUAGE_COOKIE_MAX_AGE,
            path=security.PANEL_PREFIX,
            httponly=True,
            samesite="lax",
            secure=security.secure_cookies(),
        )
    return response
