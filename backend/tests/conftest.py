"""API test fixtures: an HTTP client over the real app and an admin's tokens (the database setup is in
the repository's root conftest.py)."""

from collections.abc import AsyncIterator

import httpx
import pytest

from backend.main import app
from conftest import ADMIN_PASSWORD, is_postgres  # noqa: F401 (re-exported for the tests)


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


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
