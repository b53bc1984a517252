"""The interactive docs (backend/api/docs.py): Swagger UI and ReDoc load nothing from outside the app."""

from collections.abc import AsyncIterator
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest

from backend.api.docs import STATIC_DIR
from backend.main import app

# Python before 3.12 calls JavaScript application/javascript (RFC 9239 made it text/javascript).
CONTENT_TYPES = {
    ".js": {"text/javascript", "application/javascript"},
    ".css": {"text/css"},
    ".png": {"image/png"},
}
# What each page must load (besides the favicon), by file name.
EXPECTED_ASSETS = {
    "/docs": {"swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png"},
    "/redoc": {"redoc.standalone.js", "favicon-32x32.png"},
}


class AssetCollector(HTMLParser):
    """The URLs a page loads: script src, link href, img src."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        wanted = {"script": "src", "link": "href", "img": "src"}.get(tag)
        self.urls += [value for name, value in attrs if name == wanted and value]


def asset_urls(html: str) -> list[str]:
    collector = AssetCollector()
    collector.feed(html)
    return collector.urls


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
async def test_read_docs_loads_only_local_assets(client, path):
    response = await client.get(path)
    assert response.status_code == 200
    urls = asset_urls(response.text)
    assert {url.rsplit("/", 1)[-1] for url in urls} == EXPECTED_ASSETS[path]
    assert all(url.startswith("/static/vendor/") for url in urls), urls
    # Nor anything else from outside: no CDN, no Google Fonts, no validator badge.
    assert "http://" not in response.text
    assert "https://" not in response.text


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
async def test_read_docs_assets_served(client, path):
    page = await client.get(path)
    for url in asset_urls(page.text):
        response = await client.get(url)
        assert response.status_code == 200, url
        assert response.headers["content-type"].split(";")[0] in CONTENT_TYPES[Path(url).suffix], url
        assert len(response.content) > 0, url


async def test_read_docs_swagger_ui_keeps_oauth2_login(client, openapi_security):
    html = (await client.get("/docs")).text
    assert "oauth2RedirectUrl: window.location.origin + '/docs/oauth2-redirect'" in html
    assert "url: '/openapi.json'" in html
    redirect = await client.get("/docs/oauth2-redirect")
    assert redirect.status_code == 200
    assert "swaggerUIRedirectOauth2" in redirect.text
    # The Authorize button logs in at the form endpoint.
    assert openapi_security["flows"]["password"]["tokenUrl"] == "/auth/token"


@pytest.fixture
async def openapi_security(client) -> dict:
    return (await client.get("/openapi.json")).json()["components"]["securitySchemes"]["OAuth2PasswordBearer"]


async def test_read_openapi_leaves_out_docs_and_static_routes(client):
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert [p for p in paths if p.startswith(("/docs", "/redoc", "/static"))] == []


@pytest.fixture
async def proxied_client() -> AsyncIterator[httpx.AsyncClient]:
    """The app as a proxy serves it under /shop (the ASGI root_path)."""
    transport = httpx.ASGITransport(app=app, root_path="/shop")
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
async def test_read_docs_behind_path_prefix(proxied_client, path):
    page = await proxied_client.get("/shop" + path)
    assert page.status_code == 200
    urls = asset_urls(page.text)
    assert urls
    assert all(url.startswith("/shop/static/vendor/") for url in urls), urls
    assert "/shop/openapi.json" in page.text
    for url in urls:
        assert (await proxied_client.get(url)).status_code == 200, url


@pytest.mark.parametrize("path", ["/static/../main.py", "/static/%2e%2e/main.py", "/static/..%2fmain.py"])
async def test_static_does_not_leave_its_folder(client, path):
    # backend/main.py is there, one folder up.
    assert (await client.get(path)).status_code == 404


def test_vendored_packages_have_licence_and_are_listed():
    vendor = STATIC_DIR / "vendor"
    readme = (vendor / "README.md").read_text()
    packages = [folder for folder in vendor.iterdir() if folder.is_dir()]
    assert {p.name for p in packages} == {"swagger-ui-dist-5.36.0", "redoc-2.5.4"}
    for folder in packages:
        assert (folder / "LICENSE").is_file(), folder
        name, version = folder.name.rsplit("-", 1)
        assert f"npm pack {name}@{version}" in readme, folder
