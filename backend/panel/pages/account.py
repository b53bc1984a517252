"""The panel's account page (every admin): their own password, panel language and Telegram account.

A new password goes through admin_service.change_password, as POST /auth/password does: the current one is
checked (and wrong ones throttled as logins are), the admin's other sessions end and this one goes on, so
the browser keeps its cookie.

"Link my Telegram" shows a one-time deep link to the bot (admin_telegram_service) on the page that the POST
answers: the token is shown once and never stored, so there is nothing to redirect to. Linked, the admin can
opt in to support notifications in Telegram, or unlink the account.
"""

from typing import Any

from fastapi import Request
from fastapi.responses import Response
from pydantic import ValidationError

from backend.api.deps import ClientAddress, SessionDep, TelegramDep
from backend.panel import security
from backend.panel.deps import CurrentPanelSession
from backend.panel.forms import field_errors, posted
from backend.panel.pages import page_router
from backend.panel.routes import LANGUAGE_COOKIE_MAX_AGE, ShowPage
from backend.panel.templating import language_of, panel_translator, redirect, render
from backend.services import admin_service, admin_telegram_service, user_service
from backend.services.admin_telegram_service import LinkToken
from backend.services.exceptions import TelegramNotLinked, TooManyAttempts, WrongCurrentPassword
from backend.services.telegram import Telegram
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
    telegram: dict[str, Any] | None = None,
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
            "telegram": telegram or {},
        },
        status_code=status_code,
        headers=headers,
    )


async def _telegram_section(
    session: SessionDep,
    auth_session: CurrentPanelSession,
    telegram: Telegram | None,
    token: LinkToken | None = None,
) -> dict[str, Any]:
    """What the page shows of the admin's Telegram account: the linked one (named as the bot knows its
    owner), or the one-time link just created."""
    admin = auth_session.admin
    section: dict[str, Any] = {
        "bot_on": telegram is not None,
        "linked_id": admin.telegram_id,
        "name": None,
        "link": None,
    }
    if admin.telegram_id is not None:
        # Whoever wrote to the bot is registered as a student: their name and username are known then.
        person = await user_service.get_by_telegram_id(session, admin.telegram_id)
        if person is not None:
            username = f" (@{person.username})" if person.username else ""
            section["name"] = f"{person.first_name}{username}"
    if token is not None:
        username = await telegram.bot_username() if telegram is not None else None
        section["link"] = {
            "url": token.url(username) if username else None,
            "start": token.start_parameter,
            "minutes": int(admin_telegram_service.LINK_TOKEN_TTL.total_seconds() // 60),
        }
    return section


@router.get("")
async def read_account(
    request: Request, session: SessionDep, auth_session: CurrentPanelSession, telegram: TelegramDep
) -> Response:
    return _account_page(
        request, auth_session, telegram=await _telegram_section(session, auth_session, telegram)
    )


@router.post("/telegram/link")
async def link_telegram(
    request: Request, session: SessionDep, auth_session: CurrentPanelSession, telegram: TelegramDep
) -> Response:
    if telegram is None:
        # No bot to open the link with: nothing is created.
        return _account_page(
            request,
            auth_session,
            status_code=409,
            telegram=await _telegram_section(session, auth_session, telegram),
        )
    token = await admin_telegram_service.create_link_token(session, auth_session.admin)
    section = await _telegram_section(session, auth_session, telegram, token)
    # The token is in this page only: a browser or proxy must not keep a copy.
    return _account_page(request, auth_session, telegram=section, headers={"Cache-Control": "no-store"})


@router.post("/telegram/unlink")
async def unlink_telegram(session: SessionDep, auth_session: CurrentPanelSession) -> Response:
    await admin_telegram_service.unlink(session, auth_session.admin)
    return redirect(router.prefix, flash="flash-account-telegram-unlinked")


@router.post("/telegram/notify")
async def change_telegram_notifications(
    request: Request, session: SessionDep, auth_session: CurrentPanelSession, telegram: TelegramDep
) -> Response:
    values = await posted(request)
    enabled = values.get("notify_support") == "true"
    try:
        await admin_telegram_service.set_notify_support(session, auth_session.admin, enabled=enabled)
    except TelegramNotLinked:
        t = panel_translator(language_of(request)).plain
        page = _account_page(
            request,
            auth_session,
            errors={"notify_support": t("account-telegram-error-not-linked")},
            status_code=409,
            telegram=await _telegram_section(session, auth_session, telegram),
        )
        raise ShowPage(page) from None
    return redirect(router.prefix, flash="flash-account-notify-on" if enabled else "flash-account-notify-off")


@router.post("/password")
async def change_password(
    request: Request,
    session: SessionDep,
    auth_session: CurrentPanelSession,
    client: ClientAddress,
    telegram: TelegramDep,
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
        section = await _telegram_section(session, auth_session, telegram)
        return _account_page(request, auth_session, errors=errors, status_code=422, telegram=section)
    # Read before the password check: a wrong password rolls the unit of work back.
    section = await _telegram_section(session, auth_session, telegram)
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
        page = _account_page(request, auth_session, errors=errors, status_code=422, telegram=section)
        raise ShowPage(page) from None
    except TooManyAttempts as error:
        errors = {"current_password": t("login-error-throttled", seconds=error.retry_after)}
        page = _account_page(
            request,
            auth_session,
            errors=errors,
            status_code=429,
            headers={"Retry-After": str(error.retry_after)},
            telegram=section,
        )
        raise ShowPage(page) from None
    return redirect(router.prefix, flash="flash-account-password-changed")


@router.post("/language")
async def change_language(
    request: Request, session: SessionDep, auth_session: CurrentPanelSession, telegram: TelegramDep
) -> Response:
    values = await posted(request, optional=("language",))
    try:
        data = OwnSettingsUpdate.model_validate({"language": values.get("language")})
    except ValidationError as error:
        errors = field_errors(request, error)
        section = await _telegram_section(session, auth_session, telegram)
        return _account_page(request, auth_session, errors=errors, status_code=422, telegram=section)
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
