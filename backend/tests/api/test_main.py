"""The application itself (backend/main.py): /health, /ready, the interactive docs and the OpenAPI."""

import os

import httpx
import pytest
from redis.asyncio import Redis

from backend.main import app
from backend.tests.api import ADMIN_OPERATIONS, ALL_OPERATIONS
from shared import database
from shared.config import get_settings

HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}


@pytest.fixture(scope="module")
async def openapi() -> dict:
    """The OpenAPI document, fetched once for the module's read-only checks."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    return response.json()


def operations(openapi: dict) -> dict[tuple[str, str], dict]:
    return {
        (method.upper(), path): operation
        for path, item in openapi["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
    }


READY = {"status": "ok", "database": "ok", "redis": "not_configured"}


async def test_read_health(client):
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_read_ready(client):
    response = await client.get("/ready")
    assert response.status_code == 200
    assert response.json() == READY


async def test_read_ready_database_unreachable(client):
    working_engine = database.get_engine()
    broken_engine = database.configure("sqlite:////nonexistent-dir/x.db")
    try:
        response = await client.get("/ready")
        alive = await client.get("/health")
    finally:
        database.configure(get_settings().DATABASE_URL)
        await broken_engine.dispose()
        await working_engine.dispose()
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "database": "unavailable", "redis": "not_configured"}
    # Alive all the same: restarting the process would not bring the database back.
    assert alive.status_code == 200
    # Back to normal once the database is reachable again.
    assert (await client.get("/ready")).json() == READY


@pytest.mark.skipif(not os.environ.get("TEST_REDIS_URL"), reason="set TEST_REDIS_URL to run the Redis tests")
async def test_read_ready_covers_redis(client):
    client_app = client._transport.app  # type: ignore[attr-defined]
    client_app.state.redis = Redis.from_url("redis://127.0.0.1:1/0")  # nothing listens there
    try:
        down = await client.get("/ready")
        client_app.state.redis = Redis.from_url(os.environ["TEST_REDIS_URL"])
        up = await client.get("/ready")
    finally:
        await client_app.state.redis.aclose()
        client_app.state.redis = None
    assert down.status_code == 503
    assert down.json() == {"status": "unavailable", "database": "ok", "redis": "unavailable"}
    assert up.json() == {"status": "ok", "database": "ok", "redis": "ok"}


@pytest.mark.parametrize(("path", "marker"), [("/docs", "swagger-ui"), ("/redoc", "redoc")])
async def test_read_docs(client, path, marker):
    response = await client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert marker in response.text.lower()
    assert "/openapi.json" in response.text


async def test_read_docs_oauth2_redirect(client):
    response = await client.get("/docs/oauth2-redirect")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")


async def test_read_openapi_lists_every_route(openapi):
    assert set(operations(openapi)) == set(ALL_OPERATIONS)
    assert openapi["info"]["title"] == "Lesson Store API"


async def test_read_openapi_every_operation_has_summary(openapi):
    missing = [key for key, operation in operations(openapi).items() if not operation.get("summary")]
    assert missing == []


async def test_read_openapi_operation_ids_unique(openapi):
    operation_ids = [operation["operationId"] for operation in operations(openapi).values()]
    assert len(operation_ids) == len(set(operation_ids))


@pytest.mark.parametrize(("method", "path"), ADMIN_OPERATIONS)
async def test_read_openapi_admin_operations_declare_401_and_security(openapi, method, path):
    operation = operations(openapi)[(method, path)]
    assert "401" in operation["responses"]
    # The roles that may call it are the requirement's scopes (none: any admin).
    roles = [] if path.startswith("/auth/") else operation["security"][0]["OAuth2PasswordBearer"]
    assert operation.get("security") == [{"OAuth2PasswordBearer": roles}]
    assert path.startswith("/auth/") or "owner" in roles


async def test_read_openapi_security_scheme_uses_form_login(openapi):
    scheme = openapi["components"]["securitySchemes"]["OAuth2PasswordBearer"]
    assert scheme["type"] == "oauth2"
    assert scheme["flows"]["password"]["tokenUrl"] == "/auth/token"


@pytest.mark.parametrize(("method", "path"), [op for op in ALL_OPERATIONS if "{" in op[1]])
async def test_read_openapi_operations_with_ids_declare_404(openapi, method, path):
    responses = operations(openapi)[(method, path)]["responses"]
    assert "404" in responses
    assert "422" in responses  # a malformed id


@pytest.mark.parametrize(
    ("method", "path"), [op for op in ALL_OPERATIONS if op[1] not in ("/health", "/ready")]
)
async def test_read_openapi_operations_with_input_declare_422(openapi, method, path):
    operation = operations(openapi)[(method, path)]
    if operation.get("parameters") or operation.get("requestBody"):
        assert "422" in operation["responses"]


async def test_read_openapi_error_responses_use_error_schema(openapi):
    for (method, path), operation in operations(openapi).items():
        for code in ("401", "404", "409"):
            if code in operation["responses"]:
                schema = operation["responses"][code]["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorResponse"}, (method, path, code)


async def test_read_openapi_readiness_declares_503(openapi):
    assert "503" in operations(openapi)[("GET", "/ready")]["responses"]


@pytest.mark.parametrize(
    ("method", "path", "code"),
    [
        ("POST", "/auth/login", "429"),
        ("POST", "/auth/token", "429"),
        ("DELETE", "/api/lessons/{lesson_id}", "409"),
        ("DELETE", "/api/courses/{course_id}", "409"),
        ("POST", "/api/users/", "409"),
        ("POST", "/api/purchases/", "409"),
        ("POST", "/api/purchases/create", "409"),
        ("POST", "/api/promo-codes/", "409"),
    ],
)
async def test_read_openapi_declares_specific_errors(openapi, method, path, code):
    assert code in operations(openapi)[(method, path)]["responses"]
