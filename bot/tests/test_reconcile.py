"""Reconciliation with Telegram's Stars ledger (getStarTransactions): charges we missed are recorded (and
delivered), purchases Telegram does not know are reported, refunds made elsewhere are applied."""

import asyncio
import sys

import pytest
from sqlalchemy import select

from backend.services import access_service, payment_service
from backend.tests.factories import create_lesson, create_user
from bot import gateway
from bot.tests.bot_api_double import BotAPIDouble
from bot.tests.helpers import run_jobs
from bot.tests.test_exactly_once import bot_process_env
from bot.tests.test_payments import BUYER, OTHER, purchases
from shared.constants import PurchaseStatus
from shared.database import PROJECT_ROOT, session_scope
from shared.models import Lesson, UnmatchedPayment, UnmatchedPaymentReason


async def pending_invoice(session, person=BUYER, price: int = 100, **lesson_fields):
    """A lesson and the payload of the person's pending invoice for it."""
    buyer = await create_user(session, telegram_id=person["id"], first_name=person["first_name"])
    lesson = await create_lesson(session, price=price, **lesson_fields)
    invoice = await payment_service.create_invoice(session, user_id=buyer.id, lesson_id=lesson.id)
    await session.commit()  # the test is the edge: its unit of work ends before the bot's
    return lesson, invoice.payload, buyer


async def has_access(user_id: int, lesson_id: int) -> bool:
    async with session_scope() as session:
        lesson = await session.get(Lesson, lesson_id)
        return await access_service.can_access_lesson(session, user_id=user_id, lesson=lesson)


async def run_reconcile_command(telegram: BotAPIDouble) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.reconcile",
        cwd=PROJECT_ROOT,
        env=bot_process_env(telegram),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode is not None
    return process.returncode, stdout.decode() + stderr.decode()


@pytest.mark.slow
async def test_reconcile_command_records_missed_charge(telegram, session):
    lesson, payload, buyer = await pending_invoice(session)
    # Telegram took the Stars, but the successful_payment update never reached us.
    telegram.record_star_payment(BUYER, 100, payload, "stxMISSED")

    code, output = await run_reconcile_command(telegram)

    assert code == 0, output
    assert "Recorded missed charges: 1" in output
    assert "charge stxMISSED, 100 Stars" in output
    [purchase] = await purchases()
    assert (purchase.status, purchase.telegram_payment_charge_id) == (PurchaseStatus.COMPLETED, "stxMISSED")
    assert await has_access(buyer.id, lesson.id)


@pytest.mark.slow
async def test_reconcile_command_reports_purchase_unknown_to_telegram(telegram, session):
    _, payload, buyer = await pending_invoice(session)
    recorded = await payment_service.record_payment(
        session, user_id=buyer.id, payload=payload, total_amount=100, charge_id="stxNOT-IN-LEDGER"
    )
    await session.commit()

    code, output = await run_reconcile_command(telegram)

    assert code == 1, output
    assert "Unknown to Telegram: 1" in output
    assert f"purchase {recorded.purchase.id}: charge stxNOT-IN-LEDGER" in output


async def test_reconcile_records_missed_charge_and_job_delivers_it(telegram, bot, bot_settings, session):
    lesson, payload, buyer = await pending_invoice(session, text_content="Missed body")
    telegram.record_star_payment(BUYER, 100, payload, "stxMISSED")
    # Someone who never talked to this bot instance's database, paying a forwarded invoice.
    telegram.record_star_payment(OTHER, 100, payload, "stxSTRANGER")

    await run_jobs(bot, bot_settings, reconcile=True)

    stored = {p.telegram_payment_charge_id: p for p in await purchases()}
    assert set(stored) == {"stxMISSED", "stxSTRANGER"}
    assert all(p.status is PurchaseStatus.COMPLETED for p in stored.values())
    assert stored["stxMISSED"].user_id == buyer.id
    assert await has_access(buyer.id, lesson.id)
    assert await has_access(stored["stxSTRANGER"].user_id, lesson.id)
    # The job delivers what it recorded, once to each payer.
    await run_jobs(bot, bot_settings, reconcile=True)
    delivered = [c for c in telegram.sent_messages() if str(c.get("text")).endswith("\n\nMissed body")]
    assert sorted(str(c["chat_id"]) for c in delivered) == [str(BUYER["id"]), str(OTHER["id"])]


