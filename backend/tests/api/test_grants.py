"""Grants through the API: an item given for free (POST /api/users/{id}/grants), revoked
(POST /api/purchases/{id}/revoke); the access rule before and after; refunds of grants refused; the users'
search by Telegram id and @username."""

import pytest
from sqlalchemy import select

from backend.services import access_service
from backend.tests.api import headers_of
from backend.tests.factories import create_course, create_lesson, create_purchase, create_user
from shared.constants import AdminRole, AuditAction, PurchaseStatus
from shared.models import Admin, AuditLog, Purchase


async def _can_open(session, user, lesson) -> bool:
    return await access_service.can_access_lesson(session, user_id=user.id, lesson=lesson)


async def test_grant_lesson_gives_access_then_revoke_removes_it(client, admin_headers, session):
    user, lesson = await create_user(session), await create_lesson(session, price=100)
    assert not await _can_open(session, user, lesson)

    response = await client.post(
        f"/api/users/{user.id}/grants", json={"lesson_id": lesson.id}, headers=admin_headers
    )

    assert response.status_code == 201, response.text
    body = response.json()
    admin_id = await session.scalar(select(Admin.id).where(Admin.username == "admin"))
    assert (body["status"], body["amount"], body["granted_by_id"], body["telegram_payment_charge_id"]) == (
        "completed",
        0,
        admin_id,
        None,
    )
    assert body["payment_id"].startswith("grant-")
    assert await _can_open(session, user, lesson)

    revoked = await client.post(f"/api/purchases/{body['id']}/revoke", headers=admin_headers)

    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["status"] == "revoked"
    assert not await _can_open(session, user, lesson)
    again = await client.post(f"/api/purchases/{body['id']}/revoke", headers=admin_headers)
    assert again.status_code == 409
    assert again.json()["detail"] == f"Purchase {body['id']} is revoked and cannot become revoked"


async def test_grant_course_opens_its_lessons(client, admin_headers, session):
    user, lesson = await create_user(session), await create_lesson(session)
    course = await create_course(session, [lesson])

    response = await client.post(
        f"/api/users/{user.id}/grants", json={"course_id": course.id}, headers=admin_headers
    )

    assert response.status_code == 201, response.text
    assert await _can_open(session, user, lesson)
    assert await access_service.owns_course(session, user_id=user.id, course_id=course.id)


async def test_grant_after_revoke_is_allowed(client, admin_headers, session):
    user, lesson = await create_user(session), await create_lesson(session)
    first = await client.post(
        f"/api/users/{user.id}/grants", json={"lesson_id": lesson.id}, headers=admin_headers
    )
    await client.post(f"/api/purchases/{first.json()['id']}/revoke", headers=admin_headers)

    second = await client.post(
        f"/api/users/{user.id}/grants", json={"lesson_id": lesson.id}, headers=admin_headers
    )

    assert second.status_code == 201
    assert await _can_open(session, user, lesson)


@pytest.mark.parametrize("through", ["lesson", "course"])
async def test_grant_refused_when_student_has_access(client, admin_headers, session, through):
    user, lesson = await create_user(session), await create_lesson(session)
    course = await create_course(session, [lesson])
    await create_purchase(session, user, lesson if through == "lesson" else course)

    response = await client.post(
        f"/api/users/{user.id}/grants", json={"lesson_id": lesson.id}, headers=admin_headers
    )

    assert response.status_code == 409
    assert response.json()["detail"] == f"The user already has access to lesson {lesson.id}"
    assert await session.scalar(select(Purchase.id).where(Purchase.granted_by_id.is_not(None))) is None


async def test_grant_of_free_lesson_refused(client, admin_headers, session):
    user, lesson = await create_user(session), await create_lesson(session, is_free=True, price=0)

    response = await client.post(
        f"/api/users/{user.id}/grants", json={"lesson_id": lesson.id}, headers=admin_headers
    )

    assert response.status_code == 409


@pytest.mark.parametrize(
    ("body", "status_code"),
    [
        ({}, 422),
        ({"lesson_id": 1, "course_id": 1}, 422),
        ({"lesson_id": "x"}, 422),
        ({"lesson_id": 999_999}, 404),
        ({"course_id": 999_999}, 404),
        ({"lesson_id": 1, "extra": True}, 422),
    ],
)
async def test_grant_bad_input(client, admin_headers, session, body, status_code):
    user = await create_user(session)

    response = await client.post(f"/api/users/{user.id}/grants", json=body, headers=admin_headers)

    assert response.status_code == status_code, response.text


