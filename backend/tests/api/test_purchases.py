"""/api/purchases: recording purchases (price, promo codes, ownership and sale rules) and the ledger."""

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
from shared.constants import PurchaseStatus
from shared.models import PromoCode, Purchase
from shared.utils import utcnow

CREATE_PATHS = ["/api/purchases/", "/api/purchases/create"]
PURCHASE_FIELDS = {
    "id",
    "user_id",
    "lesson_id",
    "course_id",
    "promo_code_id",
    "payment_id",
    "telegram_payment_charge_id",
    "amount",
    "status",
    "refund_reason",
    "refund_error",
    "granted_by_id",
    "created_at",
    "updated_at",
}


# Create --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", CREATE_PATHS)
async def test_create_purchase_lesson(client, admin_headers, session, path):
    user, lesson = await create_user(session), await create_lesson(session, price=120)
    response = await client.post(
        path, json={"user_id": user.id, "lesson_id": lesson.id}, headers=admin_headers
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == PURCHASE_FIELDS
    assert (body["user_id"], body["lesson_id"], body["course_id"], body["promo_code_id"]) == (
        user.id,
        lesson.id,
        None,
        None,
    )
    assert (body["amount"], body["status"]) == (120, "pending")
    assert body["payment_id"].startswith("pay_")
    stored = await fresh(session, Purchase, body["id"])
    assert (stored.amount, stored.status, stored.payment_id) == (
        120,
        PurchaseStatus.PENDING,
        body["payment_id"],
    )


async def test_create_purchase_course_at_discount_price(client, admin_headers, session):
    user = await create_user(session)
    course = await create_course(
        session, lessons=[await create_lesson(session)], total_price=500, discount_price=350
    )
    response = await client.post(
        "/api/purchases/", json={"user_id": user.id, "course_id": course.id}, headers=admin_headers
    )
    assert response.status_code == 201, response.text
    assert (response.json()["course_id"], response.json()["lesson_id"], response.json()["amount"]) == (
        course.id,
        None,
        350,
    )


async def test_create_purchase_completed_with_ids(client, admin_headers, session):
    user, lesson = await create_user(session), await create_lesson(session)
    payload = {
        "user_id": user.id,
        "lesson_id": lesson.id,
        "status": "completed",
        "payment_id": "order-1",
        "telegram_payment_charge_id": "tg-charge-1",
    }
    response = await client.post("/api/purchases/", json=payload, headers=admin_headers)
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["status"], body["payment_id"], body["telegram_payment_charge_id"]) == (
        "completed",
        "order-1",
        "tg-charge-1",
    )


@pytest.mark.parametrize(
    ("discount", "price", "amount"),
    [
        ({"discount_percent": 10}, 120, 108),
        ({"discount_percent": 15}, 99, 85),  # 14.85 off, rounded down: the buyer pays 85
        ({"discount_percent": 100}, 120, 1),  # never below one Star
        ({"discount_percent": 0, "discount_amount": 20}, 120, 100),
        ({"discount_percent": 0, "discount_amount": 500}, 120, 1),
    ],
)
async def test_create_purchase_with_promo_code(client, admin_headers, session, discount, price, amount):
    user, lesson = await create_user(session), await create_lesson(session, price=price)
    promo = await create_promo_code(session, code="SAVE", **discount)
    response = await client.post(
        "/api/purchases/",
        json={"user_id": user.id, "lesson_id": lesson.id, "promo_code": "save"},
        headers=admin_headers,
    )
    assert response.status_code == 201, response.text
    assert (response.json()["amount"], response.json()["promo_code_id"]) == (amount, promo.id)
    assert (await fresh(session, PromoCode, promo.id)).current_uses == 1


async def test_create_purchase_course_with_promo_code(client, admin_headers, session):
    user = await create_user(session)
    course = await create_course(session, total_price=500, discount_price=400)
    promo = await create_promo_code(session, discount_percent=25)
    response = await client.post(
        "/api/purchases/create",
        json={"user_id": user.id, "course_id": course.id, "promo_code": promo.code},
        headers=admin_headers,
    )
    assert response.status_code == 201, response.text
    assert response.json()["amount"] == 300


