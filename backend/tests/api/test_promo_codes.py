"""/api/promo-codes: CRUD, the one-discount-kind rule, and /validate (price with a code, or why not)."""

from datetime import UTC, datetime, timedelta

import pytest

from backend.tests.api import (
    assert_invalid,
    assert_page,
    assert_rule_violation,
    count,
    fresh,
    ids,
)
from backend.tests.factories import (
    create_course,
    create_lesson,
    create_promo_code,
    create_purchase,
    create_user,
)
from shared.models import PromoCode
from shared.utils import utcnow

PROMO_FIELDS = {
    "id",
    "code",
    "discount_percent",
    "discount_amount",
    "max_uses",
    "current_uses",
    "is_active",
    "expires_at",
    "created_at",
    "updated_at",
}


# Create --------------------------------------------------------------------------------------------------


async def test_create_promo_code(client, admin_headers, session):
    payload = {
        "code": "  summer-25_x ",
        "discount_percent": 25,
        "max_uses": 10,
        "expires_at": "2030-06-01T12:00:00Z",
    }
    response = await client.post("/api/promo-codes/", json=payload, headers=admin_headers)
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == PROMO_FIELDS
    assert (body["code"], body["discount_percent"], body["discount_amount"], body["max_uses"]) == (
        "SUMMER-25_X",
        25,
        None,
        10,
    )
    assert (body["current_uses"], body["is_active"], body["expires_at"]) == (0, True, "2030-06-01T12:00:00Z")
    stored = await fresh(session, PromoCode, body["id"])
    assert (stored.code, stored.discount_percent, stored.max_uses) == ("SUMMER-25_X", 25, 10)
    assert stored.expires_at == datetime(2030, 6, 1, 12, tzinfo=UTC)


async def test_create_promo_code_fixed_amount(client, admin_headers):
    response = await client.post(
        "/api/promo-codes/", json={"code": "minus50", "discount_amount": 50}, headers=admin_headers
    )
    assert response.status_code == 201, response.text
    assert (response.json()["discount_percent"], response.json()["discount_amount"]) == (0, 50)


async def test_create_promo_code_expiry_converted_to_utc(client, admin_headers):
    response = await client.post(
        "/api/promo-codes/",
        json={"code": "TZ1", "discount_percent": 5, "expires_at": "2030-01-01T03:00:00+03:00"},
        headers=admin_headers,
    )
    assert response.json()["expires_at"] == "2030-01-01T00:00:00Z"
    naive = await client.post(
        "/api/promo-codes/",
        json={"code": "TZ2", "discount_percent": 5, "expires_at": "2030-01-01T00:00:00"},
        headers=admin_headers,
    )
    assert naive.json()["expires_at"] == "2030-01-01T00:00:00Z"


@pytest.mark.parametrize("existing", ["SALE", "sale"])
async def test_create_promo_code_duplicate(client, admin_headers, session, existing):
    await create_promo_code(session, code="SALE")
    response = await client.post(
        "/api/promo-codes/", json={"code": existing.lower(), "discount_percent": 5}, headers=admin_headers
    )
    assert response.status_code == 409
    assert response.json() == {"detail": "Promo code SALE already exists"}
    assert await count(session, PromoCode) == 1


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"discount_percent": 10, "discount_amount": 5}, "not both"),
        ({}, "set discount_percent (1-100) or discount_amount"),
        ({"discount_percent": 0}, "set discount_percent (1-100) or discount_amount"),
    ],
)
async def test_create_promo_code_discount_kind(client, admin_headers, session, payload, message):
    response = await client.post("/api/promo-codes/", json={"code": "KIND"} | payload, headers=admin_headers)
    assert_rule_violation(response, message)
    assert await count(session, PromoCode) == 0


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"discount_percent": 101}, "discount_percent"),
        ({"discount_percent": -5}, "discount_percent"),
        ({"discount_percent": "10"}, "discount_percent"),
        ({"discount_percent": 10.5}, "discount_percent"),
        ({"discount_percent": 0, "discount_amount": 0}, "discount_amount"),
        ({"discount_percent": 0, "discount_amount": 1_000_001}, "discount_amount"),
        ({"max_uses": 0}, "max_uses"),
        ({"max_uses": "3"}, "max_uses"),
        ({"code": "ab"}, "code"),
        ({"code": "c" * 65}, "code"),
        ({"code": "no spaces"}, "code"),
        ({"code": "ÜBER"}, "code"),
        ({"code": None}, "code"),
        ({"is_active": "no"}, "is_active"),
        ({"expires_at": "soon"}, "expires_at"),
        ({"current_uses": 3}, "current_uses"),
    ],
)
async def test_create_promo_code_invalid_field(client, admin_headers, session, changes, field):
    payload = {"code": "VALID", "discount_percent": 10} | changes
    response = await client.post("/api/promo-codes/", json=payload, headers=admin_headers)
    assert_invalid(response, "body", field)
    assert await count(session, PromoCode) == 0


