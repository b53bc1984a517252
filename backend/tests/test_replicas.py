"""The scale-out topology as real processes on the machine's PostgreSQL and Redis: two API replicas taking
the webhook, two job workers and the scheduler, with the Bot API double as Telegram.

Conversations span replicas (their state is in Redis); one payment delivered to both replicas at once is
recorded and delivered once; a scheduler killed with -9 is replaced by a standby, and two never enqueue at
once. Broadcasts split across workers and a worker killed mid-broadcast: worker/tests/test_processes.py.
"""

import asyncio
import contextlib
import itertools
import json
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from aiohttp import ClientSession, ClientTimeout
from redis.asyncio import Redis
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from backend.services.jobs import BROADCASTS_TICK
from backend.tests.factories import create_lesson, create_promo_code
from bot.tests.bot_api_double import BotAPIDouble, Call, user
from bot.tests.conftest import BOT_TOKEN
from bot.tests.conftest import telegram as telegram  # the Bot API double fixture
from conftest import is_postgres, own_redis_url
from shared import database
from shared.models import Purchase
from shared.schemas import MAX_ID
from worker.engine import LOCK_TTL_SECONDS, QUEUE

# The topology is PostgreSQL's: run with the PostgreSQL suite (TEST_DATABASE_URL), once per CI run.
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not is_postgres(), reason="the replicas run on PostgreSQL: set TEST_DATABASE_URL"),
]

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
PG_NAME = "lesson_store_replicas"
DATABASE_URL = f"postgresql://postgres@127.0.0.1:5432/{PG_NAME}"
REDIS_URL = own_redis_url(5)
WEBHOOK_SECRET = "replica-test-secret"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
STARTUP_SECONDS = 120


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Topology:
    telegram: BotAPIDouble
    engine: AsyncEngine
    replicas: list[str]
    processes: dict[str, asyncio.subprocess.Process] = field(default_factory=dict)
    logs: dict[str, Path] = field(default_factory=dict)

    def session(self) -> AsyncSession:
        return async_sessionmaker(self.engine, expire_on_commit=False)()

    def webhook(self, replica: int) -> str:
        return f"{self.replicas[replica]}/telegram/webhook"

    async def post(self, replica: int, update: dict[str, Any], http: ClientSession) -> int:
        status, body = await self.telegram.deliver_webhook(
            self.webhook(replica), update, WEBHOOK_SECRET, session=http
        )
        assert status == 200, body
        return status

    def report(self) -> str:
        return "\n".join(f"--- {name} ---\n{path.read_text()[-3000:]}" for name, path in self.logs.items())


async def _fresh_postgres() -> None:
    try:
        admin = await asyncpg.connect(PG_ADMIN_URL, timeout=5)
    except (OSError, asyncpg.PostgresError) as error:
        pytest.skip(f"PostgreSQL is not reachable at {PG_ADMIN_URL}: {error}")
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{PG_NAME}" WITH (FORCE)')
    finally:
        await admin.close()


async def _fresh_redis() -> None:
    if not REDIS_URL:
        pytest.skip("set TEST_REDIS_URL to run the Redis tests")
    redis = Redis.from_url(REDIS_URL)
    try:
        await redis.flushdb()
    except OSError as error:
        pytest.skip(f"Redis is not reachable at {REDIS_URL}: {error}")
    finally:
        await redis.aclose()


def _env(telegram: BotAPIDouble, **values: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": DATABASE_URL,
        "REDIS_URL": REDIS_URL,
        "TELEGRAM_BOT_TOKEN": BOT_TOKEN,
        "TELEGRAM_API_URL": telegram.base_url,
        "WEBHOOK_SECRET": WEBHOOK_SECRET,
        "RECONCILE_INTERVAL_MINUTES": "0",
        "PYTHONUNBUFFERED": "1",
        **values,
    }


async def _start(topology: Topology, name: str, args: list[str], env: dict[str, str], tmp: Path) -> None:
    log = tmp / f"{name}.log"
    topology.logs[name] = log
    with log.open("wb") as output:
        topology.processes[name] = await asyncio.create_subprocess_exec(
            sys.executable, *args, cwd=PROJECT_ROOT, env=env, stdout=output, stderr=output
        )


async def _wait_ready(topology: Topology, name: str, url: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STARTUP_SECONDS
    async with httpx.AsyncClient() as http:
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get(f"{url}/ready", timeout=2)).status_code == 200:
                    return
            if topology.processes[name].returncode is not None or loop.time() > deadline:
                raise AssertionError(f"{name} did not get ready\n{topology.report()}")
            await asyncio.sleep(0.3)


async def _stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(process.wait(), timeout=30)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()


@pytest.fixture
async def topology(telegram: BotAPIDouble, tmp_path: Path) -> AsyncIterator[Topology]:
    await _fresh_postgres()
    await _fresh_redis()
    ports = [_free_port(), _free_port()]
    replicas = [f"http://127.0.0.1:{port}" for port in ports]
    engine = database.create_engine(DATABASE_URL)
    topology = Topology(telegram, engine, replicas)
    try:
        for index, port in enumerate(ports):
            # Registered with Telegram (which wants HTTPS: the public address behind the proxy); the test
            # posts the updates to each replica's own port, as the proxy would.
            env = _env(telegram, WEBHOOK_URL="https://lessons.example/telegram/webhook")
            args = ["-m", "uvicorn", "backend.main:app", "--port", str(port), "--no-proxy-headers"]
            await _start(topology, f"api-{index}", args, env, tmp_path)
        for index in range(2):
            await _start(topology, f"worker-{index}", ["-m", "worker"], _env(telegram), tmp_path)
        await _start(topology, "scheduler", ["-m", "worker", "scheduler"], _env(telegram), tmp_path)
        for index, url in enumerate(replicas):
            await _wait_ready(topology, f"api-{index}", url)
        yield topology
    finally:
        await asyncio.gather(*(_stop(process) for process in topology.processes.values()))
        await engine.dispose()


