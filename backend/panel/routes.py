"""The panel's pages: sign-in and sign-out, the language choice, the dashboard."""

import asyncio
import logging
from datetime import timedelta
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Form, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from backend.api.deps import ClientAddress, SessionDep, TelegramDep, get_telegram
from backend.panel import security
from backend.panel.deps import LOGIN_PATH, CurrentPanelSession, OptionalPanelSession, allow, check_csrf
from backend.panel.templating import language_of, render
from backend.services import admin_service, panel_session_service, stats_service
from backend.services.exceptions import InvalidCredentials, TelegramUnavailable, TooManyAttempts
from shared.config import get_settings
from shared.constants import AdminRole
from shared.schemas import LoginRequest, OwnSettingsUpdate

# include_in_schema: the OpenAPI document describes the JSON API only.
router = APIRouter(prefix=security.PANEL_PREFIX, dependencies=[Depends(check_csrf)], include_in_schema=False)

logger = logging.getLogger(__name__)

DASHBOARD_PATH = security.PANEL_PREFIX
MONEY_ROLES = (AdminRole.MANAGER,)
# The dashboard waits no longer for Telegram (the figure is loaded after the page, so nothing waits on it).
STAR_BALANCE_TIMEOUT_SECONDS = 3.0
NEXT_MAX_LENGTH = 2048
LANGUAGE_COOKIE_MAX_AGE = int(timedelta(days=365).total_seconds())


class ShowPage(Exception):
    """Answer with this page, after the request's unit of work is rolled back (a refused login)."""

    def __init__(self, response: Response) -> None:
        super().__init__()
        self.response = response


def safe_next(target: str | None) -> str:
    """Where to go after a login or a language change: a panel page of this site, never elsewhere."""
    if not target or len(target) > NEXT_MAX_LENGTH or "\\" in target or any(ord(c) < 32 for c in target):
        return DASHBOARD_PATH
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or target.startswith("//") or "/." in parts.path:
        return DASHBOARD_PATH  # elsewhere, or out of /admin through "..": the browser resolves dot segments
    if not security.is_panel_path(parts.path):
        return DASHBOARD_PATH
    if parts.path == LOGIN_PATH:
        return DASHBOARD_PATH
    return target


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


@router.get("/login")
async def login_page(request: Request, auth_session: OptionalPanelSession, next: str = "") -> Response:
    if auth_session is not None:
        return _see_other(safe_next(next))
    return render(request, "login.html", {"next": safe_next(next), "username": "", "error": None})


def _refused_login(
    request: Request, username: str, next: str, error: tuple[str, dict[str, int]], status_code: int
) -> ShowPage:
    headers = {}
    if status_code == 429:
        headers["Retry-After"] = str(error[1]["seconds"])
    return ShowPage(
        render(
            request,
            "login.html",
            {"next": safe_next(next), "username": username[:200], "error": error},
            status_code=status_code,
            headers=headers,
        )
    )


@router.post("/login")
async def login(
    request: Request,
    session: SessionDep,
    client: ClientAddress,
    previous: OptionalPanelSession,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "",
) -> Response:
    try:
        # The same rules as the JSON login.
        credentials = LoginRequest(username=username, password=password)
    except ValidationError:
        raise _refused_login(request, username, next, ("login-error-missing", {}), 422) from None
    try:
        cookie = await panel_session_service.login(
            session, username=credentials.username, password=credentials.password, client=client
        )
    except InvalidCredentials:
        raise _refused_login(request, username, next, ("login-error-invalid", {}), 401) from None
    except TooManyAttempts as error:
        raise _refused_login(
            request, username, next, ("login-error-throttled", {"seconds": error.retry_after}), 429
        ) from None
    if previous is not None:
        # One session per browser: the new login replaces the old one rather than leaving it open.
        await panel_session_service.logout(session, previous)
    response = _see_other(safe_next(next))
    response.set_cookie(
        security.SESSION_COOKIE,
        cookie,
        max_age=int(timedelta(days=get_settings().REFRESH_TOKEN_EXPIRE_DAYS).total_seconds()),
        path=security.PANEL_PREFIX,
        httponly=True,
        samesite="lax",
        secure=security.secure_cookies(),
    )
    return response


