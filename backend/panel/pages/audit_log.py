"""The panel's audit log pages (not built yet)."""

from backend.panel.pages import page_router

router = page_router("/audit-log")
