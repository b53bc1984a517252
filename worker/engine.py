"""The job engine: taskiq brokers bound to the jobs of worker.registry.

- Embedded (no REDIS_URL): an InMemoryBroker runs each job as a task of the process that enqueues it. One
  process, the jobs' host (the API), also runs the scheduler of the periodic jobs. No Redis, no extra
  process; a job's state is in the database, so a restart resumes it.
- REDIS_URL: a RedisStreamBroker. The API and the bot only enqueue; `python -m worker` processes run the
  jobs (a job is acknowledged once done, and handed to another worker if its worker dies first), and
  `python -m worker scheduler` enqueues the periodic ones, one scheduler at a time (a Redis lease).

A periodic job never runs twice at once: each run holds a lock (in the process, or in Redis with REDIS_URL),
and a run that finds it taken is skipped. The process loops (worker.registry.process_loop) run in every
process that runs the jobs: each worker, or the embedded mode's host.
"""

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, Protocol

from aiogram import Bot
from redis.asyncio import Redis
from redis.exceptions import LockError, ResponseError
from taskiq import AsyncBroker, InMemoryBroker, TaskiqDepends, TaskiqScheduler, TaskiqState
from taskiq.api import run_scheduler_task
from taskiq.schedule_sources import LabelScheduleSource
from taskiq_redis import RedisStreamBroker

from shared import database, metrics
from shared.config import REDIS_CONNECTION_OPTIONS, Settings
from worker.registry import JOBS, LOOPS, Job, ProcessLoop

logger = logging.getLogger(__name__)

QUEUE = "lesson-store:jobs"
CONSUMER_GROUP = "lesson-store:workers"
KEY_PREFIX = "lesson-store:"
# A job left unacknowledged this long (its worker died) is handed to another worker. Jobs are short (a
# broadcast is sent in slices), so a live worker never holds one this long.
REDELIVER_AFTER_MS = 60_000
# A lock outlives a dead holder by at most this long; a live holder renews it a few times within.
LOCK_TTL_SECONDS = 15
# A process loop that fails is started again after this pause.
LOOP_RESTART_SECONDS = 5


def telegram_bot(state: TaskiqState = TaskiqDepends()) -> Bot:
    """The bot through which a job reaches Telegram (a task dependency)."""
    bot: Bot | None = state.bot
    if bot is None:
        raise RuntimeError("The Telegram bot is off (TELEGRAM_BOT_TOKEN): this job cannot run")
    return bot


def job_settings(state: TaskiqState = TaskiqDepends()) -> Settings:
    """The settings of the process running the job (a task dependency)."""
    settings: Settings = state.settings
    return settings


def job_queue(state: TaskiqState = TaskiqDepends()) -> "Jobs":
    """The queue, for a job that enqueues others (a task dependency)."""
    jobs: Jobs = state.jobs
    return jobs


class Locks(Protocol):
    def hold(self, name: str) -> contextlib.AbstractAsyncContextManager[bool]:
        """Hold the lock `name` for the block; yields False (and holds nothing) when another has it."""


class LocalLocks:
    """Locks of one process (the embedded mode, where one process runs the periodic jobs)."""

    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}

    @contextlib.asynccontextmanager
    async def hold(self, name: str) -> AsyncIterator[bool]:
        lock = self._locks.setdefault(name, asyncio.Lock())
        if lock.locked():
            yield False
            return
        async with lock:
            yield True


class RedisLocks:
    """Locks shared by every process through Redis, each a lease renewed while its holder lives."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    @contextlib.asynccontextmanager
    async def hold(self, name: str) -> AsyncIterator[bool]:
        lock = self.redis.lock(f"{KEY_PREFIX}lock:{name}", timeout=LOCK_TTL_SECONDS, blocking=False)
        if not await lock.acquire():
            yield False
            return
        keeper = asyncio.create_task(keep_renewed(lock), name=f"lock-{name}")
        try:
            yield True
        finally:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper
            with contextlib.suppress(LockError):
                await lock.release()


async def keep_renewed(lock: Any) -> None:
    """Renew a Redis lease while its holder lives; return when it is lost (Redis out of reach too long)."""
    while True:
        await asyncio.sleep(LOCK_TTL_SECONDS / 3)
        try:
            await lock.reacquire()
        except LockError:
            logger.error("Lost the lease %s: another process may take it over now", lock.name)
            return


class Jobs:
    """Enqueues jobs (backend.services.jobs.JobQueue) on this process's broker."""

    def __init__(self, broker: AsyncBroker) -> None:
        self.broker = broker

    async def kick(self, name: str, **kwargs: Any) -> None:
        task = self.broker.find_task(name)
        if task is None:
            raise LookupError(f"no job named {name!r}")
        # The job runs in another unit of work (maybe at once, in this process): it must find this one's
        # writes committed.
        await database.commit_now()
        await task.kiq(**kwargs)


