"""The ceiling: a minimal plain-Starlette app serving the same rows as the real app through sqlite3.

    DATABASE_URL=sqlite:////abs/path.db SECRET_KEY=... uvicorn bench.baseline_app:app --port 8102

No FastAPI, no SQLAlchemy, no pydantic: hand-written SQL (the same statements the real app sends, see
bench/explain.py) on the stdlib sqlite3 module, dicts, and Starlette's Response. It answers with the same
JSON documents as the real app for:

    GET /health                        SELECT 1
    GET /api/lessons/?limit=&offset=   anonymous: active lessons, public fields;
                                       with a valid "Authorization: Bearer <access token>": all lessons,
                                       with video_path and text_content (admin view)
    GET /api/users/{id}/purchases      admin only; 404 for an unknown user

Authentication is the minimum that does the same database work: the token's HS256 signature, expiry and
type are checked with hmac/json from the stdlib (no PyJWT, and no check of iat/jti/sub presence), then the
session row is looked up with the real app's statement (revoked, expired or inactive admin -> 401).

BASELINE_MODE picks how the queries run:
    sync    (default) on the event loop thread, one connection: the fastest for sub-millisecond queries on
            one core, since nothing else could run meanwhile anyway except other requests' parsing;
    thread  each request's queries in Starlette's threadpool (run_in_threadpool), one connection per
            thread: how aiosqlite-style offloading costs, for comparison.
Every request runs its statements in one read transaction (BEGIN ... ROLLBACK), as the real app does.
"""

import base64
import hashlib
import hmac
import json
import os
import sqlite3
import threading
import time
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
MAX_OFFSET = 1_000_000
MAX_ID = 2**31 - 1

LESSON_COLUMNS = (
    "lessons.id, lessons.title, lessons.description, lessons.price, lessons.video_path, "
    "lessons.text_content, lessons.is_active, lessons.is_free, lessons.created_at, lessons.updated_at"
)
PURCHASE_COLUMNS = (
    "purchases.id, purchases.user_id, purchases.lesson_id, purchases.course_id, purchases.promo_code_id, "
    "purchases.payment_id, purchases.telegram_payment_charge_id, purchases.amount, purchases.status, "
    "purchases.created_at, purchases.updated_at"
)
SQL_SESSION = (
    "SELECT auth_sessions.expires_at, auth_sessions.revoked_at, admins_1.is_active "
    "FROM auth_sessions LEFT OUTER JOIN admins AS admins_1 ON admins_1.id = auth_sessions.admin_id "
    "WHERE auth_sessions.id = ?"
)
# The public catalog's total as the app has it: the row that triggers on lessons keep (migration 0004).
SQL_COUNT_ACTIVE_LESSONS = "SELECT lesson_totals.active FROM lesson_totals WHERE lesson_totals.id = 1"
SQL_ACTIVE_LESSONS = (
    f"SELECT {LESSON_COLUMNS} FROM lessons WHERE lessons.is_active IS 1 "
    "ORDER BY lessons.created_at DESC, lessons.id DESC LIMIT ? OFFSET ?"
)
SQL_COUNT_LESSONS = "SELECT count(*) AS count_1 FROM lessons"
SQL_LESSONS = (
    f"SELECT {LESSON_COLUMNS} FROM lessons ORDER BY lessons.created_at DESC, lessons.id DESC LIMIT ? OFFSET ?"
)
SQL_USER = (
    "SELECT users.id, users.telegram_id, users.username, users.first_name, users.last_name, "
    "users.language_code, users.is_active, users.created_at, users.updated_at FROM users WHERE users.id = ?"
)
SQL_COUNT_PURCHASES = "SELECT count(*) AS count_1 FROM purchases WHERE purchases.user_id = ?"
SQL_PURCHASES = (
    f"SELECT {PURCHASE_COLUMNS} FROM purchases WHERE purchases.user_id = ? "
    "ORDER BY purchases.created_at DESC, purchases.id DESC LIMIT ? OFFSET ?"
)


class HTTPError(Exception):
    def __init__(self, status: int, detail: str) -> None:
        self.status = status
        self.detail = detail


def _database_path() -> str:
    url = os.environ.get("DATABASE_URL", "")
    prefix = "sqlite:///"
    if not url.startswith(prefix):
        raise RuntimeError("DATABASE_URL must be sqlite:///<path>")
    return url[len(prefix) :]


DB_PATH = _database_path()
SECRET = os.environ.get("SECRET_KEY", "").encode()
MODE = os.environ.get("BASELINE_MODE", "sync")
if MODE not in ("sync", "thread"):
    raise RuntimeError("BASELINE_MODE must be sync or thread")

_local = threading.local()


def connection() -> sqlite3.Connection:
    """This thread's connection, set up like the real app's (WAL, foreign keys, busy timeout)."""
    db = getattr(_local, "db", None)
    if db is None:
        db = sqlite3.connect(DB_PATH, isolation_level=None, check_same_thread=False, timeout=30)
        for pragma in ("foreign_keys=ON", "busy_timeout=30000", "journal_mode=WAL", "synchronous=NORMAL"):
            db.execute(f"PRAGMA {pragma}")
        _local.db = db
    return db


def iso(value: str | None) -> str | None:
    """Stored '2024-05-01 10:00:00.123456' as pydantic writes it: '2024-05-01T10:00:00.123456Z'."""
    if value is None:
        return None
    if value.endswith(".000000"):
        value = value[:-7]
    return f"{value[:10]}T{value[11:]}Z"


