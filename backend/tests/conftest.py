"""API test fixtures: an HTTP client over the real app, an admin's tokens, and the SQL the engine sends
(the database setup is in the repository's root conftest.py)."""

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import event

from backend.main import app
from conftest import ADMIN_PASSWORD, is_postgres  # noqa: F401 (re-exported for the tests)
from shared import database


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@contextmanager
def statements_sent() -> Iterator[list[str]]:
    """The SQL statements this process's engine sends inside the block."""
    sent: list[str] = []

    def record(_connection: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        sent.append(statement.strip())

    engine = database.get_engine().sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", record)


async def login(client: httpx.AsyncClient, password: str = ADMIN_PASSWORD) -> dict[str, str]:
    response = await client.post("/auth/login", json={"username": "admin", "password": password})
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
async def tokens(client: httpx.AsyncClient) -> dict[str, str]:
    return await login(client)


@pytest.fixture
def admin_headers(tokens: dict[str, str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}
