"""The panel's account page (every admin): their own password and the panel's language."""

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.services import auth_service
from backend.tests.api import TEAM_PASSWORD, create_admin
from backend.tests.panel.conftest import csrf_of, panel_login
from conftest import ADMIN_PASSWORD
from shared.constants import AdminLanguage, AdminRole
from shared.models import Admin


async def stored(session: AsyncSession, username: str = "admin") -> Admin:
    session.expire_all()
    admin = await session.scalar(select(Admin).where(Admin.username == username))
    assert admin is not None
    return admin


def change(token: str, current: str, new: str, repeat: str | None = None) -> dict[str, str]:
    return {
        "current_password": current,
        "new_password": new,
        "repeat_password": new if repeat is None else repeat,
        "csrf_token": token,
    }


@pytest.mark.parametrize("role", list(AdminRole))
async def test_every_role_opens_the_account_page(signed_in_as, role: AdminRole):
    client = await signed_in_as(role)
    page = await client.get("/admin/account")
    assert page.status_code == 200
    assert "Your account" in page.text


async def test_change_password_keeps_this_session_and_ends_the_others(
    signed_in: httpx.AsyncClient, session: AsyncSession, client: httpx.AsyncClient
):
    other = httpx.AsyncClient(transport=client._transport, base_url="http://testserver")
    async with other:
        assert (await panel_login(other)).status_code == 303
        token = csrf_of((await signed_in.get("/admin/account")).text)

        response = await signed_in.post(
            "/admin/account/password", data=change(token, ADMIN_PASSWORD, "a-new-password")
        )

        assert response.status_code == 303
        assert response.headers["location"] == "/admin/account"
        # The same cookie goes on: the session was kept, not replaced.
        assert "panel_session" not in response.headers.get("set-cookie", "")
        shown = await signed_in.get("/admin/account")
        assert shown.status_code == 200
        assert "Your password was changed" in shown.text
        ended = await other.get("/admin/account")
        assert ended.status_code == 303
        assert ended.headers["location"].startswith("/admin/login")
    assert auth_service.verify_password((await stored(session)).password_hash, "a-new-password")
    fresh = httpx.AsyncClient(transport=client._transport, base_url="http://testserver")
    async with fresh:
        assert (await panel_login(fresh, password=ADMIN_PASSWORD)).status_code == 401
        assert (await panel_login(fresh, password="a-new-password")).status_code == 303


async def test_wrong_current_password_is_a_field_error(signed_in: httpx.AsyncClient, session: AsyncSession):
    token = csrf_of((await signed_in.get("/admin/account")).text)

    response = await signed_in.post("/admin/account/password", data=change(token, "not-it", "a-new-password"))

    assert response.status_code == 422
    assert 'data-testid="error-current_password"' in response.text
    assert "The current password is not correct." in response.text
    assert "a-new-password" not in response.text
    assert auth_service.verify_password((await stored(session)).password_hash, ADMIN_PASSWORD)


async def test_wrong_current_passwords_are_throttled(signed_in: httpx.AsyncClient, session: AsyncSession):
    token = csrf_of((await signed_in.get("/admin/account")).text)
    for _ in range(5):  # LOGIN_MAX_FAILURES in the tests
        wrong = await signed_in.post(
            "/admin/account/password", data=change(token, "not-it", "a-new-password")
        )
        assert wrong.status_code == 422

    response = await signed_in.post(
        "/admin/account/password", data=change(token, ADMIN_PASSWORD, "a-new-password")
    )

    assert response.status_code == 429
    assert "Too many failed attempts" in response.text
    assert int(response.headers["Retry-After"]) > 0
    assert auth_service.verify_password((await stored(session)).password_hash, ADMIN_PASSWORD)


@pytest.mark.parametrize(
    ("form", "field", "message"),
    [
        (
            {"new_password": "short", "repeat_password": "short"},
            "new_password",
            "Enter at least 10 characters.",
        ),
        ({"repeat_password": "something-else"}, "repeat_password", "The two new passwords differ."),
        ({"current_password": ""}, "current_password", "This field is required."),
    ],
)
async def test_invalid_password_forms(
    signed_in: httpx.AsyncClient, session: AsyncSession, form: dict[str, str], field: str, message: str
):
    token = csrf_of((await signed_in.get("/admin/account")).text)
    data = change(token, ADMIN_PASSWORD, "a-new-password") | form

    response = await signed_in.post("/admin/account/password", data=data)

    assert response.status_code == 422
    assert f'data-testid="error-{field}"' in response.text
    assert message in response.text
    assert auth_service.verify_password((await stored(session)).password_hash, ADMIN_PASSWORD)


async def test_choose_the_panel_language(signed_in_as, session: AsyncSession):
    client = await signed_in_as(AdminRole.SUPPORT)
    token = csrf_of((await client.get("/admin/account")).text)
    username = await session.scalar(select(Admin.username).where(Admin.role == AdminRole.SUPPORT))

    response = await client.post(
        "/admin/account/language", data={"language": "ru", "csrf_token": token}, follow_redirects=True
    )

    assert "Язык сохранён." in response.text
    assert (await stored(session, username)).language is AdminLanguage.RU
    back = await client.post("/admin/account/language", data={"language": "", "csrf_token": token})
    assert back.status_code == 303
    assert (await stored(session, username)).language is None
    bad = await client.post("/admin/account/language", data={"language": "de", "csrf_token": token})
    assert bad.status_code == 422
    assert 'data-testid="error-language"' in bad.text


async def test_account_posts_need_csrf(signed_in: httpx.AsyncClient, session: AsyncSession):
    response = await signed_in.post(
        "/admin/account/password",
        data={
            "current_password": ADMIN_PASSWORD,
            "new_password": "x-new-password",
            "repeat_password": "x-new-password",
        },
    )
    assert response.status_code == 403
    assert (await signed_in.post("/admin/account/language", data={"language": "ru"})).status_code == 403
    assert auth_service.verify_password((await stored(session)).password_hash, ADMIN_PASSWORD)


async def test_signed_out_goes_to_login(client: httpx.AsyncClient):
    response = await client.get("/admin/account")
    assert response.status_code == 303
    assert response.headers["location"].startswith("/admin/login")


async def test_support_member_changes_their_password(session: AsyncSession, client: httpx.AsyncClient):
    await create_admin("helper", AdminRole.SUPPORT)
    assert (await panel_login(client, password=TEAM_PASSWORD, username="helper")).status_code == 303
    token = csrf_of((await client.get("/admin/account")).text)
    response = await client.post(
        "/admin/account/password", data=change(token, TEAM_PASSWORD, "helpers-own-pw")
    )
    assert response.status_code == 303
    assert auth_service.verify_password((await stored(session, "helper")).password_hash, "helpers-own-pw")
