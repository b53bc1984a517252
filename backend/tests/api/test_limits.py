"""The request body limit (backend/api/limits.py): 413 for bodies over MAX_REQUEST_BODY_BYTES, read or not."""

import time
from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from backend.api.limits import BodySizeLimit
from backend.tests.api import unknown_keys
from shared.config import get_settings

LIMIT = get_settings().MAX_REQUEST_BODY_BYTES
TOO_LARGE = {"detail": f"Request body too large: the limit is {LIMIT} bytes"}
JSON_HEADERS = {"Content-Type": "application/json"}
CHUNK = 64 * 1024


async def chunks(count: int, sent: list[int]) -> AsyncIterator[bytes]:
    """A body of unknown length (sent chunked), recording how much of it the server pulled."""
    for _ in range(count):
        sent.append(CHUNK)
        yield b" " * CHUNK


async def test_login_body_over_limit_refused_at_once(client):
    body = unknown_keys(10 * 1024 * 1024)
    started = time.perf_counter()
    response = await client.post("/auth/login", content=body, headers=JSON_HEADERS)
    elapsed = time.perf_counter() - started
    assert response.status_code == 413
    assert response.json() == TOO_LARGE
    # Never parsed: before the limit, this body took 45 s to refuse.
    assert elapsed < 2, elapsed


async def test_login_chunked_body_over_limit_stops_reading(client):
    sent: list[int] = []
    response = await client.post(
        "/auth/login", content=chunks(10 * LIMIT // CHUNK, sent), headers=JSON_HEADERS
    )
    assert response.status_code == 413
    assert response.json() == TOO_LARGE
    # Read up to the chunk that crossed the limit, not a byte of the rest.
    assert sum(sent) <= LIMIT + CHUNK


async def test_body_one_byte_over_limit_refused(client, admin_headers):
    response = await client.post(
        "/api/lessons/", content=unknown_keys(LIMIT + 1), headers=admin_headers | JSON_HEADERS
    )
    assert response.status_code == 413
    assert response.json() == TOO_LARGE


async def test_body_at_limit_reaches_the_route(client):
    response = await client.post("/auth/login", content=unknown_keys(LIMIT), headers=JSON_HEADERS)
    # Validated, not refused for its size (what the 422 says is test_errors.py's concern).
    assert response.status_code == 422


async def test_small_requests_unaffected(client, admin_headers):
    created = await client.post(
        "/api/lessons/", json={"title": "Knots", "description": "Tie them", "price": 5}, headers=admin_headers
    )
    assert created.status_code == 201, created.text
    listed = await client.get("/api/lessons/", headers=admin_headers)
    assert listed.status_code == 200
    assert [lesson["title"] for lesson in listed.json()["items"]] == ["Knots"]
    chunked = await client.post(
        "/auth/login",
        content=chunks(1, []),
        headers=JSON_HEADERS,
    )
    # A small chunked body goes through to validation (spaces are not JSON).
    assert chunked.status_code == 422


# The middleware on its own, with a tiny limit and an exempt path ------------------------------------------


async def echo_length(request: Request) -> JSONResponse:
    return JSONResponse({"received": len(await request.body())})


async def ignore_body(_request: Request) -> JSONResponse:
    return JSONResponse({"received": None})


@pytest.fixture
async def small_limit_client() -> AsyncIterator[httpx.AsyncClient]:
    routes = [
        Route("/upload/video", echo_length, methods=["POST"]),
        Route("/echo", echo_length, methods=["POST"]),
        Route("/ignore", ignore_body, methods=["POST"]),
    ]
    app = BodySizeLimit(Starlette(routes=routes), max_bytes=100, exempt_prefixes=("/upload/",))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


async def test_limit_exempt_prefix_takes_any_size(small_limit_client):
    response = await small_limit_client.post("/upload/video", content=b"x" * 10_000)
    assert response.status_code == 200
    assert response.json() == {"received": 10_000}
    chunked = await small_limit_client.post("/upload/video", content=chunks(3, []))
    assert chunked.json() == {"received": 3 * CHUNK}


async def test_limit_applies_outside_exempt_prefixes(small_limit_client):
    for path in ("/echo", "/upload", "/uploads/video"):
        response = await small_limit_client.post(path, content=b"x" * 101)
        assert response.status_code == 413, path
        assert response.json() == {"detail": "Request body too large: the limit is 100 bytes"}


async def test_limit_at_exactly_max_bytes(small_limit_client):
    response = await small_limit_client.post("/echo", content=b"x" * 100)
    assert response.json() == {"received": 100}
    chunked = await small_limit_client.post("/echo", content=chunks(1, []))
    assert chunked.status_code == 413


async def test_limit_declared_length_refused_even_if_never_read(small_limit_client):
    response = await small_limit_client.post("/ignore", content=b"x" * 101)
    assert response.status_code == 413
    # Without a body, or under the limit, the route answers as usual.
    assert (await small_limit_client.post("/ignore")).json() == {"received": None}
