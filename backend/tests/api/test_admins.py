"""The admin team API (owners), and each admin's own password and language (/auth)."""

from sqlalchemy import select

from backend.services import auth_service
from backend.tests.api import TEAM_PASSWORD, assert_invalid, bearer, create_admin, fresh, issue_tokens
from conftest import ADMIN_PASSWORD
from shared.constants import AdminRole
from shared.models import Admin


async def owner_id(session) -> int:
    return await session.scalar(select(Admin.id).where(Admin.username == "admin"))


async def test_create_admin(client, admin_headers):
    data = {"username": "maria", "password": "long-enough-pw", "role": "manager", "language": "ru"}
    response = await client.post("/api/admins/", json=data, headers=admin_headers)
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["username"], body["role"], body["language"], body["is_active"]) == (
        "maria",
        "manager",
        "ru",
        True,
    )
    assert not {"password", "password_hash"} & set(body)
    login = await client.post("/auth/login", json={"username": "maria", "password": "long-enough-pw"})
    assert login.status_code == 200


async def test_create_admin_duplicate_username_any_case(client, admin_headers):
    data = {"username": "ADMIN", "password": "long-enough-pw", "role": "support"}
    response = await client.post("/api/admins/", json=data, headers=admin_headers)
    assert response.status_code == 409
    assert response.json()["detail"] == "An admin named ADMIN already exists"


async def test_create_admin_short_password(client, admin_headers):
    data = {"username": "maria", "password": "short", "role": "support"}
    assert_invalid(await client.post("/api/admins/", json=data, headers=admin_headers), "body", "password")


async def test_create_admin_bad_username_and_role(client, admin_headers):
    data = {"username": "no spaces", "password": "long-enough-pw", "role": "boss"}
    response = await client.post("/api/admins/", json=data, headers=admin_headers)
    assert_invalid(response, "body", "username")
    assert_invalid(response, "body", "role")


async def test_update_admin_last_owner_cannot_be_demoted_or_deactivated(client, admin_headers, session):
    me = await owner_id(session)
    for change in ({"role": "manager"}, {"is_active": False}):
        response = await client.patch(f"/api/admins/{me}", json=change, headers=admin_headers)
        assert response.status_code == 409, change
        assert "needs an active owner" in response.json()["detail"]
    assert (await fresh(session, Admin, me)).role is AdminRole.OWNER


async def test_update_admin_owner_demoted_when_another_owner_exists(client, admin_headers, session):
    await create_admin("second", AdminRole.OWNER)
    me = await owner_id(session)
    response = await client.patch(f"/api/admins/{me}", json={"role": "support"}, headers=admin_headers)
    assert response.status_code == 200
    assert response.json()["role"] == "support"
    # At once: the same token is no longer an owner's.
    assert (await client.get("/api/admins/", headers=admin_headers)).status_code == 403


async def test_update_admin_deactivation_ends_sessions(client, admin_headers):
    admin = await create_admin("leaving", AdminRole.MANAGER)
    tokens = await issue_tokens("leaving")
    assert (await client.get("/auth/me", headers=bearer(tokens["access_token"]))).status_code == 200
    response = await client.patch(f"/api/admins/{admin.id}", json={"is_active": False}, headers=admin_headers)
    assert response.status_code == 200
    assert (await client.get("/auth/me", headers=bearer(tokens["access_token"]))).status_code == 401
    refreshed = await client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 401


async def test_update_admin_new_password_ends_sessions(client, admin_headers, session):
    admin = await create_admin("forgetful", AdminRole.SUPPORT)
    tokens = await issue_tokens("forgetful")
    response = await client.patch(
        f"/api/admins/{admin.id}", json={"password": "a-brand-new-pw"}, headers=admin_headers
    )
    assert response.status_code == 200
    assert response.json()["password_changed_at"] is not None
    assert (await client.get("/auth/me", headers=bearer(tokens["access_token"]))).status_code == 401
    stored = await fresh(session, Admin, admin.id)
    assert auth_service.verify_password(stored.password_hash, "a-brand-new-pw")


async def test_update_admin_rejects_null_role(client, admin_headers, session):
    response = await client.patch(
        f"/api/admins/{await owner_id(session)}", json={"role": None}, headers=admin_headers
    )
    assert_invalid(response, "body", "role")


