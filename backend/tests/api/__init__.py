"""Helpers shared by the API tests (one test module per router in backend/api/).

Fixtures defined here are registered for every API test module by backend/tests/api/conftest.py:

- `quick_tokens` is registered under the name `tokens`, so the conftest's `admin_headers` uses it. It opens
  a real admin session and signs its tokens with the real code, but skips the deliberately slow argon2
  check of /auth/login (about 0.2 s per test). /auth/login itself is tested in test_auth.py.
- `lenient_client_fixture` is registered as `lenient_client`: a client that returns an unhandled error as
  a 500 response, as a real server does, instead of raising it in the test. The xfail tests that expose
  500s use it.

(Registered under another name than the function's, so a test's parameter does not shadow the import.)
"""

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any, TypeVar

import httpx
import pytest
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.main import app
from backend.services import auth_service
from shared import database
from shared.config import get_settings
from shared.constants import AdminRole
from shared.models import Admin, AuthSession, Base
from shared.utils import utcnow

ModelT = TypeVar("ModelT", bound=Base)

# Every operation of the API: (method, path). The tests check the OpenAPI document against it.
PUBLIC_OPERATIONS = [
    ("GET", "/health"),
    ("GET", "/ready"),
    ("POST", "/auth/login"),
    ("POST", "/auth/token"),
    ("POST", "/auth/refresh"),
    ("GET", "/api/lessons/"),
    ("GET", "/api/lessons/{lesson_id}"),
    ("GET", "/api/courses/"),
    ("GET", "/api/courses/{course_id}"),
]
ADMIN_OPERATIONS = [
    ("POST", "/auth/logout"),
    ("GET", "/auth/me"),
    ("PATCH", "/auth/me"),
    ("POST", "/auth/password"),
    ("GET", "/api/users/"),
    ("POST", "/api/users/"),
    ("GET", "/api/users/{user_id}"),
    ("PUT", "/api/users/{user_id}"),
    ("GET", "/api/users/{user_id}/purchases"),
    ("POST", "/api/users/{user_id}/grants"),
    ("POST", "/api/lessons/"),
    ("PUT", "/api/lessons/{lesson_id}"),
    ("DELETE", "/api/lessons/{lesson_id}"),
    ("POST", "/api/courses/"),
    ("PUT", "/api/courses/{course_id}"),
    ("DELETE", "/api/courses/{course_id}"),
    ("PUT", "/api/courses/{course_id}/lessons"),
    ("POST", "/api/courses/{course_id}/lessons"),
    ("DELETE", "/api/courses/{course_id}/lessons/{lesson_id}"),
    ("GET", "/api/purchases/"),
    ("POST", "/api/purchases/"),
    ("POST", "/api/purchases/create"),
    ("GET", "/api/purchases/{purchase_id}"),
    ("POST", "/api/purchases/{purchase_id}/refund"),
    ("POST", "/api/purchases/{purchase_id}/revoke"),
    ("GET", "/api/promo-codes/"),
    ("POST", "/api/promo-codes/"),
    ("POST", "/api/promo-codes/validate"),
    ("GET", "/api/promo-codes/{promo_code_id}"),
    ("PUT", "/api/promo-codes/{promo_code_id}"),
    ("DELETE", "/api/promo-codes/{promo_code_id}"),
    ("GET", "/api/support-tickets/"),
    ("POST", "/api/support-tickets/"),
    ("GET", "/api/support-tickets/{ticket_id}"),
    ("PUT", "/api/support-tickets/{ticket_id}"),
    ("DELETE", "/api/support-tickets/{ticket_id}"),
    ("GET", "/api/support-tickets/{ticket_id}/messages"),
    ("POST", "/api/support-tickets/{ticket_id}/messages"),
    ("GET", "/api/unmatched-payments/"),
    ("GET", "/api/unmatched-payments/{unmatched_payment_id}"),
    ("POST", "/api/unmatched-payments/{unmatched_payment_id}/resolve"),
    ("GET", "/api/admins/"),
    ("POST", "/api/admins/"),
    ("GET", "/api/admins/{admin_id}"),
    ("PATCH", "/api/admins/{admin_id}"),
    ("GET", "/api/audit-log/"),
    ("POST", "/api/broadcasts/audience"),
    ("POST", "/api/broadcasts/"),
    ("GET", "/api/broadcasts/"),
    ("GET", "/api/broadcasts/{broadcast_id}"),
    ("PATCH", "/api/broadcasts/{broadcast_id}"),
    ("POST", "/api/broadcasts/{broadcast_id}/start"),
    ("POST", "/api/broadcasts/{broadcast_id}/pause"),
    ("POST", "/api/broadcasts/{broadcast_id}/resume"),
    ("POST", "/api/broadcasts/{broadcast_id}/cancel"),
    ("POST", "/api/broadcasts/{broadcast_id}/test"),
    ("GET", "/api/broadcasts/{broadcast_id}/recipients"),
    ("PUT", "/api/broadcasts/{broadcast_id}/media"),
    ("DELETE", "/api/broadcasts/{broadcast_id}/media"),
]
ALL_OPERATIONS = PUBLIC_OPERATIONS + ADMIN_OPERATIONS