@pytest.mark.parametrize("expires_at", ["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00"])
async def test_create_promo_code_expiry_out_of_range(lenient_client, admin_headers, expires_at):
    response = await lenient_client.post(
        "/api/promo-codes/",
        json={"code": "EDGE", "discount_percent": 5, "expires_at": expires_at},
        headers=admin_headers,
    )
    assert_invalid(response, "body", "expires_at")


# Read and list -------------------------------------------------------------------------------------------


async def test_read_promo_code(client, admin_headers, session):
    promo = await create_promo_code(session, code="READ", discount_percent=30, current_uses=2, max_uses=5)
    response = await client.get(f"/api/promo-codes/{promo.id}", headers=admin_headers)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == PROMO_FIELDS
    assert (body["code"], body["discount_percent"], body["current_uses"], body["max_uses"]) == (
        "READ",
        30,
        2,
        5,
    )


async def test_read_promo_code_not_found(client, admin_headers):
    response = await client.get("/api/promo-codes/999999", headers=admin_headers)
    assert response.status_code == 404
    assert response.json() == {"detail": "Promo code 999999 not found"}


async def test_read_promo_codes_filters(client, admin_headers, session):
    now = utcnow()
    spring = await create_promo_code(session, code="SPRING10", created_at=now - timedelta(hours=2))
    summer = await create_promo_code(session, code="SUMMER10", created_at=now - timedelta(hours=1))
    old = await create_promo_code(session, code="OLD", is_active=False, created_at=now)
    everything = await client.get("/api/promo-codes/", headers=admin_headers)
    assert_page(everything, total=3)
    assert ids(everything) == [old.id, summer.id, spring.id]
    active = await client.get("/api/promo-codes/", params={"is_active": "true"}, headers=admin_headers)
    assert ids(active) == [summer.id, spring.id]
    inactive = await client.get("/api/promo-codes/", params={"is_active": "false"}, headers=admin_headers)
    assert ids(inactive) == [old.id]
    search = await client.get("/api/promo-codes/", params={"q": "summer"}, headers=admin_headers)
    assert ids(search) == [summer.id]
    by_code = await client.get("/api/promo-codes/", params={"sort": "code"}, headers=admin_headers)
    assert [item["code"] for item in by_code.json()["items"]] == ["OLD", "SPRING10", "SUMMER10"]


async def test_read_promo_codes_pagination(client, admin_headers, session):
    codes = [await create_promo_code(session) for _ in range(3)]
    response = await client.get(
        "/api/promo-codes/", params={"sort": "id", "limit": 2, "offset": 2}, headers=admin_headers
    )
    assert_page(response, total=3, limit=2, offset=2)
    assert ids(response) == [codes[2].id]
    beyond = await client.get("/api/promo-codes/", params={"offset": 3}, headers=admin_headers)
    assert beyond.json() == {"items": [], "total": 3, "total_exact": True, "limit": 20, "offset": 3}


@pytest.mark.parametrize(
    ("params", "loc"),
    [
        ({"limit": 0}, ["query", "limit"]),
        ({"limit": 101}, ["query", "limit"]),
        ({"sort": "discount_percent"}, ["query", "sort"]),
        ({"q": "\x00"}, ["query", "q"]),
        ({"is_active": "perhaps"}, ["query", "is_active"]),
    ],
)
async def test_read_promo_codes_invalid_query(client, admin_headers, params, loc):
    assert_invalid(await client.get("/api/promo-codes/", params=params, headers=admin_headers), *loc)


# Update --------------------------------------------------------------------------------------------------


async def test_update_promo_code_partial(client, admin_headers, session):
    promo = await create_promo_code(session, code="EDIT", discount_percent=10, max_uses=5)
    response = await client.put(f"/api/promo-codes/{promo.id}", json={"max_uses": 8}, headers=admin_headers)
    assert response.status_code == 200, response.text
    assert (response.json()["code"], response.json()["discount_percent"], response.json()["max_uses"]) == (
        "EDIT",
        10,
        8,
    )
    assert (await fresh(session, PromoCode, promo.id)).max_uses == 8


async def test_update_promo_code_switch_to_amount(client, admin_headers, session):
    promo = await create_promo_code(session, discount_percent=10)
    response = await client.put(
        f"/api/promo-codes/{promo.id}", json={"discount_amount": 30}, headers=admin_headers
    )
    assert response.status_code == 200, response.text
    assert (response.json()["discount_percent"], response.json()["discount_amount"]) == (0, 30)
    stored = await fresh(session, PromoCode, promo.id)
    assert (stored.discount_percent, stored.discount_amount) == (0, 30)


