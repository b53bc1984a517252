"""Broadcasts at Telegram's limits: how long they take, what they cost in CPU, and what a huge audience
costs in memory.

    python -m bench.broadcast_bench [--database-url postgresql://postgres@127.0.0.1:5432]
                                    [--parts unpaid,paid,audience] [--recipients 3000] [--rate 30]

- unpaid: a broadcast to 3,000 students at BROADCAST_RATE_PER_SECOND=30, sent by the real app (uvicorn
  backend.main:app, the embedded job engine) to the Bot API double (in this process) enforcing Telegram's
  30 a second in a sliding one-second window. Target: 100 s ± 5 % from the first message to the last,
  and no 429 provoked.
- paid: a paid broadcast to 10,000 students (BROADCAST_PAID_RATE_PER_SECOND=1000, the double enforcing
  1000 a second): its time and the rate achieved (no target: the machine, not Telegram, is the limit).
- CPU per message: the app process's CPU time (user + system) during each broadcast / messages sent.
- audience: the recipients of a 1,000,000-student audience created (broadcast_service.add_recipients in
  batches, as the sender does), in a process of its own: time, peak RSS (getrusage) and the peak of
  Python's allocations (tracemalloc, a second pass).

The databases: SQLite files in bench/data/ (the 1,000,000-student one kept and reused, the small ones
rebuilt), or fresh PostgreSQL databases with --database-url (dropped at the end).
"""

import argparse
import asyncio
import contextlib
import json
import os
import resource
import subprocess
import sys
import time
import tracemalloc
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import (
    REPO_ROOT,
    app_server,
    backend_name,
    bench_database,
    http,
    no_collector_pauses,
    print_table,
    verdict,
    work_dir,
)

BOT_TOKEN = "7000000001:BENCH-token-abcdefghijklmnopqrstuvwxyz0123"  # noqa: S105 (the double's)
UNPAID_RECIPIENTS = 3_000
UNPAID_RATE = 30
PAID_RECIPIENTS = 10_000
PAID_RATE = 1_000
AUDIENCE = 1_000_000
TARGET_TOLERANCE = 0.05
TEXT = "<b>News</b> from the school: a new course starts on Monday. <i>See you there!</i>"


@dataclass
class SendRun:
    name: str
    recipients: int
    rate: int
    sent: int
    seconds: float
    start_to_done: float
    rate_limited: int
    too_early: int
    peak_rate: int
    cpu_seconds: float

    @property
    def achieved(self) -> float:
        return (self.sent - 1) / self.seconds if self.seconds else 0.0

    @property
    def cpu_ms_per_message(self) -> float:
        return self.cpu_seconds * 1000 / self.sent if self.sent else 0.0


# --- sending ---------------------------------------------------------------------------------------------


async def _prepare_broadcast(database_url: str, *, paid: bool) -> int:
    """A draft to every student, made through the service as the API makes it; its id."""
    from backend.services import broadcast_service
    from shared import database
    from shared.schemas import BroadcastCreate

    database.configure(database_url)
    try:
        async with database.session_scope() as session:
            data = BroadcastCreate.model_validate({"text": TEXT, "audience": {"kind": "all"}, "paid": paid})
            broadcast = await broadcast_service.create(session, data, admin_id=None)
            return broadcast.id
    finally:
        await database.dispose_engine()


async def _status(broadcast_id: int) -> dict[str, Any]:
    from sqlalchemy import select

    from shared import database
    from shared.models import Broadcast

    async with database.session_scope() as session:
        row = (
            await session.execute(
                select(Broadcast.status, Broadcast.sent, Broadcast.failed, Broadcast.blocked).where(
                    Broadcast.id == broadcast_id
                )
            )
        ).one()
        return {"status": str(row.status), "sent": row.sent, "failed": row.failed, "blocked": row.blocked}


