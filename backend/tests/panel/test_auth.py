"""Signing in and out of the panel: the cookie session, throttling, CSRF."""

from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.panel import security
from backend.panel.deps import LOGIN_PATH
from backend.tests.panel.conftest import CSRF_META, csrf_of, login_form_token, panel_login
from shared.config import get_settings
from shared.constants import Environment
from shared.models import AuthSession
from shared.utils import utcnow


async def _sessions(session: AsyncSession) -> list[AuthSession]:
    return list((await session.scalars(select(AuthSession).execution_options(populate_existing=True))).all())


async def test_read_dashboard_without_session_redirects_to_login(client: httpx.AsyncClient):
    response = await client.get("/admin?x=1")
    assert response.status_code == 303
    assert response.headers["location"] == "/admin/login?next=%2Fadmin%3Fx%3D1"


async def test_read_dashboard_with_htmx_without_session_gets_hx_redirect(client: httpx.AsyncClient):
    response = await client.get("/admin/dashboard/totals", headers={"HX-Request": "true"})
    assert response.status_code == 401
    assert response.headers["HX-Redirect"] == "/admin/login?next=%2Fadmin%2Fdashboard%2Ftotals"


async def test_login_sets_session_cookie(client: httpx.AsyncClient, session: AsyncSession):
    response = await panel_login(client)
    assert response.status_code == 303
    assert response.headers["location"] == "/admin"
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith("panel_session="))
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Path=/admin" in cookie
    assert f"Max-Age={get_settings().REFRESH_TOKEN_EXPIRE_DAYS * 86400}" in cookie
    assert "Secure" not in cookie  # not production: served over plain http
    [auth_session] = await _sessions(session)
    assert auth_session.revoked_at is None
    dashboard = await client.get("/admin")
    assert dashboard.status_code == 200
    assert "Signed in as admin" in dashboard.text


async def test_login_cookie_is_secure_in_production(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
):
    page = await client.get("/admin/login")
    monkeypatch.setattr(get_settings(), "ENVIRONMENT", Environment.PRODUCTION)
    response = await client.post(
        "/admin/login",
        data={"username": "admin", "password": get_settings().ADMIN_PASSWORD.get_secret_value()}
        | {"csrf_token": csrf_of(page.text)},
    )
    assert response.status_code == 303
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith("panel_session="))
    assert "Secure" in cookie


async def test_login_goes_to_next_page(client: httpx.AsyncClient):
    response = await panel_login(client, next="/admin/dashboard/totals?a=1")
    assert response.headers["location"] == "/admin/dashboard/totals?a=1"


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/admin",
        "//evil.example/admin",
        "/api/users/",
        "/admin\\..",
        "/admin/../api/users/",
        "javascript:x",
        "",
    ],
)
async def test_login_never_goes_outside_the_panel(client: httpx.AsyncClient, target: str):
    response = await panel_login(client, next=target)
    assert response.headers["location"] == "/admin"


async def test_login_wrong_password(client: httpx.AsyncClient, session: AsyncSession):
    response = await panel_login(client, password="wrong-password")
    assert response.status_code == 401
    assert "Wrong user name or password." in response.text
    assert 'value="admin"' in response.text  # the user name is kept, the password is not
    assert "panel_session=" not in response.headers.get("set-cookie", "")
    assert await _sessions(session) == []


async def test_login_missing_fields(client: httpx.AsyncClient):
    page = await client.get("/admin/login")
    response = await client.post("/admin/login", data={"username": " ", "csrf_token": csrf_of(page.text)})
    assert response.status_code == 422
    assert "Enter your user name and password." in response.text


async def test_login_throttled_shows_the_wait(client: httpx.AsyncClient):
    for _ in range(get_settings().LOGIN_MAX_FAILURES):
        assert (await panel_login(client, password="wrong-password")).status_code == 401
    response = await panel_login(client)  # even the right password waits
    assert response.status_code == 429
    wait = int(response.headers["Retry-After"])
    assert wait > 0
    assert f"Try again in {wait} seconds." in response.text
    assert "panel_session=" not in response.headers.get("set-cookie", "")


async def test_login_throttled_in_russian(client: httpx.AsyncClient):
    client.cookies.set(security.LANGUAGE_COOKIE, "ru", path="/admin")
    for _ in range(get_settings().LOGIN_MAX_FAILURES):
        await panel_login(client, password="wrong-password")
    response = await panel_login(client)
    assert response.status_code == 429
    assert "Слишком много неудачных попыток" in response.text


async def test_login_without_csrf_token_refused(client: httpx.AsyncClient, session: AsyncSession):
    await client.get("/admin/login")
    response = await client.post(
        "/admin/login",
        data={"username": "admin", "password": get_settings().ADMIN_PASSWORD.get_secret_value()},
    )
    assert response.status_code == 403
    assert "Forbidden" in response.text
    assert await _sessions(session) == []


