"""The panel's lessons pages (not built yet)."""

from backend.panel.pages import page_router

router = page_router("/lessons")
