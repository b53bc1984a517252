"""The spec's `backend/config.py`: the settings live in `shared/config.py`, below the backend and the bot."""

from shared.config import DEFAULT_ADMIN_PASSWORDS, Settings, get_settings

__all__ = ["DEFAULT_ADMIN_PASSWORDS", "Settings", "get_settings"]
