"""Panel test helpers: signing in through the login form, CSRF tokens read from the pages."""

import re
import uuid
from collections.abc import Awaitable, Callable

import httpx
import pytest

from backend.tests.api import TEAM_PASSWORD, create_admin
from conftest import ADMIN_PASSWORD
from shared.constants import AdminRole

CSRF_INPUT = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')
CSRF_META = re.compile(r'<meta name="csrf-token" content="([0-9a-f]+)">')


def csrf_of(html: str) -> str:
    """The CSRF token a page's forms carry."""
    match = CSRF_INPUT.search(html)
    assert match is not None, "the page has no CSRF field"
    return match.group(1)


async def login_form_token(client: httpx.AsyncClient) -> str:
    """Open the login page as a browser would: its CSRF cookie set, its token returned."""
    page = await client.get("/admin/login")
    assert page.status_code == 200, page.text
    return csrf_of(page.text)


async def panel_login(
    client: httpx.AsyncClient,
    password: str = ADMIN_PASSWORD,
    next: str | None = None,
    token: str | None = None,
    username: str = "admin",
) -> httpx.Response:
    """Post the login form (from a login page opened just before, unless its token is given)."""
    token = token or await login_form_token(client)
    form = {"username": username, "password": password, "csrf_token": token}
    if next is not None:
        form["next"] = next
    return await client.post("/admin/login", data=form)


@pytest.fixture
async def signed_in(client: httpx.AsyncClient) -> httpx.AsyncClient:
    """The client, signed in to the panel."""
    response = await panel_login(client)
    assert response.status_code == 303, response.text
    return client


@pytest.fixture
def signed_in_as(client: httpx.AsyncClient) -> Callable[[AdminRole], Awaitable[httpx.AsyncClient]]:
    """Sign the client in as a new admin with this role (owners: the configured admin)."""

    async def sign_in(role: AdminRole) -> httpx.AsyncClient:
        if role is AdminRole.OWNER:
            response = await panel_login(client)
        else:
            admin = await create_admin(f"{role.value}-{uuid.uuid4().hex[:8]}", role)
            response = await panel_login(client, password=TEAM_PASSWORD, username=admin.username)
        assert response.status_code == 303, response.text
        return client

    return sign_in
