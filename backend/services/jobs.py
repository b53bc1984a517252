"""What the API, the panel and the bot need from the job engine, as an interface they define and the
application wires at startup (like backend.services.telegram): enqueue a job by name.

The names of the jobs that the edges enqueue are here too; worker.tasks registers the functions.
"""

from typing import Any, Protocol

SEND_SUPPORT_MESSAGES = "support.send_messages"
# Broadcasts: send one (kwargs broadcast_id), and the periodic start of scheduled ones and resumption of
# those whose sender died.
SEND_BROADCAST = "broadcasts.send"
BROADCASTS_TICK = "broadcasts.tick"


class JobQueue(Protocol):
    async def kick(self, name: str, **kwargs: Any) -> None:
        """Enqueue a run of the job `name` with these arguments, after committing the running unit of work
        (the job reads what it wrote). At least once: every job is guarded by database state."""
