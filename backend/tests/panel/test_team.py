"""The panel's team pages (owners): the admins, adding one, role, activity, a new password."""

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.services import auth_service
from backend.tests.api import TEAM_PASSWORD, create_admin
from backend.tests.panel.conftest import csrf_of, panel_login
from shared.constants import AdminLanguage, AdminRole
from shared.models import Admin, AuditLog, AuthSession


async def stored(session: AsyncSession, username: str) -> Admin:
    session.expire_all()
    admin = await session.scalar(select(Admin).where(Admin.username == username))
    assert admin is not None
    return admin


async def token_of(client: httpx.AsyncClient, path: str = "/admin/team") -> str:
    return csrf_of((await client.get(path)).text)


async def test_list_shows_the_admins(signed_in: httpx.AsyncClient):
    member = await create_admin("<i>mallory</i>", AdminRole.SUPPORT)
    await create_admin("zed", AdminRole.MANAGER, is_active=False)

    page = await signed_in.get("/admin/team")

    assert page.status_code == 200
    assert "&lt;i&gt;mallory&lt;/i&gt;" in page.text
    assert "<i>mallory</i>" not in page.text
    assert f'href="/admin/team/{member.id}"' in page.text
    assert "Deactivated" in page.text
    managers = await signed_in.get("/admin/team", params={"role": "manager", "active": "false"})
    assert "zed" in managers.text
    assert "mallory" not in managers.text


@pytest.mark.parametrize("params", [{"role": "king"}, {"active": "maybe"}, {"offset": "x"}, {"sort": "role"}])
async def test_list_bad_filters_are_422(signed_in: httpx.AsyncClient, params: dict[str, str]):
    assert (await signed_in.get("/admin/team", params=params)).status_code == 422


async def test_add_an_admin(signed_in: httpx.AsyncClient, session: AsyncSession):
    token = await token_of(signed_in, "/admin/team/new")
    form = {"username": "maria", "role": "manager", "password": "long-enough-pw", "language": "ru"}

    response = await signed_in.post("/admin/team", data={**form, "csrf_token": token})

    assert response.status_code == 303
    maria = await stored(session, "maria")
    assert response.headers["location"] == f"/admin/team/{maria.id}"
    assert (maria.role, maria.language, maria.is_active) == (AdminRole.MANAGER, AdminLanguage.RU, True)
    assert auth_service.verify_password(maria.password_hash, "long-enough-pw")
    shown = await signed_in.get(response.headers["location"])
    assert "The admin was added." in shown.text
    entry = await session.scalar(
        select(AuditLog).where(AuditLog.entity == "admins", AuditLog.entity_id == str(maria.id))
    )
    assert entry is not None
    assert entry.admin_username == "admin"


async def test_add_an_admin_duplicate_username_is_a_field_error(
    signed_in: httpx.AsyncClient, session: AsyncSession
):
    token = await token_of(signed_in, "/admin/team/new")
    form = {"username": "ADMIN", "role": "support", "password": "long-enough-pw", "csrf_token": token}

    response = await signed_in.post("/admin/team", data=form)

    assert response.status_code == 409
    assert 'data-testid="error-username"' in response.text
    assert "An admin with this user name already exists." in response.text
    assert 'value="ADMIN"' in response.text
    assert "long-enough-pw" not in response.text
    assert (await session.scalar(select(Admin).where(Admin.username == "ADMIN"))) is None


async def test_add_an_admin_invalid_fields(signed_in: httpx.AsyncClient, session: AsyncSession):
    token = await token_of(signed_in, "/admin/team/new")
    form = {"username": "a b", "role": "king", "password": "short", "language": "de", "csrf_token": token}

    response = await signed_in.post("/admin/team", data=form)

    assert response.status_code == 422
    for field in ("username", "role", "password"):
        assert f'data-testid="error-{field}"' in response.text
    assert "Enter at least 10 characters." in response.text
    assert 'value="a b"' in response.text
    assert (await session.scalar(select(Admin).where(Admin.username == "a b"))) is None


async def test_change_role(signed_in: httpx.AsyncClient, session: AsyncSession):
    member = await create_admin("sam", AdminRole.SUPPORT)
    token = await token_of(signed_in, f"/admin/team/{member.id}")

    response = await signed_in.post(
        f"/admin/team/{member.id}/role", data={"role": "manager", "csrf_token": token}
    )

    assert response.status_code == 303
    assert (await stored(session, "sam")).role is AdminRole.MANAGER
    bad = await signed_in.post(f"/admin/team/{member.id}/role", data={"role": "king", "csrf_token": token})
    assert bad.status_code == 422
    assert 'data-testid="error-role"' in bad.text


