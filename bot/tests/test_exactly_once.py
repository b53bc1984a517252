"""A payment is recorded and delivered exactly once: repeated updates, concurrent updates, and a bot
process killed between recording the payment and delivering the content."""

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiogram import Bot, Dispatcher
from aiogram.types import Update
from sqlalchemy import text
from sqlalchemy import update as sql_update

from backend.services import payment_service
from backend.tests.factories import create_lesson, create_user
from bot.app import PollingDispatcher, create_dispatcher
from bot.tests.bot_api_double import BotAPIDouble, BotAPIError, Call
from bot.tests.conftest import BOT_TOKEN
from bot.tests.helpers import run_jobs
from bot.tests.test_payments import BUYER, OTHER, after, purchases, thanks, to, unmatched_payments
from conftest import ADMIN_PASSWORD
from shared.constants import PurchaseStatus
from shared.database import PROJECT_ROOT, session_scope
from shared.models import Purchase, UnmatchedPaymentReason
from shared.utils import utcnow
from worker.tasks import payments


@pytest.fixture
async def sequential_bot(bot: Bot, dispatcher: Dispatcher) -> AsyncIterator[Bot]:
    """The bot polling one update at a time, as `python -m bot` does."""
    task = asyncio.create_task(
        dispatcher.start_polling(
            bot,
            polling_timeout=1,
            handle_as_tasks=False,
            handle_signals=False,
            close_bot_session=False,
            allowed_updates=dispatcher.resolve_used_update_types(),
        )
    )
    yield bot
    with contextlib.suppress(RuntimeError):
        await dispatcher.stop_polling()
    await asyncio.wait_for(task, timeout=10)


async def handled(telegram: BotAPIDouble, person: dict[str, Any]) -> None:
    """Wait until every update pushed so far was handled (updates are handled in order)."""
    update = telegram.message_update(person, "/help")
    await after(telegram, "sendMessage", update, lambda c: to(person)(c) and "How it works" in c["text"])
    await asyncio.sleep(0.1)  # the answer to /help is on its way: its update is finished


async def invoice_for(session, person: dict[str, Any], **lesson_fields: Any) -> tuple[str, int]:
    """A pending purchase of a new lesson by `person`: its invoice payload and amount."""
    buyer = await create_user(session, telegram_id=person["id"], first_name=person["first_name"])
    lesson = await create_lesson(session, **lesson_fields)
    invoice = await payment_service.create_invoice(session, user_id=buyer.id, lesson_id=lesson.id)
    await session.commit()  # the test is the edge: its unit of work ends before the bot's
    return invoice.payload, invoice.amount


def deliveries(telegram: BotAPIDouble, body: str, since: float = 0) -> list[Call]:
    """The lesson messages (title, then the text) carrying this text."""
    return [c for c in telegram.sent_messages() if is_lesson_text(c, body) and c.at >= since]


def is_lesson_text(call: Call, body: str) -> bool:
    return str(call.get("text")).endswith(f"\n\n{body}")


@pytest.mark.usefixtures("sequential_bot")
async def test_same_payment_update_twice_one_delivery(telegram, session):
    payload, amount = await invoice_for(session, BUYER, price=100, text_content="The body")
    update = telegram.successful_payment_update(BUYER, payload, amount, "stxTWICE")

    telegram.push_update(update)
    telegram.push_update(update)  # Telegram redelivers an update it thinks was not received
    await handled(telegram, BUYER)

    [purchase] = await purchases()
    assert (purchase.status, purchase.telegram_payment_charge_id) == (PurchaseStatus.COMPLETED, "stxTWICE")
    assert purchase.delivered_at is not None
    assert len([c for c in telegram.sent_messages() if thanks(BUYER)(c)]) == 1
    assert len(deliveries(telegram, "The body")) == 1


