"""The shortcuts in front of the busiest reads (backend/api/shortcuts.py): they answer exactly as their routes
do, and leave everything else to them.

Which one answered is seen from where the statements went: the shortcuts read through the inline reader,
the routes through the engine. The route's own answer is had by taking the reader away, as on PostgreSQL.
"""

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from types import SimpleNamespace

import httpx
import pytest
from sqlalchemy import select

from backend.api import shortcuts
from backend.main import create_app
from backend.services import auth_service
from backend.tests.api import bearer
from backend.tests.conftest import is_postgres
from backend.tests.factories import create_course, create_lesson, create_purchase, create_user
from shared import database
from shared.config import get_settings
from shared.constants import PurchaseStatus
from shared.inline_reads import InlineReader
from shared.models import Admin


@pytest.fixture(autouse=True)
def sqlite_file() -> None:
    if database.inline_reader() is None:
        assert is_postgres(), "an SQLite file database has an inline reader"
        pytest.skip("no shortcuts without an inline reader (PostgreSQL)")


@contextmanager
def reader_statements() -> Iterator[list[str]]:
    reader = database.inline_reader()
    assert reader is not None
    sent: list[str] = []

    def record(statement: str, _parameters: object) -> None:
        sent.append(statement)

    reader.statement_hooks.append(record)
    try:
        yield sent
    finally:
        reader.statement_hooks.remove(record)


async def by_shortcut(client: httpx.AsyncClient, url: str, **kwargs: object) -> httpx.Response:
    with reader_statements() as sent:
        response = await client.get(url, **kwargs)  # type: ignore[arg-type]
    assert sent, f"the shortcut did not answer {url}"
    return response


async def by_route(
    client: httpx.AsyncClient, url: str, monkeypatch: pytest.MonkeyPatch, **kwargs: object
) -> httpx.Response:
    with monkeypatch.context() as patch, reader_statements() as sent:
        patch.setattr(database, "inline_reader", lambda: None)
        response = await client.get(url, **kwargs)  # type: ignore[arg-type]
    assert not sent
    return response


@pytest.fixture
async def catalog(session):
    """Lessons of every kind the listing shows differently, and a buyer with purchases of every kind."""
    lessons = [
        await create_lesson(session, title="Привет 🎓", description="", price=0, is_free=True),
        await create_lesson(session, video_path="videos/a.mp4", text_content=None),
        await create_lesson(session, video_path="", text_content=""),
        await create_lesson(session, is_active=False, price=7),
        await create_lesson(session, price=1, text_content='Ünïcode "quoted" <b>text</b>\n'),
    ]
    course = await create_course(session, lessons[1:3], discount_price=300)
    buyer = await create_user(session)
    await create_purchase(session, buyer, lessons[1], telegram_payment_charge_id="charge-1")
    await create_purchase(session, buyer, lessons[4], status=PurchaseStatus.REFUNDED, amount=1)
    await create_purchase(session, buyer, course, status=PurchaseStatus.PENDING, amount=300)
    await create_purchase(session, buyer, lessons[3], status=PurchaseStatus.FAILED)
    return SimpleNamespace(buyer=buyer, buyer_without_purchases=await create_user(session))


REQUESTS = [
    ("/health", False),
    ("/api/lessons/", False),
    ("/api/lessons/?limit=2", False),
    ("/api/lessons/?limit=2&offset=3", False),
    ("/api/lessons/?offset=50", False),
    ("/api/lessons/?limit=100&offset=0", False),
    ("/api/lessons/", True),
    ("/api/lessons/?limit=3&offset=1", True),
    ("/api/lessons/?offset=9", True),
    ("/api/users/{buyer}/purchases", True),
    ("/api/users/{buyer}/purchases?limit=1&offset=2", True),
    ("/api/users/{buyer}/purchases?offset=10", True),
    ("/api/users/{buyer_without_purchases}/purchases", True),
]


@pytest.mark.parametrize(("url", "as_admin"), REQUESTS)
async def test_shortcut_answers_as_the_route(client, catalog, admin_headers, monkeypatch, url, as_admin):
    url = url.format(buyer=catalog.buyer.id, buyer_without_purchases=catalog.buyer_without_purchases.id)
    headers = admin_headers if as_admin else {}
    fast = await by_shortcut(client, url, headers=headers)
    route = await by_route(client, url, monkeypatch, headers=headers)
    assert fast.status_code == route.status_code == 200
    assert fast.content == route.content
    assert fast.headers == route.headers


async def test_shortcut_keeps_paid_content_from_anonymous_clients(client, catalog):
    items = (await by_shortcut(client, "/api/lessons/")).json()["items"]
    assert len(items) == 4  # the inactive lesson is left out
    assert all("video_path" not in item and "text_content" not in item for item in items)
    assert {(item["has_video"], item["has_text"]) for item in items} == {
        (False, True),
        (True, False),
        (False, False),
    }


async def test_shortcut_shows_admins_everything(client, catalog, admin_headers):
    page = (await by_shortcut(client, "/api/lessons/", headers=admin_headers)).json()
    assert page["total"] == 5
    assert {item["video_path"] for item in page["items"]} == {None, "videos/a.mp4", ""}


def long_number() -> str:
    return "9" * 5000