async def test_deactivate_ends_sessions_and_reactivate(
    signed_in: httpx.AsyncClient, session: AsyncSession, client: httpx.AsyncClient
):
    member = await create_admin("dora", AdminRole.SUPPORT)
    page = await signed_in.get(f"/admin/team/{member.id}")
    assert 'data-confirm="Deactivate dora?' in page.text
    token = csrf_of(page.text)
    other = httpx.AsyncClient(transport=client._transport, base_url="http://testserver")
    async with other:
        assert (await panel_login(other, password=TEAM_PASSWORD, username="dora")).status_code == 303

        response = await signed_in.post(
            f"/admin/team/{member.id}/active", data={"is_active": "false", "csrf_token": token}
        )

        assert response.status_code == 303
        assert (await stored(session, "dora")).is_active is False
        assert (await other.get("/admin/support")).status_code == 303  # sent to the login page
    live = await session.scalar(
        select(AuthSession).where(AuthSession.admin_id == member.id, AuthSession.revoked_at.is_(None))
    )
    assert live is None
    again = await signed_in.post(
        f"/admin/team/{member.id}/active",
        data={"is_active": "true", "csrf_token": token},
        follow_redirects=True,
    )
    assert "The admin was reactivated." in again.text
    assert (await stored(session, "dora")).is_active is True


async def test_last_owner_cannot_be_demoted_or_deactivated(
    signed_in: httpx.AsyncClient, session: AsyncSession
):
    owner = await stored(session, "admin")
    token = await token_of(signed_in, f"/admin/team/{owner.id}")
    refusal = "The store needs an active owner: make another admin an owner first."

    demoted = await signed_in.post(
        f"/admin/team/{owner.id}/role", data={"role": "support", "csrf_token": token}
    )
    deactivated = await signed_in.post(
        f"/admin/team/{owner.id}/active", data={"is_active": "false", "csrf_token": token}
    )

    for response in (demoted, deactivated):
        assert response.status_code == 409
        assert refusal in response.text
        assert 'data-testid="refusal"' in response.text
    owner = await stored(session, "admin")
    assert (owner.role, owner.is_active) == (AdminRole.OWNER, True)
    assert (await signed_in.get("/admin/team")).status_code == 200


async def test_owner_who_demotes_themselves_goes_to_the_dashboard(
    signed_in: httpx.AsyncClient, session: AsyncSession
):
    await create_admin("second-owner", AdminRole.OWNER)
    owner = await stored(session, "admin")
    token = await token_of(signed_in, f"/admin/team/{owner.id}")

    response = await signed_in.post(
        f"/admin/team/{owner.id}/role", data={"role": "manager", "csrf_token": token}
    )

    assert response.status_code == 303
    assert response.headers["location"] == "/admin"
    assert (await stored(session, "admin")).role is AdminRole.MANAGER
    assert (await signed_in.get("/admin/team")).status_code == 403


async def test_set_a_new_password_ends_their_sessions(
    signed_in: httpx.AsyncClient, session: AsyncSession, client: httpx.AsyncClient
):
    member = await create_admin("forgetful", AdminRole.MANAGER)
    token = await token_of(signed_in, f"/admin/team/{member.id}")

    short = await signed_in.post(
        f"/admin/team/{member.id}/password", data={"password": "short", "csrf_token": token}
    )
    assert short.status_code == 422
    assert 'data-testid="error-password"' in short.text
    response = await signed_in.post(
        f"/admin/team/{member.id}/password", data={"password": "brand-new-password", "csrf_token": token}
    )

    assert response.status_code == 303
    assert auth_service.verify_password(
        (await stored(session, "forgetful")).password_hash, "brand-new-password"
    )
    other = httpx.AsyncClient(transport=client._transport, base_url="http://testserver")
    async with other:
        assert (
            await panel_login(other, password="brand-new-password", username="forgetful")
        ).status_code == 303


@pytest.mark.parametrize("path", ["/admin/team/999999", "/admin/team/abc", "/admin/team/0"])
async def test_missing_admin_is_404(signed_in: httpx.AsyncClient, path: str):
    assert (await signed_in.get(path)).status_code == 404


async def test_post_to_missing_admin_is_404(signed_in: httpx.AsyncClient):
    token = await token_of(signed_in)
    for action, data in (
        ("role", {"role": "manager"}),
        ("active", {"is_active": "false"}),
        ("password", {"password": "long-enough-pw"}),
    ):
        response = await signed_in.post(f"/admin/team/999999/{action}", data={**data, "csrf_token": token})
        assert response.status_code == 404


@pytest.mark.parametrize("role", [AdminRole.MANAGER, AdminRole.SUPPORT])
async def test_lower_roles_are_refused_every_team_route(signed_in_as, session: AsyncSession, role: AdminRole):
    member = await create_admin(f"target-{role.value}", AdminRole.SUPPORT)
    client = await signed_in_as(role)
    token = csrf_of((await client.get("/admin")).text)
    for path in ("/admin/team", "/admin/team/new", f"/admin/team/{member.id}"):
        assert (await client.get(path)).status_code == 403
    posts = [
        ("/admin/team", {"username": "sneaky", "role": "owner", "password": "long-enough-pw"}),
        (f"/admin/team/{member.id}/role", {"role": "owner"}),
        (f"/admin/team/{member.id}/active", {"is_active": "false"}),
        (f"/admin/team/{member.id}/password", {"password": "long-enough-pw"}),
    ]
    for path, data in posts:
        assert (await client.post(path, data={**data, "csrf_token": token})).status_code == 403
    target = await stored(session, member.username)
    assert (target.role, target.is_active) == (AdminRole.SUPPORT, True)
    assert (await session.scalar(select(Admin).where(Admin.username == "sneaky"))) is None