async def test_create_purchase_promo_code_uses_counted(client, admin_headers, session):
    lesson = await create_lesson(session)
    promo = await create_promo_code(session, max_uses=2)
    users = [await create_user(session) for _ in range(3)]
    statuses = []
    for user in users:
        response = await client.post(
            "/api/purchases/",
            json={"user_id": user.id, "lesson_id": lesson.id, "promo_code": promo.code},
            headers=admin_headers,
        )
        statuses.append(response.status_code)
    assert statuses == [201, 201, 422]
    assert "has no uses left" in response.json()["detail"]
    assert (await fresh(session, PromoCode, promo.id)).current_uses == 2
    assert await count(session, Purchase) == 2


@pytest.mark.parametrize(
    ("promo_fields", "message"),
    [
        (None, "does not exist"),
        ({"is_active": False}, "is not active"),
        ({"expires_at": datetime(2020, 1, 1, tzinfo=UTC)}, "has expired"),
        ({"max_uses": 1, "current_uses": 1}, "has no uses left"),
    ],
)
async def test_create_purchase_promo_code_not_usable(client, admin_headers, session, promo_fields, message):
    user, lesson = await create_user(session), await create_lesson(session)
    if promo_fields is not None:
        await create_promo_code(session, code="NOPE", **promo_fields)
    response = await client.post(
        "/api/purchases/",
        json={"user_id": user.id, "lesson_id": lesson.id, "promo_code": "nope"},
        headers=admin_headers,
    )
    assert response.status_code == 422
    assert response.json() == {"detail": f"Promo code NOPE {message}"}
    assert await count(session, Purchase) == 0


async def test_create_purchase_already_owned(client, admin_headers, session):
    user, lesson = await create_user(session), await create_lesson(session)
    await create_purchase(session, user, lesson, status=PurchaseStatus.COMPLETED)
    promo = await create_promo_code(session)
    response = await client.post(
        "/api/purchases/",
        json={"user_id": user.id, "lesson_id": lesson.id, "promo_code": promo.code},
        headers=admin_headers,
    )
    assert response.status_code == 409
    assert response.json() == {"detail": f"The user already has access to lesson {lesson.id}"}
    assert await count(session, Purchase) == 1
    assert (await fresh(session, PromoCode, promo.id)).current_uses == 0


async def test_create_purchase_lesson_owned_through_course(client, admin_headers, session):
    user, lesson = await create_user(session), await create_lesson(session)
    course = await create_course(session, lessons=[lesson])
    await create_purchase(session, user, course)
    response = await client.post(
        "/api/purchases/", json={"user_id": user.id, "lesson_id": lesson.id}, headers=admin_headers
    )
    assert response.status_code == 409
    assert "already has access" in response.json()["detail"]


async def test_create_purchase_course_already_owned(client, admin_headers, session):
    user, course = await create_user(session), await create_course(session)
    await create_purchase(session, user, course)
    response = await client.post(
        "/api/purchases/", json={"user_id": user.id, "course_id": course.id}, headers=admin_headers
    )
    assert response.status_code == 409
    assert response.json() == {"detail": f"The user already has access to course {course.id}"}


@pytest.mark.parametrize("status", [PurchaseStatus.PENDING, PurchaseStatus.FAILED, PurchaseStatus.REFUNDED])
async def test_create_purchase_after_unpaid_purchase(client, admin_headers, session, status):
    # Only a completed purchase grants access; anything else may be bought again.
    user, lesson = await create_user(session), await create_lesson(session)
    await create_purchase(session, user, lesson, status=status)
    response = await client.post(
        "/api/purchases/", json={"user_id": user.id, "lesson_id": lesson.id}, headers=admin_headers
    )
    assert response.status_code == 201
    assert await count(session, Purchase) == 2


async def test_create_purchase_other_user_owns(client, admin_headers, session):
    owner, buyer, lesson = (
        await create_user(session),
        await create_user(session),
        await create_lesson(session),
    )
    await create_purchase(session, owner, lesson)
    response = await client.post(
        "/api/purchases/", json={"user_id": buyer.id, "lesson_id": lesson.id}, headers=admin_headers
    )
    assert response.status_code == 201