async def test_same_charge_concurrently_one_delivery(telegram, bot, dispatcher, session):
    payload, amount = await invoice_for(session, BUYER, price=100, text_content="The body")
    raw = telegram.successful_payment_update(BUYER, payload, amount, "stxRACE")
    updates = [Update.model_validate({**raw, "update_id": n}, context={"bot": bot}) for n in (1, 1, 2, 3)]

    # As two processes (or two webhook requests) would: each with its own database session.
    await asyncio.gather(*(dispatcher.feed_update(bot, update) for update in updates))

    [purchase] = await purchases()
    assert (purchase.status, purchase.telegram_payment_charge_id) == (PurchaseStatus.COMPLETED, "stxRACE")
    assert len([c for c in telegram.sent_messages() if thanks(BUYER)(c)]) == 1
    assert len(deliveries(telegram, "The body")) == 1


async def test_two_charges_of_one_invoice_both_recorded(telegram, bot, dispatcher, session):
    payload, amount = await invoice_for(session, BUYER, price=100)
    first = telegram.successful_payment_update(BUYER, payload, amount, "stxONE")
    second = telegram.successful_payment_update(OTHER, payload, amount, "stxTWO")

    await asyncio.gather(
        *(
            dispatcher.feed_update(bot, Update.model_validate({**raw, "update_id": n}, context={"bot": bot}))
            for n, raw in enumerate((first, second))
        )
    )

    stored = await purchases(status=PurchaseStatus.COMPLETED)
    assert sorted(p.telegram_payment_charge_id for p in stored) == ["stxONE", "stxTWO"]
    assert len([c for c in telegram.sent_messages() if thanks(BUYER)(c) or thanks(OTHER)(c)]) == 2


async def test_failed_delivery_is_retried_by_the_job_once(telegram, bot, dispatcher, bot_settings, session):
    payload, amount = await invoice_for(session, BUYER, price=100, text_content="The body")
    telegram.fail("sendMessage", error_code=500, times=1)
    raw = telegram.successful_payment_update(BUYER, payload, amount, "stxRETRY")

    await dispatcher.feed_update(bot, Update.model_validate({**raw, "update_id": 1}, context={"bot": bot}))

    [purchase] = await purchases()
    assert purchase.status is PurchaseStatus.COMPLETED
    assert purchase.delivered_at is None
    # The claim of the failed delivery holds until its lease ends; then the job takes it over.
    await payments.redeliver(bot)
    assert deliveries(telegram, "The body") == []
    await _expire_leases()
    await run_jobs(bot, bot_settings, reconcile=False)
    await run_jobs(bot, bot_settings, reconcile=False)
    assert len(deliveries(telegram, "The body")) == 1
    assert (await purchases())[0].delivered_at is not None


async def test_blocked_buyer_does_not_hold_up_other_deliveries(telegram, bot, bot_settings, session):
    blocked_payload, amount = await invoice_for(session, BUYER, price=100, text_content="Blocked body")
    other_payload, _ = await invoice_for(session, OTHER, price=100, text_content="Other body")
    for payload, charge in ((blocked_payload, "stxB"), (other_payload, "stxO")):
        async with session_scope() as other:
            buyer_id = (await other.get(Purchase, int(payload.split(":")[1]))).user_id
            await payment_service.record_payment(
                other, user_id=buyer_id, payload=payload, total_amount=amount, charge_id=charge
            )
    telegram.block(BUYER["id"])

    await run_jobs(bot, bot_settings, reconcile=False)

    assert len(deliveries(telegram, "Other body")) == 1
    # Blocked: given up (the lesson is in My lessons), not retried forever.
    assert all(p.delivered_at is not None for p in await purchases())


async def _expire_leases() -> None:
    past = utcnow() - 2 * payment_service.delivery_lease()
    async with session_scope() as session:
        await session.execute(sql_update(Purchase).values(delivery_claimed_at=past))
        await session.commit()


# ---------------------------------------------------------------------------------------------- paid twice


def feed(bot: Bot, dispatcher: Dispatcher, raw: dict[str, Any], update_id: int) -> Any:
    return dispatcher.feed_update(
        bot, Update.model_validate({**raw, "update_id": update_id}, context={"bot": bot})
    )


