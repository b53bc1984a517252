"""The panel's answers to errors: pages in its style under /admin, the API's JSON answers elsewhere.

Each handler wraps the one installed before it (FastAPI's or backend/api/errors.py's), so the JSON API
behaves as it did; install() must run after the API's handlers are installed.
"""

import logging
from collections.abc import Awaitable, Callable
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import PlainTextResponse, Response
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException

from backend.api.errors import http_status_for
from backend.panel import security
from backend.panel.deps import LOGIN_PATH, CsrfRefused, LoginRequired
from backend.panel.routes import ShowPage
from backend.panel.templating import render
from backend.services.exceptions import DomainError

logger = logging.getLogger(__name__)

Handler = Callable[[Request, Exception], Awaitable[Response]]

# Statuses with a page of their own words; any other shows the generic one.
KNOWN_STATUSES = frozenset({400, 403, 404, 405, 409, 413, 422, 429, 500})


def error_page(request: Request, status_code: int, detail: str | None = None) -> Response:
    """The panel's error page: what went wrong in the browser's language, never a traceback."""
    headers = security.panel_headers(request.url.path, request.url.query)
    try:
        return render(
            request,
            "error.html",
            {"status": status_code, "known": status_code in KNOWN_STATUSES, "detail": detail},
            status_code=status_code,
            headers=headers,
        )
    except Exception:
        logger.exception("Could not render the panel's error page for %s", request.url.path)
        return PlainTextResponse(str(status_code), status_code=status_code, headers=headers)


async def _login_required(request: Request, _error: Exception) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    login_url = f"{LOGIN_PATH}?next={quote(target, safe='')}"
    if request.headers.get("HX-Request") == "true":
        # htmx follows HX-Redirect with a full page load; a 303 would be swapped into the page.
        return Response(status_code=401, headers={"HX-Redirect": login_url})
    return Response(status_code=303, headers={"Location": login_url})


async def _csrf_refused(request: Request, _error: Exception) -> Response:
    logger.warning("CSRF token missing or wrong on %s %s", request.method, request.url.path)
    return error_page(request, 403)


async def _show_page(_request: Request, error: Exception) -> Response:
    assert isinstance(error, ShowPage)
    return error.response


def _panel_or(api_handler: Handler | None, panel_handler: Handler) -> Handler:
    async def handler(request: Request, error: Exception) -> Response:
        if security.is_panel_path(request.url.path):
            return await panel_handler(request, error)
        if api_handler is None:
            raise error
        return await api_handler(request, error)

    return handler


async def _http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, StarletteHTTPException)
    return error_page(request, error.status_code)


async def _validation_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, RequestValidationError)
    # A path that names no record (/admin/lessons/abc) is a page that does not exist.
    in_path = any(e.get("loc", ("",))[0] == "path" for e in error.errors())
    return error_page(request, 404 if in_path else 422)


async def _domain_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, DomainError)
    status_code = http_status_for(error)  # the same status as the JSON API gives it
    if status_code == 404:
        return error_page(request, 404)
    return error_page(request, status_code, error.message)


async def _integrity_error(request: Request, error: Exception) -> Response:
    logger.info("Integrity error on %s %s: %s", request.method, request.url.path, error)
    return error_page(request, 409)


async def _server_error(request: Request, _error: Exception) -> Response:
    # Starlette logs the exception itself after this answer.
    return error_page(request, 500)


async def _plain_server_error(_request: Request, _error: Exception) -> Response:
    # What Starlette answers when no handler is installed, so the JSON API's 500s stay as they were.
    return PlainTextResponse("Internal Server Error", status_code=500)


def install(app: FastAPI) -> None:
    """Add the panel's error handlers around the ones already installed."""
    app.add_exception_handler(LoginRequired, _login_required)
    app.add_exception_handler(CsrfRefused, _csrf_refused)
    app.add_exception_handler(ShowPage, _show_page)
    wrapped: list[tuple[type[Exception], Handler]] = [
        (StarletteHTTPException, _http_error),
        (RequestValidationError, _validation_error),
        (DomainError, _domain_error),
        (IntegrityError, _integrity_error),
    ]
    for error_class, panel_handler in wrapped:
        app.add_exception_handler(
            error_class, _panel_or(app.exception_handlers.get(error_class), panel_handler)
        )
    server_handler = app.exception_handlers.get(Exception) or _plain_server_error
    app.add_exception_handler(Exception, _panel_or(server_handler, _server_error))