async def send_run(
    name: str, database_url: str, *, recipients: int, rate: int, paid: bool, logs: Path
) -> SendRun:
    """One broadcast sent by the real app to the double; its figures."""
    from bot.tests.bot_api_double import MESSAGE_METHODS, BotAPIDouble

    async with BotAPIDouble() as api:
        api.limit_rate(rate)
        env = {
            "TELEGRAM_BOT_TOKEN": BOT_TOKEN,
            "TELEGRAM_API_URL": api.base_url,
            "BROADCAST_RATE_PER_SECOND": str(min(rate, 30)),
            "BROADCAST_PAID_RATE_PER_SECOND": str(rate if paid else 1000),
            "RECONCILE_INTERVAL_MINUTES": "0",
        }
        broadcast_id = await _prepare_broadcast(database_url, paid=paid)
        with contextlib.ExitStack() as stack:
            # Started from a thread (it waits for /health): the double on this loop answers meanwhile.
            server = await asyncio.to_thread(
                stack.enter_context, app_server(name, database_url, logs, env=env)
            )
            cpu_before = server.cpu_seconds()
            with no_collector_pauses():
                started = time.monotonic()
                status, body = await asyncio.to_thread(
                    http, "POST", server.url(f"/api/broadcasts/{broadcast_id}/start"), token=server.token
                )
                if status != 200:
                    raise SystemExit(f"{name}: start answered {status} {body}")
                state = await _wait_done(database_url, broadcast_id, timeout=recipients / rate * 3 + 120)
            start_to_done = time.monotonic() - started
            cpu = server.cpu_seconds() - cpu_before
            await asyncio.to_thread(stack.close)
        sends = sorted(c.received for c in api.calls if c.method in MESSAGE_METHODS and c.ok)
        return SendRun(
            name=name,
            recipients=recipients,
            rate=rate,
            sent=state["sent"],
            seconds=sends[-1] - sends[0] if len(sends) > 1 else 0.0,
            start_to_done=start_to_done,
            rate_limited=len(api.rate_limited),
            too_early=len(api.too_early),
            peak_rate=api.peak_rate(),
            cpu_seconds=cpu,
        )


async def _wait_done(database_url: str, broadcast_id: int, *, timeout: float) -> dict[str, Any]:  # noqa: ASYNC109
    """Poll the broadcast's row every 2 s (rarely: this loop also runs the double, whose clock is judged)."""
    from shared import database

    database.configure(database_url)
    try:
        deadline = time.monotonic() + timeout
        while True:
            state = await _status(broadcast_id)
            if state["status"] != "sending":
                return state
            if time.monotonic() > deadline:
                raise SystemExit(f"broadcast {broadcast_id} not done after {timeout:.0f} s: {state}")
            await asyncio.sleep(2)
    finally:
        await database.dispose_engine()


# --- the audience ----------------------------------------------------------------------------------------


async def _create_recipients(database_url: str) -> dict[str, Any]:
    """In this (child) process: create the recipients of an every-student broadcast, batch by batch."""
    from sqlalchemy import delete

    from backend.services import broadcast_service
    from shared import database
    from shared.models import Broadcast, BroadcastRecipient
    from shared.schemas import BroadcastCreate

    database.configure(database_url)
    try:
        async with database.session_scope() as session:
            data = BroadcastCreate.model_validate({"text": TEXT, "audience": {"kind": "all"}})
            broadcast = await broadcast_service.create(session, data, admin_id=None)
            await broadcast_service.start(session, broadcast)
            broadcast_id = broadcast.id
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        traced_before = tracemalloc.get_traced_memory()[0] if tracemalloc.is_tracing() else 0
        if tracemalloc.is_tracing():
            tracemalloc.reset_peak()
        started = time.perf_counter()
        batches = 0
        done = False
        while not done:
            async with database.session_scope() as session:
                broadcast = await broadcast_service.get(session, broadcast_id)
                done = await broadcast_service.add_recipients(session, broadcast)
            batches += 1
        seconds = time.perf_counter() - started
        rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        traced_peak = tracemalloc.get_traced_memory()[1] - traced_before if tracemalloc.is_tracing() else 0
        async with database.session_scope() as session:
            total = (await broadcast_service.get(session, broadcast_id)).total
            # The file is reused by the next run: it keeps only the students.
            await session.execute(
                delete(BroadcastRecipient).where(BroadcastRecipient.broadcast_id == broadcast_id)
            )
            await session.execute(delete(Broadcast).where(Broadcast.id == broadcast_id))
        return {
            "total": total,
            "seconds": seconds,
            "batches": batches,
            "rss_before_mb": rss_before / 1024,
            "rss_peak_mb": rss_after / 1024,
            # What creating the recipients allocated at its peak, beyond what the process held before.
            "traced_peak_mb": traced_peak / 2**20,
        }
    finally:
        await database.dispose_engine()


def audience_child(database_url: str, traced: bool) -> None:
    if traced:
        tracemalloc.start()
    result = asyncio.run(_create_recipients(database_url))
    print("AUDIENCE " + json.dumps(result), flush=True)