def explanations(telegram: BotAPIDouble) -> list[Call]:
    return [c for c in telegram.sent_messages(BUYER["id"]) if "You already had this" in str(c.get("text"))]


async def by_charge(charge_id: str) -> Purchase:
    [purchase] = await purchases(telegram_payment_charge_id=charge_id)
    return purchase


async def test_second_payment_refund_that_fails_is_made_by_the_job_once(
    telegram, bot, dispatcher, bot_settings, session
):
    payload, amount = await invoice_for(session, BUYER, price=100, text_content="The body")
    telegram.fail("refundStarPayment", error_code=500, times=1)

    await feed(bot, dispatcher, telegram.successful_payment_update(BUYER, payload, amount, "stxFIRST"), 1)
    await feed(bot, dispatcher, telegram.successful_payment_update(BUYER, payload, amount, "stxSECOND"), 2)

    # Recorded (the first purchase keeps the access), told, and the refund is left to the job.
    assert ((await by_charge("stxSECOND")).status, (await by_charge("stxSECOND")).refund_reason) == (
        PurchaseStatus.COMPLETED,
        "duplicate_payment",
    )
    assert len(explanations(telegram)) == 1
    assert not telegram.star_payments["stxSECOND"].refunded
    await run_jobs(bot, bot_settings, reconcile=False)
    await run_jobs(bot, bot_settings, reconcile=False)

    refunds = telegram.calls_to("refundStarPayment")
    assert [(c["telegram_payment_charge_id"], c.ok) for c in refunds] == [
        ("stxSECOND", False),
        ("stxSECOND", True),
    ]
    assert telegram.star_payments["stxSECOND"].refunded
    assert (await by_charge("stxSECOND")).status is PurchaseStatus.REFUNDED
    assert (await by_charge("stxFIRST")).status is PurchaseStatus.COMPLETED
    assert len(deliveries(telegram, "The body")) == 1
    assert len(explanations(telegram)) == 1


async def test_second_payment_of_a_process_that_died_is_refunded_by_the_job_once(
    telegram, bot, bot_settings, session
):
    payload, amount = await invoice_for(session, BUYER, price=100)
    buyer_id = (await purchases())[0].user_id
    for charge in ("stxFIRST", "stxRECORDED", "stxCLAIMED"):
        telegram.record_star_payment(BUYER, amount, payload, charge)
        # The process died right after recording the payment (committed), before any refund.
        async with session_scope() as other:
            await payment_service.record_payment(
                other, user_id=buyer_id, payload=payload, total_amount=amount, charge_id=charge
            )
    # ... or after claiming the refund and getting it from Telegram, before recording that.
    async with session_scope() as other:
        await payment_service.claim_refund(other, (await by_charge("stxCLAIMED")).id)
    telegram.refunded_payment_update(BUYER, payload, amount, "stxCLAIMED")  # Telegram's ledger: refunded
    past = utcnow() - 2 * payment_service.refund_lease()

    await run_jobs(bot, bot_settings, reconcile=False)
    assert [c["telegram_payment_charge_id"] for c in telegram.calls_to("refundStarPayment")] == [
        "stxRECORDED"
    ]
    async with session_scope() as other:
        await other.execute(sql_update(Purchase).values(refund_claimed_at=past))
    await run_jobs(bot, bot_settings, reconcile=False)
    await run_jobs(bot, bot_settings, reconcile=False)

    refunds = telegram.calls_to("refundStarPayment")
    # CHARGE_ALREADY_REFUNDED counts as done: no further attempt, and the purchase says so.
    assert [(c["telegram_payment_charge_id"], c.ok) for c in refunds] == [
        ("stxRECORDED", True),
        ("stxCLAIMED", False),
    ]
    assert [(await by_charge(charge)).status for charge in ("stxFIRST", "stxRECORDED", "stxCLAIMED")] == [
        PurchaseStatus.COMPLETED,
        PurchaseStatus.REFUNDED,
        PurchaseStatus.REFUNDED,
    ]


