"""Shortcuts for the API's busiest reads, on an SQLite database: the same answers without FastAPI's and
SQLAlchemy's per-request machinery.

Measured (bench/floor.py): a FastAPI route with a session dependency and a token check costs about 0.17 ms
of CPU before it does anything, and every statement through an AsyncSession 0.1 to 0.25 ms more, where
a plain Starlette route costs 0.03 ms and an sqlite3 lookup 0.01 ms. For the four reads that a store's
traffic is made of (health checks, the catalog's first pages, an admin's listing of lessons and of a user's
purchases) that put the API at a fifth of what this machine can serve (bench/run.py).

A shortcut sits in front of one FastAPI route and answers only the commonest, valid form of its request:
GET, no query parameters but limit and offset (their values in range), and, where an admin is needed, a
bearer token that authenticate would accept. It reads through the services' own functions and statements
on shared.inline_reads.InlineReader and answers with the route's own response schema, so the JSON is the
same byte for byte. Anything else, and anything that goes wrong (an expired token, a database error, a
lock), goes to the route itself, unchanged: errors, validation and the OpenAPI schema stay FastAPI's.
On PostgreSQL there is no InlineReader and every request takes the route.
"""

import logging
import sqlite3
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qsl

from sqlalchemy import literal_column, select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import compile_path
from starlette.types import ASGIApp, Receive, Scope, Send

from backend.services import auth_service, lesson_service, purchase_service
from shared import database
from shared.constants import DEFAULT_PAGE_SIZE, MAX_OFFSET, MAX_PAGE_SIZE
from shared.inline_reads import InlineReader
from shared.schemas import MAX_ID, HealthRead, LessonList, LessonPublicList, PurchaseList

logger = logging.getLogger(__name__)

Shortcut = Callable[[Request, InlineReader], Awaitable[Response | None]]
JSON = "application/json"
PING = select(literal_column("1"))
_HEALTHY = HealthRead(status="ok", database="ok").model_dump_json().encode()
_ANONYMOUS = ""


class Shortcuts:
    """ASGI middleware that tries the shortcut for a GET of one of SHORTCUTS' paths before the app routes it.

    A middleware, not a route: a shortcut that declines leaves the request to the app's own routing."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        found = _shortcut_for(scope) if scope["type"] == "http" and scope["method"] == "GET" else None
        reader = database.inline_reader() if found is not None else None
        if found is None or reader is None:
            await self.app(scope, receive, send)
            return
        shortcut, path_params = found
        response = None
        try:
            response = await shortcut(Request({**scope, "path_params": path_params}, receive), reader)
        except sqlite3.Error:
            # The route will meet the same trouble, and report it as the API does.
            logger.debug("Shortcut declined: database error", exc_info=True)
        if response is None:
            await self.app(scope, receive, send)
        else:
            await response(scope, receive, send)


def _shortcut_for(scope: Scope) -> tuple[Shortcut, dict[str, str]] | None:
    path: str = scope["path"]
    root_path: str = scope.get("root_path", "")
    if root_path and path.startswith(root_path):
        path = path[len(root_path) :]
    for pattern, shortcut in _PATTERNS:
        match = pattern.fullmatch(path)
        if match is not None:
            return shortcut, match.groupdict()
    return None


def _page(request: Request) -> tuple[int, int] | None:
    """limit and offset when they are the only query parameters, each given once and in range."""
    values = {"limit": DEFAULT_PAGE_SIZE, "offset": 0}
    given: set[str] = set()
    for name, text in parse_qsl(request.scope["query_string"].decode("latin-1"), keep_blank_values=True):
        if name not in values or name in given or not _is_number(text, max_digits=9):
            return None
        given.add(name)
        values[name] = int(text)
    limit, offset = values["limit"], values["offset"]
    if not 1 <= limit <= MAX_PAGE_SIZE or offset > MAX_OFFSET:
        return None
    return limit, offset


def _is_number(text: str, *, max_digits: int) -> bool:
    return text.isascii() and text.isdigit() and len(text) <= max_digits


def _bearer_token(request: Request) -> str | None:
    """The bearer token; _ANONYMOUS without an Authorization header; None when it is not that simple."""
    header = request.headers.get("authorization")
    if header is None:
        return _ANONYMOUS
    scheme, _, token = header.partition(" ")
    return token if scheme.lower() == "bearer" and token and " " not in token else None


def _is_admin(request: Request, reader: InlineReader) -> bool | None:
    """True for a live admin's token, False for no token at all, None otherwise (left to the route)."""
    token = _bearer_token(request)
    if token is None:
        return None
    if token == _ANONYMOUS:
        return False
    return True if auth_service.is_authenticated_inline(reader, token) else None


async def read_health(_request: Request, reader: InlineReader) -> Response | None:
    reader.all(PING)
    return Response(_HEALTHY, media_type=JSON)


async def read_lessons(request: Request, reader: InlineReader) -> Response | None:
    page = _page(request)
    if page is None:
        return None
    admin = _is_admin(request, reader)
    if admin is None:
        return None
    limit, offset = page
    rows, total = lesson_service.get_newest_inline(reader, public=not admin, limit=limit, offset=offset)
    model = LessonList if admin else LessonPublicList
    listing = model.model_validate({"items": rows, "total": total, "limit": limit, "offset": offset})
    return Response(listing.model_dump_json(), media_type=JSON)


async def read_user_purchases(request: Request, reader: InlineReader) -> Response | None:
    page = _page(request)
    user_id = request.path_params.get("user_id", "")
    if page is None or not (_is_number(user_id, max_digits=19) and 1 <= int(user_id) <= MAX_ID):
        return None
    if not _is_admin(request, reader):
        return None
    limit, offset = page
    found = purchase_service.get_users_newest_inline(reader, int(user_id), limit=limit, offset=offset)
    if found is None:
        return None
    rows, total = found
    listing = PurchaseList.model_validate({"items": rows, "total": total, "limit": limit, "offset": offset})
    return Response(listing.model_dump_json(), media_type=JSON)


# The route paths, as the routers declare them, with the shortcut in front of each.
SHORTCUTS: dict[str, Shortcut] = {
    "/health": read_health,
    "/api/lessons/": read_lessons,
    "/api/users/{user_id}/purchases": read_user_purchases,
}
_PATTERNS = [(compile_path(path)[0], shortcut) for path, shortcut in SHORTCUTS.items()]
