"""Bot benchmark: pre-checkout latency, payment-to-content latency, and update throughput of the real
dispatcher against a bare echo bot, all on a temporary SQLite database and the Bot API double.

Run: .venv/bin/python -m bench.bot_bench
"""

import argparse
import asyncio
import itertools
import os
import tempfile
import time
from pathlib import Path
from typing import Any

_TMP = Path(tempfile.mkdtemp(prefix="bot-bench-"))
BOT_ID = 7000000001
BOT_TOKEN = f"{BOT_ID}:TEST-token-abcdefghijklmnopqrstuvwxyz012345"
os.environ.update(
    {
        "ENVIRONMENT": "test",
        "DATABASE_URL": f"sqlite:///{_TMP / 'bench.db'}",
        "SECRET_KEY": "bench-secret-key-that-is-long-enough-for-hs256-0123456789",
        "ADMIN_USERNAME": "admin",
        "ADMIN_PASSWORD": "bench-admin-password",
        "CORS_ORIGINS": "[]",
        "TELEGRAM_BOT_TOKEN": BOT_TOKEN,
        "WEBHOOK_URL": "",
        "WEBHOOK_SECRET": "",
        "REDIS_URL": "",
        "MEDIA_DIR": str(_TMP / "media"),
        "LOG_LEVEL": "WARNING",
    }
)

import logging  # noqa: E402

from aiogram import Bot, Dispatcher  # noqa: E402
from aiogram.types import Update  # noqa: E402

from backend.config import get_settings  # noqa: E402
from backend.services import payment_service, user_service  # noqa: E402
from backend.tests.factories import create_lesson  # noqa: E402
from bench.bot_echo import create_echo_dispatcher  # noqa: E402
from bot.app import create_bot, create_dispatcher  # noqa: E402
from bot.callbacks import ItemAction, LessonCb, MenuAction, MenuCb  # noqa: E402
from bot.tests.bot_api_double import BotAPIDouble, user  # noqa: E402
from shared import database  # noqa: E402

_update_ids = itertools.count(1)
_telegram_ids = itertools.count(500_000_000)


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[k]


def as_update(bot: Bot, raw: dict[str, Any]) -> Update:
    return Update.model_validate({"update_id": next(_update_ids), **raw}, context={"bot": bot})


async def feed(dispatcher: Dispatcher, bot: Bot, update: Update) -> tuple[float, float]:
    t0 = time.time()
    await dispatcher.feed_update(bot, update)
    return t0, time.time()


async def new_buyers(lessons: list[Any], n: int) -> list[tuple[dict[str, Any], str, int]]:
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
            user_id = row.id
        async with database.session_scope() as session:
            invoice = await payment_service.create_invoice(session, user_id=user_id, lesson_id=lesson.id)
        buyers.append((person, invoice.payload, invoice.amount))
    return buyers


async def bench_pre_checkout(api, bot, dispatcher, lessons, n: int) -> dict[str, float]:
    buyers = await new_buyers(lessons, n)
    raws = [api.pre_checkout_update(p, payload, amount) for p, payload, amount in buyers]
    updates = [as_update(bot, r) for r in raws]
    results = await asyncio.gather(*(feed(dispatcher, bot, u) for u in updates))
    answers = {str(c["pre_checkout_query_id"]): c for c in api.calls_to("answerPreCheckoutQuery")}
    to_answer, to_done, ok = [], [], 0
    for raw, (t0, t1) in zip(raws, results, strict=True):
        call = answers.get(raw["pre_checkout_query"]["id"])
        if call is not None:
            to_answer.append(call.at - t0)
            ok += call["ok"] is True
        to_done.append(t1 - t0)
    return {
        "answered": len(to_answer),
        "accepted": ok,
        "p50": pct(to_answer, 50),
        "p99": pct(to_answer, 99),
        "feed_p99": pct(to_done, 99),
    }


async def bench_payments(api, bot, dispatcher, lessons, n: int, concurrent: bool) -> dict[str, float]:
    buyers = await new_buyers(lessons, n)
    titles = {lesson.id: lesson.title for lesson in lessons}
    raws, expected = [], []
    for person, payload, amount in buyers:
        raws.append(api.successful_payment_update(person, payload, amount))
        lesson_id = int(payload.rsplit(":l", 1)[1])
        expected.append((str(person["id"]), f"<b>{titles[lesson_id]}</b>"))
    updates = [as_update(bot, r) for r in raws]
    if concurrent:
        results = await asyncio.gather(*(feed(dispatcher, bot, u) for u in updates))
    else:
        results = [await feed(dispatcher, bot, u) for u in updates]
    content = {}
    for call in api.calls_to("sendMessage"):
        key = (str(call.get("chat_id")), call.get("text"))
        content.setdefault(key, call.at)
    latencies = [
        content[key] - t0 for key, (t0, _t1) in zip(expected, results, strict=True) if key in content
    ]
    return {"delivered": len(latencies), "p50": pct(latencies, 50), "p99": pct(latencies, 99)}


