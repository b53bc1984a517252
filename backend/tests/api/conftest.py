"""Fixtures of every API test module (defined in backend/tests/api/__init__.py): admin tokens without the
slow password check, registered as `tokens`, and `lenient_client`."""

from backend.tests.api import lenient_client_fixture, quick_tokens

__all__ = ["lenient_client_fixture", "quick_tokens"]