async def test_two_payments_for_one_lesson_at_once_one_is_refunded(telegram, bot, dispatcher, session):
    payload, amount = await invoice_for(session, BUYER, price=100, text_content="The body")
    first = telegram.successful_payment_update(BUYER, payload, amount, "stxA")
    second = telegram.successful_payment_update(BUYER, payload, amount, "stxB")

    # As two processes (or two webhook requests) would: each with its own database session.
    await asyncio.gather(feed(bot, dispatcher, first, 1), feed(bot, dispatcher, second, 2))

    stored = await purchases()
    assert sorted((p.status, p.refund_reason) for p in stored) == [
        (PurchaseStatus.COMPLETED, None),
        (PurchaseStatus.REFUNDED, "duplicate_payment"),
    ]
    [refund] = telegram.calls_to("refundStarPayment")
    [refunded] = [p for p in stored if p.status is PurchaseStatus.REFUNDED]
    assert refund["telegram_payment_charge_id"] == refunded.telegram_payment_charge_id
    assert len(deliveries(telegram, "The body")) == 1
    assert len(explanations(telegram)) == 1


# ---------------------------------------------------------------------------------------------- crash
# (generous timeouts: starting a Python process that imports the app takes seconds on a busy machine)


PROCESS_LEASE_SECONDS = 2


def bot_process_env(telegram: BotAPIDouble) -> dict[str, str]:
    return {
        **os.environ,
        "TELEGRAM_BOT_TOKEN": BOT_TOKEN,
        "TELEGRAM_API_URL": telegram.base_url,
        "DATABASE_URL": os.environ["DATABASE_URL"],
        "DELIVERY_LEASE_SECONDS": str(PROCESS_LEASE_SECONDS),
        "RECONCILE_INTERVAL_MINUTES": "0",
        "ENVIRONMENT": "test",
        "SECRET_KEY": os.environ["SECRET_KEY"],
        "ADMIN_PASSWORD": ADMIN_PASSWORD,
        "WEBHOOK_URL": "",
        "LOG_LEVEL": "WARNING",
    }


async def start_bot_process(telegram: BotAPIDouble) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", cwd=PROJECT_ROOT, env=bot_process_env(telegram)
    )


async def stop(process: asyncio.subprocess.Process, sig: int = signal.SIGTERM) -> None:
    if process.returncode is None:
        process.send_signal(sig)
        try:
            await asyncio.wait_for(process.wait(), timeout=10)
        except TimeoutError:
            process.kill()
            await process.wait()


async def wait_until(condition, timeout: float = 60) -> None:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while not await condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.1)


@pytest.mark.slow
async def test_process_killed_between_payment_and_delivery(telegram, session):
    payload, amount = await invoice_for(session, BUYER, price=100, text_content="The body")
    send_message = telegram._handlers["sendMessage"]
    hang, released = True, asyncio.Event()

    async def hang_on_thanks(call: Call) -> Any:
        if hang and "Payment received" in str(call.get("text")):
            await released.wait()
            raise BotAPIError(500, "Internal Server Error: the process that asked is gone")
        return send_message(call)

    telegram.respond("sendMessage", hang_on_thanks)
    first = await start_bot_process(telegram)
    second = None
    try:
        telegram.push_update(telegram.successful_payment_update(BUYER, payload, amount, "stxCRASH"))

        async def completed() -> bool:
            return [p.status for p in await purchases()] == [PurchaseStatus.COMPLETED]

        await wait_until(completed)
        await telegram.wait_for("sendMessage", thanks(BUYER), timeout=10)
        first.kill()  # SIGKILL: no cleanup, no offset confirmed
        await first.wait()
        killed_at = time.time()
        hang = False
        released.set()
        # The update was not confirmed: Telegram serves it again to the next process.
        assert ["successful_payment" in u.get("message", {}) for u in telegram.pending_updates] == [True]
        # The dead process's delivery claim must run out first (its lease is renewed while it lives).
        await asyncio.sleep(PROCESS_LEASE_SECONDS + 0.2)

        second = await start_bot_process(telegram)

        async def delivered() -> bool:
            [purchase] = await purchases()
            return purchase.delivered_at is not None and not telegram.pending_updates

        await wait_until(delivered)
        await telegram.wait_for("sendMessage", lambda c: is_lesson_text(c, "The body") and c.ok, timeout=10)
        await asyncio.sleep(0.5)  # anything more the second process would send
    finally:
        released.set()
        await stop(first, signal.SIGKILL)
        if second is not None:
            await stop(second)

    [purchase] = await purchases()
    assert (purchase.status, purchase.telegram_payment_charge_id) == (PurchaseStatus.COMPLETED, "stxCRASH")
    assert len(deliveries(telegram, "The body")) == 1
    assert len(deliveries(telegram, "The body", since=killed_at)) == 1
    assert len([c for c in telegram.sent_messages() if thanks(BUYER)(c) and c.at >= killed_at]) == 1


