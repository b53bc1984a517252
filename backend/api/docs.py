"""The interactive API docs (Swagger UI at /docs, ReDoc at /redoc) with their scripts and styles served by
the app itself (backend/static/vendor/), not from a CDN: they work offline and on closed networks."""

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
STATIC_PATH = "/static"
SWAGGER_UI_DIR = f"{STATIC_PATH}/vendor/swagger-ui-dist-5.36.0"
REDOC_DIR = f"{STATIC_PATH}/vendor/redoc-2.5.4"
FAVICON = f"{SWAGGER_UI_DIR}/favicon-32x32.png"
DOCS_PATH = "/docs"
REDOC_PATH = "/redoc"
# No badge fetched from validator.swagger.io: the page must not call out to the internet.
SWAGGER_UI_PARAMETERS = {"validatorUrl": None}


def _root_path(request: Request) -> str:
    # Behind a proxy that mounts the app under a prefix, every URL the page loads needs that prefix too.
    return request.scope.get("root_path", "").rstrip("/")


def install(app: FastAPI) -> None:
    """Serve the static files and the docs pages; the app must be created with docs_url=None and
    redoc_url=None so that FastAPI does not add its CDN-based pages."""
    app.mount(STATIC_PATH, StaticFiles(directory=STATIC_DIR), name="static")
    openapi_url = app.openapi_url
    oauth2_redirect_url = app.swagger_ui_oauth2_redirect_url
    assert openapi_url is not None
    assert oauth2_redirect_url is not None

    async def swagger_ui_html(request: Request) -> HTMLResponse:
        root = _root_path(request)
        return get_swagger_ui_html(
            openapi_url=root + openapi_url,
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{root}{SWAGGER_UI_DIR}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{SWAGGER_UI_DIR}/swagger-ui.css",
            swagger_favicon_url=root + FAVICON,
            oauth2_redirect_url=root + oauth2_redirect_url,
            init_oauth=app.swagger_ui_init_oauth,
            swagger_ui_parameters=SWAGGER_UI_PARAMETERS | (app.swagger_ui_parameters or {}),
        )

    async def swagger_ui_redirect(_request: Request) -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    async def redoc_html(request: Request) -> HTMLResponse:
        root = _root_path(request)
        return get_redoc_html(
            openapi_url=root + openapi_url,
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{REDOC_DIR}/redoc.standalone.js",
            redoc_favicon_url=root + FAVICON,
            with_google_fonts=False,
        )

    app.add_route(DOCS_PATH, swagger_ui_html, include_in_schema=False)
    app.add_route(oauth2_redirect_url, swagger_ui_redirect, include_in_schema=False)
    app.add_route(REDOC_PATH, redoc_html, include_in_schema=False)
