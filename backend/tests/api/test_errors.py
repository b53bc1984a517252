"""Error responses (backend/api/errors.py): validation errors stay small whatever the input was."""

import json

from backend.api.errors import MAX_ECHO_CHARS, MAX_SHOWN_ERRORS
from backend.tests.api import unknown_keys
from shared.config import get_settings

LIMIT = get_settings().MAX_REQUEST_BODY_BYTES
JSON_HEADERS = {"Content-Type": "application/json"}


def cut(text: str) -> str:
    return text[:MAX_ECHO_CHARS] + "..."


async def test_validation_error_counts_a_flood_of_unknown_fields_in_one_error(client):
    body = unknown_keys(LIMIT - 100)
    response = await client.post("/auth/login", content=body, headers=JSON_HEADERS)
    assert response.status_code == 422
    # Was 11 MB: every unknown key an error, each echoing its value, and the whole body echoed twice.
    assert len(response.content) < 4096
    [error] = response.json()["detail"]
    assert error["loc"] == ["body"]
    assert error["msg"].startswith(f"Value error, {len(json.loads(body))} unknown fields: 'k0000000', ")
    # The whole body, the error's input, is cut to its first few keys.
    assert error["input"].startswith("{'k0000000': 0, ")
    assert len(error["input"]) <= MAX_ECHO_CHARS + 3


async def test_validation_error_shows_the_first_errors_of_many(client, admin_headers):
    # Many errors of many fields: a course with many bad lesson ids.
    body = {"title": "T", "total_price": 10, "lesson_ids": ["x"] * 100}
    response = await client.post("/api/courses/", json=body, headers=admin_headers)
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert len(detail) == MAX_SHOWN_ERRORS + 1
    assert detail[-1] == {
        "type": "too_many_errors",
        "loc": [],
        "msg": f"{100 - MAX_SHOWN_ERRORS} more errors not shown",
    }
    assert detail[0]["loc"] == ["body", "lesson_ids", 0]


async def test_validation_error_cuts_long_input(client):
    response = await client.post("/auth/login", json={"username": "u" * 10_000, "password": "p"})
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "username"]
    assert error["input"] == cut("u" * 10_000)
    assert error["ctx"]["max_length"] == 64


async def test_validation_error_cuts_long_unknown_key(client):
    response = await client.post("/auth/login", json={"username": "u", "password": "p", "k" * 5000: 1})
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", cut("k" * 5000)]
    assert error["input"] == 1


async def test_validation_error_cuts_long_query_parameter(client):
    response = await client.get("/api/lessons/", params={"q": "q" * 5000})
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert (error["loc"], error["input"]) == (["query", "q"], cut("q" * 5000))


async def test_validation_error_keeps_small_input_as_json(client):
    response = await client.post("/auth/login", json={"username": 5, "password": ["p"]})
    assert response.status_code == 422
    assert [(e["loc"], e["input"]) for e in response.json()["detail"]] == [
        (["body", "username"], 5),
        (["body", "password"], ["p"]),
    ]
    missing = await client.post("/auth/login", json={"password": "p"})
    assert missing.json()["detail"][0]["input"] == {"password": "p"}


async def test_validation_error_cut_input_with_lone_surrogate(client):
    body = b'{"username": "\\ud800' + b"u" * 200 + b'", "password": "p"}'
    response = await client.post("/auth/login", content=body, headers=JSON_HEADERS)
    assert response.status_code == 422
    assert response.content.isascii()
    [error] = response.json()["detail"]
    assert error["input"] == cut("\ud800" + "u" * 200)
