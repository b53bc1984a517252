"""Panel test helpers: signing in through the login form, CSRF tokens read from the pages."""

import re

import httpx
import pytest

from conftest import ADMIN_PASSWORD

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
) -> httpx.Response:
    """Post the login form (from a login page opened just before, unless its token is given)."""
    token = token or await login_form_token(client)
    form = {"username": "admin", "password": password, "csrf_token": token}
    if next is not None:
        form["next"] = next
    return await client.post("/admin/login", data=form)


@pytest.fixture
async def signed_in(client: httpx.AsyncClient) -> httpx.AsyncClient:
    """The client, signed in to the panel."""
    response = await panel_login(client)
    assert response.status_code == 303, response.text
    return client
