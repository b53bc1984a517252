"""The business rules. Importing any of them registers the audit log's session events (audit_service), so
every process that writes through the services keeps the log."""

from backend.services import audit_service  # noqa: F401
