"""Roles in the JWT API: every admin operation of /api declares the roles that may call it (its security
requirement's scopes, read here from the OpenAPI document), and calling it with each role does as it says."""

import httpx
import pytest

from backend.main import app
from backend.tests.api import ADMIN_OPERATIONS, bearer, concrete, create_admin, headers_of, issue_tokens
from shared.constants import AdminRole

API_OPERATIONS = [(method, path) for method, path in ADMIN_OPERATIONS if path.startswith("/api/")]
STAFF = {"owner", "manager", "support"}
MANAGERS = {"owner", "manager"}
# The policy, written out: an operation missing here, or a role the document shows otherwise, fails.
EXPECTED_ROLES = {
    ("GET", "/api/users/"): STAFF,
    ("GET", "/api/users/{user_id}"): STAFF,
    ("GET", "/api/users/{user_id}/purchases"): STAFF,
    ("GET", "/api/purchases/"): STAFF,
    ("GET", "/api/purchases/{purchase_id}"): STAFF,
    **{(m, p): {"owner", "support"} for m, p in API_OPERATIONS if p.startswith("/api/support-tickets/")},
    **{(m, p): {"owner"} for m, p in API_OPERATIONS if p.startswith(("/api/admins/", "/api/audit-log/"))},
}


def expected_roles(method: str, path: str) -> set[str]:
    return EXPECTED_ROLES.get((method, path), MANAGERS)


@pytest.fixture(scope="module")
async def openapi() -> dict:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        return (await client.get("/openapi.json")).json()


def documented_roles(openapi: dict, method: str, path: str) -> set[str]:
    (requirement,) = openapi["paths"][path][method.lower()]["security"]
    return set(requirement["OAuth2PasswordBearer"])


@pytest.mark.parametrize(("method", "path"), API_OPERATIONS)
async def test_every_admin_operation_declares_its_roles(openapi, method, path):
    assert documented_roles(openapi, method, path) == expected_roles(method, path)
    assert "403" in openapi["paths"][path][method.lower()]["responses"]


@pytest.mark.parametrize("role", [AdminRole.MANAGER, AdminRole.SUPPORT])
async def test_roles_matrix(client, openapi, role):
    headers = await headers_of(role)
    for method, path in API_OPERATIONS:
        # No body: an allowed call ends in 404 or 422 and changes nothing; a forbidden one never gets there.
        response = await client.request(method, concrete(path, 999_999), headers=headers)
        if role.value in documented_roles(openapi, method, path):
            assert response.status_code != 403, (method, path, response.text)
        else:
            assert response.status_code == 403, (method, path, response.text)
            assert f"you are {role.value}" in response.json()["detail"]


@pytest.mark.parametrize(
    ("role", "method", "path", "needed"),
    [
        (AdminRole.SUPPORT, "POST", "/api/purchases/1/refund", "manager"),
        (AdminRole.SUPPORT, "POST", "/api/lessons/", "manager"),
        (AdminRole.SUPPORT, "PUT", "/api/users/1", "manager"),
        (AdminRole.MANAGER, "GET", "/api/admins/", "owner"),
        (AdminRole.MANAGER, "PATCH", "/api/admins/1", "owner"),
        (AdminRole.MANAGER, "GET", "/api/audit-log/", "owner"),
        (AdminRole.MANAGER, "GET", "/api/support-tickets/", "support"),
    ],
)
async def test_wrong_role_forbidden_names_needed_role(client, role, method, path, needed):
    response = await client.request(method, path, headers=await headers_of(role), json={})
    assert response.status_code == 403
    assert response.json()["detail"] == f"This needs the {needed} role; you are {role.value}"


async def test_owner_may_do_everything(client, admin_headers):
    for method, path in API_OPERATIONS:
        response = await client.request(method, concrete(path, 999_999), headers=admin_headers)
        assert response.status_code != 403, (method, path)


async def test_role_change_applies_to_issued_tokens(client, admin_headers):
    admin = await create_admin("changing", AdminRole.SUPPORT)
    headers = bearer((await issue_tokens("changing"))["access_token"])
    assert (await client.get("/api/promo-codes/", headers=headers)).status_code == 403
    response = await client.patch(f"/api/admins/{admin.id}", json={"role": "manager"}, headers=admin_headers)
    assert response.status_code == 200
    assert (await client.get("/api/promo-codes/", headers=headers)).status_code == 200
    await client.patch(f"/api/admins/{admin.id}", json={"role": "support"}, headers=admin_headers)
    assert (await client.get("/api/promo-codes/", headers=headers)).status_code == 403


async def test_support_reads_lessons_as_admin(client):
    # The catalog's admin view (inactive lessons, content) is a read: every role has it.
    response = await client.get("/api/lessons/", headers=await headers_of(AdminRole.SUPPORT))
    assert response.status_code == 200
