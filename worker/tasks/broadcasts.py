"""Broadcast jobs: send a broadcast at Telegram's rate (`broadcasts.send`), and start the scheduled ones and
resume those whose sender died (`broadcasts.tick`, every 2 s).

A run of `broadcasts.send` becomes the broadcast's only sender (a lease on its row, renewed by a
heartbeat), creates its recipients if that is not done yet (in batches, resumable), then repeatedly:
re-reads the broadcast's status (a pause or a cancel takes effect before the next batch, and stops the
sends of a batch still waiting for their slot: within a second), claims a small batch of due pending
recipients (about 0.2 s of sends; status sending, committed), sends them concurrently, each at its slot of
the rate limiter shared by every sender, and records every outcome and the broadcast's counters in one
transaction. After about 20 s it lets go and enqueues itself again: jobs stay
short, and another worker can take over.

**The duplicate bound.** A recipient is marked sent in the transaction after its message went out, so a
crash (kill -9, a lost worker) between the two sends it again: when the next sender takes over the dead
one's lease, the recipients still in status sending go back to pending. Those are the messages that were in
flight at the crash: at most one batch (max(1, rate × 0.2) recipients) per crashed sender, and never one
that had been recorded. Everybody else gets the message exactly once.

Outcomes: sent; 403 (blocked, deactivated) → blocked, the student is marked as having blocked the bot, not
retried; 429 → every sender waits retry_after (limiter.pause), the recipient goes back to pending, not
counted as an attempt; other errors → retried with exponential backoff, failed after 3 attempts. When
Telegram refuses the message itself (a 400 for the first recipients, before any was sent), the broadcast
is failed with the reason.
"""

import asyncio
import contextlib
import dataclasses
import logging
from datetime import datetime
from typing import Annotated, Any

from aiogram import Bot
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramRetryAfter,
)
from taskiq import TaskiqDepends, TaskiqState

from backend.services import broadcast_service
from backend.services.broadcast_service import Claimed, Outcome
from backend.services.jobs import BROADCASTS_TICK, SEND_BROADCAST
from backend.services.telegram import BroadcastMessage
from bot import broadcasts
from shared.config import Settings
from shared.constants import BroadcastStatus
from shared.database import session_scope
from shared.models import Broadcast
from shared.utils import utcnow
from worker.engine import Jobs, job_queue, job_settings, telegram_bot
from worker.rate_limit import RateLimiter, create_rate_limiter
from worker.registry import job

logger = logging.getLogger(__name__)

TelegramBot = Annotated[Bot, TaskiqDepends(telegram_bot)]
JobSettings = Annotated[Settings, TaskiqDepends(job_settings)]
JobQueueDep = Annotated[Jobs, TaskiqDepends(job_queue)]

# A run of the sender works this long at most, then enqueues the next one.
RUN_SECONDS = 20.0
# A batch is this many seconds of sends at the broadcast's rate (at least one recipient).
BATCH_SECONDS = 0.2
# This many refusals of the message (400) before any recipient got it: the message itself is wrong.
REFUSALS_BEFORE_FAILING = 3
# The longest wait for a retry that is not due yet, between looks at the broadcast's status.
IDLE_POLL_SECONDS = 0.5
# While a batch is out, its status is looked at this often: a pause or a cancel stops the sends still
# waiting for their slot (a 429 may hold them for long), so that it takes effect within a second.
STATUS_POLL_SECONDS = 0.5


def limiter_for(settings: Settings, *, paid: bool, redis: Any = None) -> RateLimiter:
    """The rate limiter every sender of unpaid (or paid) broadcasts shares: in this process, or through
    Redis across processes."""
    return create_rate_limiter(
        settings,
        redis=redis,
        per_second=broadcast_service.rate(paid=paid, settings=settings),
        key="broadcasts-paid" if paid else "broadcasts",
    )


@job(SEND_BROADCAST)
async def send(
    broadcast_id: int,
    bot: TelegramBot,
    settings: JobSettings,
    jobs: JobQueueDep,
    state: Annotated[TaskiqState, TaskiqDepends()],
) -> bool:
    """Send the broadcast for up to RUN_SECONDS; whether work is left (then this job is enqueued again)."""
    more = await run_sender(broadcast_id, bot=bot, settings=settings, redis=getattr(state, "redis", None))
    if more:
        await jobs.kick(SEND_BROADCAST, broadcast_id=broadcast_id)
    return more


@job(BROADCASTS_TICK, every=2)
async def tick(jobs: JobQueueDep) -> int:
    """Start the scheduled broadcasts that are due, and enqueue a sender for every sending broadcast that
    has none alive (after a restart, a crash, a lost job); how many senders it enqueued."""
    async with session_scope() as session:
        started = await broadcast_service.start_due(session)
    async with session_scope() as session:
        orphaned = await broadcast_service.orphaned(session)
    for broadcast_id in sorted({*started, *orphaned}):
        await jobs.kick(SEND_BROADCAST, broadcast_id=broadcast_id)
    return len({*started, *orphaned})


