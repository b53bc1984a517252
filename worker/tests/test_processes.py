"""Broadcasts sent by real processes against the Bot API double (on this test's event loop, reached over
HTTP): the embedded mode (the API process runs the sender) killed with SIGKILL mid-broadcast and started
again, and the Redis mode (two `python -m worker` and a `python -m worker scheduler`): one broadcast
split across both workers under one shared rate, and a worker killed mid-broadcast.

What is asserted: every student got the message, at most one claimed batch per killed process got it twice
(worker/tasks/broadcasts.py's duplicate bound), nothing was sent before a 429's retry_after had passed, and
Telegram's one-second window (enforced by the double) was never exceeded by the senders sharing one rate
(at the default BROADCAST_RATE_PER_SECOND, 25 under Telegram's 30: the margin that absorbs a loaded
machine's delays; two processes that did not share it would send 50 a second).
"""

import asyncio
import contextlib
import os
import signal
import sys
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from redis.asyncio import Redis
from sqlalchemy import func, insert, select

from backend.services import broadcast_service
from bot.tests.bot_api_double import BotAPIDouble, Call
from bot.tests.conftest import BOT_ID, BOT_TOKEN
from shared import database
from shared.constants import BroadcastStatus, RecipientStatus
from shared.models import Broadcast, BroadcastRecipient, User
from shared.schemas import BroadcastCreate
from worker.engine import KEY_PREFIX
from worker.tasks.broadcasts import BATCH_SECONDS

pytestmark = pytest.mark.slow

PROJECT_ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("TEST_REDIS_URL", "")
# Telegram's limit, enforced by the double, and the senders' rate (the default) shared by every process.
TELEGRAM_LIMIT = 30
RATE = 25
# The duplicate bound: the batch a sender claims (in flight when it dies).
BATCH = max(1, int(RATE * BATCH_SECONDS))
STUDENTS = 300
# The split broadcast: 2,000 students, paid, at 75 a second shared by two workers under the double's 100.
SPLIT_STUDENTS = 2000
SPLIT_RATE = 75
SPLIT_LIMIT = 100
FIRST_TELEGRAM_ID = 5_000_000
# Importing the app, migrating and asking the double for the bot: seconds on a loaded machine.
STARTUP_SECONDS = 60
# 300 messages at 25 a second take 12 s; a restart and a takeover add a few.
FINISH_SECONDS = 90


@pytest.fixture
async def telegram() -> AsyncIterator[BotAPIDouble]:
    async with BotAPIDouble(bot_id=BOT_ID) as api:
        api.limit_rate(TELEGRAM_LIMIT)
        yield api


@dataclass
class Process:
    name: str
    process: asyncio.subprocess.Process
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    async def kill(self) -> None:
        """SIGKILL: no cleanup at all, as a crash or an OOM kill."""
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()
        await self.process.wait()

    async def stop(self) -> None:
        if self.process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGCONT)
            self.process.terminate()
        try:
            await asyncio.wait_for(self.process.wait(), 20)
        except TimeoutError:
            await self.kill()


@pytest.fixture
async def processes(tmp_path: Path) -> AsyncIterator[Callable[..., Awaitable[Process]]]:
    """Start a process of the project (stopped at the end of the test)."""
    started: list[Process] = []

    async def start(name: str, *args: str, **env: str) -> Process:
        log = tmp_path / f"{name}.log"
        environment = {
            **os.environ,
            "TELEGRAM_BOT_TOKEN": BOT_TOKEN,
            "WEBHOOK_URL": "",
            "WEBHOOK_SECRET": "",
            "RECONCILE_INTERVAL_MINUTES": "0",
            "BROADCAST_RATE_PER_SECOND": str(RATE),
            "LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
            **env,
        }
        with log.open("wb") as output:
            process = await asyncio.create_subprocess_exec(
                sys.executable, *args, cwd=PROJECT_ROOT, env=environment, stdout=output, stderr=output
            )
        started.append(Process(name, process, log))
        return started[-1]

    yield start
    for process in started:
        await process.stop()


async def api_server(start: Callable[..., Awaitable[Process]], name: str, **env: str) -> Process:
    port = _free_port()
    return await start(
        name, "-m", "uvicorn", "backend.main:app", "--host", "127.0.0.1", "--port", str(port), **env
    )


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def make_students(count: int) -> list[int]:
    """Students in bulk; their Telegram ids."""
    ids = [FIRST_TELEGRAM_ID + n for n in range(count)]
    async with database.session_scope() as session:
        await session.execute(
            insert(User),
            [{"telegram_id": chat, "first_name": f"S{chat}", "language_code": "en"} for chat in ids],
        )
    return ids