async def test_reconcile_applies_refund_from_ledger(telegram, bot, session):
    lesson, payload, buyer = await pending_invoice(session)
    telegram.record_star_payment(BUYER, 100, payload, "stxPAID")
    await payment_service.record_payment(
        session, user_id=buyer.id, payload=payload, total_amount=100, charge_id="stxPAID"
    )
    await session.commit()
    # Refunded by Telegram support, and the refunded_payment update never reached us.
    telegram.refunded_payment_update(BUYER, payload, 100, "stxPAID")

    async with session_scope() as other:
        report = await gateway.reconcile(bot, other)

    assert [p.telegram_payment_charge_id for p in report.refunded] == ["stxPAID"]
    assert (report.recorded, report.unknown_to_telegram) == ([], [])
    [purchase] = await purchases()
    assert purchase.status is PurchaseStatus.REFUNDED
    assert not await has_access(buyer.id, lesson.id)


async def test_reconcile_reads_every_page_of_the_ledger(telegram, bot, session):
    _, payload, buyer = await pending_invoice(session)
    for n in range(gateway.STAR_TRANSACTIONS_PAGE + 5):
        telegram.record_star_payment(BUYER, 100, payload, f"stxMANY{n:03}")

    async with session_scope() as other:
        report = await gateway.reconcile(bot, other)

    assert len(report.recorded) == gateway.STAR_TRANSACTIONS_PAGE + 5
    assert len(telegram.calls_to("getStarTransactions")) == 2
    assert len(await purchases(user_id=buyer.id, status=PurchaseStatus.COMPLETED)) == len(report.recorded)


async def unmatched_payments() -> list[UnmatchedPayment]:
    async with session_scope() as session:
        return list((await session.scalars(select(UnmatchedPayment).order_by(UnmatchedPayment.id))).all())


async def test_reconcile_goes_on_after_a_charge_for_an_unknown_lesson(telegram, bot, bot_settings, session):
    lesson, payload, buyer = await pending_invoice(session)
    # Charges Telegram took that we never recorded: one for a lesson this database does not have, and a
    # real one after it.
    telegram.record_star_payment(BUYER, 100, "v1:2000000009:l2000000009", "stxGONE")
    telegram.record_star_payment(BUYER, 100, payload, "stxMISSED")

    await run_jobs(bot, bot_settings, reconcile=True)
    await run_jobs(bot, bot_settings, reconcile=True)

    [purchase] = await purchases()
    assert (purchase.status, purchase.telegram_payment_charge_id) == (PurchaseStatus.COMPLETED, "stxMISSED")
    assert await has_access(buyer.id, lesson.id)
    [kept] = await unmatched_payments()
    assert (kept.telegram_payment_charge_id, kept.reason, kept.telegram_user_id, kept.amount) == (
        "stxGONE",
        UnmatchedPaymentReason.UNKNOWN_ITEM,
        BUYER["id"],
        100,
    )
    assert kept.resolved_at is None


async def test_reconcile_records_a_missed_second_payment_and_the_job_refunds_it(
    telegram, bot, bot_settings, session
):
    lesson, payload, buyer = await pending_invoice(session)
    telegram.record_star_payment(BUYER, 100, payload, "stxONE")
    telegram.record_star_payment(BUYER, 100, payload, "stxTWO")

    await run_jobs(bot, bot_settings, reconcile=True)
    await run_jobs(bot, bot_settings, reconcile=True)
    await run_jobs(bot, bot_settings, reconcile=True)

    stored = {p.telegram_payment_charge_id: p for p in await purchases()}
    assert (stored["stxONE"].status, stored["stxTWO"].status) == (
        PurchaseStatus.COMPLETED,
        PurchaseStatus.REFUNDED,
    )
    assert stored["stxTWO"].refund_reason == "duplicate_payment"
    assert [c["telegram_payment_charge_id"] for c in telegram.calls_to("refundStarPayment")] == ["stxTWO"]
    assert await has_access(buyer.id, lesson.id)


@pytest.mark.slow
async def test_reconcile_command_prints_unmatched_payments(telegram, session):
    _, payload, _ = await pending_invoice(session)
    telegram.record_star_payment(BUYER, 100, "v1:2000000009:l2000000009", "stxGONE")
    telegram.record_star_payment(BUYER, 25, "v0:legacy", "stxOLD")
    telegram.record_star_payment(BUYER, 100, payload, "stxMISSED")

    code, output = await run_reconcile_command(telegram)

    assert code == 1, output
    assert "Recorded missed charges: 1" in output
    assert "Unmatched payments to settle: 2 (2 found now)" in output
    [gone, old] = await unmatched_payments()
    assert (
        f"#{gone.id} unknown_item: charge stxGONE of Telegram user 42, 100 XTR, "
        "payload 'v1:2000000009:l2000000009'"
    ) in output
    assert (
        f"#{old.id} unreadable_payload: charge stxOLD of Telegram user 42, 25 XTR, payload 'v0:legacy'"
        in output
    )