def _to(person: dict[str, Any]) -> Any:
    return lambda call: str(call.get("chat_id")) == str(person["id"])


def _buttons(call: Call) -> dict[str, str]:
    rows = (call.get("reply_markup") or {}).get("inline_keyboard", [])
    return {button["text"]: button.get("callback_data") for row in rows for button in row}


async def test_conversation_alternates_between_replicas(topology: Topology) -> None:
    telegram = topology.telegram
    async with topology.session() as session:
        lesson = await create_lesson(session, price=200)
        await create_promo_code(session, code="HALF", discount_percent=50, max_uses=10)
    buyer = user(8101, "Ann", language_code="en")
    async with ClientSession(timeout=ClientTimeout(total=30)) as http:
        await topology.post(0, telegram.message_update(buyer, f"/start lesson_{lesson.id}"), http)
        [card] = await telegram.wait_for("sendMessage", lambda c: _to(buyer)(c) and _buttons(c), timeout=30)
        promo_button = next(data for text, data in _buttons(card).items() if "promo code" in text)
        # The promo code request on one replica, the code itself on the other: the state is in Redis.
        await topology.post(1, telegram.callback_update(buyer, promo_button), http)
        await telegram.wait_for(
            "sendMessage", lambda c: _to(buyer)(c) and "promo code" in c["text"], timeout=30
        )
        await topology.post(0, telegram.message_update(buyer, " half "), http)
        [invoice] = await telegram.wait_for("sendInvoice", _to(buyer), timeout=30)
    assert invoice["prices"][0]["amount"] == 100


async def test_same_payment_to_both_replicas_is_recorded_and_delivered_once(topology: Topology) -> None:
    telegram = topology.telegram
    async with topology.session() as session:
        lesson = await create_lesson(session, price=30, title="Replicated lesson")
    buyers = [user(8200 + n, f"Buyer{n}", language_code="en") for n in range(50)]
    async with ClientSession(timeout=ClientTimeout(total=60)) as http:
        for n, buyer in enumerate(buyers):
            # An invoice whose pending purchase is unknown here: the charge becomes a purchase of its own.
            update = telegram.successful_payment_update(buyer, f"v1:{MAX_ID}:l{lesson.id}", 30, f"charge-{n}")
            await asyncio.gather(topology.post(0, update, http), topology.post(1, update, http))

    def delivered(call: Call) -> bool:
        return "Replicated lesson" in str(call.get("text"))

    await telegram.wait_for("sendMessage", delivered, count=50, timeout=60)
    async with topology.session() as session:
        purchases = (await session.scalars(select(Purchase).where(Purchase.lesson_id == lesson.id))).all()
        buyers_count = await session.scalar(
            select(func.count(func.distinct(Purchase.user_id))).where(Purchase.lesson_id == lesson.id)
        )
    assert len(purchases) == 50
    assert buyers_count == 50
    assert {p.telegram_payment_charge_id for p in purchases} == {f"charge-{n}" for n in range(50)}
    assert all(p.delivered_at is not None for p in purchases)
    deliveries = [call for call in telegram.sent_messages() if delivered(call)]
    assert sorted(int(call["chat_id"]) for call in deliveries) == [buyer["id"] for buyer in buyers]


async def _tick_kicks(redis: Redis) -> list[float]:
    """When the scheduler enqueued broadcasts.tick (every 2 s), in seconds, from the stream's entry ids."""
    times = []
    for entry_id, fields in await redis.xrange(QUEUE):
        if json.loads(fields[b"data"])["task_name"] == BROADCASTS_TICK:
            times.append(int(entry_id.split(b"-")[0]) / 1000)
    return times


async def _wait_for_kicks(redis: Redis, count: int, after: float, topology: Topology) -> list[float]:
    deadline = asyncio.get_running_loop().time() + LOCK_TTL_SECONDS + 30
    while True:
        kicks = [kick for kick in await _tick_kicks(redis) if kick > after]
        if len(kicks) >= count:
            return kicks
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"only {len(kicks)} ticks after {after}\n{topology.report()}")
        await asyncio.sleep(0.5)


async def test_scheduler_killed_hands_over_to_the_standby_never_two_at_once(
    topology: Topology, tmp_path: Path
) -> None:
    redis = Redis.from_url(REDIS_URL)
    try:
        await _start(topology, "standby", ["-m", "worker", "scheduler"], _env(topology.telegram), tmp_path)
        started = time.time()
        # Both schedulers up: ticks keep their 2 s interval (one scheduler enqueues, the other waits).
        both = await _wait_for_kicks(redis, 5, started, topology)
        assert min(b - a for a, b in itertools.pairwise(both)) > 1.5, both
        assert "waiting for its turn" in topology.logs["standby"].read_text()
        # kill -9 of the running one: its lease ends, the standby takes over.
        topology.processes["scheduler"].kill()
        await topology.processes["scheduler"].wait()
        killed = time.time()
        after = await _wait_for_kicks(redis, 3, killed, topology)
        assert after[0] - killed <= LOCK_TTL_SECONDS + 5
        assert min(b - a for a, b in itertools.pairwise(after)) > 1.5, after
        assert "Scheduler running" in topology.logs["standby"].read_text()
    finally:
        await redis.aclose()
