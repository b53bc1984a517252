"""The panel's promo codes pages (not built yet)."""

from backend.panel.pages import page_router

router = page_router("/promo-codes")