DECLINED = [
    # (url, as_admin, the route's status)
    ("/api/lessons/?is_active=false", True, 200),
    ("/api/lessons/?sort=price", False, 200),
    ("/api/lessons/?limit=0", False, 422),
    ("/api/lessons/?limit=101", False, 422),
    ("/api/lessons/?limit=-1", False, 422),
    ("/api/lessons/?limit=", False, 422),
    ("/api/lessons/?limit=２", False, 422),
    ("/api/lessons/?limit=2&limit=3", False, 200),
    ("/api/lessons/?offset=1000001", False, 422),
    (f"/api/lessons/?offset={long_number()}", False, 422),
    ("/api/users/{buyer}/purchases?status=completed", True, 200),
    ("/api/users/{buyer}/purchases", False, 401),
    ("/api/users/0/purchases", True, 422),
    (f"/api/users/{long_number()}/purchases", True, 422),
    ("/api/users/99999999/purchases", True, 404),
    ("/api/users/abc/purchases", True, 422),
]


@pytest.mark.parametrize(("url", "as_admin", "status"), DECLINED)
async def test_shortcut_leaves_other_requests_to_the_route(
    client, catalog, admin_headers, monkeypatch, url, as_admin, status
):
    url = url.format(buyer=catalog.buyer.id)
    headers = admin_headers if as_admin else {}
    response = await client.get(url, headers=headers)
    assert response.status_code == status, response.text
    assert response.content == (await by_route(client, url, monkeypatch, headers=headers)).content


@pytest.mark.parametrize(
    "authorization",
    ["Bearer not-a-token", "Basic YWRtaW46cGFzcw==", "Bearer", "Bearer a b", ""],
)
async def test_shortcut_refuses_what_is_not_a_live_token(client, catalog, monkeypatch, authorization):
    headers = {"Authorization": authorization}
    url = f"/api/users/{catalog.buyer.id}/purchases"
    assert (await client.get(url, headers=headers)).status_code == 401
    # The catalog answers as its route does: a wrong bearer token is refused, not taken as anonymous.
    response = await client.get("/api/lessons/", headers=headers)
    route = await by_route(client, "/api/lessons/", monkeypatch, headers=headers)
    assert (response.status_code, response.content) == (route.status_code, route.content)
    assert response.status_code == (401 if authorization.startswith("Bearer") else 200)


async def test_shortcut_refuses_a_refresh_token(client, catalog, tokens):
    response = await client.get(
        f"/api/users/{catalog.buyer.id}/purchases", headers=bearer(tokens["refresh_token"])
    )
    assert response.status_code == 401


async def test_shortcut_stops_at_logout(client, catalog, tokens):
    url = f"/api/users/{catalog.buyer.id}/purchases"
    assert (await by_shortcut(client, url, headers=bearer(tokens["access_token"]))).status_code == 200
    assert (await client.post("/auth/logout", headers=bearer(tokens["access_token"]))).status_code == 204
    assert (await client.get(url, headers=bearer(tokens["access_token"]))).status_code == 401


async def test_shortcut_stops_for_a_deactivated_admin(client, catalog, admin_headers, session):
    url = f"/api/users/{catalog.buyer.id}/purchases"
    assert (await by_shortcut(client, url, headers=admin_headers)).status_code == 200
    admin = await session.scalar(select(Admin).where(Admin.username == get_settings().ADMIN_USERNAME))
    admin.is_active = False
    await session.commit()
    try:
        assert (await client.get(url, headers=admin_headers)).status_code == 401
    finally:
        admin.is_active = True
        await session.commit()


async def test_token_checked_before_is_refused_once_expired(client, catalog, admin_headers, monkeypatch):
    url = f"/api/users/{catalog.buyer.id}/purchases"
    assert (await by_shortcut(client, url, headers=admin_headers)).status_code == 200
    later = timedelta(minutes=get_settings().ACCESS_TOKEN_EXPIRE_MINUTES, seconds=1).total_seconds()
    clock = auth_service.time.time
    monkeypatch.setattr(auth_service, "time", SimpleNamespace(time=lambda: clock() + later))
    response = await client.get(url, headers=admin_headers)
    assert response.status_code == 401
    assert response.json()["detail"] == "Token has expired"


async def test_shortcut_reads_what_was_just_committed(client, session, monkeypatch):
    first = await by_shortcut(client, "/api/lessons/")
    await create_lesson(session, title="Fresh")
    # The total is kept a few seconds for anonymous clients (catalog_cache), the page never is.
    assert [item["title"] for item in (await by_shortcut(client, "/api/lessons/")).json()["items"]] == [
        "Fresh"
    ]
    assert first.json()["items"] == []


async def test_database_error_in_a_shortcut_leaves_the_request_to_the_route(client, catalog, monkeypatch):
    broken = InlineReader(
        lambda: sqlite3.connect("file:/nonexistent-dir/x.db?mode=ro", uri=True),
        database.get_engine().sync_engine.dialect,
    )
    monkeypatch.setattr(database, "_inline_reader", broken)
    response = await client.get("/api/lessons/")
    assert response.status_code == 200
    assert response.json()["total"] == 4
    assert (await client.get("/health")).json() == {"status": "ok", "database": "ok"}


async def test_shortcut_answers_carry_cors_headers(monkeypatch, catalog):
    monkeypatch.setenv("CORS_ORIGINS", '["https://admin.example"]')
    get_settings.cache_clear()
    try:
        app = create_app()
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await by_shortcut(client, "/api/lessons/", headers={"Origin": "https://admin.example"})
    assert response.headers["access-control-allow-origin"] == "https://admin.example"


def test_every_shortcut_is_in_front_of_a_get_route():
    paths = create_app().openapi()["paths"]
    assert all("get" in paths.get(path, {}) for path in shortcuts.SHORTCUTS)