async def test_login_with_token_of_another_browser_refused(client: httpx.AsyncClient):
    page = await client.get("/admin/login")
    token = csrf_of(page.text)
    client.cookies.clear()  # a forged form: the token, without the cookie it belongs to
    await client.get("/admin/login")
    response = await client.post(
        "/admin/login",
        data={
            "username": "admin",
            "password": get_settings().ADMIN_PASSWORD.get_secret_value(),
            "csrf_token": token,
        },
    )
    assert response.status_code == 403


async def test_session_id_changes_at_every_login(client: httpx.AsyncClient, session: AsyncSession):
    # Two logins from the same login page (a tab left open), then a third after a logout.
    token = await login_form_token(client)
    await panel_login(client, token=token)
    first = client.cookies.get(security.SESSION_COOKIE)
    await panel_login(client, token=token)
    second = client.cookies.get(security.SESSION_COOKIE)
    assert first
    assert second
    assert first != second
    sessions = await _sessions(session)
    assert len(sessions) == 2
    # The browser's previous session ended with the new login.
    assert sorted(s.revoked_at is None for s in sessions) == [False, True]
    client.cookies.set(security.SESSION_COOKIE, first, path="/admin")
    assert (await client.get("/admin")).status_code == 303


async def test_logout_ends_the_session(signed_in: httpx.AsyncClient, session: AsyncSession):
    cookie = signed_in.cookies.get(security.SESSION_COOKIE)
    page = await signed_in.get("/admin")
    response = await signed_in.post("/admin/logout", data={"csrf_token": csrf_of(page.text)})
    assert response.status_code == 303
    assert response.headers["location"] == LOGIN_PATH
    assert signed_in.cookies.get(security.SESSION_COOKIE) is None
    [auth_session] = await _sessions(session)
    assert auth_session.revoked_at is not None
    # The old cookie, kept by someone, is worth nothing now.
    signed_in.cookies.set(security.SESSION_COOKIE, cookie, path="/admin")
    again = await signed_in.get("/admin")
    assert again.status_code == 303
    assert again.headers["location"].startswith(LOGIN_PATH)


async def test_logout_without_csrf_token_refused(signed_in: httpx.AsyncClient):
    response = await signed_in.post("/admin/logout")
    assert response.status_code == 403
    assert (await signed_in.get("/admin")).status_code == 200


async def test_logout_with_login_form_token_refused(signed_in: httpx.AsyncClient):
    # A token for the login form is no token for a signed-in session.
    signed_in.cookies.set(security.LOGIN_CSRF_COOKIE, "planted", path="/admin")
    token = security.login_csrf_token("planted")
    response = await signed_in.post("/admin/logout", data={"csrf_token": token})
    assert response.status_code == 403


async def test_logout_after_the_session_ended_goes_to_login(client: httpx.AsyncClient):
    response = await client.post("/admin/logout")
    assert response.status_code == 303
    assert response.headers["location"] == LOGIN_PATH


async def test_csrf_token_in_htmx_header_accepted(signed_in: httpx.AsyncClient):
    page = await signed_in.get("/admin")
    match = CSRF_META.search(page.text)
    assert match is not None
    response = await signed_in.post(
        "/admin/language", data={"lang": "ru"}, headers={security.CSRF_HEADER: match.group(1)}
    )
    assert response.status_code == 303
    wrong = await signed_in.post(
        "/admin/language", data={"lang": "en"}, headers={security.CSRF_HEADER: "0" * 64}
    )
    assert wrong.status_code == 403


async def test_revoked_session_redirects_to_login(signed_in: httpx.AsyncClient, session: AsyncSession):
    await session.execute(update(AuthSession).values(revoked_at=utcnow()))
    await session.commit()
    assert (await signed_in.get("/admin")).status_code == 303


async def test_idle_session_ends(signed_in: httpx.AsyncClient, session: AsyncSession):
    idle = timedelta(minutes=get_settings().PANEL_IDLE_MINUTES)
    await session.execute(update(AuthSession).values(updated_at=utcnow() - idle))
    await session.commit()
    assert (await signed_in.get("/admin")).status_code == 303


async def test_active_session_moves_its_idle_clock(signed_in: httpx.AsyncClient, session: AsyncSession):
    idle = timedelta(minutes=get_settings().PANEL_IDLE_MINUTES)
    await session.execute(update(AuthSession).values(updated_at=utcnow() - idle + timedelta(minutes=2)))
    await session.commit()
    assert (await signed_in.get("/admin")).status_code == 200
    [auth_session] = await _sessions(session)
    assert auth_session.updated_at > utcnow() - timedelta(minutes=1)


async def test_session_refreshed_through_the_api_ends_the_cookie(
    signed_in: httpx.AsyncClient, client: httpx.AsyncClient
):
    # The cookie is the session's refresh token: used at /auth/refresh, it has leaked; the cookie dies.
    cookie = signed_in.cookies.get(security.SESSION_COOKIE)
    refreshed = await client.post("/auth/refresh", json={"refresh_token": cookie})
    assert refreshed.status_code == 200
    assert (await signed_in.get("/admin")).status_code == 303


async def test_forged_session_cookie_redirects_to_login(client: httpx.AsyncClient):
    client.cookies.set(security.SESSION_COOKIE, "not-a-token", path="/admin")
    assert (await client.get("/admin")).status_code == 303
