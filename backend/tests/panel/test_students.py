"""The students pages: search, profile (purchases, tickets, bot state), grants and their rules, roles."""

import re

import httpx
import pytest
from sqlalchemy import select

from backend.services import access_service, user_service
from backend.tests.factories import create_course, create_lesson, create_purchase, create_ticket, create_user
from backend.tests.panel.conftest import csrf_of
from shared.constants import AdminRole, AuditAction, PurchaseStatus
from shared.models import AuditLog, Purchase


async def _token(client: httpx.AsyncClient) -> str:
    return csrf_of((await client.get("/admin/students")).text)


async def test_list_students_newest_first_with_search(signed_in, session):
    await create_user(session, first_name="Alice", username="alice_k", telegram_id=777000111)
    await create_user(session, first_name="Boris", username="boris")

    page = await signed_in.get("/admin/students")
    found = await signed_in.get("/admin/students", params={"q": "777000111"})
    by_username = await signed_in.get("/admin/students", params={"q": "@boris"})
    nothing = await signed_in.get("/admin/students", params={"q": "zzz"})

    assert page.status_code == 200
    assert page.text.index("Boris") < page.text.index("Alice")
    assert "Alice" in found.text
    assert "Boris" not in found.text
    assert "Boris" in by_username.text
    assert "Alice" not in by_username.text
    assert 'data-testid="empty"' in nothing.text


async def test_list_students_pages(signed_in, session):
    for n in range(52):
        await create_user(session, first_name=f"Many{n:02d}")

    first = await signed_in.get("/admin/students", params={"sort": "first_name"})
    second = await signed_in.get("/admin/students", params={"sort": "first_name", "offset": 50})

    assert "1–50 of 52" in first.text
    assert "Many49" in first.text
    assert "Many50" not in first.text
    assert "Many50" in second.text
    assert "Many51" in second.text


@pytest.mark.parametrize(
    "params", [{"sort": "telegram_id"}, {"offset": "-1"}, {"offset": "x"}, {"q": "x" * 101}]
)
async def test_list_students_bad_query_is_422_page(signed_in, params):
    response = await signed_in.get("/admin/students", params=params)

    assert response.status_code == 422
    assert "Invalid input" in response.text


async def test_profile_shows_student_purchases_tickets_and_bot_state(signed_in, session):
    user = await create_user(session, first_name="<b>Eve</b>", username="eve", language_code="ru")
    lesson = await create_lesson(session, title="Knots & <i>ropes</i>")
    purchase = await create_purchase(session, user, lesson, amount=150)
    ticket = await create_ticket(session, user, subject="Where is <script>my</script> lesson")
    await user_service.mark_bot_blocked(session, user.id)
    await session.commit()

    page = await signed_in.get(f"/admin/students/{user.id}")

    assert page.status_code == 200
    assert "&lt;b&gt;Eve&lt;/b&gt;" in page.text
    assert "<b>Eve</b>" not in page.text
    assert "Knots &amp; &lt;i&gt;ropes&lt;/i&gt;" in page.text
    assert f'data-testid="purchase-{purchase.id}"' in page.text
    assert "150 ⭐" in page.text
    assert f'href="/admin/support/{ticket.id}"' in page.text
    assert "&lt;script&gt;my&lt;/script&gt;" in page.text
    assert "Blocked the bot" in page.text
    assert "ru" in page.text
    assert str(user.telegram_id) in page.text


async def test_profile_of_reachable_student(signed_in, session):
    user = await create_user(session)

    page = await signed_in.get(f"/admin/students/{user.id}")

    assert re.search(r'data-testid="bot-state">\s*Reachable', page.text)


@pytest.mark.parametrize("path", ["/admin/students/999999", "/admin/students/abc", "/admin/students/0"])
async def test_profile_not_found(signed_in, path):
    response = await signed_in.get(path)

    assert response.status_code == 404
    assert "Page not found" in response.text


async def test_grant_lesson_then_revoke_on_the_profile(signed_in, session):
    user, lesson = await create_user(session), await create_lesson(session, price=90)
    profile = await signed_in.get(f"/admin/students/{user.id}")
    assert f'value="lesson:{lesson.id}"' in profile.text
    token = csrf_of(profile.text)

    granted = await signed_in.post(
        f"/admin/students/{user.id}/grants", data={"item": f"lesson:{lesson.id}", "csrf_token": token}
    )

    assert granted.status_code == 303
    assert granted.headers["location"] == f"/admin/students/{user.id}"
    purchase = await session.scalar(select(Purchase).where(Purchase.user_id == user.id))
    assert purchase is not None
    assert (purchase.amount, purchase.status, purchase.granted_by_id is not None) == (
        0,
        PurchaseStatus.COMPLETED,
        True,
    )
    assert await access_service.can_access_lesson(session, user_id=user.id, lesson=lesson)
    shown = await signed_in.get(granted.headers["location"])
    assert "The item was given for free" in shown.text
    assert f'data-testid="revoke-{purchase.id}"' in shown.text
    assert f'data-testid="refund-{purchase.id}"' not in shown.text

    revoked = await signed_in.post(
        f"/admin/purchases/{purchase.id}/revoke",
        data={"csrf_token": token, "next": f"/admin/students/{user.id}"},
    )

    assert revoked.status_code == 303
    assert revoked.headers["location"] == f"/admin/students/{user.id}"
    await session.refresh(purchase)
    assert purchase.status is PurchaseStatus.REVOKED
    assert not await access_service.can_access_lesson(session, user_id=user.id, lesson=lesson)
    audit = (
        await session.scalars(
            select(AuditLog.action).where(
                AuditLog.entity == "purchases", AuditLog.entity_id == str(purchase.id)
            )
        )
    ).all()
    assert sorted(audit) == sorted([AuditAction.CREATE, AuditAction.UPDATE])

    twice = await signed_in.post(f"/admin/purchases/{purchase.id}/revoke", data={"csrf_token": token})
    assert twice.status_code == 409
    assert "is revoked and cannot become revoked" in twice.text