@pytest.mark.parametrize(
    ("lesson_fields", "message"),
    [
        ({"is_free": True, "price": 0}, "is free; it needs no purchase"),
        ({"is_active": False}, "is not on sale"),
    ],
)
async def test_create_purchase_lesson_not_for_sale(client, admin_headers, session, lesson_fields, message):
    user, lesson = await create_user(session), await create_lesson(session, **lesson_fields)
    response = await client.post(
        "/api/purchases/", json={"user_id": user.id, "lesson_id": lesson.id}, headers=admin_headers
    )
    assert response.status_code == 409
    assert response.json() == {"detail": f"Lesson {lesson.id} {message}"}
    assert await count(session, Purchase) == 0


async def test_create_purchase_inactive_course(client, admin_headers, session):
    user, course = await create_user(session), await create_course(session, is_active=False)
    response = await client.post(
        "/api/purchases/", json={"user_id": user.id, "course_id": course.id}, headers=admin_headers
    )
    assert response.status_code == 409
    assert response.json() == {"detail": f"Course {course.id} is not on sale"}
    assert await count(session, Purchase) == 0


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("user", "User 999999 not found"),
        ("lesson", "Lesson 999999 not found"),
        ("course", "Course 999999 not found"),
    ],
)
async def test_create_purchase_unknown_reference(client, admin_headers, session, item, message):
    user, lesson = await create_user(session), await create_lesson(session)
    payload = {"user_id": user.id, "lesson_id": lesson.id}
    if item == "user":
        payload["user_id"] = 999999
    elif item == "lesson":
        payload["lesson_id"] = 999999
    else:
        payload = {"user_id": user.id, "course_id": 999999}
    response = await client.post("/api/purchases/", json=payload, headers=admin_headers)
    assert response.status_code == 404
    assert response.json() == {"detail": message}
    assert await count(session, Purchase) == 0


@pytest.mark.parametrize("path", CREATE_PATHS)
@pytest.mark.parametrize("items", [{"lesson_id": 1, "course_id": 1}, {}])
async def test_create_purchase_needs_exactly_one_item(client, admin_headers, session, path, items):
    user = await create_user(session)
    response = await client.post(path, json={"user_id": user.id} | items, headers=admin_headers)
    assert_rule_violation(response, "give exactly one of lesson_id or course_id")
    assert await count(session, Purchase) == 0


async def test_create_purchase_duplicate_payment_id(client, admin_headers, session):
    user, first, second = (
        await create_user(session),
        await create_lesson(session),
        await create_lesson(session),
    )
    await create_purchase(session, user, first, payment_id="pay-1")
    promo = await create_promo_code(session)
    response = await client.post(
        "/api/purchases/",
        json={"user_id": user.id, "lesson_id": second.id, "payment_id": "pay-1", "promo_code": promo.code},
        headers=admin_headers,
    )
    assert response.status_code == 409
    assert response.json() == {"detail": "A purchase with payment_id pay-1 already exists"}
    assert await count(session, Purchase) == 1
    # The refused purchase did not use up the code.
    assert (await fresh(session, PromoCode, promo.id)).current_uses == 0


async def test_create_purchase_duplicate_telegram_charge_id(client, admin_headers, session):
    user, first, second = (
        await create_user(session),
        await create_lesson(session),
        await create_lesson(session),
    )
    await create_purchase(session, user, first, telegram_payment_charge_id="charge-1")
    promo = await create_promo_code(session)
    response = await client.post(
        "/api/purchases/",
        json={
            "user_id": user.id,
            "lesson_id": second.id,
            "telegram_payment_charge_id": "charge-1",
            "promo_code": promo.code,
        },
        headers=admin_headers,
    )
    assert response.status_code == 409
    assert response.json() == {"detail": "A purchase with telegram_payment_charge_id charge-1 already exists"}
    assert await count(session, Purchase) == 1
    assert (await fresh(session, PromoCode, promo.id)).current_uses == 0


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"status": "refunded"}, "status"),
        ({"status": "failed"}, "status"),
        ({"status": "paid"}, "status"),
        ({"amount": 1}, "amount"),
        ({"user_id": "1"}, "user_id"),
        ({"user_id": 0}, "user_id"),
        ({"user_id": 2**31}, "user_id"),
        ({"lesson_id": 1.0}, "lesson_id"),
        ({"promo_code": "ab"}, "promo_code"),
        ({"promo_code": "has space"}, "promo_code"),
        ({"payment_id": ""}, "payment_id"),
        ({"payment_id": "p" * 256}, "payment_id"),
        ({"payment_id": "a\x00"}, "payment_id"),
    ],
)
async def test_create_purchase_invalid_field(client, admin_headers, session, changes, field):
    user, lesson = await create_user(session), await create_lesson(session)
    payload = {"user_id": user.id, "lesson_id": lesson.id} | changes
    response = await client.post("/api/purchases/", json=payload, headers=admin_headers)
    assert_invalid(response, "body", field)
    assert await count(session, Purchase) == 0


