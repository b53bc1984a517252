"""The panel's pages: headers, error pages, assets, languages, the dashboard."""

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fluent.syntax import FluentParser, ast
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.main import app, create_app
from backend.panel import security
from backend.panel.errors import KNOWN_STATUSES
from backend.panel.templating import STATIC_DIR, TEMPLATES_DIR, language_from_accept, redirect, static_url
from backend.services.exceptions import PriceChanged, RoleRequired
from backend.tests.panel.conftest import csrf_of, panel_login
from shared.constants import AdminRole
from shared.i18n import LANGUAGES, PANEL_CATALOG, catalog_files
from shared.models import Admin

VENDORED = [
    ("vendor/htmx.org-2.0.11/htmx.min.js", "javascript"),
    ("vendor/pico-2.1.1/pico.min.css", "text/css"),
    ("vendor/chart.js-4.6.2/chart.umd.min.js", "javascript"),
    ("vendor/sortablejs-1.15.7/Sortable.min.js", "javascript"),
    ("panel.js", "javascript"),
    ("panel.css", "text/css"),
]
SCRIPT_TAG = re.compile(r"<script\b([^>]*)>(.*?)</script>", re.S | re.I)
# Inline event handlers (onclick=...) and style attributes: both refused by the Content-Security-Policy.
INLINE_ATTRIBUTE = re.compile(r"<[^>]+\s(on[a-z]+|style)\s*=", re.I)


def assert_no_inline_code(html: str) -> None:
    for attributes, body in SCRIPT_TAG.findall(html):
        assert "src=" in attributes, f"inline script: {body[:80]!r}"
        assert not body.strip()
    assert "<style" not in html.lower()
    assert INLINE_ATTRIBUTE.search(html) is None


def assert_panel_headers(response: httpx.Response) -> None:
    assert response.headers["Content-Security-Policy"] == security.CONTENT_SECURITY_POLICY
    assert "script-src 'self';" in response.headers["Content-Security-Policy"]
    directives = response.headers["Content-Security-Policy"].split(";")
    policy = dict(directive.strip().split(" ", 1) for directive in directives)
    # No inline script, no <style> element: only style attributes (set by the vendored libraries) pass.
    assert "unsafe" not in policy["script-src"]
    assert "unsafe" not in policy["style-src"]
    assert policy["style-src-attr"] == "'unsafe-inline'"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"


async def test_pages_have_security_headers_and_no_inline_code(signed_in: httpx.AsyncClient):
    pages = [await signed_in.get(path) for path in ("/admin", "/admin/dashboard/totals", "/admin/nothing")]
    signed_in.cookies.clear()
    pages.append(await signed_in.get("/admin/login"))
    for page in pages:
        assert_panel_headers(page)
        assert page.headers["Cache-Control"] == "no-store"
        assert_no_inline_code(page.text)


async def test_page_carries_htmx_config_matching_the_policy(signed_in: httpx.AsyncClient):
    page = await signed_in.get("/admin")
    assert '"includeIndicatorStyles": false' in page.text
    assert '"allowEval": false' in page.text
    assert '<meta name="csrf-token"' in page.text
    assert '<a class="skip-link" href="#main">' in page.text


async def test_api_responses_keep_their_headers(client: httpx.AsyncClient):
    response = await client.get("/health")
    assert "Content-Security-Policy" not in response.headers
    missing = await client.get("/api/nothing")
    assert missing.status_code == 404
    assert missing.json() == {"detail": "Not Found"}


@pytest.mark.parametrize(("path", "content_type"), VENDORED)
async def test_assets_served_with_cache_headers(client: httpx.AsyncClient, path: str, content_type: str):
    versioned = await client.get(static_url(path))
    assert versioned.status_code == 200
    assert content_type in versioned.headers["content-type"]
    assert versioned.content == (STATIC_DIR / path).read_bytes()
    assert versioned.headers["Cache-Control"] == security.IMMUTABLE
    assert_panel_headers(versioned)
    plain = await client.get(f"/admin/static/{path}")
    assert plain.headers["Cache-Control"] == security.REVALIDATE


def test_vendored_assets_keep_their_licences():
    for folder in (STATIC_DIR / "vendor").iterdir():
        if folder.is_dir():
            assert any(f.name.startswith("LICENSE") for f in folder.iterdir()), folder
            assert folder.name in (STATIC_DIR / "vendor" / "README.md").read_text(encoding="utf-8")


