"""Broadcasts sent by real processes against the Bot API double (on this test's event loop, reached over
HTTP): the embedded mode (the API process runs the sender) killed with SIGKILL mid-broadcast and started
again, and the Redis mode (two `python -m worker` and a `python -m worker scheduler`) sharing one rate.

What is asserted: every student got the message, at most one claimed batch per killed sender got it twice
(worker/tasks/broadcasts.py's duplicate bound), nothing was sent before a 429's retry_after had passed, and
Telegram's one-second window (30 messages, enforced by the double) was never exceeded by the senders at the
default BROADCAST_RATE_PER_SECOND (25: the margin that absorbs a loaded machine's delays; two processes
that did not share it would send 50 a second).
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


async def start_broadcast(text: str) -> int:
    """A broadcast to every student, started as the API starts one; the senders' tick picks it up."""
    async with database.session_scope() as session:
        data = BroadcastCreate.model_validate({"text": text, "audience": {"kind": "all"}})
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


def assert_within_telegram_limits(api: BotAPIDouble) -> None:
    assert api.too_early == [], "sent before a 429's retry_after had passed"
    assert api.rate_limited == [], "the one-second window was exceeded"
    assert api.peak_rate() <= TELEGRAM_LIMIT


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
    start: Callable[..., Awaitable[Process]], api: BotAPIDouble, lease_seconds: int
) -> dict[str, Process]:
    """Two workers (each reaching the double at its own URL, so their calls tell them apart) and the
    scheduler; once both workers are ready."""
    env = {"REDIS_URL": REDIS_URL, "BROADCAST_SENDER_LEASE_SECONDS": str(lease_seconds)}
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


def _socket_ports(pid: int) -> set[int]:
    """The local TCP ports of a process's sockets (Linux /proc)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if fields[9] in inodes:
                    ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


async def reading_jobs(redis: Redis, process: Process) -> bool:
    """Whether the process waits in XREADGROUP for a job (Redis would hand the next one to it)."""
    ports = _socket_ports(process.process.pid)
    return any(
        client.get("cmd") == "xreadgroup"
        and "b" in client.get("flags", "")
        and int(client["addr"].rsplit(":", 1)[1]) in ports
        for client in await redis.client_list()
    )


@needs_redis
async def test_redis_workers_share_one_rate(
    telegram: BotAPIDouble, processes: Callable[..., Awaitable[Process]], redis: Redis
) -> None:
    # Two broadcasts sharing 25 a second: 2 × 200 messages take 16 s.
    students = await make_students(200)
    # Long enough that a worker paused for a few seconds below keeps its broadcast.
    running = await workers(processes, telegram, lease_seconds=30)
    first_text, second_text = "Redis: first news", "Redis: second news"
    first_id = await start_broadcast(first_text)
    await until(lambda: _at_least(telegram, first_text, 10), timeout=STARTUP_SECONDS, what="first sends")
    [first_sender] = senders(telegram, first_text)
    [other] = {"worker-a", "worker-b"} - {first_sender}

    # The second broadcast goes to the other worker: the first one's is frozen until Redis stops waiting
    # for it to read jobs (its XREADGROUP times out), so that the other is the only one to take it.
    busy = running[first_sender].process
    busy.send_signal(signal.SIGSTOP)
    try:
        await until(
            lambda: _not(reading_jobs(redis, running[first_sender])),
            timeout=10,
            what="frozen worker not reading",
        )
        second_id = await start_broadcast(second_text)
        await until(lambda: _at_least(telegram, second_text, 1), timeout=STARTUP_SECONDS, what="second sends")
    finally:
        busy.send_signal(signal.SIGCONT)
    await until(
        lambda: _all_done(first_id, second_id),
        timeout=FINISH_SECONDS,
        what="both broadcasts done",
        logs=running.values(),
    )

    # Each worker sent its own broadcast (a run that ends after RUN_SECONDS may hand one to the other).
    assert sends(telegram, second_text)[0].client == other
    assert senders(telegram, first_text)[first_sender] >= 10
    for text, broadcast_id in ((first_text, first_id), (second_text, second_id)):
        assert assert_sent_to_everyone(telegram, text, students, crashed_senders=0) == 0
        await assert_recorded_as_sent(broadcast_id, len(students))
    # Both sent at once for seconds, each at its slots of the one rate in Redis.
    assert _overlap(telegram, first_text, second_text) > 2.0
    assert_within_telegram_limits(telegram)


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
    await until(lambda: _at_least(telegram, text, 50), timeout=STARTUP_SECONDS, what="50 messages sent")
    [doomed] = senders(telegram, text)
    [survivor] = {"worker-a", "worker-b"} - {doomed}

    await running[doomed].kill()
    await until(
        lambda: done(broadcast_id), timeout=FINISH_SECONDS, what="broadcast done", logs=running.values()
    )

    by_worker = senders(telegram, text)
    assert by_worker[doomed] >= 50
    assert by_worker[survivor] > 0
    assert_sent_to_everyone(telegram, text, students, crashed_senders=1)
    await assert_recorded_as_sent(broadcast_id, STUDENTS)
    assert_within_telegram_limits(telegram)


async def _not(check: Awaitable[bool]) -> bool:
    return not await check


async def _all_done(*broadcast_ids: int) -> bool:
    return all([await done(broadcast_id) for broadcast_id in broadcast_ids])


def _overlap(api: BotAPIDouble, first: str, second: str) -> float:
    """Seconds during which both broadcasts were being sent."""
    a = [call.received for call in sends(api, first)]
    b = [call.received for call in sends(api, second)]
    return min(max(a), max(b)) - max(min(a), min(b))