def run_audience_child(database_url: str, *, traced: bool) -> dict[str, Any]:
    command = [sys.executable, "-m", "bench.broadcast_bench", "--audience-child", database_url]
    if traced:
        command.append("--traced")
    env = {**os.environ, "LOG_LEVEL": "WARNING", "DATABASE_URL": database_url}
    out = subprocess.run(command, cwd=REPO_ROOT, env=env, check=True, capture_output=True, text=True).stdout
    for line in out.splitlines():
        if line.startswith("AUDIENCE "):
            return json.loads(line.removeprefix("AUDIENCE "))
    raise SystemExit(f"the audience child printed no result:\n{out}")


# --- main ------------------------------------------------------------------------------------------------


def students_database(database_url: str | None, students: int, *, rebuild: bool) -> Any:
    return bench_database(
        database_url,
        scale=0.01,
        rebuild=rebuild,
        make_args=["--users", str(students), "--purchases", "0"],
        label=f"students{students}",
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", help="a PostgreSQL server (default: SQLite files in bench/data/)")
    parser.add_argument("--parts", default="unpaid,paid,audience", help="which parts to run, comma-separated")
    parser.add_argument("--recipients", type=int, default=UNPAID_RECIPIENTS)
    parser.add_argument("--rate", type=int, default=UNPAID_RATE)
    parser.add_argument("--paid-recipients", type=int, default=PAID_RECIPIENTS)
    parser.add_argument("--audience", type=int, default=AUDIENCE)
    parser.add_argument("--rebuild", action="store_true", help="rebuild the 1,000,000-student SQLite file")
    parser.add_argument("--audience-child", help=argparse.SUPPRESS)
    parser.add_argument("--traced", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.audience_child:
        audience_child(args.audience_child, args.traced)
        return 0
    parts = {part.strip() for part in args.parts.split(",") if part.strip()}
    logs = work_dir("broadcast-bench")
    lines: list[str] = []
    runs: list[SendRun] = []
    if "unpaid" in parts:
        with students_database(args.database_url, args.recipients, rebuild=True) as url:
            print(
                f"Unpaid broadcast: {args.recipients:,} students at {args.rate}/s ({backend_name(url)}) ..."
            )
            run = asyncio.run(
                send_run("unpaid", url, recipients=args.recipients, rate=args.rate, paid=False, logs=logs)
            )
            runs.append(run)
            target = (args.recipients - 1) / args.rate
            lines.append(
                verdict(
                    f"{args.recipients:,} recipients at {args.rate}/s",
                    abs(run.seconds - target) <= TARGET_TOLERANCE * target and run.rate_limited == 0,
                    f"{run.seconds:.1f} s (target {target:.0f} s ± {TARGET_TOLERANCE:.0%}), "
                    f"{run.rate_limited} answered 429",
                )
            )
    if "paid" in parts:
        with students_database(args.database_url, args.paid_recipients, rebuild=True) as url:
            print(f"Paid broadcast: {args.paid_recipients:,} students at up to {PAID_RATE}/s ...")
            runs.append(
                asyncio.run(
                    send_run(
                        "paid", url, recipients=args.paid_recipients, rate=PAID_RATE, paid=True, logs=logs
                    )
                )
            )
    if runs:
        print_table(
            [
                "broadcast",
                "sent",
                "first→last s",
                "start→done s",
                "msg/s",
                "peak in 1 s",
                "429s",
                "early",
                "CPU ms/msg",
            ],
            [
                [
                    r.name,
                    r.sent,
                    f"{r.seconds:.1f}",
                    f"{r.start_to_done:.1f}",
                    f"{r.achieved:.1f}",
                    r.peak_rate,
                    r.rate_limited,
                    r.too_early,
                    f"{r.cpu_ms_per_message:.2f}",
                ]
                for r in runs
            ],
        )
    if "audience" in parts:
        with students_database(args.database_url, args.audience, rebuild=args.rebuild) as url:
            print(f"Recipients of a {args.audience:,}-student audience ({backend_name(url)}) ...")
            timed = run_audience_child(url, traced=False)
            traced = run_audience_child(url, traced=True)
            print_table(
                [
                    "audience",
                    "recipients",
                    "batches",
                    "seconds",
                    "peak RSS MB (before)",
                    "allocated at peak MB",
                ],
                [
                    [
                        f"{args.audience:,}",
                        timed["total"],
                        timed["batches"],
                        f"{timed['seconds']:.1f}",
                        f"{timed['rss_peak_mb']:.0f} ({timed['rss_before_mb']:.0f})",
                        f"{traced['traced_peak_mb']:.1f}",
                    ]
                ],
            )
    for line in lines:
        print(line)
    return 1 if any(line.startswith("FAIL") for line in lines) else 0


if __name__ == "__main__":
    sys.exit(main())