async def test_update_promo_code_switch_to_percent(client, admin_headers, session):
    promo = await create_promo_code(session, discount_percent=0, discount_amount=30)
    response = await client.put(
        f"/api/promo-codes/{promo.id}", json={"discount_percent": 15}, headers=admin_headers
    )
    assert response.status_code == 200, response.text
    assert (response.json()["discount_percent"], response.json()["discount_amount"]) == (15, None)


@pytest.mark.parametrize(
    "payload",
    [
        {"discount_percent": 0},
        {"discount_percent": 20, "discount_amount": 5},
        {"discount_percent": 0, "discount_amount": None},
    ],
)
async def test_update_promo_code_discount_kind(client, admin_headers, session, payload):
    promo = await create_promo_code(session, discount_percent=10)
    response = await client.put(f"/api/promo-codes/{promo.id}", json=payload, headers=admin_headers)
    assert response.status_code == 422, response.text
    stored = await fresh(session, PromoCode, promo.id)
    assert (stored.discount_percent, stored.discount_amount) == (10, None)


async def test_update_promo_code_max_uses_below_uses(client, admin_headers, session):
    promo = await create_promo_code(session, max_uses=10, current_uses=4)
    response = await client.put(f"/api/promo-codes/{promo.id}", json={"max_uses": 3}, headers=admin_headers)
    assert response.status_code == 422
    assert response.json() == {"detail": "max_uses cannot be lower than the 4 uses so far"}
    assert (await fresh(session, PromoCode, promo.id)).max_uses == 10
    unlimited = await client.put(
        f"/api/promo-codes/{promo.id}", json={"max_uses": None}, headers=admin_headers
    )
    assert unlimited.json()["max_uses"] is None


async def test_update_promo_code_rename(client, admin_headers, session):
    promo = await create_promo_code(session, code="OLDNAME")
    response = await client.put(
        f"/api/promo-codes/{promo.id}", json={"code": "newname"}, headers=admin_headers
    )
    assert response.json()["code"] == "NEWNAME"
    assert (await fresh(session, PromoCode, promo.id)).code == "NEWNAME"


async def test_update_promo_code_rename_to_existing(client, admin_headers, session):
    await create_promo_code(session, code="TAKEN")
    promo = await create_promo_code(session, code="MINE")
    response = await client.put(f"/api/promo-codes/{promo.id}", json={"code": "taken"}, headers=admin_headers)
    assert response.status_code == 409
    assert response.json() == {"detail": "Promo code TAKEN already exists"}
    assert (await fresh(session, PromoCode, promo.id)).code == "MINE"


@pytest.mark.parametrize("field", ["code", "discount_percent", "is_active"])
async def test_update_promo_code_null_required_field(client, admin_headers, session, field):
    promo = await create_promo_code(session, code="KEEP")
    response = await client.put(f"/api/promo-codes/{promo.id}", json={field: None}, headers=admin_headers)
    assert_rule_violation(response, f"{field} may not be null")
    assert (await fresh(session, PromoCode, promo.id)).code == "KEEP"


async def test_update_promo_code_current_uses_not_editable(client, admin_headers, session):
    promo = await create_promo_code(session)
    response = await client.put(
        f"/api/promo-codes/{promo.id}", json={"current_uses": 0}, headers=admin_headers
    )
    assert_invalid(response, "body", "current_uses")


async def test_update_promo_code_not_found(client, admin_headers):
    response = await client.put("/api/promo-codes/999999", json={"max_uses": 1}, headers=admin_headers)
    assert response.status_code == 404


# Delete --------------------------------------------------------------------------------------------------


async def test_delete_promo_code(client, admin_headers, session):
    promo = await create_promo_code(session)
    response = await client.delete(f"/api/promo-codes/{promo.id}", headers=admin_headers)
    assert response.status_code == 204
    assert response.content == b""
    assert (await client.get(f"/api/promo-codes/{promo.id}", headers=admin_headers)).status_code == 404
    assert await fresh(session, PromoCode, promo.id) is None


async def test_delete_promo_code_used(client, admin_headers, session):
    promo = await create_promo_code(session, code="USED")
    purchase = await create_purchase(
        session, await create_user(session), await create_lesson(session), promo_code_id=promo.id
    )
    response = await client.delete(f"/api/promo-codes/{promo.id}", headers=admin_headers)
    assert response.status_code == 409
    assert response.json() == {"detail": "Promo code USED was used in purchases; deactivate it instead"}
    assert (await client.get(f"/api/purchases/{purchase.id}", headers=admin_headers)).json()[
        "promo_code_id"
    ] == promo.id
    assert await fresh(session, PromoCode, promo.id) is not None