async def start_broadcast(text: str, *, paid: bool = False) -> int:
    """A broadcast to every student, started as the API starts one; the processes' senders loops join it."""
    async with database.session_scope() as session:
        data = BroadcastCreate.model_validate({"text": text, "audience": {"kind": "all"}, "paid": paid})
        broadcast = await broadcast_service.create(session, data, admin_id=None)
        await broadcast_service.start(session, broadcast)
        return broadcast.id


async def broadcast_row(broadcast_id: int) -> Broadcast:
    async with database.session_scope() as session:
        broadcast = await session.get(Broadcast, broadcast_id)
        assert broadcast is not None
        return broadcast


async def until(condition: Callable[[], Awaitable[bool]], *, timeout: float, what: str, logs=()) -> None:  # noqa: ASYNC109
    """Wait for a condition (polled: it reads the database or the processes)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await condition():
        if loop.time() > deadline:
            details = "\n".join(f"--- {p.name}:\n{p.output()[-4000:]}" for p in logs)
            pytest.fail(f"{what}: not within {timeout} s\n{details}")
        await asyncio.sleep(0.1)


def sends(api: BotAPIDouble, text: str) -> list[Call]:
    return [call for call in api.sent_messages() if call.method == "sendMessage" and call["text"] == text]


def assert_sent_to_everyone(
    api: BotAPIDouble, text: str, students: list[int], *, crashed_senders: int
) -> int:
    """Everyone got it; at most one batch per crashed sender twice; how many duplicates."""
    received = Counter(int(call["chat_id"]) for call in sends(api, text))
    assert set(received) == set(students)
    duplicates = sum(count - 1 for count in received.values())
    assert duplicates <= BATCH * crashed_senders, f"{duplicates} duplicates (bound {BATCH * crashed_senders})"
    return duplicates


async def assert_recorded_as_sent(broadcast_id: int, students: int) -> None:
    """The broadcast is done, each of its `students` recipients recorded as sent once."""
    broadcast = await broadcast_row(broadcast_id)
    assert broadcast.status is BroadcastStatus.DONE
    assert (broadcast.total, broadcast.sent, broadcast.failed, broadcast.blocked) == (
        students,
        students,
        0,
        0,
    )
    async with database.session_scope() as session:
        counts = dict(
            (
                await session.execute(
                    select(BroadcastRecipient.status, func.count())
                    .where(BroadcastRecipient.broadcast_id == broadcast_id)
                    .group_by(BroadcastRecipient.status)
                )
            ).all()
        )
    assert counts == {RecipientStatus.SENT: students}


def assert_within_telegram_limits(api: BotAPIDouble, limit: int = TELEGRAM_LIMIT) -> None:
    assert api.too_early == [], "sent before a 429's retry_after had passed"
    assert api.rate_limited == [], "the one-second window was exceeded"
    assert api.peak_rate() <= limit


async def done(broadcast_id: int) -> bool:
    return (await broadcast_row(broadcast_id)).status is BroadcastStatus.DONE


# ---------------------------------------------------------------- embedded mode


async def test_embedded_sender_killed_mid_broadcast_finishes_after_restart(
    telegram: BotAPIDouble, processes: Callable[..., Awaitable[Process]]
) -> None:
    students = await make_students(STUDENTS)
    # One 429 on the way: nothing may reach Telegram before its retry_after has passed.
    telegram.fail("sendMessage", error_code=429, retry_after=2, after=20)
    text = "Embedded: the course starts on Monday"
    broadcast_id = await start_broadcast(text)
    env = {"TELEGRAM_API_URL": telegram.base_url, "BROADCAST_SENDER_LEASE_SECONDS": "2", "REDIS_URL": ""}

    first = await api_server(processes, "api-1", **env)
    await until(
        lambda: _at_least(telegram, text, 50), timeout=STARTUP_SECONDS, what="50 messages sent", logs=[first]
    )
    await first.kill()
    sent_before_restart = len(sends(telegram, text))
    second = await api_server(processes, "api-2", **env)
    await until(lambda: done(broadcast_id), timeout=FINISH_SECONDS, what="broadcast done", logs=[second])

    assert 50 <= sent_before_restart < STUDENTS
    assert_sent_to_everyone(telegram, text, students, crashed_senders=1)
    await assert_recorded_as_sent(broadcast_id, STUDENTS)
    assert [call.status for call in telegram.calls_to("sendMessage")].count(429) == 1
    assert_within_telegram_limits(telegram)


async def _at_least(api: BotAPIDouble, text: str, count: int) -> bool:
    return len(sends(api, text)) >= count


# ---------------------------------------------------------------- Redis mode

needs_redis = pytest.mark.skipif(not REDIS_URL, reason="set TEST_REDIS_URL to run the Redis mode's tests")


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    """The test's Redis database, without the job queue's and the limiter's keys before and after."""
    client = Redis.from_url(REDIS_URL)

    async def clear() -> None:
        keys = [key async for key in client.scan_iter(match=f"{KEY_PREFIX}*")]
        if keys:
            await client.delete(*keys)

    await clear()
    yield client
    await clear()
    await client.aclose()