async def test_grant_course(signed_in, session):
    user, lesson = await create_user(session), await create_lesson(session)
    course = await create_course(session, [lesson])

    response = await signed_in.post(
        f"/admin/students/{user.id}/grants",
        data={"item": f"course:{course.id}", "csrf_token": await _token(signed_in)},
    )

    assert response.status_code == 303
    assert await access_service.owns_course(session, user_id=user.id, course_id=course.id)


@pytest.mark.parametrize("item", ["", "lesson:", "lesson:abc", "movie:1", "lesson:99999999999999999999999"])
async def test_grant_bad_choice_shows_error_beside_field(signed_in, session, item):
    user = await create_user(session)

    response = await signed_in.post(
        f"/admin/students/{user.id}/grants", data={"item": item, "csrf_token": await _token(signed_in)}
    )

    assert response.status_code == 422
    assert 'data-testid="error-item"' in response.text
    assert await session.scalar(select(Purchase.id)) is None


async def test_grant_unknown_item_shows_error(signed_in, session):
    user = await create_user(session)

    response = await signed_in.post(
        f"/admin/students/{user.id}/grants",
        data={"item": "lesson:999999", "csrf_token": await _token(signed_in)},
    )

    assert response.status_code == 422
    assert "does not exist any more" in response.text


async def test_grant_owned_item_is_refused_and_keeps_choice(signed_in, session):
    user, lesson = await create_user(session), await create_lesson(session)
    course = await create_course(session, [lesson])
    await create_purchase(session, user, course)

    response = await signed_in.post(
        f"/admin/students/{user.id}/grants",
        data={"item": f"lesson:{lesson.id}", "csrf_token": await _token(signed_in)},
    )

    assert response.status_code == 409
    assert "already has access" in response.text
    assert f'value="lesson:{lesson.id}" selected' in response.text
    assert await session.scalar(select(Purchase.id).where(Purchase.granted_by_id.is_not(None))) is None


async def test_grant_to_unknown_student_is_404(signed_in, session):
    lesson = await create_lesson(session)

    response = await signed_in.post(
        "/admin/students/999999/grants",
        data={"item": f"lesson:{lesson.id}", "csrf_token": await _token(signed_in)},
    )

    assert response.status_code == 404


async def test_grant_without_csrf_is_refused(signed_in, session):
    user, lesson = await create_user(session), await create_lesson(session)

    response = await signed_in.post(f"/admin/students/{user.id}/grants", data={"item": f"lesson:{lesson.id}"})

    assert response.status_code == 403
    assert await session.scalar(select(Purchase.id)) is None


async def test_support_reads_students_but_cannot_grant(signed_in_as, session):
    client = await signed_in_as(AdminRole.SUPPORT)
    user, lesson = await create_user(session), await create_lesson(session)
    granted = await create_purchase(session, user, lesson, amount=0, granted_by_id=None)

    listing = await client.get("/admin/students")
    profile = await client.get(f"/admin/students/{user.id}")
    token = csrf_of(listing.text)
    grant = await client.post(
        f"/admin/students/{user.id}/grants", data={"item": f"lesson:{lesson.id}", "csrf_token": token}
    )

    assert (listing.status_code, profile.status_code, grant.status_code) == (200, 200, 403)
    assert 'data-testid="grant"' not in profile.text
    assert f'data-testid="refund-{granted.id}"' not in profile.text
    assert await session.scalar(select(Purchase.id).where(Purchase.id != granted.id)) is None


async def test_manager_may_grant(signed_in_as, session):
    client = await signed_in_as(AdminRole.MANAGER)
    user, lesson = await create_user(session), await create_lesson(session)
    profile = await client.get(f"/admin/students/{user.id}")

    response = await client.post(
        f"/admin/students/{user.id}/grants",
        data={"item": f"lesson:{lesson.id}", "csrf_token": csrf_of(profile.text)},
    )

    assert response.status_code == 303


async def test_students_pages_need_sign_in(client, session):
    user = await create_user(session)

    for path in ("/admin/students", f"/admin/students/{user.id}"):
        response = await client.get(path)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/admin/login")


async def test_profile_escapes_search_value(signed_in):
    response = await signed_in.get("/admin/students", params={"q": '"><script>x</script>'})

    assert response.status_code == 200
    assert "<script>x</script>" not in response.text
    assert "&lt;script&gt;x&lt;/script&gt;" in response.text
