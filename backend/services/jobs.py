"""What the API, the panel and the bot need from the job engine, as an interface they define and the
application wires at startup (like backend.services.telegram): enqueue a job by name.

The names of the jobs that the edges enqueue are here too; worker.tasks registers the functions.
"""

from typing import Any, Protocol

# Support: the sweep that sends every admin message still to be sent (periodic), the send of one message
# (kicked right after an admin answers), and the admins' notification of a student's message (worker.tasks of
# the admin-linking work; kicked with support_message_id).
SEND_SUPPORT_MESSAGES = "support.send_messages"
SEND_SUPPORT_MESSAGE = "support.send_message"
NOTIFY_ADMINS = "support.notify_admins"


class JobQueue(Protocol):
    async def kick(self, name: str, **kwargs: Any) -> None:
        """Enqueue a run of the job `name` with these arguments, after committing the running unit of work
        (the job reads what it wrote). At least once: every job is guarded by database state."""
