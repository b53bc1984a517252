"""The audit log: every admin write through the API lands in it (who, what, before and after), nothing
else does, and its records cannot be changed or deleted."""

import pytest
from sqlalchemy import delete, select, update

from backend.services import lesson_service
from backend.services.exceptions import AuditLogIsAppendOnly
from backend.tests.api import create_admin, headers_of
from backend.tests.factories import create_lesson, create_promo_code, create_user
from shared.constants import AdminRole, AuditAction
from shared.models import Admin, AuditLog, UnmatchedPayment, UnmatchedPaymentReason
from shared.schemas import LessonCreate


async def records(session, **where) -> list[AuditLog]:
    await session.commit()
    statement = select(AuditLog).filter_by(**where).order_by(AuditLog.id)
    return list((await session.scalars(statement, execution_options={"populate_existing": True})).all())


async def test_lesson_created_updated_deleted(client, admin_headers, session):
    created = await client.post("/api/lessons/", json={"title": "Knots", "price": 100}, headers=admin_headers)
    lesson_id = created.json()["id"]
    await client.put(
        f"/api/lessons/{lesson_id}", json={"price": 150, "title": "Knots"}, headers=admin_headers
    )
    await client.delete(f"/api/lessons/{lesson_id}", headers=admin_headers)

    create, change, removal = await records(session, entity="lessons", entity_id=str(lesson_id))
    owner = await session.scalar(select(Admin).where(Admin.username == "admin"))
    assert (create.action, create.admin_id, create.admin_username) == (AuditAction.CREATE, owner.id, "admin")
    assert create.changes["title"] == [None, "Knots"]
    assert create.changes["price"] == [None, 100]
    assert "created_at" not in create.changes
    # Only what changed (the title was sent unchanged), without the bookkeeping updated_at.
    assert (change.action, change.changes) == (AuditAction.UPDATE, {"price": [100, 150]})
    assert removal.action is AuditAction.DELETE
    assert removal.changes["price"] == [150, None]


async def test_long_text_is_cut(client, admin_headers, session):
    body = {"title": "Long", "price": 1, "text_content": "x" * 5000}
    lesson_id = (await client.post("/api/lessons/", json=body, headers=admin_headers)).json()["id"]
    [create] = await records(session, entity="lessons", entity_id=str(lesson_id))
    assert len(create.changes["text_content"][1]) == 201


async def test_promo_code_change(client, admin_headers, session):
    promo = await create_promo_code(session, code="SPRING", discount_percent=10)
    response = await client.put(
        f"/api/promo-codes/{promo.id}", json={"discount_amount": 5}, headers=admin_headers
    )
    assert response.status_code == 200
    [change] = await records(session, entity="promo_codes")
    assert change.action is AuditAction.UPDATE
    assert change.changes == {"discount_percent": [10, 0], "discount_amount": [None, 5]}


async def test_admin_role_change_and_password_masked(client, admin_headers, session):
    admin = await create_admin("maria", AdminRole.SUPPORT)
    response = await client.patch(
        f"/api/admins/{admin.id}",
        json={"role": "manager", "password": "a-new-password"},
        headers=admin_headers,
    )
    assert response.status_code == 200
    [change] = await records(session, entity="admins", entity_id=str(admin.id))
    assert change.changes["role"] == ["support", "manager"]
    assert change.changes["password_hash"] == [None, "***changed***"]
    assert "argon2" not in str(change.changes)


async def test_manager_write_is_recorded_under_their_name(client, session):
    headers = await headers_of(AdminRole.MANAGER)
    user = await create_user(session, first_name="Ann")
    response = await client.put(f"/api/users/{user.id}", json={"first_name": "Anna"}, headers=headers)
    assert response.status_code == 200
    [change] = await records(session, entity="users")
    assert change.admin_username.startswith("manager-")
    assert change.changes == {"first_name": ["Ann", "Anna"]}


async def test_user_created_with_insert_returning(client, admin_headers, session):
    response = await client.post(
        "/api/users/", json={"telegram_id": 555, "first_name": "Bo"}, headers=admin_headers
    )
    assert response.status_code == 201
    [create] = await records(session, entity="users")
    assert (create.action, create.entity_id) == (AuditAction.CREATE, str(response.json()["id"]))
    assert create.changes["telegram_id"] == [None, 555]


async def test_conditional_update_statement_recorded(client, admin_headers, session):
    # resolve_unmatched is one UPDATE ... WHERE resolved_at IS NULL, not a change of a loaded object.
    unmatched = UnmatchedPayment(
        telegram_payment_charge_id="c1",
        telegram_user_id=1,
        amount=5,
        currency="XTR",
        payload="?",
        reason=UnmatchedPaymentReason.UNKNOWN_ITEM,
    )
    session.add(unmatched)
    await session.commit()
    response = await client.post(
        f"/api/unmatched-payments/{unmatched.id}/resolve",
        json={"resolution": "refunded"},
        headers=admin_headers,
    )
    assert response.status_code == 200
    [change] = await records(session, entity="unmatched_payments")
    assert change.action is AuditAction.UPDATE
    assert change.changes["resolution"] == [None, "refunded"]
    assert change.changes["resolved_at"][0] is None


async def test_course_lessons_replaced(client, admin_headers, session):
    first, second = await create_lesson(session), await create_lesson(session)
    course = (
        await client.post(
            "/api/courses/",
            json={"title": "C", "total_price": 10, "lesson_ids": [first.id]},
            headers=admin_headers,
        )
    ).json()
    response = await client.put(
        f"/api/courses/{course['id']}/lessons", json={"lesson_ids": [second.id]}, headers=admin_headers
    )
    assert response.status_code == 200
    rows = await records(session, entity="course_lessons")
    assert [(r.action, r.entity_id) for r in rows] == [
        (AuditAction.CREATE, f"{course['id']}/{first.id}"),
        (AuditAction.DELETE, f"{course['id']}/{first.id}"),
        (AuditAction.CREATE, f"{course['id']}/{second.id}"),
    ]


async def test_reads_and_writes_without_an_admin_not_recorded(client, admin_headers, session):
    await client.get("/api/lessons/", headers=admin_headers)
    # The bot and the jobs call the services with no admin on their unit of work.
    await lesson_service.create(session, data=LessonCreate(title="By the bot", price=5))
    await session.commit()
    assert await records(session) == []


async def test_audit_log_is_append_only(client, admin_headers, session):
    await client.post("/api/lessons/", json={"title": "Knots", "price": 100}, headers=admin_headers)
    [record] = await records(session)
    record.changes = {}
    with pytest.raises(AuditLogIsAppendOnly):
        await session.flush()
    await session.rollback()
    [record] = await records(session)
    await session.delete(record)
    with pytest.raises(AuditLogIsAppendOnly):
        await session.flush()
    await session.rollback()
    for statement in (update(AuditLog).values(entity="x"), delete(AuditLog)):
        with pytest.raises(AuditLogIsAppendOnly):
            await session.execute(statement)
    assert len(await records(session)) == 1


async def test_read_audit_log_newest_first(client, admin_headers):
    for title in ("One", "Two"):
        await client.post("/api/lessons/", json={"title": title, "price": 1}, headers=admin_headers)
    response = await client.get("/api/audit-log/", params={"entity": "lessons"}, headers=admin_headers)
    assert response.status_code == 200
    assert [item["changes"]["title"][1] for item in response.json()["items"]] == ["Two", "One"]


async def test_read_audit_log_unknown_entity(client, admin_headers):
    response = await client.get("/api/audit-log/", params={"entity": "secrets"}, headers=admin_headers)
    assert response.status_code == 422