@router.post("/logout")
async def logout(session: SessionDep, auth_session: OptionalPanelSession) -> Response:
    if auth_session is not None:
        await panel_session_service.logout(session, auth_session)
    response = _see_other(LOGIN_PATH)
    response.delete_cookie(
        security.SESSION_COOKIE, path=security.PANEL_PREFIX, httponly=True, secure=security.secure_cookies()
    )
    return response


@router.post("/language")
async def choose_language(
    session: SessionDep,
    auth_session: OptionalPanelSession,
    lang: Annotated[Literal["en", "ru"], Form()],
    next: Annotated[str, Form()] = "",
) -> Response:
    if auth_session is not None:
        # Kept with the admin, so that it follows them to another browser.
        await admin_service.update_own(session, auth_session.admin, data=OwnSettingsUpdate(language=lang))
    response = _see_other(safe_next(next))
    response.set_cookie(
        security.LANGUAGE_COOKIE,
        lang,
        max_age=LANGUAGE_COOKIE_MAX_AGE,
        path=security.PANEL_PREFIX,
        httponly=True,
        samesite="lax",
        secure=security.secure_cookies(),
    )
    return response


def _period(period: int) -> int:
    if period not in stats_service.PERIODS:
        raise RequestValidationError(
            [{"loc": ("query", "period"), "msg": "must be one of 7, 30, 90, 365", "type": "literal_error"}]
        )
    return period


def _number(value: int, language: str) -> str:
    """1,234 in English, 1 234 in Russian (a no-break space: a figure never wraps)."""
    return f"{value:,}".replace(",", "\u00a0" if language == "ru" else ",")


def _by_day(figures: stats_service.Dashboard, language: str, money: bool) -> list[list[str]]:
    """The table of the chart's figures, newest day first, formatted here: a year is 365 rows, which a
    template's macro calls would take tens of milliseconds to format."""
    rows = []
    for day in reversed(figures.days):
        numbers = [day.sales, day.revenue, day.refunds, day.refunded_stars, day.net_revenue] if money else []
        rows.append([day.day.isoformat(), *(_number(n, language) for n in [*numbers, day.new_students])])
    return rows


async def _dashboard_context(request: Request, session: SessionDep, period: int) -> dict[str, Any]:
    figures = await stats_service.dashboard(session, period=_period(period))
    user = request.state.panel_user
    money = user.may(MONEY_ROLES)
    return {
        "dash": figures,
        "by_day": _by_day(figures, language_of(request), money),
        "periods": stats_service.PERIODS,
        # Money (revenue, refunds, the Star balance) is for managers and owners; support sees students.
        "may_see_money": money,
        "bot_on": get_telegram(request) is not None,
    }


@router.get("")
async def dashboard(
    request: Request,
    session: SessionDep,
    _auth: CurrentPanelSession,
    period: int = stats_service.DEFAULT_PERIOD,
) -> Response:
    return render(request, "dashboard.html", await _dashboard_context(request, session, period))


@router.get("/dashboard/totals")
async def dashboard_totals(
    request: Request,
    session: SessionDep,
    _auth: CurrentPanelSession,
    period: int = stats_service.DEFAULT_PERIOD,
) -> Response:
    """The dashboard's figures for a period alone, for HTMX to swap in."""
    return render(request, "partials/totals.html", await _dashboard_context(request, session, period))


@router.get("/dashboard/star-balance", dependencies=[allow(*MONEY_ROLES)])
async def dashboard_star_balance(request: Request, telegram: TelegramDep) -> Response:
    """The bot's Star balance, asked of Telegram with a short timeout (loaded after the page, by HTMX)."""
    balance: int | None = None
    if telegram is not None:
        try:
            async with asyncio.timeout(STAR_BALANCE_TIMEOUT_SECONDS):
                balance = await telegram.get_star_balance()
        except (TimeoutError, TelegramUnavailable) as error:
            logger.warning("The bot's Star balance is unavailable: %s", error)
    return render(request, "partials/star_balance.html", {"bot_on": telegram is not None, "balance": balance})
