"""The panel's account pages (not built yet)."""

from backend.panel.pages import page_router

router = page_router("/account")
