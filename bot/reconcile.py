"""`python -m bot.reconcile`: compare Telegram's Stars ledger with our purchases once, and report."""

import asyncio
import logging
import sys

from bot import gateway
from bot.app import create_bot
from shared import database
from shared.config import get_settings


async def main() -> int:
    settings = get_settings()
    logging.basicConfig(level=settings.LOG_LEVEL, format="%(levelname)s %(name)s: %(message)s")
    if not settings.bot_enabled:
        print("The bot is off: set TELEGRAM_BOT_TOKEN first.", file=sys.stderr)
        return 2
    await database.migrate()
    bot = create_bot(settings)
    try:
        async with database.session_scope() as session:
            report = await gateway.reconcile(bot, session)
    finally:
        await bot.session.close()
        await database.dispose_engine()
    print(f"Recorded missed charges: {len(report.recorded)}")
    for purchase in report.recorded:
        print(
            f"  purchase {purchase.id}: charge {purchase.telegram_payment_charge_id}, {purchase.amount} Stars"
        )
    print(f"Marked refunded: {len(report.refunded)}")
    print(f"Unknown to Telegram: {len(report.unknown_to_telegram)}")
    for purchase in report.unknown_to_telegram:
        print(f"  purchase {purchase.id}: charge {purchase.telegram_payment_charge_id}")
    print(f"Unreadable payloads: {len(report.unreadable)}")
    return 1 if report.unknown_to_telegram or report.unreadable else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
