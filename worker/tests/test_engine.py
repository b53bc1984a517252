"""The job engine: jobs run where the mode says, after the enqueuer's writes are committed, and a periodic
job never runs twice at once (in one process, or across processes through Redis)."""

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Annotated, Any

import pytest
from aiogram.fsm.storage.base import StorageKey
from redis.asyncio import Redis
from sqlalchemy import select
from taskiq import TaskiqDepends
from taskiq.api import run_receiver_task

from bot.app import create_storage
from conftest import own_redis_url
from shared.config import Settings, get_settings
from shared.database import begin_write, session_scope
from shared.models import User
from worker.engine import Engine, Jobs, job_queue, job_settings
from worker.registry import Job

# The Redis tests run with TEST_REDIS_URL (scripts/test.sh sets it when a Redis answers), in a database of
# their own on that server, emptied before and after each.
REDIS_URL = own_redis_url(7)
WAIT_SECONDS = 10


async def wait_until(condition: Any, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_SECONDS
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


class Recorder:
    """Jobs for the tests, recording their runs."""

    def __init__(self) -> None:
        self.runs: list[Any] = []
        self.release = asyncio.Event()

    async def record(self, value: int) -> None:
        self.runs.append(value)

    async def read_user(self) -> None:
        async with session_scope() as session:
            self.runs.append(await session.scalar(select(User.first_name).where(User.telegram_id == 424242)))

    async def slow(self) -> None:
        self.runs.append("started")
        await self.release.wait()

    async def settings_and_queue(
        self,
        settings: Annotated[Settings, TaskiqDepends(job_settings)],
        jobs: Annotated[Jobs, TaskiqDepends(job_queue)],
    ) -> None:
        self.runs.append((settings.REDIS_URL, isinstance(jobs, Jobs)))

    def jobs(self, *, every: int | None = None) -> dict[str, Job]:
        periodic = None if every is None else (lambda _settings: every)
        return {
            "test.record": Job("test.record", self.record),
            "test.read_user": Job("test.read_user", self.read_user),
            "test.slow": Job("test.slow", self.slow, periodic),
            "test.context": Job("test.context", self.settings_and_queue),
        }


@pytest.fixture
async def redis_settings() -> AsyncIterator[Settings]:
    if not REDIS_URL:
        pytest.skip("set TEST_REDIS_URL to run the Redis tests")
    redis = Redis.from_url(REDIS_URL)
    await redis.flushdb()
    yield get_settings().model_copy(update={"REDIS_URL": REDIS_URL})
    await redis.flushdb()
    await redis.aclose()


async def test_kick_runs_job_in_this_process_when_embedded() -> None:
    recorder = Recorder()
    engine = Engine(get_settings(), bot=None, jobs=recorder.jobs())
    assert engine.embedded
    await engine.startup()
    try:
        await engine.jobs.kick("test.record", value=7)
        await engine.jobs.kick("test.context")
        await wait_until(lambda: len(recorder.runs) == 2, "both jobs")
    finally:
        await engine.shutdown()
    assert recorder.runs == [7, ("", True)] or recorder.runs == [("", True), 7]


async def test_kick_commits_the_running_unit_of_work_first() -> None:
    recorder = Recorder()
    engine = Engine(get_settings(), bot=None, jobs=recorder.jobs())
    await engine.startup()
    try:
        async with session_scope() as session:
            # As a service writes (shared.database.writes): kick commits writers' work.
            await begin_write(session)
            session.add(User(telegram_id=424242, first_name="Committed", language_code="en"))
            await session.flush()
            await engine.jobs.kick("test.read_user")
            await wait_until(lambda: recorder.runs, "the job")
    finally:
        await engine.shutdown()
    assert recorder.runs == ["Committed"]


async def test_kick_unknown_job_is_refused() -> None:
    engine = Engine(get_settings(), bot=None, jobs=Recorder().jobs())
    with pytest.raises(LookupError, match=r"no job named 'test\.nope'"):
        await engine.jobs.kick("test.nope")


async def test_periodic_job_is_skipped_while_it_runs_in_this_process() -> None:
    recorder = Recorder()
    engine = Engine(get_settings(), bot=None, jobs=recorder.jobs(every=3600))
    await engine.startup()
    try:
        await engine.jobs.kick("test.slow")
        await wait_until(lambda: recorder.runs == ["started"], "the first run")
        second = engine.broker.find_task("test.slow")
        assert second is not None
        # The second run finds the lock taken and returns at once, without starting.
        await second.original_func()
        assert recorder.runs == ["started"]
        recorder.release.set()
        await wait_until(lambda: not engine.running, "the first run to end")
        recorder.release.clear()
        await engine.jobs.kick("test.slow")
        await wait_until(lambda: recorder.runs == ["started", "started"], "a run after the first ended")
        recorder.release.set()
    finally:
        await engine.shutdown()


async def test_periodic_job_is_skipped_while_another_process_runs_it(redis_settings: Settings) -> None:
    first, second = Recorder(), Recorder()
    engines = [
        Engine(redis_settings, bot=None, jobs=first.jobs(every=3600)),
        Engine(redis_settings, bot=None, jobs=second.jobs(every=3600)),
    ]
    for engine in engines:
        await engine.startup()
    try:
        running = asyncio.create_task(engines[0].broker.find_task("test.slow").original_func())  # type: ignore[union-attr]
        await wait_until(lambda: first.runs == ["started"], "the first run")
        await engines[1].broker.find_task("test.slow").original_func()  # type: ignore[union-attr]
        assert second.runs == []
        first.release.set()
        await running
        second.release.set()
        await engines[1].broker.find_task("test.slow").original_func()  # type: ignore[union-attr]
        assert second.runs == ["started"]
    finally:
        for engine in engines:
            await engine.shutdown()


async def test_worker_runs_jobs_enqueued_in_redis(redis_settings: Settings) -> None:
    enqueuer, worker = Recorder(), Recorder()
    client = Engine(redis_settings, bot=None, jobs=enqueuer.jobs())
    server = Engine(redis_settings, bot=None, jobs=worker.jobs())
    assert not client.embedded
    await client.startup()
    await server.startup()
    receiver = asyncio.create_task(run_receiver_task(server.broker))
    try:
        await client.jobs.kick("test.record", value=1)
        await client.jobs.kick("test.record", value=2)
        await wait_until(lambda: len(worker.runs) == 2, "the worker to run both jobs")
    finally:
        receiver.cancel()
        with pytest.raises(asyncio.CancelledError):
            await receiver
        await client.shutdown()
        await server.shutdown()
    # The enqueuing process only enqueues.
    assert enqueuer.runs == []
    assert sorted(worker.runs) == [1, 2]


@pytest.mark.parametrize("client", ["job queue", "locks and rate limits", "bot state"])
async def test_redis_writes_are_not_run_in_wait_for(
    redis_settings: Settings, client: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Python 3.11's asyncio.wait_for loses a cancellation that arrives as what it waits for completes: a job
    # listener cancelled during a write went on polling Redis, and its worker never stopped.
    wrapped: list[object] = []
    real_wait_for = asyncio.wait_for

    async def recording_wait_for(awaitable: Any, *args: Any) -> Any:
        wrapped.append(awaitable)
        return await real_wait_for(awaitable, *args)

    monkeypatch.setattr(asyncio, "wait_for", recording_wait_for)
    engine = Engine(redis_settings, bot=None, jobs=Recorder().jobs())
    await engine.startup()
    storage, _ = create_storage(redis_settings)
    try:
        if client == "job queue":
            await engine.jobs.kick("test.record", value=1)
        elif client == "locks and rate limits":
            assert engine.redis is not None
            await engine.redis.set("test-key", "written")
        else:
            await storage.set_data(StorageKey(bot_id=1, chat_id=2, user_id=2), {"written": True})
    finally:
        await storage.close()
        await engine.shutdown()
    assert wrapped == []


async def test_scheduler_enqueues_periodic_jobs() -> None:
    recorder = Recorder()
    recorder.release.set()
    engine = Engine(get_settings(), bot=None, jobs=recorder.jobs(every=1))
    await engine.startup()
    scheduler = asyncio.create_task(engine.run_scheduler())
    try:
        await wait_until(lambda: len(recorder.runs) >= 2, "two scheduled runs")
    finally:
        scheduler.cancel()
        with pytest.raises(asyncio.CancelledError):
            await scheduler
        await engine.shutdown()


def test_worker_without_redis_says_the_api_runs_the_jobs() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "worker"],
        env={**os.environ, "REDIS_URL": ""},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "REDIS_URL is not set: the API process runs the jobs itself" in result.stderr


async def test_queue_depth_counts_waiting_jobs_in_redis(redis_settings: Settings) -> None:
    engine = Engine(redis_settings, bot=None, jobs=Recorder().jobs())
    await engine.startup()
    try:
        assert await engine.queue_depth() == 0
        await engine.jobs.kick("test.record", value=1)
        await engine.jobs.kick("test.record", value=2)
        # Nothing runs them: both wait.
        assert await engine.queue_depth() == 2
    finally:
        await engine.shutdown()
