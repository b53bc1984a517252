"""/api/users: registering, reading, listing (filters, paging) and updating students, and their purchases."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from backend.services import common
from backend.tests.api import (
    assert_invalid,
    assert_page,
    count,
    fresh,
    ids,
)
from backend.tests.factories import create_lesson, create_purchase, create_user
from shared.models import User
from shared.utils import utcnow

USER_FIELDS = {
    "id",
    "telegram_id",
    "username",
    "first_name",
    "last_name",
    "language_code",
    "is_active",
    "bot_blocked_at",
    "created_at",
    "updated_at",
}


# Create --------------------------------------------------------------------------------------------------


async def test_create_user(client, admin_headers, session):
    payload = {
        "telegram_id": 123456789,
        "first_name": "Ann",
        "last_name": "Lee",
        "username": "ann",
        "language_code": "ru",
    }
    response = await client.post("/api/users/", json=payload, headers=admin_headers)
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == USER_FIELDS
    assert {key: body[key] for key in payload} == payload
    assert body["is_active"] is True
    stored = await fresh(session, User, body["id"])
    assert (stored.telegram_id, stored.first_name, stored.username) == (123456789, "Ann", "ann")


async def test_create_user_defaults(client, admin_headers):
    response = await client.post(
        "/api/users/", json={"telegram_id": 5, "first_name": "Bo"}, headers=admin_headers
    )
    assert response.status_code == 201
    body = response.json()
    assert (body["username"], body["last_name"], body["language_code"], body["is_active"]) == (
        None,
        None,
        "en",
        True,
    )


async def test_create_user_strips_names(client, admin_headers):
    response = await client.post(
        "/api/users/", json={"telegram_id": 5, "first_name": "  Bo  "}, headers=admin_headers
    )
    assert response.json()["first_name"] == "Bo"


async def test_create_user_duplicate_telegram_id(client, admin_headers, session):
    await create_user(session, telegram_id=777)
    response = await client.post(
        "/api/users/", json={"telegram_id": 777, "first_name": "Again"}, headers=admin_headers
    )
    assert response.status_code == 409
    assert response.json() == {"detail": "A user with telegram_id 777 already exists"}
    assert await count(session, User) == 1


@pytest.mark.parametrize("telegram_id", [2**63, 2**64, 0, -1, "123", 1.5, True, None])
async def test_create_user_invalid_telegram_id(client, admin_headers, session, telegram_id):
    response = await client.post(
        "/api/users/", json={"telegram_id": telegram_id, "first_name": "X"}, headers=admin_headers
    )
    assert_invalid(response, "body", "telegram_id")
    assert await count(session, User) == 0


async def test_create_user_largest_telegram_id(client, admin_headers, session):
    response = await client.post(
        "/api/users/", json={"telegram_id": 2**63 - 1, "first_name": "Max"}, headers=admin_headers
    )
    assert response.status_code == 201, response.text
    assert response.json()["telegram_id"] == 2**63 - 1
    assert (await fresh(session, User, response.json()["id"])).telegram_id == 2**63 - 1


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"first_name": ""}, "first_name"),
        ({"first_name": "x" * 256}, "first_name"),
        ({"first_name": None}, "first_name"),
        ({"username": "u" * 65}, "username"),
        ({"language_code": "english!"}, "language_code"),
        ({"language_code": "e"}, "language_code"),
        ({"is_active": "yes"}, "is_active"),
        ({"is_active": 1}, "is_active"),
        ({"last_name": "a\x00b"}, "last_name"),
        ({"id": 5}, "id"),
    ],
)
async def test_create_user_invalid_field(client, admin_headers, session, changes, field):
    payload = {"telegram_id": 42, "first_name": "Ok"} | changes
    response = await client.post("/api/users/", json=payload, headers=admin_headers)
    assert_invalid(response, "body", field)
    assert await count(session, User) == 0


async def test_create_user_blank_first_name(client, admin_headers, session):
    response = await client.post(
        "/api/users/", json={"telegram_id": 42, "first_name": "   "}, headers=admin_headers
    )
    assert_invalid(response, "body", "first_name")
    assert await count(session, User) == 0


async def test_create_user_missing_first_name(client, admin_headers):
    response = await client.post("/api/users/", json={"telegram_id": 42}, headers=admin_headers)
    assert_invalid(response, "body", "first_name")


# Read ----------------------------------------------------------------------------------------------------


async def test_read_user(client, admin_headers, session):
    user = await create_user(session, first_name="Cy", language_code="de")
    response = await client.get(f"/api/users/{user.id}", headers=admin_headers)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == USER_FIELDS
    assert (body["id"], body["telegram_id"], body["first_name"], body["language_code"]) == (
        user.id,
        user.telegram_id,
        "Cy",
        "de",
    )
    assert body["created_at"].endswith("Z")


async def test_read_user_not_found(client, admin_headers):
    response = await client.get("/api/users/999999", headers=admin_headers)
    assert response.status_code == 404
    assert response.json() == {"detail": "User 999999 not found"}


# List ----------------------------------------------------------------------------------------------------


async def test_read_users_newest_first(client, admin_headers, session):
    now = utcnow()
    old = await create_user(session, created_at=now - timedelta(days=2))
    new = await create_user(session, created_at=now)
    middle = await create_user(session, created_at=now - timedelta(days=1))
    response = await client.get("/api/users/", headers=admin_headers)
    assert_page(response, total=3)
    assert ids(response) == [new.id, middle.id, old.id]


async def test_read_users_empty(client, admin_headers):
    response = await client.get("/api/users/", headers=admin_headers)
    assert response.json() == {"items": [], "total": 0, "total_exact": True, "limit": 20, "offset": 0}


async def test_read_users_filter_is_active(client, admin_headers, session):
    active = await create_user(session)
    blocked = await create_user(session, is_active=False)
    inactive = await client.get("/api/users/", params={"is_active": "false"}, headers=admin_headers)
    assert ids(inactive) == [blocked.id]
    assert inactive.json()["total"] == 1
    assert ids(await client.get("/api/users/", params={"is_active": "true"}, headers=admin_headers)) == [
        active.id
    ]


@pytest.mark.parametrize(("q", "expected"), [("ann", {"ann", "hannah"}), ("SMITH", {"smith"}), ("zz", set())])
async def test_read_users_search(client, admin_headers, session, q, expected):
    await create_user(session, username="ann", first_name="Ann")
    await create_user(session, username="hannah", first_name="Hannah")
    await create_user(session, username="smith", first_name="Bob", last_name="Smith")
    response = await client.get("/api/users/", params={"q": q}, headers=admin_headers)
    assert response.status_code == 200
    assert {item["username"] for item in response.json()["items"]} == expected
    assert response.json()["total"] == len(expected)


async def test_read_users_search_wildcards_literal(client, admin_headers, session):
    await create_user(session, first_name="Al")
    percent = await create_user(session, first_name="100% Al")
    response = await client.get("/api/users/", params={"q": "%"}, headers=admin_headers)
    assert ids(response) == [percent.id]
    assert ids(await client.get("/api/users/", params={"q": "_"}, headers=admin_headers)) == []


async def test_read_users_filter_language_code(client, admin_headers, session):
    ru = await create_user(session, language_code="ru")
    await create_user(session, language_code="en")
    response = await client.get("/api/users/", params={"language_code": "ru"}, headers=admin_headers)
    assert ids(response) == [ru.id]


async def test_read_users_sort_first_name(client, admin_headers, session):
    b = await create_user(session, first_name="Bea")
    a = await create_user(session, first_name="Abe")
    c = await create_user(session, first_name="Cid")
    ascending = await client.get("/api/users/", params={"sort": "first_name"}, headers=admin_headers)
    assert ids(ascending) == [a.id, b.id, c.id]
    descending = await client.get("/api/users/", params={"sort": "-first_name"}, headers=admin_headers)
    assert ids(descending) == [c.id, b.id, a.id]


async def test_read_users_pagination(client, admin_headers, session):
    users = [await create_user(session) for _ in range(5)]
    by_id = [user.id for user in users]
    first = await client.get("/api/users/", params={"sort": "id", "limit": 2}, headers=admin_headers)
    assert_page(first, total=5, limit=2)
    assert ids(first) == by_id[:2]
    last = await client.get(
        "/api/users/", params={"sort": "id", "limit": 2, "offset": 4}, headers=admin_headers
    )
    assert_page(last, total=5, limit=2, offset=4)
    assert ids(last) == by_id[4:]
    beyond = await client.get("/api/users/", params={"offset": 50}, headers=admin_headers)
    assert beyond.json() == {"items": [], "total": 5, "total_exact": True, "limit": 20, "offset": 50}


@pytest.mark.parametrize(
    ("params", "loc"),
    [
        ({"limit": 0}, ["query", "limit"]),
        ({"limit": 101}, ["query", "limit"]),
        ({"offset": -1}, ["query", "offset"]),
        ({"sort": "telegram_id"}, ["query", "sort"]),
        ({"is_active": "maybe"}, ["query", "is_active"]),
        ({"q": "x" * 101}, ["query", "q"]),
        ({"language_code": "x" * 17}, ["query", "language_code"]),
        ({"language_code": "e\x00"}, ["query", "language_code"]),
    ],
)
async def test_read_users_invalid_query(client, admin_headers, params, loc):
    assert_invalid(await client.get("/api/users/", params=params, headers=admin_headers), *loc)


# Update --------------------------------------------------------------------------------------------------


async def test_update_user_partial(client, admin_headers, session):
    user = await create_user(session, first_name="Old", last_name="Name", username="old", language_code="en")
    response = await client.put(f"/api/users/{user.id}", json={"first_name": "New"}, headers=admin_headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["first_name"], body["last_name"], body["username"], body["language_code"]) == (
        "New",
        "Name",
        "old",
        "en",
    )
    assert body["updated_at"] >= body["created_at"]
    stored = await fresh(session, User, user.id)
    assert (stored.first_name, stored.last_name, stored.username) == ("New", "Name", "old")


async def test_update_user_clear_nullable_fields(client, admin_headers, session):
    user = await create_user(session, last_name="Name", username="old")
    response = await client.put(
        f"/api/users/{user.id}", json={"username": None, "last_name": None}, headers=admin_headers
    )
    assert response.status_code == 200
    assert (response.json()["username"], response.json()["last_name"]) == (None, None)
    stored = await fresh(session, User, user.id)
    assert (stored.username, stored.last_name) == (None, None)


async def test_update_user_deactivate(client, admin_headers, session):
    user = await create_user(session)
    response = await client.put(f"/api/users/{user.id}", json={"is_active": False}, headers=admin_headers)
    assert response.json()["is_active"] is False
    assert (await fresh(session, User, user.id)).is_active is False


async def test_update_user_empty_body_changes_nothing(client, admin_headers, session):
    user = await create_user(session, first_name="Same")
    response = await client.put(f"/api/users/{user.id}", json={}, headers=admin_headers)
    assert response.status_code == 200
    assert response.json()["first_name"] == "Same"


@pytest.mark.parametrize(
    ("payload", "word"),
    [
        ({"first_name": None}, "first_name"),
        ({"language_code": None}, "language_code"),
        ({"is_active": None}, "is_active"),
    ],
)
async def test_update_user_null_required_field(client, admin_headers, session, payload, word):
    user = await create_user(session, first_name="Kept")
    response = await client.put(f"/api/users/{user.id}", json=payload, headers=admin_headers)
    assert response.status_code == 422
    assert f"{word} may not be null" in response.text
    assert (await fresh(session, User, user.id)).first_name == "Kept"


async def test_update_user_telegram_id_not_changeable(client, admin_headers, session):
    user = await create_user(session, telegram_id=11)
    response = await client.put(f"/api/users/{user.id}", json={"telegram_id": 12}, headers=admin_headers)
    assert_invalid(response, "body", "telegram_id")
    assert (await fresh(session, User, user.id)).telegram_id == 11


async def test_update_user_not_found(client, admin_headers):
    response = await client.put("/api/users/999999", json={"first_name": "X"}, headers=admin_headers)
    assert response.status_code == 404
    assert response.json() == {"detail": "User 999999 not found"}


# A user's purchases --------------------------------------------------------------------------------------


async def test_read_user_purchases(client, admin_headers, session):
    user, other = await create_user(session), await create_user(session)
    first, second = await create_lesson(session), await create_lesson(session)
    now = utcnow()
    older = await create_purchase(session, user, first, created_at=now - timedelta(hours=1))
    newer = await create_purchase(session, user, second, created_at=now)
    await create_purchase(session, other, first)
    response = await client.get(f"/api/users/{user.id}/purchases", headers=admin_headers)
    assert_page(response, total=2)
    assert ids(response) == [newer.id, older.id]
    item = response.json()["items"][0]
    assert (item["user_id"], item["lesson_id"], item["amount"], item["status"]) == (
        user.id,
        second.id,
        100,
        "completed",
    )
    paged = await client.get(
        f"/api/users/{user.id}/purchases", params={"limit": 1, "offset": 1}, headers=admin_headers
    )
    assert_page(paged, total=2, limit=1, offset=1)
    assert ids(paged) == [older.id]


async def test_read_user_purchases_none(client, admin_headers, session):
    user = await create_user(session)
    response = await client.get(f"/api/users/{user.id}/purchases", headers=admin_headers)
    assert response.json() == {"items": [], "total": 0, "total_exact": True, "limit": 20, "offset": 0}


async def test_read_user_purchases_user_not_found(client, admin_headers):
    response = await client.get("/api/users/999999/purchases", headers=admin_headers)
    assert response.status_code == 404
    assert response.json() == {"detail": "User 999999 not found"}


async def test_create_user_does_not_touch_other_rows(client, admin_headers, session):
    existing = await create_user(session, telegram_id=1)
    await client.post("/api/users/", json={"telegram_id": 2, "first_name": "B"}, headers=admin_headers)
    await session.commit()
    telegram_ids = (await session.scalars(select(User.telegram_id).order_by(User.telegram_id))).all()
    assert telegram_ids == [1, 2]
    assert (await fresh(session, User, existing.id)).first_name == existing.first_name


async def test_read_users_total_past_count_limit_is_lower_bound(client, admin_headers, session, monkeypatch):
    monkeypatch.setattr(common, "TOTAL_COUNT_LIMIT", 2)
    for _ in range(4):
        await create_user(session)

    first = await client.get("/api/users/", params={"limit": 1}, headers=admin_headers)
    last = await client.get("/api/users/", params={"limit": 1, "offset": 3}, headers=admin_headers)

    assert (first.json()["total"], first.json()["total_exact"], len(first.json()["items"])) == (2, False, 1)
    assert (last.json()["total"], last.json()["total_exact"], len(last.json()["items"])) == (4, True, 1)