async def test_delete_promo_code_not_found(client, admin_headers):
    assert (await client.delete("/api/promo-codes/999999", headers=admin_headers)).status_code == 404


# Validate ------------------------------------------------------------------------------------------------


async def test_validate_promo_code_percent(client, admin_headers, session):
    lesson = await create_lesson(session, price=200)
    await create_promo_code(session, code="TWENTY", discount_percent=20)
    response = await client.post(
        "/api/promo-codes/validate", json={"code": " twenty ", "lesson_id": lesson.id}, headers=admin_headers
    )
    assert response.status_code == 200, response.text
    assert response.json() == {
        "code": "TWENTY",
        "valid": True,
        "reason": None,
        "message": None,
        "original_price": 200,
        "discount": 40,
        "final_price": 160,
    }


async def test_validate_promo_code_amount_on_course(client, admin_headers, session):
    course = await create_course(session, total_price=300, discount_price=250)
    await create_promo_code(session, code="FIFTY", discount_percent=0, discount_amount=50)
    response = await client.post(
        "/api/promo-codes/validate", json={"code": "FIFTY", "course_id": course.id}, headers=admin_headers
    )
    body = response.json()
    assert (body["valid"], body["original_price"], body["discount"], body["final_price"]) == (
        True,
        250,
        50,
        200,
    )


async def test_validate_promo_code_does_not_use_it(client, admin_headers, session):
    lesson = await create_lesson(session)
    promo = await create_promo_code(session, max_uses=1)
    for _ in range(2):
        response = await client.post(
            "/api/promo-codes/validate",
            json={"code": promo.code, "lesson_id": lesson.id},
            headers=admin_headers,
        )
        assert response.json()["valid"] is True
    assert (await fresh(session, PromoCode, promo.id)).current_uses == 0


@pytest.mark.parametrize(
    ("promo_fields", "reason", "message"),
    [
        (None, "unknown", "Promo code GHOST does not exist"),
        ({"is_active": False}, "inactive", "Promo code GHOST is not active"),
        ({"expires_at": datetime(2020, 1, 1, tzinfo=UTC)}, "expired", "Promo code GHOST has expired"),
        ({"max_uses": 3, "current_uses": 3}, "used_up", "Promo code GHOST has no uses left"),
    ],
)
async def test_validate_promo_code_invalid(client, admin_headers, session, promo_fields, reason, message):
    lesson = await create_lesson(session, price=120)
    if promo_fields is not None:
        await create_promo_code(session, code="GHOST", **promo_fields)
    response = await client.post(
        "/api/promo-codes/validate", json={"code": "ghost", "lesson_id": lesson.id}, headers=admin_headers
    )
    assert response.status_code == 200, response.text
    assert response.json() == {
        "code": "GHOST",
        "valid": False,
        "reason": reason,
        "message": message,
        "original_price": 120,
        "discount": 0,
        "final_price": 120,
    }


async def test_validate_promo_code_free_lesson(client, admin_headers, session):
    lesson = await create_lesson(session, price=0, is_free=True)
    await create_promo_code(session, code="ANY")
    response = await client.post(
        "/api/promo-codes/validate", json={"code": "ANY", "lesson_id": lesson.id}, headers=admin_headers
    )
    body = response.json()
    assert (body["valid"], body["original_price"], body["discount"], body["final_price"]) == (True, 0, 0, 0)


@pytest.mark.parametrize(
    ("item", "message"), [("lesson_id", "Lesson 999999 not found"), ("course_id", "Course 999999 not found")]
)
async def test_validate_promo_code_unknown_item(client, admin_headers, session, item, message):
    await create_promo_code(session, code="ANY")
    response = await client.post(
        "/api/promo-codes/validate", json={"code": "ANY", item: 999999}, headers=admin_headers
    )
    assert response.status_code == 404
    assert response.json() == {"detail": message}


@pytest.mark.parametrize(
    "payload",
    [
        {"code": "ANY"},
        {"code": "ANY", "lesson_id": 1, "course_id": 1},
        {"lesson_id": 1},
        {"code": "", "lesson_id": 1},
        {"code": "ANY", "lesson_id": "1"},
        {"code": "A\x00", "lesson_id": 1},
    ],
)
async def test_validate_promo_code_invalid_body(client, admin_headers, payload):
    response = await client.post("/api/promo-codes/validate", json=payload, headers=admin_headers)
    assert response.status_code == 422, response.text
