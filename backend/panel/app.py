"""Wiring the panel into the application (called by backend/main.py)."""

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from backend.panel import errors, routes, security
from backend.panel.pages import (
    account,
    audit_log,
    broadcasts,
    courses,
    lessons,
    promo_codes,
    purchases,
    students,
    support,
    team,
)
from backend.panel.templating import STATIC_DIR

PAGES = (lessons, courses, promo_codes, broadcasts, students, purchases, support, team, audit_log, account)


def install(app: FastAPI) -> None:
    """Mount the panel's pages and assets under /admin, with its headers and error pages; after the API's
    error handlers are installed (the panel's wrap them)."""
    app.add_middleware(security.PanelHeaders)
    app.mount(security.STATIC_PREFIX, StaticFiles(directory=STATIC_DIR), name="panel-static")
    app.include_router(routes.router)
    for page in PAGES:
        app.include_router(page.router)
    errors.install(app)