async def run_bounded(dispatcher, bot, updates: list[Update], concurrency: int) -> float:
    queue = list(reversed(updates))

    async def worker() -> None:
        while queue:
            await dispatcher.feed_update(bot, queue.pop())

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return len(updates) / (time.perf_counter() - t0)


async def mix_updates(api, bot, lessons, n: int) -> list[Update]:
    """40 % /start by new users, 40 % catalog browsing callbacks, 20 % payments (pre-checkout + paid)."""
    n_pay = n // 10
    buyers = await new_buyers(lessons, n_pay)
    browsers = [user(next(_telegram_ids), f"Browser{i}", language_code="en") for i in range(n)]
    raws: list[dict[str, Any]] = []
    for i in range(n - 2 * n_pay):
        person = browsers[i]
        if i % 2 == 0:
            raws.append(api.message_update(person, "/start"))
        else:
            lesson = lessons[i % len(lessons)]
            data = (
                MenuCb(action=MenuAction.LESSONS).pack()
                if i % 4 == 1
                else LessonCb(id=lesson.id, action=ItemAction.SHOW).pack()
            )
            raws.append(api.callback_update(browsers[i - 1], data))
    for person, payload, amount in buyers:
        raws.append(api.pre_checkout_update(person, payload, amount))
    for person, payload, amount in buyers:
        raws.append(api.successful_payment_update(person, payload, amount))
    return [as_update(bot, r) for r in raws]


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--checkouts", type=int, default=100)
    parser.add_argument("--payments", type=int, default=50)
    parser.add_argument("--updates", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=20)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    async with BotAPIDouble(bot_id=BOT_ID) as api:
        os.environ["TELEGRAM_API_URL"] = api.base_url
        get_settings.cache_clear()
        settings = get_settings()
        database.configure(settings.DATABASE_URL)
        await database.migrate()
        async with database.session_scope(write=True) as session:
            lessons = [
                await create_lesson(
                    session, title=f"Bench lesson {i}", price=100 + i, text_content="Body " * 50
                )
                for i in range(8)
            ]
        bot = create_bot(settings)
        echo_bot = create_bot(settings)
        dispatcher = create_dispatcher(settings)
        echo = create_echo_dispatcher()
        rows: list[tuple[str, str, str]] = []
        try:
            # warm-up: imports, first connections, translations
            await bench_pre_checkout(api, bot, dispatcher, lessons, 5)
            await bench_payments(api, bot, dispatcher, lessons, 5, concurrent=False)

            pc = await bench_pre_checkout(api, bot, dispatcher, lessons, args.checkouts)
            rows.append(
                (
                    f"pre_checkout -> answer, {args.checkouts} at once",
                    f"p50 {pc['p50'] * 1000:.1f} ms, p99 {pc['p99'] * 1000:.1f} ms "
                    f"({pc['answered']} answered, {pc['accepted']} ok; "
                    f"feed p99 {pc['feed_p99'] * 1000:.1f} ms)",
                    "p99 < 200 ms: "
                    + ("PASS" if pc["p99"] < 0.2 and pc["answered"] == args.checkouts else "FAIL"),
                )
            )
            for concurrent in (True, False):
                pay = await bench_payments(api, bot, dispatcher, lessons, args.payments, concurrent)
                rows.append(
                    (
                        f"successful_payment -> content, {args.payments} "
                        + ("concurrent" if concurrent else "sequential"),
                        f"p50 {pay['p50'] * 1000:.1f} ms, p99 {pay['p99'] * 1000:.1f} ms "
                        f"({pay['delivered']} delivered)",
                        "p99 < 500 ms: "
                        + ("PASS" if pay["p99"] < 0.5 and pay["delivered"] == args.payments else "FAIL"),
                    )
                )
            mix = await mix_updates(api, bot, lessons, args.updates)
            echo_updates = [
                as_update(echo_bot, api.message_update(user(next(_telegram_ids), "E"), f"hello {i}"))
                for i in range(args.updates)
            ]
            bot_rate = await run_bounded(dispatcher, bot, mix, args.concurrency)
            echo_rate = await run_bounded(echo, echo_bot, echo_updates, args.concurrency)
            rows.append(
                (f"mix, {len(mix)} updates, concurrency {args.concurrency}", f"{bot_rate:.0f} updates/s", "")
            )
            rows.append((f"echo bot, {len(echo_updates)} updates", f"{echo_rate:.0f} updates/s", ""))
            ratio = bot_rate / echo_rate
            failed = [c for c in api.calls if c.status is not None and not c.ok]
            rows.append(("Bot API calls failed (whole run)", f"{len(failed)} of {len(api.calls)}", ""))
            rows.append(
                ("ratio bot / echo", f"{ratio:.2f}", "≥ 0.3: " + ("PASS" if ratio >= 0.3 else "FAIL"))
            )
        finally:
            await bot.session.close()
            await echo_bot.session.close()
            await database.dispose_engine()
        widths = [max(len(r[i]) for r in rows) for i in range(3)]
        print()
        for row in rows:
            print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))


if __name__ == "__main__":
    asyncio.run(main())
