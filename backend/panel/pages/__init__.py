"""The panel's pages, one module per area of the navigation (dashboard, lessons, courses, ...), each with
its own router made by page_router(); backend/panel/app.py mounts them all."""

from fastapi import APIRouter, Depends

from backend.panel import security
from backend.panel.deps import check_csrf


def page_router(path: str = "") -> APIRouter:
    """A router for the pages under /admin<path>: every state-changing request needs its CSRF token, and
    the OpenAPI document (the JSON API's) leaves them out."""
    return APIRouter(
        prefix=f"{security.PANEL_PREFIX}{path}", dependencies=[Depends(check_csrf)], include_in_schema=False
    )