def _run_guarded(job: Job, locks: Locks, running: set[asyncio.Task[Any]]) -> Callable[..., Awaitable[Any]]:
    """The job as the broker runs it: a periodic one under its lock; tracked so that a stopping process
    can cancel what it runs (its state is in the database: another run takes it over)."""

    @functools.wraps(job.function)
    async def run(*args: Any, **kwargs: Any) -> Any:
        task = asyncio.current_task()
        if task is not None:
            running.add(task)
        metrics.jobs_running.inc()
        try:
            if job.every is None:
                return await job.function(*args, **kwargs)
            async with locks.hold(f"job:{job.name}") as held:
                if not held:
                    logger.info("Job %s is still running elsewhere; this run is skipped", job.name)
                    return None
                return await job.function(*args, **kwargs)
        finally:
            metrics.jobs_running.dec()
            if task is not None:
                running.discard(task)

    return run


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class Engine:
    """A broker with the jobs bound to it, the state they read, and the runs of this process."""

    def __init__(
        self,
        settings: Settings,
        *,
        bot: Bot | None,
        jobs: Mapping[str, Job] | None = None,
        loops: Mapping[str, ProcessLoop] | None = None,
    ) -> None:
        if jobs is None:
            import worker.tasks  # noqa: F401  (registers the jobs and the loops)

            jobs, loops = JOBS, LOOPS if loops is None else loops
        self.loops: Mapping[str, ProcessLoop] = loops or {}
        self.loop_tasks: set[asyncio.Task[None]] = set()
        self.settings = settings
        self.redis: Redis | None = None
        self.broker: AsyncBroker
        if settings.REDIS_URL:
            self.redis = Redis.from_url(settings.REDIS_URL, **REDIS_CONNECTION_OPTIONS)
            self.locks: Locks = RedisLocks(self.redis)
            self.broker = RedisStreamBroker(
                settings.REDIS_URL,
                queue_name=QUEUE,
                consumer_group_name=CONSUMER_GROUP,
                idle_timeout=REDELIVER_AFTER_MS,
                **REDIS_CONNECTION_OPTIONS,
            )
        else:
            self.locks = LocalLocks()
            self.broker = InMemoryBroker(max_async_tasks=100)
        self.jobs = Jobs(self.broker)
        self.running: set[asyncio.Task[Any]] = set()
        state = self.broker.state
        state.bot, state.settings, state.jobs, state.locks, state.redis = (
            bot,
            settings,
            self.jobs,
            self.locks,
            self.redis,
        )
        for job in jobs.values():
            interval = job.every(settings) if job.every is not None else None
            labels: dict[str, Any] = {"schedule": [{"interval": interval}]} if interval else {}
            self.broker.register_task(
                _run_guarded(job, self.locks, self.running), task_name=job.name, **labels
            )

    @property
    def embedded(self) -> bool:
        return self.redis is None

    async def startup(self) -> None:
        await self.broker.startup()

    def start_loops(self) -> None:
        """Run the process loops in this process (one that runs the jobs) until shutdown."""
        for name, loop in self.loops.items():
            self.loop_tasks.add(asyncio.create_task(self._keep_looping(name, loop), name=f"loop-{name}"))

    async def _keep_looping(self, name: str, loop: ProcessLoop) -> None:
        while True:
            try:
                await loop(self.broker.state)
                return
            except Exception:
                logger.exception("The loop %s failed; it starts again in %s s", name, LOOP_RESTART_SECONDS)
                await asyncio.sleep(LOOP_RESTART_SECONDS)

    async def shutdown(self) -> None:
        for task in self.loop_tasks:
            task.cancel()
        for task in list(self.loop_tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for task in list(self.running):
            task.cancel()
        for task in list(self.running):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.broker.shutdown()
        if self.redis is not None:
            await self.redis.aclose()

    async def queue_depth(self) -> int:
        """Jobs waiting: in Redis, not yet handed to a worker or not yet acknowledged; embedded, running."""
        if self.redis is None:
            return len(self.running)
        try:
            groups = await self.redis.xinfo_groups(QUEUE)
        except ResponseError:  # no stream yet: nothing was ever enqueued
            return 0
        for group in groups:
            if _text(group["name"]) == CONSUMER_GROUP:
                return int(group.get("lag") or 0) + int(group["pending"])
        return 0

    async def run_scheduler(self) -> None:
        """Enqueue the periodic jobs when due, for as long as this runs."""
        scheduler = TaskiqScheduler(self.broker, [LabelScheduleSource(self.broker)])
        await run_scheduler_task(scheduler)


@contextlib.asynccontextmanager
async def running(settings: Settings, *, bot: Bot | None, host: bool) -> AsyncIterator[Engine]:
    """The job engine of an API or bot process, for its lifetime (its `jobs` enqueue).

    host: this process is the embedded mode's host of the jobs: it runs the periodic ones and the process
    loops (only when the bot is on: they reach Telegram). With REDIS_URL the process only enqueues, whatever
    `host` says.
    """
    engine = Engine(settings, bot=bot)
    await engine.startup()
    scheduler: asyncio.Task[None] | None = None
    if engine.embedded and host and bot is not None:
        scheduler = asyncio.create_task(engine.run_scheduler(), name="job-scheduler")
        engine.start_loops()
    try:
        yield engine
    finally:
        if scheduler is not None:
            scheduler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await scheduler
        await engine.shutdown()