async def test_unknown_panel_page_is_a_panel_404(client: httpx.AsyncClient):
    for path in ("/admin/nothing/here", "/admin/static/missing.js"):
        response = await client.get(path)
        assert response.status_code == 404
        assert "text/html" in response.headers["content-type"]
        assert "Page not found" in response.text
        assert_panel_headers(response)


async def test_wrong_method_is_a_panel_405(client: httpx.AsyncClient):
    response = await client.delete("/admin/login")
    assert response.status_code == 405
    assert "Not allowed" in response.text


async def test_bad_form_input_is_a_panel_422(signed_in: httpx.AsyncClient):
    page = await signed_in.get("/admin")
    response = await signed_in.post("/admin/language", data={"lang": "xx", "csrf_token": csrf_of(page.text)})
    assert response.status_code == 422
    assert "Invalid input" in response.text


@pytest.fixture
async def failing_app() -> AsyncIterator[httpx.AsyncClient]:
    # The real app with one more page that fails, as a bug in a page would.
    app: FastAPI = create_app()

    @app.get("/admin/boom")
    async def boom() -> None:
        raise RuntimeError("secret detail of the failure")

    @app.get("/api/boom")
    async def api_boom() -> None:
        raise RuntimeError("secret detail of the failure")

    @app.get("/admin/forbidden")
    async def forbidden() -> None:
        raise RoleRequired(["manager"], "support")

    @app.get("/admin/price-changed")
    async def price_changed() -> None:
        raise PriceChanged(asked=10, current=12)

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest.mark.parametrize(
    ("path", "status_code", "message"),
    [
        ("/admin/forbidden", 403, "This needs the manager role; you are support"),
        ("/admin/price-changed", 422, "The price is now 12 Stars, not 10"),
    ],
)
async def test_domain_error_is_a_panel_page_with_the_apis_status(
    failing_app: httpx.AsyncClient, path: str, status_code: int, message: str
):
    response = await failing_app.get(path)
    assert response.status_code == status_code
    assert message in response.text
    assert_panel_headers(response)


async def test_server_error_is_a_panel_500_without_traceback(failing_app: httpx.AsyncClient):
    response = await failing_app.get("/admin/boom")
    assert response.status_code == 500
    assert "Server error" in response.text
    assert "secret detail" not in response.text
    assert "Traceback" not in response.text
    assert_panel_headers(response)
    api = await failing_app.get("/api/boom")
    assert api.status_code == 500
    assert api.text == "Internal Server Error"


async def test_language_follows_accept_language(client: httpx.AsyncClient):
    russian = await client.get("/admin/login", headers={"Accept-Language": "de;q=1, ru-RU;q=0.8, en;q=0.5"})
    assert '<html lang="ru"' in russian.text
    assert "Имя пользователя" in russian.text
    english = await client.get("/admin/login", headers={"Accept-Language": "fr"})
    assert '<html lang="en"' in english.text


@pytest.mark.parametrize(
    ("header", "language"),
    [
        (None, "en"),
        ("", "en"),
        ("ru", "ru"),
        ("en-GB,ru;q=0.9", "en"),
        ("ru;q=abc, en;q=0.1", "en"),
        ("*", "en"),
    ],
)
def test_language_from_accept(header: str | None, language: str):
    assert language_from_accept(header) == language