def polling_dispatcher(bot_settings, *, give_up_after: float = 60) -> PollingDispatcher:
    """The dispatcher of `python -m bot`, with its pauses shortened for the tests."""
    dispatcher = create_dispatcher(bot_settings, polling=True)
    assert isinstance(dispatcher, PollingDispatcher)
    dispatcher.payment_retry_delay = dispatcher.payment_retry_max_delay = 0.05
    dispatcher.payment_give_up_after = give_up_after
    return dispatcher


async def test_polling_handles_a_payment_again_once_the_database_takes_it(
    telegram, bot, bot_settings, session
):
    dispatcher = polling_dispatcher(bot_settings)
    payload, amount = await invoice_for(session, BUYER, price=100, text_content="The body")
    raw = telegram.successful_payment_update(BUYER, payload, amount, "stxOUTAGE")
    update = Update.model_validate({**raw, "update_id": 1}, context={"bot": bot})
    # The purchases table away: every statement of the payment fails, as with a database that is down.
    await session.execute(text("ALTER TABLE purchases RENAME TO purchases_away"))
    await session.commit()
    tried_and_failed = asyncio.Event()

    class OnRetry(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "handling update 1 again" in record.getMessage():
                tried_and_failed.set()

    async def outage_ends_after_a_failed_try() -> None:
        await tried_and_failed.wait()
        await session.execute(text("ALTER TABLE purchases_away RENAME TO purchases"))
        await session.commit()

    on_retry = OnRetry()
    logging.getLogger("bot.app").addHandler(on_retry)
    outage = asyncio.create_task(outage_ends_after_a_failed_try())
    try:
        await dispatcher.feed_update(bot, update)
        await asyncio.wait_for(outage, timeout=10)
    finally:
        logging.getLogger("bot.app").removeHandler(on_retry)

    [purchase] = await purchases()
    assert (purchase.status, purchase.telegram_payment_charge_id) == (PurchaseStatus.COMPLETED, "stxOUTAGE")
    [lesson] = deliveries(telegram, "The body")
    # No apology for the outage: the payer only ever sees the lesson.
    assert [c["text"] for c in telegram.sent_messages(BUYER["id"])] == [lesson["text"]]


REFUSE_CHARGE = {
    "sqlite": [
        f"CREATE TRIGGER refuse_charge_{event} BEFORE {event} ON purchases"
        " WHEN NEW.telegram_payment_charge_id = 'stxREFUSED'"
        " BEGIN SELECT RAISE(ABORT, 'this payment is refused'); END"
        for event in ("INSERT", "UPDATE")
    ],
    "postgresql": [
        "CREATE FUNCTION refuse_charge() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
        " IF NEW.telegram_payment_charge_id = 'stxREFUSED' THEN RAISE EXCEPTION 'this payment is refused';"
        " END IF; RETURN NEW; END $$",
        "CREATE TRIGGER refuse_charge BEFORE INSERT OR UPDATE ON purchases"
        " FOR EACH ROW EXECUTE FUNCTION refuse_charge()",
    ],
}
ACCEPT_CHARGE = {
    "sqlite": ["DROP TRIGGER refuse_charge_INSERT", "DROP TRIGGER refuse_charge_UPDATE"],
    "postgresql": ["DROP TRIGGER refuse_charge ON purchases", "DROP FUNCTION refuse_charge()"],
}


async def _run_sql(session, statements: dict[str, list[str]]) -> None:
    for statement in statements[session.bind.dialect.name]:
        await session.execute(text(statement))
    await session.commit()


async def test_polling_keeps_a_payment_the_database_keeps_refusing_as_unmatched(
    telegram, bot, bot_settings, session
):
    dispatcher = polling_dispatcher(bot_settings, give_up_after=0.3)
    payload, amount = await invoice_for(session, BUYER, price=100, text_content="The body")
    raw = telegram.successful_payment_update(BUYER, payload, amount, "stxREFUSED")
    # The database is up, but refuses to record this payment (and only this one).
    await _run_sql(session, REFUSE_CHARGE)
    try:
        started = time.monotonic()
        await asyncio.wait_for(feed(bot, dispatcher, raw, 1), timeout=30)
        handled_after = time.monotonic() - started
    finally:
        await _run_sql(session, ACCEPT_CHARGE)

    # Tried again for a while, then kept for the admin instead of dropped; the payer is told.
    assert handled_after >= 0.3
    [kept] = await unmatched_payments()
    assert (kept.telegram_payment_charge_id, kept.reason, kept.amount, kept.payload) == (
        "stxREFUSED",
        UnmatchedPaymentReason.NOT_RECORDED,
        100,
        payload,
    )
    assert [p.status for p in await purchases()] == [PurchaseStatus.PENDING]
    [told] = telegram.sent_messages(BUYER["id"])
    assert told["text"].startswith("We received your payment of 100 ⭐ but could not match it")
    assert deliveries(telegram, "The body") == []

    # Once the database takes it, reconciliation records it and settles the unmatched payment.
    await run_jobs(bot, bot_settings, reconcile=True)
    await run_jobs(bot, bot_settings, reconcile=False)
    [purchase] = await purchases()
    assert (purchase.status, purchase.telegram_payment_charge_id) == (PurchaseStatus.COMPLETED, "stxREFUSED")
    [settled] = await unmatched_payments()
    assert settled.resolution == f"Recorded by reconciliation as purchase {purchase.id}"
    assert len(deliveries(telegram, "The body")) == 1


async def test_polling_holds_a_payment_through_a_long_outage(telegram, bot, bot_settings, session):
    dispatcher = polling_dispatcher(bot_settings, give_up_after=0.2)
    payload, amount = await invoice_for(session, BUYER, price=100, text_content="The body")
    raw = telegram.successful_payment_update(BUYER, payload, amount, "stxLONG")
    # Nothing about payments can be written (the purchases table away), for longer than give_up_after.
    await session.execute(text("ALTER TABLE purchases RENAME TO purchases_away"))
    await session.commit()
    handling = asyncio.create_task(feed(bot, dispatcher, raw, 1))
    try:
        await asyncio.sleep(1)
        # Not handled yet: the update stays unconfirmed (a process dying now leaves it to the next one).
        assert not handling.done()
    finally:
        await session.execute(text("ALTER TABLE purchases_away RENAME TO purchases"))
        await session.commit()
    await asyncio.wait_for(handling, timeout=30)

    [purchase] = await purchases()
    assert (purchase.status, purchase.telegram_payment_charge_id) == (PurchaseStatus.COMPLETED, "stxLONG")
    assert await unmatched_payments() == []
    [lesson] = deliveries(telegram, "The body")
    assert [c["text"] for c in telegram.sent_messages(BUYER["id"])] == [lesson["text"]]
