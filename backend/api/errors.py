"""Translation of domain exceptions into HTTP errors, and the error responses the docs declare."""

import json
import logging
import reprlib
from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, IntegrityError

from backend.services.exceptions import (
    AuthenticationError,
    ConflictError,
    DomainError,
    NotAVideo,
    NotFoundError,
    PermissionDenied,
    RuleViolation,
    TelegramUnavailable,
    TooManyAttempts,
    VideoTooLarge,
)
from shared.schemas import ErrorResponse

logger = logging.getLogger(__name__)

STATUS_BY_ERROR: list[tuple[type[DomainError], int]] = [
    (NotFoundError, status.HTTP_404_NOT_FOUND),
    (ConflictError, status.HTTP_409_CONFLICT),
    (RuleViolation, status.HTTP_422_UNPROCESSABLE_CONTENT),
    (TooManyAttempts, status.HTTP_429_TOO_MANY_REQUESTS),
    (AuthenticationError, status.HTTP_401_UNAUTHORIZED),
    (PermissionDenied, status.HTTP_403_FORBIDDEN),
    (TelegramUnavailable, status.HTTP_502_BAD_GATEWAY),
    (VideoTooLarge, status.HTTP_413_CONTENT_TOO_LARGE),
    (NotAVideo, status.HTTP_415_UNSUPPORTED_MEDIA_TYPE),
]


def _response(status_code: int, description: str) -> dict[int | str, dict[str, Any]]:
    return {status_code: {"model": ErrorResponse, "description": description}}


UNAUTHORIZED = _response(401, "Missing, invalid, expired or revoked access token")
FORBIDDEN = _response(403, "The admin's role does not allow this (the detail names the role it needs)")
NOT_FOUND = _response(404, "No record with this id")
CONFLICT = _response(409, "Conflicts with the current state (duplicate, still in use, already bought)")
RULE_VIOLATION = _response(422, "Invalid input, or input that breaks a business rule")
TOO_MANY = _response(429, "Too many failed logins; see Retry-After")
TELEGRAM = _response(502, "Telegram could not be reached or gave an unexpected error")


def http_status_for(error: DomainError) -> int:
    for error_class, status_code in STATUS_BY_ERROR:
        if isinstance(error, error_class):
            return status_code
    return status.HTTP_400_BAD_REQUEST


async def handle_domain_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, DomainError)
    status_code = http_status_for(error)
    headers = {}
    if isinstance(error, AuthenticationError):
        headers["WWW-Authenticate"] = "Bearer"
    if isinstance(error, TooManyAttempts):
        headers["Retry-After"] = str(error.retry_after)
    return JSONResponse({"detail": error.message}, status_code=status_code, headers=headers)


async def handle_integrity_error(request: Request, error: Exception) -> JSONResponse:
    # Services check their rules first; this catches races they could not see, never a 500.
    logger.info("Integrity error on %s %s: %s", request.method, request.url.path, error)
    return JSONResponse(
        {"detail": "The change conflicts with data stored meanwhile; reload and try again"},
        status_code=status.HTTP_409_CONFLICT,
    )


class AsciiJSONResponse(JSONResponse):
    """JSON with non-ASCII escaped: an echoed lone surrogate cannot be encoded as UTF-8 otherwise."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, separators=(",", ":")).encode("ascii")


# A validation error echoes what it refused, and a body can carry a hundred thousand unknown keys, each
# an error: the answer shows the first few, each value cut short, so it stays small whatever the input.
MAX_SHOWN_ERRORS = 10
MAX_ECHO_CHARS = 100
_ELLIPSIS = "..."
# Bounded whatever the size of the value: it looks at the first few items of a container only.
_short_repr = reprlib.Repr()
_short_repr.maxstring = _short_repr.maxlong = _short_repr.maxother = MAX_ECHO_CHARS


def _clip(value: Any) -> Any:
    """The value as JSON if it is short; otherwise its text, cut to about MAX_ECHO_CHARS."""
    if value is None or isinstance(value, bool | float):
        return value
    if isinstance(value, str):
        return value if len(value) <= MAX_ECHO_CHARS else value[:MAX_ECHO_CHARS] + _ELLIPSIS
    text = _short_repr.repr(value)
    if len(text) > MAX_ECHO_CHARS:
        return text[:MAX_ECHO_CHARS] + _ELLIPSIS
    # reprlib elided nothing: the value is as small as its text, and keeps its JSON shape.
    return text if _ELLIPSIS in text else jsonable_encoder(value)


def _clipped(error: dict[str, Any]) -> dict[str, Any]:
    clipped = {**error, "loc": [_clip(part) for part in error.get("loc", ())]}
    if "input" in error:
        clipped["input"] = _clip(error["input"])
    if "ctx" in error:
        clipped["ctx"] = {key: _clip(value) for key, value in error["ctx"].items()}
    return clipped


async def handle_validation_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    errors = error.errors()
    detail = [_clipped(e) for e in errors[:MAX_SHOWN_ERRORS]]
    if len(errors) > MAX_SHOWN_ERRORS:
        hidden = len(errors) - MAX_SHOWN_ERRORS
        detail.append({"type": "too_many_errors", "loc": [], "msg": f"{hidden} more errors not shown"})
    return AsciiJSONResponse(
        {"detail": jsonable_encoder(detail)}, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT
    )


# SQLSTATEs of a transaction PostgreSQL aborted to resolve a conflict with another one.
RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})


async def handle_database_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, DBAPIError)
    if getattr(error.orig, "sqlstate", None) in RETRYABLE_SQLSTATES:
        logger.info("Concurrent update on %s %s: %s", request.method, request.url.path, error.orig)
        return JSONResponse(
            {"detail": "Another change to the same data happened at the same moment; try again"},
            status_code=status.HTTP_409_CONFLICT,
        )
    raise error


def install(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, handle_domain_error)
    app.add_exception_handler(IntegrityError, handle_integrity_error)
    app.add_exception_handler(RequestValidationError, handle_validation_error)
    app.add_exception_handler(DBAPIError, handle_database_error)