async def test_grant_to_unknown_user_is_not_found(client, admin_headers, session):
    lesson = await create_lesson(session)

    response = await client.post(
        "/api/users/999999/grants", json={"lesson_id": lesson.id}, headers=admin_headers
    )

    assert response.status_code == 404
    assert response.json()["detail"] == "User 999999 not found"


async def test_revoke_sale_is_conflict(client, admin_headers, session):
    user, lesson = await create_user(session), await create_lesson(session)
    sale = await create_purchase(session, user, lesson, telegram_payment_charge_id="ch-1")

    response = await client.post(f"/api/purchases/{sale.id}/revoke", headers=admin_headers)

    assert response.status_code == 409
    assert response.json()["detail"] == f"Purchase {sale.id} is not a grant: only grants can be revoked"
    await session.refresh(sale)
    assert sale.status is PurchaseStatus.COMPLETED


async def test_revoke_unknown_purchase_is_not_found(client, admin_headers):
    response = await client.post("/api/purchases/999999/revoke", headers=admin_headers)

    assert response.status_code == 404


async def test_refund_of_grant_is_refused(client, admin_headers, session):
    user, lesson = await create_user(session), await create_lesson(session)
    granted = await client.post(
        f"/api/users/{user.id}/grants", json={"lesson_id": lesson.id}, headers=admin_headers
    )

    response = await client.post(f"/api/purchases/{granted.json()['id']}/refund", headers=admin_headers)

    # Refused before Telegram is needed: a grant has no charge to give back.
    assert response.status_code == 409
    assert "granted for free" in response.json()["detail"]
    assert await _can_open(session, user, lesson)


async def test_grant_and_revoke_are_in_the_audit_log(client, admin_headers, session):
    user, lesson = await create_user(session), await create_lesson(session)
    granted = await client.post(
        f"/api/users/{user.id}/grants", json={"lesson_id": lesson.id}, headers=admin_headers
    )
    purchase_id = granted.json()["id"]
    await client.post(f"/api/purchases/{purchase_id}/revoke", headers=admin_headers)

    rows = (
        await session.scalars(
            select(AuditLog)
            .where(AuditLog.entity == "purchases", AuditLog.entity_id == str(purchase_id))
            .order_by(AuditLog.id)
        )
    ).all()

    assert [(row.action, row.admin_username) for row in rows] == [
        (AuditAction.CREATE, "admin"),
        (AuditAction.UPDATE, "admin"),
    ]
    assert rows[0].changes["amount"] == [None, 0]
    assert rows[1].changes["status"] == ["completed", "revoked"]


async def test_support_may_not_grant_or_revoke(client, session):
    headers = await headers_of(AdminRole.SUPPORT)
    user, lesson = await create_user(session), await create_lesson(session)
    purchase = await create_purchase(session, user, lesson, amount=0, payment_id="grant-x")

    grant = await client.post(f"/api/users/{user.id}/grants", json={"lesson_id": lesson.id}, headers=headers)
    revoke = await client.post(f"/api/purchases/{purchase.id}/revoke", headers=headers)

    assert (grant.status_code, revoke.status_code) == (403, 403)


async def test_manager_may_grant(client, session):
    headers = await headers_of(AdminRole.MANAGER)
    user, lesson = await create_user(session), await create_lesson(session)

    response = await client.post(
        f"/api/users/{user.id}/grants", json={"lesson_id": lesson.id}, headers=headers
    )

    assert response.status_code == 201


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("4242424242", ["found"]),
        ("@ann", ["found"]),
        ("Annabel", ["found"]),
        ("@", []),
        ("12345678901234567890123", []),
    ],
)
async def test_search_users_by_telegram_id_or_username(client, admin_headers, session, q, expected):
    await create_user(session, telegram_id=4242424242, first_name="found", username="annabel")
    await create_user(session, telegram_id=5, first_name="other", username="bob")

    response = await client.get("/api/users/", params={"q": q}, headers=admin_headers)

    assert response.status_code == 200, response.text
    assert [user["first_name"] for user in response.json()["items"]] == expected


async def test_user_read_shows_blocked_bot(client, admin_headers, session):
    from backend.services import user_service

    user = await create_user(session)
    await user_service.mark_bot_blocked(session, user.id)
    await session.commit()

    response = await client.get(f"/api/users/{user.id}", headers=admin_headers)

    assert response.json()["bot_blocked_at"] is not None
