"""Broadcasts sent at Telegram's rate by every process that runs the jobs.

Each such process (each `python -m worker`, or the embedded mode's host) has a senders loop
(`broadcasts.senders`): every 2 s it starts a sender here for every sending broadcast that may have one
more (fewer than BROADCAST_SENDERS live, one per process), so that a broadcast is spread over the workers
and goes on when one of them dies. `broadcasts.send` starts one at once (the API enqueues it when a
broadcast starts or resumes); `broadcasts.tick` (every 2 s) starts the scheduled broadcasts that are due.

A sender (a row with a heartbeat) creates the broadcast's recipients if that is not done yet (in batches,
resumable), then repeatedly: re-reads the broadcast's status (a pause or a cancel takes effect before the
next batch, and stops the sends of a batch still waiting for their slot: within a second), claims a small
batch of due pending recipients (about 0.2 s of sends; status sending, under its name, committed; the
other senders skip those rows), sends them concurrently, each at its slot of the rate limiter shared by
every sender (in the process, or in Redis), and records every outcome and the broadcast's counters in one
transaction. After about 20 s a run lets go of its place and takes one again.

**The duplicate bound.** A recipient is marked sent in the transaction after its message went out, so a
crash (kill -9, a lost worker) between the two sends it again: when a live sender finds the dead one's
heartbeat older than the lease, the recipients the dead one had claimed go back to pending. Those are the
messages that were in flight at the crash: at most one batch (max(1, rate × 0.2) recipients) per crashed
process, and never one that had been recorded. Everybody else gets the message exactly once.

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
from shared import metrics
from shared.config import Settings
from shared.constants import BroadcastStatus
from shared.database import session_scope
from shared.models import Broadcast
from shared.utils import utcnow
from worker.engine import telegram_bot
from worker.rate_limit import RateLimiter, create_rate_limiter
from worker.registry import job, process_loop

logger = logging.getLogger(__name__)

# A run of a sender works this long at most, then lets go of its place (and takes one again at once).
RUN_SECONDS = 20.0
# How often each process looks for sending broadcasts it could send too.
JOIN_SECONDS = 2.0
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
async def send(broadcast_id: int, state: Annotated[TaskiqState, TaskiqDepends()]) -> bool:
    """Start a sender of the broadcast in this process at once (the senders loop would within
    JOIN_SECONDS); whether one was started."""
    senders: Senders | None = getattr(state, "senders", None)
    if senders is None:
        logger.warning("This process does not send broadcasts (its senders loop is not running)")
        return False
    return senders.ensure(broadcast_id)


@job(BROADCASTS_TICK, every=2)
async def tick() -> int:
    """Start the scheduled broadcasts that are due (the senders loops of the workers join them); how many."""
    async with session_scope() as session:
        return len(await broadcast_service.start_due(session))


@process_loop("broadcasts.senders")
async def keep_senders(state: TaskiqState) -> None:
    """In every process running the jobs: a sender for every sending broadcast that may have one more (just
    started, resumed after a restart or a crash, one of its workers lost), one per broadcast here."""
    senders = state.senders = Senders(bot=telegram_bot(state), settings=state.settings, redis=state.redis)
    try:
        while True:
            try:
                await senders.join()
            except Exception:
                logger.exception("Could not look for broadcasts to send")
            await asyncio.sleep(JOIN_SECONDS)
    finally:
        state.senders = None
        await senders.stop()


class Senders:
    """The broadcast senders of this process: at most one per broadcast (a second would add no process to
    the work, and would double what a crash of this process can send twice)."""

    def __init__(self, *, bot: Bot, settings: Settings, redis: Any = None) -> None:
        self.bot = bot
        self.settings = settings
        self.redis = redis
        self.tasks: dict[int, asyncio.Task[None]] = {}

    async def join(self) -> None:
        async with session_scope() as session:
            understaffed = await broadcast_service.understaffed(session)
        for broadcast_id in understaffed:
            self.ensure(broadcast_id)

    def ensure(self, broadcast_id: int) -> bool:
        """Start a sender of the broadcast here unless one runs; whether one was started."""
        if broadcast_id in self.tasks:
            return False
        self.tasks[broadcast_id] = asyncio.create_task(
            self._send(broadcast_id), name=f"broadcast-{broadcast_id}"
        )
        return True

    async def _send(self, broadcast_id: int) -> None:
        try:
            while await run_sender(broadcast_id, bot=self.bot, settings=self.settings, redis=self.redis):
                pass
        except Exception:
            logger.exception("Broadcast %s's sender failed; another one takes over", broadcast_id)
        finally:
            del self.tasks[broadcast_id]

    async def stop(self) -> None:
        """Stop every sender here: what each had claimed goes back to pending (run_sender's release)."""
        tasks = list(self.tasks.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def run_sender(
    broadcast_id: int,
    *,
    bot: Bot,
    settings: Settings,
    redis: Any = None,
    limiter: RateLimiter | None = None,
    run_seconds: float = RUN_SECONDS,
) -> bool:
    """One run of a sender of the broadcast (see the module's docstring); whether work is left."""
    sender_id = broadcast_service.new_sender_id()
    async with session_scope() as session:
        broadcast = await broadcast_service.take_sender(session, broadcast_id, sender_id)
    if broadcast is None:
        logger.debug("Broadcast %s has all its senders or is not sending; this run ends", broadcast_id)
        return False
    lost = asyncio.Event()
    stop = asyncio.Event()
    heart = asyncio.create_task(
        _heartbeat(broadcast_id, sender_id, stop, lost), name=f"broadcast-{broadcast_id}"
    )
    sender = _Sender(
        broadcast,
        sender_id,
        bot=bot,
        settings=settings,
        limiter=limiter or limiter_for(settings, paid=broadcast.paid, redis=redis),
        lost=lost,
    )
    try:
        return await sender.run(run_seconds)
    finally:
        stop.set()
        await heart
        async with session_scope() as session:
            await broadcast_service.release_sender(session, broadcast_id, sender_id)


async def _heartbeat(broadcast_id: int, sender_id: str, stop: asyncio.Event, lost: asyncio.Event) -> None:
    # Every third of the lease, whatever the sender is doing (a batch may wait long for a 429's end).
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), broadcast_service.sender_lease_seconds() / 3)
        if stop.is_set():
            return
        try:
            async with session_scope() as session:
                held = await broadcast_service.renew_sender(session, broadcast_id, sender_id)
        except Exception:
            logger.exception("Could not renew the heartbeat of broadcast %s's sender", broadcast_id)
            continue
        if not held:
            logger.error("Broadcast %s's sender was taken for dead; it stops", broadcast_id)
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
        sender_id: str,
        *,
        bot: Bot,
        settings: Settings,
        limiter: RateLimiter,
        lost: asyncio.Event,
    ) -> None:
        self.broadcast_id: int = broadcast.id
        self.broadcast = broadcast
        self.sender_id = sender_id
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
                claimed = await broadcast_service.claim(
                    session, self.broadcast_id, self.sender_id, limit=self.batch_size
                )
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
            await broadcast_service.record(
                session, self.broadcast_id, self.sender_id, [result.outcome for result in results]
            )
            if failure is not None:
                await broadcast_service.fail(session, self.broadcast_id, failure)
                logger.error(
                    "Broadcast %s failed: Telegram refused the message: %s", self.broadcast_id, failure
                )
        for result in results:
            # sent, blocked, retry (an attempt that failed) or requeue (not attempted: a 429, a refusal).
            metrics.broadcast_messages.labels(result.outcome.kind).inc()
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
