"""The jobs, one module per area; importing this package registers them all (worker.registry)."""

from worker.tasks import broadcasts, payments, support

__all__ = ["broadcasts", "payments", "support"]
