"""The panel's students pages (not built yet)."""

from backend.panel.pages import page_router

router = page_router("/students")