async def run_sender(
    broadcast_id: int,
    *,
    bot: Bot,
    settings: Settings,
    redis: Any = None,
    limiter: RateLimiter | None = None,
    run_seconds: float = RUN_SECONDS,
) -> bool:
    """One run of the broadcast's sender (see the module's docstring); whether work is left."""
    sender_id = broadcast_service.new_sender_id()
    async with session_scope() as session:
        broadcast = await broadcast_service.take_sender(session, broadcast_id, sender_id)
    if broadcast is None:
        logger.debug("Broadcast %s has a live sender or is not sending; this run ends", broadcast_id)
        return False
    lost = asyncio.Event()
    stop = asyncio.Event()
    keeper = asyncio.create_task(
        _keep_lease(broadcast_id, sender_id, stop, lost), name=f"broadcast-{broadcast_id}"
    )
    sender = _Sender(
        broadcast,
        bot=bot,
        settings=settings,
        limiter=limiter or limiter_for(settings, paid=broadcast.paid, redis=redis),
        lost=lost,
    )
    try:
        return await sender.run(run_seconds)
    finally:
        stop.set()
        await keeper
        async with session_scope() as session:
            await broadcast_service.release_sender(session, broadcast_id, sender_id)


async def _keep_lease(broadcast_id: int, sender_id: str, stop: asyncio.Event, lost: asyncio.Event) -> None:
    # A batch held up by a long 429 pause records nothing for a while: the heartbeat says the sender lives.
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), broadcast_service.sender_lease_seconds() / 3)
        if stop.is_set():
            return
        try:
            async with session_scope() as session:
                held = await broadcast_service.renew_sender(session, broadcast_id, sender_id)
        except Exception:
            logger.exception("Could not renew the lease of broadcast %s's sender", broadcast_id)
            continue
        if not held:
            logger.error("Broadcast %s's sender lost its lease; it stops", broadcast_id)
            lost.set()
            return


@dataclasses.dataclass
class _Result:
    outcome: Outcome
    media_file_id: str | None = None
    # A 400: Telegram refused the message (for this chat, or as a whole).
    refused: bool = False
    # The stored file id of the media no longer works.
    stale_file_id: bool = False


