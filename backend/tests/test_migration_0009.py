"""Migration 0009 (grants, revoked purchases, users who blocked the bot): down and up again with data, on
the path the app migrates by (database.migrate), keeping the rows that refer to the rebuilt tables."""

from sqlalchemy import Connection, inspect, select, text

from backend.tests.factories import create_lesson, create_purchase, create_ticket, create_user
from backend.tests.test_models import _migrate, _schema_diff
from conftest import is_postgres
from shared import database
from shared.constants import PurchaseStatus
from shared.models import Admin, Purchase, SupportTicket


def _columns(connection: Connection) -> dict[str, set[str]]:
    return {
        table: {c["name"] for c in inspect(connection).get_columns(table)} for table in ("users", "purchases")
    }


async def _downgrade_to_0008() -> None:
    async with database.get_engine().connect() as connection:
        if not is_postgres():
            # As database.migrate does: a rebuilt table must not run the ON DELETE actions of its references.
            await connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        await connection.run_sync(_migrate, "0008_admin_roles_audit_log", down=True)
        await connection.commit()
        if not is_postgres():
            await connection.exec_driver_sql("PRAGMA foreign_keys=ON")


async def test_migration_0009_down_and_up_keeps_purchases_and_their_references(session):
    user, lesson = await create_user(session), await create_lesson(session)
    admin_id = await session.scalar(select(Admin.id).limit(1))
    revoked = await create_purchase(
        session, user, lesson, amount=0, status=PurchaseStatus.REVOKED, granted_by_id=admin_id
    )
    sale = await create_purchase(session, user, lesson, amount=90)
    ticket = await create_ticket(session, user, purchase_id=sale.id)
    await session.close()

    await _downgrade_to_0008()
    async with database.get_engine().connect() as connection:
        columns = await connection.run_sync(_columns)
        statuses_down = dict((await connection.execute(text("SELECT id, status FROM purchases"))).all())
    await database.migrate()
    async with database.get_engine().connect() as connection:
        statuses_up = dict((await connection.execute(select(Purchase.id, Purchase.status))).all())
        linked = await connection.scalar(
            select(SupportTicket.purchase_id).where(SupportTicket.id == ticket.id)
        )
        diff = await connection.run_sync(_schema_diff)

    assert "bot_blocked_at" not in columns["users"]
    assert "granted_by_id" not in columns["purchases"]
    # The old schema has no "revoked": such a grant comes back as refunded (no access either way).
    assert statuses_down == {revoked.id: "refunded", sale.id: "completed"}
    assert statuses_up == {revoked.id: PurchaseStatus.REFUNDED, sale.id: PurchaseStatus.COMPLETED}
    # Rebuilding the purchases table kept the ticket's link to its purchase (ON DELETE SET NULL not run).
    assert linked == sale.id
    assert diff == []


async def test_migrated_schema_accepts_revoked_status_and_a_grant(session):
    user, lesson = await create_user(session), await create_lesson(session)
    admin_id = await session.scalar(select(Admin.id).limit(1))
    await session.close()

    async with database.get_engine().begin() as connection:
        await connection.execute(
            text(
                "INSERT INTO purchases (user_id, lesson_id, payment_id, amount, status, granted_by_id,"
                " created_at, updated_at) VALUES (:user_id, :lesson_id, 'grant-raw', 0, 'revoked', :admin_id,"
                " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            ),
            {"user_id": user.id, "lesson_id": lesson.id, "admin_id": admin_id},
        )
        count = await connection.scalar(text("SELECT count(*) FROM purchases WHERE status = 'revoked'"))

    assert count == 1