async def test_read_admin_not_found(client, admin_headers):
    response = await client.get("/api/admins/999999", headers=admin_headers)
    assert response.status_code == 404
    assert response.json()["detail"] == "Admin 999999 not found"


async def test_change_password(client):
    await create_admin("changer", AdminRole.SUPPORT)
    this, other = await issue_tokens("changer"), await issue_tokens("changer")
    response = await client.post(
        "/auth/password",
        json={"current_password": TEAM_PASSWORD, "new_password": "my-new-password"},
        headers=bearer(this["access_token"]),
    )
    assert response.status_code == 204, response.text
    assert (await client.get("/auth/me", headers=bearer(this["access_token"]))).status_code == 200
    assert (await client.get("/auth/me", headers=bearer(other["access_token"]))).status_code == 401
    login = await client.post("/auth/login", json={"username": "changer", "password": "my-new-password"})
    assert login.status_code == 200


async def test_change_password_wrong_current(client, admin_headers):
    response = await client.post(
        "/auth/password",
        json={"current_password": "not-it", "new_password": "my-new-password"},
        headers=admin_headers,
    )
    assert response.status_code == 403
    assert response.json()["detail"] == "The current password is incorrect"


async def test_change_password_wrong_current_is_throttled_as_logins_are(client, admin_headers, session):
    wrong = {"current_password": "not-it", "new_password": "my-new-password"}
    for _ in range(5):  # LOGIN_MAX_FAILURES in the tests
        response = await client.post("/auth/password", json=wrong, headers=admin_headers)
        assert response.status_code == 403
    right = {"current_password": ADMIN_PASSWORD, "new_password": "my-new-password"}
    response = await client.post("/auth/password", json=right, headers=admin_headers)
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0
    # The same count as the login's: this client cannot guess at the login page instead.
    login = await client.post("/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
    assert login.status_code == 429
    stored = await fresh(session, Admin, await owner_id(session))
    assert auth_service.verify_password(stored.password_hash, ADMIN_PASSWORD)


async def test_change_password_right_current_forgets_earlier_failures(client, admin_headers):
    wrong = {"current_password": "not-it", "new_password": "my-new-password"}
    for _ in range(4):
        assert (await client.post("/auth/password", json=wrong, headers=admin_headers)).status_code == 403
    right = {"current_password": ADMIN_PASSWORD, "new_password": "my-new-password"}
    assert (await client.post("/auth/password", json=right, headers=admin_headers)).status_code == 204
    back = {"current_password": "my-new-password", "new_password": ADMIN_PASSWORD}
    for _ in range(4):
        assert (await client.post("/auth/password", json=wrong, headers=admin_headers)).status_code == 403
    assert (await client.post("/auth/password", json=back, headers=admin_headers)).status_code == 204


async def test_change_password_too_short(client, admin_headers):
    response = await client.post(
        "/auth/password",
        json={"current_password": ADMIN_PASSWORD, "new_password": "short"},
        headers=admin_headers,
    )
    assert_invalid(response, "body", "new_password")


async def test_changed_password_survives_restart(client, admin_headers, session):
    response = await client.post(
        "/auth/password",
        json={"current_password": ADMIN_PASSWORD, "new_password": "set-in-the-app"},
        headers=admin_headers,
    )
    assert response.status_code == 204
    # At the next start, ADMIN_PASSWORD (unchanged in the configuration) must not take it back.
    await auth_service.ensure_admin(session, username="admin", password=ADMIN_PASSWORD)
    await session.commit()
    stored = await fresh(session, Admin, await owner_id(session))
    assert auth_service.verify_password(stored.password_hash, "set-in-the-app")


async def test_update_me_language(client, admin_headers):
    response = await client.patch("/auth/me", json={"language": "ru"}, headers=admin_headers)
    assert response.status_code == 200
    assert response.json()["language"] == "ru"
    response = await client.patch("/auth/me", json={"language": None}, headers=admin_headers)
    assert response.json()["language"] is None
    assert_invalid(
        await client.patch("/auth/me", json={"language": "de"}, headers=admin_headers), "body", "language"
    )
    assert_invalid(
        await client.patch("/auth/me", json={"role": "owner"}, headers=admin_headers), "body", "role"
    )