def concrete(path: str, record_id: int = 1) -> str:
    """The path with every {placeholder} replaced by an id."""
    for name in (
        "user_id",
        "lesson_id",
        "course_id",
        "purchase_id",
        "promo_code_id",
        "ticket_id",
        "unmatched_payment_id",
        "admin_id",
        "broadcast_id",
    ):
        path = path.replace("{" + name + "}", str(record_id))
    return path


async def issue_tokens(username: str | None = None) -> dict[str, str]:
    """Tokens of a new session of an admin (by default the configured one), as /auth/login would issue them
    (minus argon2)."""
    settings = get_settings()
    async with database.session_scope() as session:
        admin = await session.scalar(
            select(Admin).where(Admin.username == (username or settings.ADMIN_USERNAME))
        )
        assert admin is not None, "the conftest's prepared_database creates the admin"
        refresh_jti = uuid.uuid4().hex
        auth_session = AuthSession(
            id=uuid.uuid4().hex,
            admin_id=admin.id,
            current_refresh_jti=refresh_jti,
            expires_at=utcnow() + timedelta(days=settings.REFRESH_TOKEN_EXPIRE_DAYS),
        )
        session.add(auth_session)
        await session.commit()
        issued = auth_service._issue(auth_session, refresh_jti, settings)
    return {"access_token": issued.access_token, "refresh_token": issued.refresh_token}


@pytest.fixture(name="tokens")
async def quick_tokens() -> dict[str, str]:
    return await issue_tokens()


@pytest.fixture(name="lenient_client")
async def lenient_client_fixture() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# A password hash made once: argon2 is slow on purpose, and most tests only need an admin with a role.
TEAM_PASSWORD = "team-member-password"
_team_password_hash: list[str] = []


async def create_admin(username: str, role: AdminRole, *, is_active: bool = True) -> Admin:
    """An admin with this role (password TEAM_PASSWORD), stored now."""
    if not _team_password_hash:
        _team_password_hash.append(auth_service.hash_password(TEAM_PASSWORD))
    async with database.session_scope() as session:
        admin = Admin(username=username, password_hash=_team_password_hash[0], role=role, is_active=is_active)
        session.add(admin)
    return admin


async def headers_of(role: AdminRole) -> dict[str, str]:
    """Authorization headers of a new admin with this role (owners: the configured admin)."""
    if role is AdminRole.OWNER:
        return bearer((await issue_tokens())["access_token"])
    admin = await create_admin(f"{role.value}-{uuid.uuid4().hex[:8]}", role)
    return bearer((await issue_tokens(admin.username))["access_token"])


async def fresh(session: AsyncSession, model: type[ModelT], record_id: Any) -> ModelT | None:
    """The row as stored now (ends the session's read transaction first, so requests' commits show)."""
    await session.commit()
    return await session.get(model, record_id, populate_existing=True)


async def count(session: AsyncSession, model: type[Base], *where: ColumnElement[bool]) -> int:
    """How many rows of the model (matching the conditions) are stored now."""
    await session.commit()
    return (await session.execute(select(func.count()).select_from(model).where(*where))).scalar_one()


def error_locs(response: httpx.Response) -> list[list[Any]]:
    """The `loc` of every validation error in a 422 response."""
    detail = response.json()["detail"]
    assert isinstance(detail, list), f"expected a validation error list, got {detail!r}"
    return [error["loc"] for error in detail]


def assert_invalid(response: httpx.Response, *loc: Any) -> None:
    """A 422 validation error whose errors include one located exactly at `loc`."""
    assert response.status_code == 422, response.text
    assert list(loc) in error_locs(response), response.text


def assert_rule_violation(response: httpx.Response, *words: str) -> None:
    """A 422 (validation or business rule) whose message mentions every word."""
    assert response.status_code == 422, response.text
    text = response.text.lower()
    for word in words:
        assert word.lower() in text, response.text


def ids(response: httpx.Response) -> list[int]:
    """The ids of a page's items, in order."""
    return [item["id"] for item in response.json()["items"]]


def unknown_keys(size: int) -> bytes:
    """A JSON object of exactly `size` bytes, made of keys no schema knows."""
    item_length = len(b'"k0000000":0,')
    body = b"{" + b",".join(b'"k%07d":0' % n for n in range((size - 2) // item_length)) + b"}"
    # Spaces before the closing brace (still valid JSON) bring it to the exact size.
    return body[:-1] + b" " * (size - len(body)) + b"}"


def assert_page(response: httpx.Response, *, total: int, limit: int = 20, offset: int = 0) -> None:
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["total"], body["total_exact"], body["limit"], body["offset"]) == (total, True, limit, offset)
    assert len(body["items"]) == max(0, min(limit, total - offset))


__all__ = [
    "ADMIN_OPERATIONS",
    "ALL_OPERATIONS",
    "PUBLIC_OPERATIONS",
    "TEAM_PASSWORD",
    "assert_invalid",
    "assert_page",
    "assert_rule_violation",
    "bearer",
    "concrete",
    "count",
    "create_admin",
    "error_locs",
    "fresh",
    "headers_of",
    "ids",
    "issue_tokens",
    "lenient_client_fixture",
    "quick_tokens",
    "unknown_keys",
]