async def test_language_switch_is_remembered(signed_in: httpx.AsyncClient):
    page = await signed_in.get("/admin", headers={"Accept-Language": "en"})
    response = await signed_in.post(
        "/admin/language", data={"lang": "ru", "next": "/admin", "csrf_token": csrf_of(page.text)}
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/admin"
    again = await signed_in.get("/admin", headers={"Accept-Language": "en"})
    assert "Обзор" in again.text
    assert "Выйти" in again.text


async def test_language_choice_is_kept_with_the_admin(signed_in: httpx.AsyncClient, session: AsyncSession):
    page = await signed_in.get("/admin")
    await signed_in.post("/admin/language", data={"lang": "ru", "csrf_token": csrf_of(page.text)})

    admin = await session.scalar(select(Admin).where(Admin.username == "admin"))
    assert admin is not None
    assert admin.language == "ru"
    # Another browser, which asks for English and has no language cookie: the admin's choice wins.
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as other:
        assert (await panel_login(other)).status_code == 303
        dashboard = await other.get("/admin", headers={"Accept-Language": "en"})
    assert '<html lang="ru"' in dashboard.text
    assert "Обзор" in dashboard.text


async def test_language_switch_before_login(client: httpx.AsyncClient):
    page = await client.get("/admin/login")
    response = await client.post(
        "/admin/language", data={"lang": "ru", "next": "/admin/login", "csrf_token": csrf_of(page.text)}
    )
    assert response.status_code == 303
    assert "Вход" in (await client.get("/admin/login")).text


async def test_language_switch_without_csrf_refused(client: httpx.AsyncClient):
    await client.get("/admin/login")
    response = await client.post("/admin/language", data={"lang": "ru"})
    assert response.status_code == 403


async def test_user_text_is_escaped(client: httpx.AsyncClient):
    response = await panel_login(client, password="wrong-password")
    page = await client.get("/admin/login")
    form = {"username": "<script>alert(1)</script>", "password": "x", "csrf_token": csrf_of(page.text)}
    response = await client.post("/admin/login", data=form)
    assert response.status_code == 401
    assert "<script>alert" not in response.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in response.text


def _messages(language: str) -> dict[str, ast.Message]:
    messages: dict[str, ast.Message] = {}
    for file in catalog_files(PANEL_CATALOG, language):
        resource = FluentParser().parse(file.read_text(encoding="utf-8"))
        assert not [entry for entry in resource.body if isinstance(entry, ast.Junk)], file
        for entry in resource.body:
            if isinstance(entry, ast.Message):
                assert entry.id.name not in messages, f"{entry.id.name} twice ({file.name})"
                messages[entry.id.name] = entry
    return messages


def test_panel_catalogs_have_the_same_files_and_keys():
    files = {language: [f.name for f in catalog_files(PANEL_CATALOG, language)] for language in LANGUAGES}
    assert files["ru"] == files["en"]
    keys = {language: set(_messages(language)) for language in LANGUAGES}
    assert keys["ru"] == keys["en"]


def test_keys_used_by_the_panel_exist():
    source = "\n".join(p.read_text(encoding="utf-8") for p in TEMPLATES_DIR.rglob("*.html"))
    source += "\n".join(p.read_text(encoding="utf-8") for p in Path(TEMPLATES_DIR.parent).rglob("*.py"))
    # t("key") in the templates; the keys of the navigation, the figures and the refused logins by name.
    used = set(re.findall(r"""(?<![\w.])t\(\s*["']([a-z][a-z0-9-]*[a-z])["']""", source))
    used |= set(re.findall(r"""["']((?:nav|dashboard|login-error)-[a-z-]+)["']""", source))
    # The error pages' keys are built from the status.
    used |= {f"error-{status}{part}" for status in [*KNOWN_STATUSES, "other"] for part in ("", "-text")}
    assert used - set(_messages("en")) == set()


STORE_PAGES = ("lessons", "courses", "promo-codes", "broadcasts")
NAVIGATION_OF = {
    AdminRole.OWNER: {"/admin", *(f"/admin/{page}" for page in (*STORE_PAGES, "students", "purchases"))}
    | {"/admin/support", "/admin/team", "/admin/audit-log"},
    AdminRole.MANAGER: {"/admin", *(f"/admin/{page}" for page in (*STORE_PAGES, "students", "purchases"))},
    AdminRole.SUPPORT: {"/admin", "/admin/students", "/admin/purchases", "/admin/support"},
}


@pytest.mark.parametrize("role", list(AdminRole))
async def test_navigation_shows_the_pages_of_the_admins_role(
    signed_in_as: Callable[[AdminRole], Awaitable[httpx.AsyncClient]], role: AdminRole
):
    client = await signed_in_as(role)
    page = await client.get("/admin")
    nav = page.text[page.text.index('<nav class="sidebar"') :]
    nav = nav[: nav.index("</nav>")]
    assert set(re.findall(r'<a href="([^"]+)"', nav)) == NAVIGATION_OF[role]


def test_flash_message_must_be_a_flash_key():
    assert redirect("/admin", "flash-saved").headers["set-cookie"].startswith("panel_flash=flash-saved;")
    with pytest.raises(ValueError, match="Not a flash message key"):
        redirect("/admin", "<script>")