def now_text() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _b64decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def token_session_id(authorization: str | None) -> str | None:
    """The session id of a valid access token; None without a token; HTTPError(401) for a bad one."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token:
        return None
    try:
        header_b64, payload_b64, signature_b64 = token.split(".")
        expected = hmac.new(SECRET, f"{header_b64}.{payload_b64}".encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(expected, _b64decode(signature_b64)):
            raise ValueError("bad signature")
        claims = json.loads(_b64decode(payload_b64))
        if claims.get("type") != "access" or claims["exp"] <= time.time():
            raise ValueError("expired or not an access token")
        return str(claims["sid"])
    except (ValueError, KeyError, TypeError) as error:
        raise HTTPError(401, "Could not validate credentials") from error


def check_session(db: sqlite3.Connection, session_id: str) -> None:
    row = db.execute(SQL_SESSION, (session_id,)).fetchone()
    if row is None or row[1] is not None or row[0] <= now_text() or not row[2]:
        raise HTTPError(401, "Session has ended; log in again")


def lesson_json(row: tuple[Any, ...], *, admin: bool) -> dict[str, Any]:
    item = {
        "id": row[0],
        "title": row[1],
        "description": row[2],
        "price": row[3],
        "is_free": bool(row[7]),
        "is_active": bool(row[6]),
        "has_video": bool(row[4]),
        "has_text": bool(row[5]),
        "created_at": iso(row[8]),
        "updated_at": iso(row[9]),
    }
    if admin:
        item["video_path"] = row[4]
        item["text_content"] = row[5]
    return item


def purchase_json(row: tuple[Any, ...]) -> dict[str, Any]:
    return {
        "id": row[0],
        "user_id": row[1],
        "lesson_id": row[2],
        "course_id": row[3],
        "promo_code_id": row[4],
        "payment_id": row[5],
        "telegram_payment_charge_id": row[6],
        "amount": row[7],
        "status": row[8],
        "created_at": iso(row[9]),
        "updated_at": iso(row[10]),
    }


def page(
    db: sqlite3.Connection, count_sql: str, page_sql: str, params: tuple[Any, ...], limit: int, offset: int
):
    """Like backend.services.common.paginate: the count, then the page only if it can have rows."""
    total = db.execute(count_sql, params).fetchone()[0]
    if total == 0 or offset >= total:
        return [], total
    return db.execute(page_sql, (*params, limit, offset)).fetchall(), total


def in_transaction(work):  # type: ignore[no-untyped-def]
    def run(*args: Any) -> Any:
        db = connection()
        db.execute("BEGIN DEFERRED")
        try:
            return work(db, *args)
        finally:
            db.execute("ROLLBACK")

    return run


@in_transaction
def health_work(db: sqlite3.Connection) -> dict[str, Any]:
    db.execute("SELECT 1").fetchone()
    return {"status": "ok", "database": "ok"}


@in_transaction
def lessons_work(db: sqlite3.Connection, session_id: str | None, limit: int, offset: int) -> dict[str, Any]:
    admin = False
    if session_id is not None:
        check_session(db, session_id)
        admin = True
    if admin:
        rows, total = page(db, SQL_COUNT_LESSONS, SQL_LESSONS, (), limit, offset)
    else:
        rows, total = page(db, SQL_COUNT_ACTIVE_LESSONS, SQL_ACTIVE_LESSONS, (), limit, offset)
    items = [lesson_json(row, admin=admin) for row in rows]
    return {"items": items, "total": total, "limit": limit, "offset": offset}


@in_transaction
def purchases_work(
    db: sqlite3.Connection, session_id: str | None, user_id: int, limit: int, offset: int
) -> dict[str, Any]:
    if session_id is None:
        raise HTTPError(401, "Not authenticated")
    check_session(db, session_id)
    if db.execute(SQL_USER, (user_id,)).fetchone() is None:
        raise HTTPError(404, f"User {user_id} not found")
    rows, total = page(db, SQL_COUNT_PURCHASES, SQL_PURCHASES, (user_id,), limit, offset)
    return {"items": [purchase_json(row) for row in rows], "total": total, "limit": limit, "offset": offset}


def json_response(content: Any, status: int = 200) -> Response:
    body = json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode()
    return Response(body, status_code=status, media_type="application/json")


def int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError as error:
        raise HTTPError(422, f"{name} must be an integer") from error
    if not low <= value <= high:
        raise HTTPError(422, f"{name} must be between {low} and {high}")
    return value


async def call(work, *args: Any) -> Response:  # type: ignore[no-untyped-def]
    try:
        result = await run_in_threadpool(work, *args) if MODE == "thread" else work(*args)
    except HTTPError as error:
        headers = {"WWW-Authenticate": "Bearer"} if error.status == 401 else None
        response = json_response({"detail": error.detail}, error.status)
        if headers:
            response.headers.update(headers)
        return response
    return json_response(result)


async def health(_request: Request) -> Response:
    return await call(health_work)


async def lessons(request: Request) -> Response:
    try:
        session_id = token_session_id(request.headers.get("authorization"))
        limit = int_param(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
        offset = int_param(request, "offset", 0, 0, MAX_OFFSET)
    except HTTPError as error:
        return json_response({"detail": error.detail}, error.status)
    return await call(lessons_work, session_id, limit, offset)


async def user_purchases(request: Request) -> Response:
    try:
        session_id = token_session_id(request.headers.get("authorization"))
        user_id = request.path_params["user_id"]
        if not 1 <= user_id <= MAX_ID:
            raise HTTPError(422, "user_id out of range")
        limit = int_param(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
        offset = int_param(request, "offset", 0, 0, MAX_OFFSET)
    except HTTPError as error:
        return json_response({"detail": error.detail}, error.status)
    return await call(purchases_work, session_id, user_id, limit, offset)


app = Starlette(
    routes=[
        Route("/health", health),
        Route("/api/lessons/", lessons),
        Route("/api/users/{user_id:int}/purchases", user_purchases),
    ]
)
