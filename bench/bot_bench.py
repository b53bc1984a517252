"""Bot benchmark in webhook mode: pre-checkout answer latency, payment-to-content latency, and update
throughput of the real bot against a bare aiogram echo bot, on SQLite or PostgreSQL.

The real bot runs as `uvicorn backend.main:app` with WEBHOOK_URL set (the production webhook path), the echo
bot as `python -m bench.bot_echo`; both in processes of their own, on uvloop. This process plays Telegram:
the Bot API double (bot/tests/bot_api_double.py) answers the bots' calls and records them, and updates are
delivered to the webhooks over kept-alive connections, as Telegram does. A call a bot makes in its answer to
the webhook counts when Telegram gets that answer. The database is a fresh one: an SQLite file in a
temporary directory, or (--database-url postgresql://...) a database created on that server and dropped
afterwards.

Run: .venv/bin/python -m bench.bot_bench [--database-url postgresql://postgres@127.0.0.1:5432]
(see bench/README.md)
"""

import argparse
import asyncio
import contextlib
import itertools
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_TMP = Path(tempfile.mkdtemp(prefix="bot-bench-"))
BOT_ID = 7000000001
BOT_TOKEN = f"{BOT_ID}:TEST-token-abcdefghijklmnopqrstuvwxyz012345"
WEBHOOK_SECRET = "bench-webhook-secret-0123456789"  # noqa: S105 (a throwaway local webhook)
SETTINGS = {
    "ENVIRONMENT": "development",
    "DATABASE_URL": f"sqlite:///{_TMP / 'bench.db'}",
    "SECRET_KEY": "bench-secret-key-that-is-long-enough-for-hs256-0123456789",
    "ADMIN_USERNAME": "admin",
    "ADMIN_PASSWORD": "bench-admin-password",
    "CORS_ORIGINS": "[]",
    "TELEGRAM_BOT_TOKEN": BOT_TOKEN,
    # Telegram only accepts https webhooks; the double delivers to the local http address instead.
    "WEBHOOK_URL": "https://bench.invalid/telegram/webhook",
    "WEBHOOK_SECRET": WEBHOOK_SECRET,
    "REDIS_URL": "",
    "MEDIA_DIR": str(_TMP / "media"),
    "LOG_LEVEL": "WARNING",
}
os.environ.update(SETTINGS)

from aiohttp import ClientSession, ClientTimeout, TCPConnector  # noqa: E402
from sqlalchemy import make_url  # noqa: E402

from backend.services import payment_service, user_service  # noqa: E402
from backend.tests.factories import create_lesson  # noqa: E402
from bench.common import fresh_postgresql, is_postgresql, no_collector_pauses, print_table, verdict  # noqa: E402
from bot.callbacks import ItemAction, LessonCb, MenuAction, MenuCb  # noqa: E402
from bot.tests.bot_api_double import BotAPIDouble, Call, user  # noqa: E402
from shared import database  # noqa: E402
from shared.config import get_settings  # noqa: E402

JSON = dict[str, Any]
# The targets: Telegram waits 10 s for a pre-checkout answer; content should follow a payment at once; the
# bot's machinery (database, translations, middlewares) should not cost more than 5 echo bots.
PRE_CHECKOUT_P99_S = 1.0
PAYMENT_P99_S = 0.5
MIN_RATIO = 0.2
_telegram_ids = itertools.count(500_000_000)
# --replicas: the Redis database the bots share (flushed at the start of each Redis run).
REDIS_URL = "redis://127.0.0.1:6379/12"