# Read ----------------------------------------------------------------------------------------------------


async def test_read_purchase(client, admin_headers, session):
    user, lesson = await create_user(session), await create_lesson(session)
    purchase = await create_purchase(session, user, lesson, amount=77, payment_id="p-77")
    response = await client.get(f"/api/purchases/{purchase.id}", headers=admin_headers)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == PURCHASE_FIELDS
    assert (body["id"], body["amount"], body["payment_id"], body["status"]) == (
        purchase.id,
        77,
        "p-77",
        "completed",
    )


async def test_read_purchase_not_found(client, admin_headers):
    response = await client.get("/api/purchases/999999", headers=admin_headers)
    assert response.status_code == 404
    assert response.json() == {"detail": "Purchase 999999 not found"}


# List ----------------------------------------------------------------------------------------------------


@pytest.fixture
async def ledger(session) -> dict:
    """Four purchases of two users, of a lesson and a course, on four days."""
    ann, bob = await create_user(session), await create_user(session)
    lesson, course = await create_lesson(session), await create_course(session)
    day = datetime(2025, 3, 10, 12, tzinfo=UTC)
    return {
        "ann": ann,
        "bob": bob,
        "lesson": lesson,
        "course": course,
        "day": day,
        "p1": await create_purchase(session, ann, lesson, amount=10, created_at=day),
        "p2": await create_purchase(
            session, ann, course, amount=40, status=PurchaseStatus.PENDING, created_at=day + timedelta(days=1)
        ),
        "p3": await create_purchase(
            session,
            bob,
            lesson,
            amount=30,
            status=PurchaseStatus.REFUNDED,
            created_at=day + timedelta(days=2),
        ),
        "p4": await create_purchase(session, bob, course, amount=20, created_at=day + timedelta(days=3)),
    }


def purchase_ids(ledger: dict, *names: str) -> list[int]:
    return [ledger[name].id for name in names]


async def test_read_purchases_newest_first(client, admin_headers, ledger):
    response = await client.get("/api/purchases/", headers=admin_headers)
    assert_page(response, total=4)
    assert ids(response) == purchase_ids(ledger, "p4", "p3", "p2", "p1")


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"user_id": "ann"}, ["p2", "p1"]),
        ({"lesson_id": "lesson"}, ["p3", "p1"]),
        ({"course_id": "course"}, ["p4", "p2"]),
        ({"status": "completed"}, ["p4", "p1"]),
        ({"status": "refunded"}, ["p3"]),
        ({"status": "failed"}, []),
        ({"user_id": "bob", "status": "completed"}, ["p4"]),
        ({"user_id": "ann", "course_id": "course"}, ["p2"]),
    ],
)
async def test_read_purchases_filter(client, admin_headers, ledger, params, expected):
    query = {key: value if key == "status" else ledger[value].id for key, value in params.items()}
    response = await client.get("/api/purchases/", params=query, headers=admin_headers)
    assert response.status_code == 200
    assert ids(response) == purchase_ids(ledger, *expected)
    assert response.json()["total"] == len(expected)


async def test_read_purchases_filter_created_range(client, admin_headers, ledger):
    day = ledger["day"]
    response = await client.get(
        "/api/purchases/",
        params={
            "created_from": (day + timedelta(days=1)).isoformat(),
            "created_to": (day + timedelta(days=3)).isoformat(),
        },
        headers=admin_headers,
    )
    # created_from is inclusive, created_to exclusive.
    assert ids(response) == purchase_ids(ledger, "p3", "p2")
    since = await client.get("/api/purchases/", params={"created_from": "2025-03-12"}, headers=admin_headers)
    assert ids(since) == purchase_ids(ledger, "p4", "p3")


async def test_read_purchases_filter_created_range_other_timezone(client, admin_headers, ledger):
    # 2025-03-11 12:00 UTC written as 15:00 at UTC+3.
    response = await client.get(
        "/api/purchases/", params={"created_from": "2025-03-11T15:00:00+03:00"}, headers=admin_headers
    )
    assert ids(response) == purchase_ids(ledger, "p4", "p3", "p2")


