"""`python -m bot.reconcile`: compare Telegram's Stars ledger with our purchases once, and report."""

import asyncio
import sys

from backend.services import payment_service
from bot import gateway
from bot.app import check_token, create_bot
from shared import database, logs
from shared.config import Settings, get_settings
from shared.constants import MAX_PAGE_SIZE
from shared.setup_checks import SetupError, check_bot_token, check_database


async def main() -> int:
    settings = get_settings()
    logs.configure(settings)
    try:
        return await reconcile(settings)
    except SetupError as error:
        print(error, file=sys.stderr)
        return 1


async def reconcile(settings: Settings) -> int:
    if not check_bot_token(settings.TELEGRAM_BOT_TOKEN.get_secret_value()):
        print("The bot is off: set TELEGRAM_BOT_TOKEN first.", file=sys.stderr)
        return 2
    await check_database(settings.DATABASE_URL)
    await database.migrate()
    bot = create_bot(settings)
    try:
        await check_token(bot)
        async with database.session_scope() as session:
            report = await gateway.reconcile(bot, session)
        async with database.session_scope() as session:
            unmatched = await payment_service.get_all_unmatched(
                session, resolved=False, sort="id", limit=MAX_PAGE_SIZE, offset=0
            )
    finally:
        await bot.session.close()
        await database.dispose_engine()
    print(f"Recorded missed charges: {len(report.recorded)}")
    for purchase in report.recorded:
        duplicate = " (paid twice: the bot refunds it)" if purchase.refund_reason else ""
        print(
            f"  purchase {purchase.id}: charge {purchase.telegram_payment_charge_id}, "
            f"{purchase.amount} Stars{duplicate}"
        )
    print(f"Marked refunded: {len(report.refunded)}")
    print(f"Unknown to Telegram: {len(report.unknown_to_telegram)}")
    for purchase in report.unknown_to_telegram:
        print(f"  purchase {purchase.id}: charge {purchase.telegram_payment_charge_id}")
    total = f"{unmatched.total}{'' if unmatched.total_exact else '+'}"
    print(f"Unmatched payments to settle: {total} ({len(report.unmatched)} found now)")
    for payment in unmatched.items:
        print(
            f"  #{payment.id} {payment.reason.value}: charge {payment.telegram_payment_charge_id}"
            f" of Telegram user {payment.telegram_user_id}, {payment.amount} {payment.currency},"
            f" payload {payment.payload!r}"
        )
    if unmatched.total > len(unmatched.items):
        rest = f"{unmatched.total - len(unmatched.items)}{'' if unmatched.total_exact else '+'}"
        print(f"  ... and {rest} more: GET /api/unmatched-payments/?resolved=false")
    return 1 if report.unknown_to_telegram or unmatched.total else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
