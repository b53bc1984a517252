"""The panel's audit log (owners): newest first, filters, paging, changes escaped."""

from datetime import timedelta

import httpx
import pytest
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.tests.api import create_admin
from backend.tests.panel.conftest import csrf_of
from shared.constants import AdminRole, AuditAction
from shared.models import Admin, AuditLog
from shared.utils import utcnow


async def record(session: AsyncSession, **values: object) -> None:
    row = {
        "admin_id": None,
        "admin_username": "admin",
        "action": AuditAction.UPDATE,
        "entity": "lessons",
        "entity_id": "1",
        "changes": {},
        "created_at": utcnow(),
    }
    await session.execute(insert(AuditLog), [row | values])
    await session.commit()


async def test_log_shows_records_newest_first_with_changes(
    signed_in: httpx.AsyncClient, session: AsyncSession
):
    now = utcnow()
    await record(
        session, entity_id="10", created_at=now - timedelta(days=1), changes={"title": ["Old", "Older"]}
    )
    await record(
        session,
        entity_id="11",
        created_at=now,
        changes={"title": ["<b>Before</b>", "<script>x</script>"], "price": [10, None]},
    )

    page = await signed_in.get("/admin/audit-log")

    assert page.status_code == 200
    assert page.text.index("lessons #11") < page.text.index("lessons #10")
    assert "&lt;b&gt;Before&lt;/b&gt;" in page.text
    assert "&lt;script&gt;x&lt;/script&gt;" in page.text
    assert "<script>x</script>" not in page.text
    assert "Changed" in page.text


async def test_panel_writes_are_logged_and_filtered(signed_in: httpx.AsyncClient, session: AsyncSession):
    await record(session, entity="courses", entity_id="5", action=AuditAction.DELETE)
    member = await create_admin("loggee", AdminRole.SUPPORT)
    token = csrf_of((await signed_in.get(f"/admin/team/{member.id}")).text)
    await signed_in.post(f"/admin/team/{member.id}/role", data={"role": "manager", "csrf_token": token})
    owner_id = await session.scalar(select(Admin.id).where(Admin.username == "admin"))
    today = utcnow().date().isoformat()

    page = await signed_in.get(
        "/admin/audit-log",
        params={
            "admin_id": owner_id,
            "entity": "admins",
            "action": "update",
            "date_from": today,
            "date_to": today,
        },
    )

    assert page.status_code == 200
    assert f"admins #{member.id}" in page.text
    assert "support" in page.text
    assert "manager" in page.text
    assert "courses #5" not in page.text
    by_id = await signed_in.get("/admin/audit-log", params={"entity_id": "5"})
    assert "courses #5" in by_id.text
    assert f"admins #{member.id}" not in by_id.text
    yesterday = (utcnow() - timedelta(days=1)).date().isoformat()
    earlier = await signed_in.get("/admin/audit-log", params={"date_to": yesterday})
    assert "No records match." in earlier.text


async def test_log_pages(signed_in: httpx.AsyncClient, session: AsyncSession):
    rows = [
        {
            "admin_id": None,
            "admin_username": "admin",
            "action": AuditAction.CREATE,
            "entity": "users",
            "entity_id": str(n),
            "changes": {},
            "created_at": utcnow() - timedelta(minutes=n),
        }
        for n in range(1, 56)
    ]
    await session.execute(insert(AuditLog), rows)
    await session.commit()

    first = await signed_in.get("/admin/audit-log")
    second = await signed_in.get("/admin/audit-log", params={"offset": 50})

    assert first.text.count('data-testid="audit-row"') == 50
    assert second.text.count('data-testid="audit-row"') == 5
    assert 'rel="next"' in first.text
    assert "51–55 of 55" in second.text


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"admin_id": "abc"}, "admin_id"),
        ({"admin_id": "0"}, "admin_id"),
        ({"entity": "secrets"}, "entity"),
        ({"action": "explode"}, "action"),
        ({"date_from": "2024-13-45"}, "date_from"),
        ({"date_to": "yesterday"}, "date_to"),
        ({"entity_id": "x" * 65}, "entity_id"),
    ],
)
async def test_bad_filters_are_field_errors(signed_in: httpx.AsyncClient, params: dict[str, str], field: str):
    response = await signed_in.get("/admin/audit-log", params=params)
    assert response.status_code == 422
    assert f'data-testid="error-{field}"' in response.text or f'id="{field}-note"' in response.text


async def test_last_day_of_the_calendar_is_no_error(signed_in: httpx.AsyncClient):
    response = await signed_in.get(
        "/admin/audit-log", params={"date_from": "0001-01-01", "date_to": "9999-12-31"}
    )
    assert response.status_code == 200


async def test_bad_offset_is_422(signed_in: httpx.AsyncClient):
    assert (await signed_in.get("/admin/audit-log", params={"offset": "-5"})).status_code == 422


@pytest.mark.parametrize("role", [AdminRole.MANAGER, AdminRole.SUPPORT])
async def test_lower_roles_are_refused(signed_in_as, role: AdminRole):
    client = await signed_in_as(role)
    assert (await client.get("/admin/audit-log")).status_code == 403
