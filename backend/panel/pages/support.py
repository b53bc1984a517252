"""The panel's support pages (not built yet)."""

from backend.panel.pages import page_router

router = page_router("/support")