async def workers(
    start: Callable[..., Awaitable[Process]], api: BotAPIDouble, lease_seconds: int, **settings: str
) -> dict[str, Process]:
    """Two workers (each reaching the double at its own URL, so their calls tell them apart) and the
    scheduler; once both workers are ready."""
    env = {"REDIS_URL": REDIS_URL, "BROADCAST_SENDER_LEASE_SECONDS": str(lease_seconds), **settings}
    started = {
        name: await start(name, "-m", "worker", TELEGRAM_API_URL=api.client_url(name), **env)
        for name in ("worker-a", "worker-b")
    }
    started["scheduler"] = await start(
        "scheduler", "-m", "worker", "scheduler", TELEGRAM_API_URL=api.base_url, **env
    )
    for name in ("worker-a", "worker-b"):
        process = started[name]

        async def ready(process: Process = process) -> bool:
            return "Worker ready" in process.output()

        await until(ready, timeout=STARTUP_SECONDS, what=f"{name} ready", logs=[process])
    return started


def senders(api: BotAPIDouble, text: str) -> Counter[str | None]:
    return Counter(call.client for call in sends(api, text))


@needs_redis
@pytest.mark.usefixtures("redis")
async def test_redis_workers_split_one_broadcast_within_one_rate(
    telegram: BotAPIDouble, processes: Callable[..., Awaitable[Process]]
) -> None:
    # A paid broadcast, so that 2,000 messages take 27 s rather than 80: 75 a second shared by both
    # workers under the double's 100 (each alone would send 75: two that did not share would send 150).
    telegram.limit_rate(SPLIT_LIMIT)
    students = await make_students(SPLIT_STUDENTS)
    running = await workers(
        processes, telegram, lease_seconds=10, BROADCAST_PAID_RATE_PER_SECOND=str(SPLIT_RATE)
    )
    text = "Redis: one broadcast, two workers"
    broadcast_id = await start_broadcast(text, paid=True)

    await until(
        lambda: done(broadcast_id), timeout=FINISH_SECONDS, what="broadcast done", logs=running.values()
    )

    by_worker = senders(telegram, text)
    assert set(by_worker) == {"worker-a", "worker-b"}
    # Both sent side by side all along (the second joins within the senders loop's 2 s).
    assert min(by_worker.values()) >= SPLIT_STUDENTS // 4, by_worker
    assert assert_sent_to_everyone(telegram, text, students, crashed_senders=0) == 0
    await assert_recorded_as_sent(broadcast_id, SPLIT_STUDENTS)
    assert all(call["allow_paid_broadcast"] for call in sends(telegram, text))
    assert_within_telegram_limits(telegram, SPLIT_LIMIT)


@needs_redis
@pytest.mark.usefixtures("redis")
async def test_redis_worker_killed_mid_broadcast_other_finishes(
    telegram: BotAPIDouble, processes: Callable[..., Awaitable[Process]]
) -> None:
    students = await make_students(STUDENTS)
    telegram.fail("sendMessage", error_code=429, retry_after=2, after=20)
    running = await workers(processes, telegram, lease_seconds=2)
    text = "Redis: the worker dies"
    broadcast_id = await start_broadcast(text)

    async def both_sending() -> bool:
        return min(senders(telegram, text)[name] for name in ("worker-a", "worker-b")) >= 20

    await until(both_sending, timeout=STARTUP_SECONDS, what="both workers sending", logs=running.values())
    await running["worker-a"].kill()
    sent_by_the_dead = senders(telegram, text)["worker-a"]
    await until(
        lambda: done(broadcast_id), timeout=FINISH_SECONDS, what="broadcast done", logs=running.values()
    )

    by_worker = senders(telegram, text)
    assert by_worker["worker-a"] == sent_by_the_dead
    assert by_worker["worker-b"] + sent_by_the_dead >= STUDENTS
    assert_sent_to_everyone(telegram, text, students, crashed_senders=1)
    await assert_recorded_as_sent(broadcast_id, STUDENTS)
    assert_within_telegram_limits(telegram)