def pct(values: Sequence[float], p: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[k]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Webhook:
    """One bot's webhook, as Telegram delivers to it: JSON POSTs with the secret, connections kept."""

    def __init__(self, api: BotAPIDouble, url: str, process: subprocess.Popen[bytes]) -> None:
        self.api, self.url, self.process = api, url, process
        self.session = ClientSession(connector=TCPConnector(limit=100), timeout=ClientTimeout(total=60))

    async def deliver(self, update: JSON) -> tuple[float, float]:
        t0 = time.time()
        status, body = await self.api.deliver_webhook(self.url, update, WEBHOOK_SECRET, session=self.session)
        if status != 200:
            raise RuntimeError(f"webhook answered {status}: {body[:200]}")
        return t0, time.time()

    async def deliver_all(self, updates: Sequence[JSON], concurrency: int) -> float:
        """Deliver with `concurrency` requests in flight; updates per second."""
        return (await deliver_spread([self], updates, concurrency))[0]

    async def close(self) -> None:
        await self.session.close()


async def deliver_spread(
    hooks: Sequence[Webhook], updates: Sequence[JSON], concurrency: int
) -> tuple[float, list[float]]:
    """Deliver with `concurrency` requests in flight, round-robin over the webhooks (as a reverse proxy
    spreads them over replicas): updates per second, and each delivery's seconds (queueing included)."""
    pending, turn = iter(updates), itertools.cycle(hooks)
    latencies: list[float] = []

    async def worker() -> None:
        for update in pending:
            t0, t1 = await next(turn).deliver(update)
            latencies.append(t1 - t0)

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return len(updates) / (time.perf_counter() - t0), latencies


# A meter: the CPU seconds so far of each process it watches, by pid.
Meter = Callable[[], dict[int, float]]


def process_meter(*pids: int) -> Meter:
    return lambda: {pid: cpu_seconds(pid) for pid in pids}


@dataclass
class Throughput:
    rate: float
    p50: float
    p99: float
    cpu: dict[str, float]  # CPU seconds per update, by meter
    started: dict[str, int]  # processes that a meter saw start during the run
    telegram_cpu: float  # this process's CPU seconds per update
    telegram_busy: float  # the share of a core this process used


async def measure_throughput(
    hooks: Sequence[Webhook], updates: Sequence[JSON], concurrency: int, meters: dict[str, Meter]
) -> Throughput:
    """deliver_spread, with the CPU time each meter's processes spent over the run. A process that starts
    during the run counts from zero; one that ends during it is lost (a meter re-reads its pids)."""
    with no_collector_pauses():
        before = {name: meter() for name, meter in meters.items()}
        own_before, started = time.process_time(), time.perf_counter()
        rate, latencies = await deliver_spread(hooks, updates, concurrency)
        own, wall = time.process_time() - own_before, time.perf_counter() - started
        after = {name: meter() for name, meter in meters.items()}
    return Throughput(
        rate=rate,
        p50=pct(latencies, 50),
        p99=pct(latencies, 99),
        cpu={
            name: sum(cpu - before[name].get(pid, 0.0) for pid, cpu in after[name].items()) / len(updates)
            for name in meters
        },
        started={name: len(after[name].keys() - before[name].keys()) for name in meters},
        telegram_cpu=own / len(updates),
        # Near 100 % means this process, not the bot, set the pace.
        telegram_busy=own / wall,
    )


@contextlib.contextmanager
def server(command: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        process = subprocess.Popen(command, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def log_tail(log: Path) -> str:
    return log.read_text()[-2000:]


async def wait_until_serving(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 180  # imports alone take a minute on a busy 2-core machine
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{log_tail(log)}")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.1)
    raise RuntimeError(f"server on port {port} did not start:\n{log_tail(log)}")


# uvicorn raises the SIGTERM it stopped on again once stopped: the handler it restores first ends this process
# normally, so that cProfile writes its file.
# CPU time, not wall time: an await's wait is not the bot's cost.
_PROFILED_UVICORN = """
import cProfile, signal, sys, time
from uvicorn.main import main
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
sys.argv[0] = "uvicorn"
profile = cProfile.Profile(time.process_time)
try:
    profile.runcall(main)
except SystemExit:
    pass
finally:
    profile.dump_stats({path!r})
"""


def uvicorn_command(port: int) -> list[str]:
    """The real bot's server. BOT_BENCH_PROFILE=DIR: under cProfile, its profile written to DIR when it stops
    (start-up and warm-up included; the CPU figures of such a run are the profiler's, not the bot's)."""
    command = [sys.executable, "-m", "uvicorn"]
    if profile_dir := os.environ.get("BOT_BENCH_PROFILE"):
        command[1:] = ["-c", _PROFILED_UVICORN.format(path=str(Path(profile_dir) / f"api-{port}.prof"))]
    command += ["backend.main:app", "--host", "127.0.0.1", "--port", str(port)]
    # Keep-alive longer than uvicorn's 5 s default (aiohttp's server, the echo bot's, keeps 75 s): an idle
    # connection closed by the server just as this process reuses it fails the delivery.
    return [*command, "--timeout-keep-alive", "75", "--log-level", "warning"]


async def wait_for_line(log: Path, text: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 180
    while text not in log.read_text(errors="replace"):  # noqa: ASYNC240 (a small local log)
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"no {text!r} from {process.args}:\n{log_tail(log)}")
        await asyncio.sleep(0.2)


async def new_buyers(lessons: Sequence[Any], n: int) -> list[tuple[JSON, str, int]]:
    """n users, each with a pending purchase of one of the lessons: (person, payload, amount)."""
    buyers = []
    for i in range(n):
        person = user(next(_telegram_ids), f"Buyer{i}", language_code="en")
        lesson = lessons[i % len(lessons)]
        # A buyer has talked to the bot before paying (/start, the card), which registered their profile.
        async with database.session_scope() as session:
            row = await user_service.register_or_update(
                session,
                telegram_id=person["id"],
                first_name=person["first_name"],
                language_code=person.get("language_code"),
            )
            invoice = await payment_service.create_invoice(session, user_id=row.id, lesson_id=lesson.id)
        buyers.append((person, invoice.payload, invoice.amount))
    return buyers


def first_call_at(calls: Sequence[Call], key: Any) -> dict[Any, float]:
    """The time of the first call per key(call)."""
    seen: dict[Any, float] = {}
    for call in calls:
        seen.setdefault(key(call), call.at)
    return seen


async def bench_pre_checkout(
    api: BotAPIDouble, webhook: Webhook, buyers: Sequence[tuple[JSON, str, int]]
) -> dict[str, float]:
    updates = [api.pre_checkout_update(p, payload, amount) for p, payload, amount in buyers]
    with no_collector_pauses():
        cpu_before = cpu_seconds(webhook.process.pid)
        started = await asyncio.gather(*(webhook.deliver(u) for u in updates))
        cpu = (cpu_seconds(webhook.process.pid) - cpu_before) / len(updates)
    answers = {str(c["pre_checkout_query_id"]): c for c in api.calls_to("answerPreCheckoutQuery")}
    latencies, accepted, via_reply = [], 0, 0
    for update, (t0, _t1) in zip(updates, started, strict=True):
        call = answers.get(update["pre_checkout_query"]["id"])
        if call is not None:
            latencies.append(call.at - t0)
            accepted += call["ok"] is True
            via_reply += call.via_webhook_reply
    return {
        "answered": len(latencies),
        "accepted": accepted,
        "p50": pct(latencies, 50),
        "p99": pct(latencies, 99),
        "via_reply": via_reply,
        "cpu": cpu,
    }


async def bench_payments(
    api: BotAPIDouble,
    webhook: Webhook,
    buyers: Sequence[tuple[JSON, str, int]],
    titles: dict[int, str],
    *,
    concurrent: bool,
) -> dict[str, float]:
    updates, expected = [], []
    for person, payload, amount in buyers:
        updates.append(api.successful_payment_update(person, payload, amount))
        lesson_id = int(payload.rsplit(":l", 1)[1])
        expected.append((str(person["id"]), titles[lesson_id]))
    with no_collector_pauses():
        cpu_before = cpu_seconds(webhook.process.pid)
        if concurrent:
            started = await asyncio.gather(*(webhook.deliver(u) for u in updates))
        else:
            started = [await webhook.deliver(u) for u in updates]
        cpu = (cpu_seconds(webhook.process.pid) - cpu_before) / len(updates)
    # The lesson's first message: the thanks, then its title (in bold), then its text, in paragraphs.
    content = first_call_at(
        api.calls_to("sendMessage"),
        lambda c: (str(c.get("chat_id")), [*str(c.get("text")).split("\n\n"), ""][1]),
    )
    latencies = [
        content[key] - t0 for key, (t0, _t1) in zip(expected, started, strict=True) if key in content
    ]
    return {"delivered": len(latencies), "p50": pct(latencies, 50), "p99": pct(latencies, 99), "cpu": cpu}


def mix_updates(
    api: BotAPIDouble, lessons: Sequence[Any], n: int, buyers: Sequence[tuple[JSON, str, int]]
) -> list[JSON]:
    """40 % /start by new users, 40 % catalog browsing callbacks, 20 % payments (pre-checkout + paid)."""
    browsers = [user(next(_telegram_ids), f"Browser{i}", language_code="en") for i in range(n)]
    updates: list[JSON] = []
    for i in range(n - 2 * len(buyers)):
        if i % 2 == 0:
            updates.append(api.message_update(browsers[i], "/start"))
        else:
            data = (
                MenuCb(action=MenuAction.LESSONS).pack()
                if i % 4 == 1
                else LessonCb(id=lessons[i % len(lessons)].id, action=ItemAction.SHOW).pack()
            )
            updates.append(api.callback_update(browsers[i - 1], data))
    updates += [api.pre_checkout_update(p, payload, amount) for p, payload, amount in buyers]
    updates += [api.successful_payment_update(p, payload, amount) for p, payload, amount in buyers]
    return updates


async def prepare_database(phases: dict[str, int]) -> tuple[list[Any], dict[str, list[Any]]]:
    """Migrate, add 8 text lessons and the buyers of every phase (before the bot starts, so that the
    measured runs are the bot's alone)."""
    get_settings.cache_clear()
    database.configure(get_settings().DATABASE_URL)
    await database.migrate()
    async with database.session_scope() as session:
        lessons = [
            await create_lesson(session, title=f"Bench lesson {i}", price=100 + i, text_content="Body " * 50)
            for i in range(8)
        ]
    buyers = {phase: await new_buyers(lessons, n) for phase, n in phases.items()}
    await database.dispose_engine()
    return lessons, buyers


async def run(args: argparse.Namespace, backend: str) -> int:
    phases = {
        # As many as the measured bursts, so that they find the process as steady load leaves it (every
        # pooled connection open, every statement compiled), not as a restart does.
        "warmup": max(args.checkouts, args.payments, 10),
        "checkouts": args.checkouts,
        "concurrent": args.payments * args.bursts,
        "sequential": args.payments,
        "mix": args.updates // 10,
    }
    lessons, buyers = await prepare_database(phases)
    titles = {lesson.id: lesson.title for lesson in lessons}
    bot_port, echo_port = free_port(), free_port()
    rows: list[tuple[str, str, str]] = []
    verdicts: list[tuple[str, bool, str]] = []
    async with BotAPIDouble(bot_id=BOT_ID) as api:
        env = {"TELEGRAM_API_URL": api.base_url}
        bot_log, echo_log = _TMP / "bot.log", _TMP / "echo.log"
        with (
            server(uvicorn_command(bot_port), env, bot_log) as bot,
            server([sys.executable, "-m", "bench.bot_echo", "--port", str(echo_port)], env, echo_log) as echo,
        ):
            await wait_until_serving(bot_port, bot, bot_log)
            await wait_until_serving(echo_port, echo, echo_log)
            real = Webhook(api, f"http://127.0.0.1:{bot_port}/telegram/webhook", bot)
            bare = Webhook(api, f"http://127.0.0.1:{echo_port}/webhook", echo)
            try:
                if not api.calls_to("setWebhook"):
                    raise RuntimeError(f"the bot did not register its webhook:\n{log_tail(bot_log)}")
                # Warm-up: imports, first connections, translations, both bots.
                warm = buyers["warmup"]
                await bench_pre_checkout(api, real, warm)
                await bench_payments(api, real, warm, titles, concurrent=True)
                await real.deliver_all(mix_updates(api, lessons, 20, []), 4)
                await bare.deliver_all([api.message_update(user(1, "E"), "warm") for _ in range(20)], 4)

                pc = await bench_pre_checkout(api, real, buyers["checkouts"])
                rows.append(
                    (
                        f"pre_checkout -> answer, {args.checkouts} at once",
                        f"{pc['p50'] * 1000:.1f}",
                        f"{pc['p99'] * 1000:.1f}",
                        f"{pc['answered']} answered, {pc['accepted']} ok, {pc['via_reply']} in the webhook "
                        f"answer; {pc['cpu'] * 1000:.2f} CPU ms/update",
                    )
                )
                verdicts.append(
                    (
                        f"pre-checkout answer, {args.checkouts} at once ({backend})",
                        pc["p99"] < PRE_CHECKOUT_P99_S and pc["answered"] == pc["accepted"] == args.checkouts,
                        f"p99 {pc['p99'] * 1000:.0f} ms (target < {PRE_CHECKOUT_P99_S * 1000:.0f} ms), "
                        f"{pc['accepted']}/{args.checkouts} accepted",
                    )
                )
                # One burst's p99 is its slowest payment, which one collector pause or scheduling hiccup
                # moves by a hundred milliseconds: the verdict reads the median burst.
                bursts = [
                    await bench_payments(
                        api,
                        real,
                        buyers["concurrent"][start : start + args.payments],
                        titles,
                        concurrent=True,
                    )
                    for start in range(0, len(buyers["concurrent"]), args.payments)
                ]
                p99s = sorted(burst["p99"] for burst in bursts)
                p99 = statistics.median(p99s)
                delivered = sum(burst["delivered"] for burst in bursts)
                rows.append(
                    (
                        f"successful_payment -> content, {args.payments} at once, median of {args.bursts}",
                        f"{statistics.median(burst['p50'] for burst in bursts) * 1000:.1f}",
                        f"{p99 * 1000:.1f}",
                        f"{delivered} delivered; bursts' p99 {p99s[0] * 1000:.0f}-{p99s[-1] * 1000:.0f} ms; "
                        f"{statistics.mean(burst['cpu'] for burst in bursts) * 1000:.2f} CPU ms/update",
                    )
                )
                verdicts.append(
                    (
                        f"successful_payment -> content, {args.payments} at once ({backend})",
                        p99 < PAYMENT_P99_S and delivered == len(buyers["concurrent"]),
                        f"median burst p99 {p99 * 1000:.0f} ms (target < {PAYMENT_P99_S * 1000:.0f} ms), "
                        f"{delivered}/{len(buyers['concurrent'])} delivered",
                    )
                )
                pay = await bench_payments(api, real, buyers["sequential"], titles, concurrent=False)
                rows.append(
                    (
                        f"successful_payment -> content, {args.payments} sequential (reference)",
                        f"{pay['p50'] * 1000:.1f}",
                        f"{pay['p99'] * 1000:.1f}",
                        f"{pay['delivered']} delivered; {pay['cpu'] * 1000:.2f} CPU ms/update",
                    )
                )
                mix = mix_updates(api, lessons, args.updates, buyers["mix"])
                echoes = [
                    api.message_update(user(next(_telegram_ids), "E"), f"hello {i}")
                    for i in range(args.updates)
                ]
                runs = {
                    name: await measure_throughput(
                        [hook], updates, args.concurrency, {name: process_meter(hook.process.pid)}
                    )
                    for name, hook, updates in (("bot", real, mix), ("echo", bare, echoes))
                }
                for name, label, count in (
                    ("bot", "real bot, mix", len(mix)),
                    ("echo", "echo bot", len(echoes)),
                ):
                    figures = runs[name]
                    rows.append(
                        (
                            f"{label}, {count} updates, {args.concurrency} in flight",
                            "",
                            "",
                            f"{figures.rate:.0f} updates/s, {figures.cpu[name] * 1000:.2f} CPU ms/update "
                            f"(Telegram's side busy {figures.telegram_busy:.0%})",
                        )
                    )
                rates = {name: run.rate for name, run in runs.items()}
                ratio = rates["bot"] / rates["echo"]
                failed = [c for c in api.calls if c.status is not None and not c.ok]
                rows.append(
                    ("Bot API calls failed (whole run)", "", "", f"{len(failed)} of {len(api.calls)}")
                )
                verdicts.append(
                    (
                        f"updates/s, real bot / echo bot ({backend})",
                        ratio >= MIN_RATIO and not failed,
                        f"{ratio:.2f}× ({rates['bot']:.0f} vs {rates['echo']:.0f} updates/s; floor "
                        f"{MIN_RATIO}×; {len(failed)} failed Bot API calls)",
                    )
                )
            finally:
                await real.close()
                await bare.close()
    print()
    print(f"Bot benchmark, webhook mode, {backend}")
    print_table(["scenario", "p50 ms", "p99 ms", "detail"], rows)
    print()
    for name, passed, detail in verdicts:
        print(verdict(name, passed, detail))
    return 0 if all(passed for _, passed, _ in verdicts) else 1


# --- --replicas: SQLite in one process, PostgreSQL + Redis with one and with two API replicas -----------


@dataclass
class Configuration:
    name: str
    database_url: str
    redis_url: str = ""
    replicas: int = 1

    @property
    def processes(self) -> str:
        api = f"{self.replicas} API" + (" replicas" if self.replicas > 1 else "")
        return api + (" + 1 worker" if self.redis_url else "")


def postgresql_backends(database: str) -> Meter:
    """The PostgreSQL server processes serving this database (their title names it: `postgres: user
    database host ...`), found anew at each reading."""

    def read() -> dict[int, float]:
        found = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            with contextlib.suppress(OSError):  # gone meanwhile
                title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                if title.startswith("postgres: ") and f" {database} " in title:
                    found[int(entry.name)] = cpu_seconds(int(entry.name))
        return found

    return read


@contextlib.asynccontextmanager
async def redis_client(redis_url: str) -> AsyncIterator[Any]:
    from redis.asyncio import Redis

    client = Redis.from_url(redis_url)
    try:
        yield client
    finally:
        await client.aclose()


async def redis_server_meter(redis_url: str) -> Meter:
    """The Redis server's process (the whole server: its other clients count too)."""
    async with redis_client(redis_url) as client:
        return process_meter(int((await client.info("server"))["process_id"]))


async def queued_jobs(redis_url: str) -> int:
    """How many jobs went through the job stream (every entry added, run or not)."""
    from redis.exceptions import ResponseError

    from worker.engine import QUEUE

    async with redis_client(redis_url) as client:
        try:
            return int((await client.xinfo_stream(QUEUE))["entries-added"])
        except ResponseError:  # no stream: nothing was ever enqueued
            return 0


def delivery_counts(
    api: BotAPIDouble, buyers: Sequence[tuple[JSON, str, int]], titles: dict[int, str]
) -> list[int]:
    """For each buyer, how many times their lesson's content (its title as the message's second paragraph)
    was sent to them."""
    wanted = {(str(p["id"]), titles[int(payload.rsplit(":l", 1)[1])]): 0 for p, payload, _ in buyers}
    for call in api.calls_to("sendMessage"):
        key = (str(call.get("chat_id")), [*str(call.get("text")).split("\n\n"), ""][1])
        if key in wanted and call.ok:
            wanted[key] += 1
    return list(wanted.values())


async def run_configuration(
    args: argparse.Namespace, config: Configuration
) -> tuple[Throughput, int, list[str]]:
    """The mixed throughput run on a fresh database with this topology: its figures, how many jobs it
    queued (Redis), and what went wrong."""
    os.environ.update(DATABASE_URL=config.database_url, REDIS_URL=config.redis_url)
    if config.redis_url:
        async with redis_client(config.redis_url) as client:
            await client.flushdb()
    lessons, buyers = await prepare_database({"warmup": 10, "mix": args.updates // 10})
    titles = {lesson.id: lesson.title for lesson in lessons}
    slug = config.name.split(",")[0].replace(" ", "-").replace("+", "")
    async with BotAPIDouble(bot_id=BOT_ID) as api:
        env = {"TELEGRAM_API_URL": api.base_url, "DATABASE_URL": config.database_url}
        env["REDIS_URL"] = config.redis_url
        with contextlib.ExitStack() as stack:
            hooks: list[Webhook] = []
            meters: dict[str, Meter] = {}
            worker: subprocess.Popen[bytes] | None = None
            # One at a time: replicas starting together would race to create the admin account.
            for i in range(config.replicas):
                port, log = free_port(), _TMP / f"{slug}-{config.replicas}-api{i}.log"
                process = stack.enter_context(server(uvicorn_command(port), env, log))
                await wait_until_serving(port, process, log)
                hooks.append(Webhook(api, f"http://127.0.0.1:{port}/telegram/webhook", process))
            meters["API"] = process_meter(*(hook.process.pid for hook in hooks))
            if config.redis_url:
                log = _TMP / f"{slug}-{config.replicas}-worker.log"
                # At INFO, to see it say that it is ready: its start-up must not be measured.
                command = [sys.executable, "-m", "worker"]
                worker = stack.enter_context(server(command, {**env, "LOG_LEVEL": "INFO"}, log))
                await wait_for_line(log, "Worker ready", worker)
                meters["worker"] = process_meter(worker.pid)
                meters["Redis"] = await redis_server_meter(config.redis_url)
            if is_postgresql(config.database_url):
                meters["PostgreSQL"] = postgresql_backends(str(make_url(config.database_url).database))
            try:
                if len(api.calls_to("setWebhook")) < config.replicas:
                    raise RuntimeError("a replica did not register its webhook")
                # Warm-up: imports, each replica's pooled connections, translations.
                await deliver_spread(
                    hooks, mix_updates(api, lessons, 200, buyers["warmup"]), args.concurrency
                )
                mix = mix_updates(api, lessons, args.updates, buyers["mix"])
                figures = await measure_throughput(hooks, mix, args.concurrency, meters)
                if worker is not None and worker.poll() is not None:
                    raise RuntimeError(f"the worker exited:\n{log_tail(log)}")
            finally:
                for hook in hooks:
                    await hook.close()
    problems = []
    failed = [c for c in api.calls if c.status is not None and not c.ok]
    if failed:
        problems.append(f"{len(failed)} of {len(api.calls)} Bot API calls failed")
    answers = {str(c["pre_checkout_query_id"]): c["ok"] for c in api.calls_to("answerPreCheckoutQuery")}
    checkouts = [u["pre_checkout_query"]["id"] for u in mix if "pre_checkout_query" in u]
    if refused := sum(answers.get(str(q)) is not True for q in checkouts):
        problems.append(f"{refused} of {len(checkouts)} pre-checkouts not accepted")
    counts = delivery_counts(api, buyers["mix"], titles)
    if not all(count == 1 for count in counts):
        problems.append(
            f"payments delivered: {counts.count(1)} once, {counts.count(0)} never, "
            f"{sum(c > 1 for c in counts)} more than once (of {len(counts)})"
        )
    jobs = await queued_jobs(config.redis_url) if config.redis_url else 0
    return figures, jobs, problems


def _ms(figures: Throughput, meter: str) -> str:
    return f"{figures.cpu[meter] * 1000:.2f}" if meter in figures.cpu else "–"


async def run_replicas(args: argparse.Namespace, postgresql: Sequence[str]) -> int:
    configurations = [
        Configuration("SQLite, embedded jobs", f"sqlite:///{_TMP / 'replicas.db'}"),
        Configuration("PostgreSQL + Redis, 1 replica", postgresql[0], args.redis_url, 1),
        Configuration("PostgreSQL + Redis, 2 replicas", postgresql[1], args.redis_url, 2),
    ]
    rows, verdicts = [], []
    for config in configurations:
        load_before = os.getloadavg()[0]
        figures, jobs, problems = await run_configuration(args, config)
        load_after = os.getloadavg()[0]
        servers = figures.cpu["API"] + figures.cpu.get("worker", 0.0)
        # Everything this run made the machine do per update, and the rate that allows at most: all the
        # cores for everything, and one core per API process (an event loop runs Python on one at a time).
        machine = sum(figures.cpu.values()) + figures.telegram_cpu
        ceiling = min((os.cpu_count() or 1) / machine, config.replicas / figures.cpu["API"])
        rows.append(
            (
                config.name,
                config.processes,
                f"{figures.rate:.0f}",
                f"{figures.p50 * 1000:.0f}",
                f"{figures.p99 * 1000:.0f}",
                f"{servers * 1000:.2f}",
                f"{_ms(figures, 'API')} + {_ms(figures, 'worker')}",
                _ms(figures, "PostgreSQL")
                + (f" ({figures.started['PostgreSQL']} started)" if "PostgreSQL" in figures.started else ""),
                _ms(figures, "Redis"),
                f"{figures.telegram_cpu * 1000:.2f} ({figures.telegram_busy:.0%})",
                f"{machine * 1000:.2f} ({ceiling:.0f}/s)",
                str(jobs) if config.redis_url else "– (in the API)",
                f"{load_before:.1f} → {load_after:.1f}",
            )
        )
        everything = (
            "every Bot API call succeeded, every pre-checkout accepted, every payment's content sent once"
        )
        verdicts.append((f"correct: {config.name}", not problems, "; ".join(problems) or everything))
    print()
    print(
        f"Bot throughput by topology: {args.updates} mixed updates, {args.concurrency} in flight, "
        f"round-robin over the replicas; CPU ms per update; {os.cpu_count()} cores"
    )
    print_table(
        [
            "configuration",
            "processes",
            "updates/s",
            "p50 ms",
            "p99 ms",
            "CPU ms/upd (API+worker)",
            "API + worker",
            "PostgreSQL backends",
            "Redis server",
            "Telegram's side (busy)",
            "all (ceiling)",
            "jobs queued",
            "load avg",
        ],
        rows,
    )
    print()
    for name, passed, detail in verdicts:
        print(verdict(name, passed, detail))
    return 0 if all(passed for _, passed, _ in verdicts) else 1


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--database-url", help="a PostgreSQL server: a fresh database is made there (default: SQLite)"
    )
    parser.add_argument("--checkouts", type=int, default=100)
    parser.add_argument("--payments", type=int, default=50, help="payments in a burst, all at once")
    parser.add_argument("--bursts", type=int, default=9, help="bursts of payments measured")
    # Long enough to measure the echo bot, which gets through 500 updates in about a third of a second.
    parser.add_argument("--updates", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=20, help="webhook requests in flight (mix, echo)")
    parser.add_argument(
        "--replicas",
        action="store_true",
        help="compare SQLite in one process with PostgreSQL + Redis in one and two API replicas (the "
        "throughput mix only; needs --database-url)",
    )
    parser.add_argument(
        "--redis-url", default=REDIS_URL, help="--replicas: a Redis database for them (flushed at start)"
    )
    args = parser.parse_args()
    if args.replicas:
        if not is_postgresql(args.database_url):
            raise SystemExit("--replicas: give --database-url, a PostgreSQL server URL")
        with (
            fresh_postgresql(args.database_url, "bench_bot_one") as one,
            fresh_postgresql(args.database_url, "bench_bot_two") as two,
        ):
            return asyncio.run(run_replicas(args, [one, two]))
    if not args.database_url:
        return asyncio.run(run(args, "SQLite"))
    if not is_postgresql(args.database_url):
        raise SystemExit("--database-url: give a PostgreSQL server URL (SQLite is the default)")
    with fresh_postgresql(args.database_url, "bench_bot") as url:
        os.environ["DATABASE_URL"] = url
        return asyncio.run(run(args, "PostgreSQL"))


if __name__ == "__main__":
    sys.exit(main())