class _Sender:
    def __init__(
        self,
        broadcast: Broadcast,
        *,
        bot: Bot,
        settings: Settings,
        limiter: RateLimiter,
        lost: asyncio.Event,
    ) -> None:
        self.broadcast_id: int = broadcast.id
        self.broadcast = broadcast
        self.bot = bot
        self.limiter = limiter
        self.lost = lost
        self.message: BroadcastMessage = broadcast_service.message_of(broadcast)
        self.batch_size = max(
            1, int(broadcast_service.rate(paid=broadcast.paid, settings=settings) * BATCH_SECONDS)
        )
        self.sent_before = broadcast.sent
        self.refusals = 0
        # Set when the broadcast stops sending (paused, cancelled) while a batch is out.
        self.halted = asyncio.Event()

    async def run(self, run_seconds: float) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + run_seconds
        while not self.broadcast.recipients_ready:
            async with session_scope() as session:
                broadcast = await broadcast_service.get(session, self.broadcast_id)
                await session.refresh(broadcast)
                if broadcast.status is not BroadcastStatus.SENDING:
                    return False
                await broadcast_service.add_recipients(session, broadcast)
                self.broadcast = broadcast
            if loop.time() > deadline:
                return True
        while not self.lost.is_set():
            wait = None
            async with session_scope() as session:
                if (
                    await broadcast_service.status_of(session, self.broadcast_id)
                    is not BroadcastStatus.SENDING
                ):
                    return False
                claimed = await broadcast_service.claim(session, self.broadcast_id, limit=self.batch_size)
                if not claimed:
                    if await broadcast_service.finish(session, self.broadcast_id):
                        logger.info("Broadcast %s is sent", self.broadcast_id)
                        return False
                    wait = await broadcast_service.next_retry_at(session, self.broadcast_id)
            if not claimed:
                if loop.time() > deadline:
                    return True
                await asyncio.sleep(_seconds_until(wait))
                continue
            if await self._send_batch(claimed):
                return False
            if loop.time() > deadline:
                return True
        return False

    async def _send_batch(self, claimed: list[Claimed]) -> bool:
        """Send to the claimed recipients and record what happened; whether the broadcast failed."""
        results: list[_Result] = []
        rest = claimed
        if self.message.media_kind is not None and not self.message.media_file_id:
            # The first send uploads the file; the others wait for its file id rather than upload it too.
            first = await self._send_one(claimed[0])
            results.append(first)
            rest = claimed[1:]
            if first.media_file_id:
                await self._keep_file_id(first.media_file_id)
            else:
                rest, results = [], results + [_Result(Outcome(r, "requeue")) for r in rest]
        watcher = asyncio.create_task(self._watch_status(), name=f"broadcast-{self.broadcast_id}-status")
        try:
            results += await asyncio.gather(*(self._send_one(recipient) for recipient in rest))
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        failure = self._judge(results)
        if any(result.stale_file_id for result in results):
            await self._keep_file_id(None)
        async with session_scope() as session:
            await broadcast_service.record(session, self.broadcast_id, [result.outcome for result in results])
            if failure is not None:
                await broadcast_service.fail(session, self.broadcast_id, failure)
                logger.error(
                    "Broadcast %s failed: Telegram refused the message: %s", self.broadcast_id, failure
                )
        return failure is not None

    def _judge(self, results: list[_Result]) -> str | None:
        """Refusals before any recipient got the message mean the message itself is wrong: its reason then.
        Otherwise a refusal is the recipient's (a chat that is gone): an attempt, retried, then failed."""
        sent = sum(result.outcome.kind == "sent" for result in results)
        self.sent_before += sent
        refused = [result for result in results if result.refused]
        if self.sent_before == 0 and refused:
            self.refusals += len(refused)
            if self.refusals >= min(REFUSALS_BEFORE_FAILING, max(self.broadcast.total, 1)):
                for result in refused:
                    result.outcome.kind = "requeue"
                return refused[0].outcome.error or "refused"
        return None

    async def _keep_file_id(self, file_id: str | None) -> None:
        self.message = dataclasses.replace(self.message, media_file_id=file_id)
        async with session_scope() as session:
            await broadcast_service.set_media_file_id(session, self.broadcast_id, file_id)

    async def _watch_status(self) -> None:
        while not self.halted.is_set():
            await asyncio.sleep(STATUS_POLL_SECONDS)
            async with session_scope() as session:
                status = await broadcast_service.status_of(session, self.broadcast_id)
            if status is not BroadcastStatus.SENDING:
                self.halted.set()

    async def _slot(self) -> bool:
        """Wait for this send's slot; False when the broadcast stopped sending meanwhile."""
        if self.halted.is_set():
            return False
        slot = asyncio.ensure_future(self.limiter.acquire())
        halted = asyncio.ensure_future(self.halted.wait())
        await asyncio.wait({slot, halted}, return_when=asyncio.FIRST_COMPLETED)
        halted.cancel()
        if slot.done() and not self.halted.is_set():
            slot.result()  # a limiter that failed (Redis unreachable) fails the batch
            return True
        slot.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await slot
        return False

    async def _send_one(self, recipient: Claimed) -> _Result:
        if not await self._slot():
            return _Result(Outcome(recipient, "requeue"))
        message = self.message
        try:
            sent = await broadcasts.send(self.bot, recipient.telegram_id, message)
        except TelegramRetryAfter as error:
            await self.limiter.pause(error.retry_after)
            logger.warning("Broadcast %s: Telegram asks to wait %s s", self.broadcast_id, error.retry_after)
            return _Result(Outcome(recipient, "requeue", error=error.message))
        except TelegramForbiddenError as error:
            return _Result(Outcome(recipient, "blocked", error=error.message))
        except TelegramBadRequest as error:
            if message.media_file_id and "file" in error.message.lower():
                logger.warning(
                    "Broadcast %s: its media's file id was refused; uploading again", self.broadcast_id
                )
                return _Result(Outcome(recipient, "requeue", error=error.message), stale_file_id=True)
            return _Result(Outcome(recipient, "retry", error=error.message), refused=True)
        except TelegramAPIError as error:
            return _Result(Outcome(recipient, "retry", error=error.message))
        except FileNotFoundError as error:
            return _Result(Outcome(recipient, "retry", error=str(error)), refused=True)
        except Exception as error:  # a network error aiogram did not wrap, a timeout
            logger.warning(
                "Broadcast %s: sending to %s failed: %r", self.broadcast_id, recipient.telegram_id, error
            )
            return _Result(Outcome(recipient, "retry", error=repr(error)))
        return _Result(
            Outcome(recipient, "sent", message_id=sent.message_id), media_file_id=sent.media_file_id
        )


def _seconds_until(when: datetime | None) -> float:
    if when is None:
        return IDLE_POLL_SECONDS
    return min(max((when - utcnow()).total_seconds(), 0.01), IDLE_POLL_SECONDS)