async def test_read_purchases_filter_promo_code(client, admin_headers, session, ledger):
    promo, other = await create_promo_code(session), await create_promo_code(session)
    used = [
        await create_purchase(session, ledger["ann"], ledger["lesson"], promo_code_id=promo.id),
        await create_purchase(session, ledger["bob"], ledger["course"], promo_code_id=promo.id),
    ]
    await create_purchase(session, ledger["bob"], ledger["lesson"], promo_code_id=other.id)
    response = await client.get("/api/purchases/", params={"promo_code_id": promo.id}, headers=admin_headers)
    assert_page(response, total=2)
    assert ids(response) == [used[1].id, used[0].id]
    assert {item["promo_code_id"] for item in response.json()["items"]} == {promo.id}
    unused = await client.get("/api/purchases/", params={"promo_code_id": 99999}, headers=admin_headers)
    assert_page(unused, total=0)
    assert_invalid(
        await client.get("/api/purchases/", params={"promo_code_id": 0}, headers=admin_headers),
        "query",
        "promo_code_id",
    )


@pytest.mark.parametrize(
    ("sort", "expected"), [("amount", ["p1", "p4", "p3", "p2"]), ("-amount", ["p2", "p3", "p4", "p1"])]
)
async def test_read_purchases_sort(client, admin_headers, ledger, sort, expected):
    response = await client.get("/api/purchases/", params={"sort": sort}, headers=admin_headers)
    assert ids(response) == purchase_ids(ledger, *expected)


async def test_read_purchases_pagination(client, admin_headers, ledger):
    response = await client.get("/api/purchases/", params={"limit": 3, "offset": 3}, headers=admin_headers)
    assert_page(response, total=4, limit=3, offset=3)
    assert ids(response) == purchase_ids(ledger, "p1")
    beyond = await client.get("/api/purchases/", params={"offset": 10}, headers=admin_headers)
    assert beyond.json() == {"items": [], "total": 4, "total_exact": True, "limit": 20, "offset": 10}


@pytest.mark.parametrize(
    ("params", "loc"),
    [
        ({"status": "paid"}, ["query", "status"]),
        ({"user_id": 0}, ["query", "user_id"]),
        ({"lesson_id": 2**64}, ["query", "lesson_id"]),
        ({"course_id": "x"}, ["query", "course_id"]),
        ({"created_from": "yesterday"}, ["query", "created_from"]),
        ({"created_to": "2025-13-01"}, ["query", "created_to"]),
        ({"sort": "user_id"}, ["query", "sort"]),
        ({"limit": 0}, ["query", "limit"]),
        ({"limit": 101}, ["query", "limit"]),
    ],
)
async def test_read_purchases_invalid_query(client, admin_headers, params, loc):
    assert_invalid(await client.get("/api/purchases/", params=params, headers=admin_headers), *loc)


@pytest.mark.parametrize(
    "params", [{"created_from": "0001-01-01T00:00:00+05:00"}, {"created_to": "9999-12-31T23:59:59-05:00"}]
)
async def test_read_purchases_created_range_out_of_range(lenient_client, admin_headers, params):
    response = await lenient_client.get("/api/purchases/", params=params, headers=admin_headers)
    assert response.status_code == 422, response.text


@pytest.mark.usefixtures("ledger")
async def test_read_purchases_created_range_extreme_utc(client, admin_headers):
    # The extremes themselves are fine when they need no conversion.
    response = await client.get(
        "/api/purchases/",
        params={"created_from": "0001-01-01T00:00:00Z", "created_to": "9999-12-31T23:59:59Z"},
        headers=admin_headers,
    )
    assert response.json()["total"] == 4


async def test_read_purchases_recent_first_after_create(client, admin_headers, session):
    user, lesson = await create_user(session), await create_lesson(session)
    old = await create_purchase(
        session, user, await create_lesson(session), created_at=utcnow() - timedelta(days=1)
    )
    new = (
        await client.post(
            "/api/purchases/", json={"user_id": user.id, "lesson_id": lesson.id}, headers=admin_headers
        )
    ).json()
    assert ids(await client.get("/api/purchases/", headers=admin_headers)) == [new["id"], old.id]
