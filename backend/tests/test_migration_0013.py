"""Migration 0013 (support tickets become conversations): down and up again with data, on the path the app
migrates by (database.migrate): each ticket's message and answer become messages, in_progress is answered."""

from sqlalchemy import Connection, inspect, select, text

from backend.tests.factories import create_support_message, create_ticket, create_user
from backend.tests.test_models import _migrate, _schema_diff
from conftest import is_postgres
from shared import database
from shared.constants import SupportMessageAuthor, TicketStatus
from shared.models import SupportMessage, SupportTicket
from shared.utils import utcnow

BEFORE = "0013_support_messages-1"


async def _downgrade() -> None:
    async with database.get_engine().connect() as connection:
        if not is_postgres():
            # As database.migrate does: a rebuilt table must not run the ON DELETE actions of its references.
            await connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        await connection.run_sync(_migrate, BEFORE, down=True)
        await connection.commit()
        if not is_postgres():
            await connection.exec_driver_sql("PRAGMA foreign_keys=ON")


def _ticket_columns(connection: Connection) -> set[str]:
    return {c["name"] for c in inspect(connection).get_columns("support_tickets")}


async def test_migration_0013_down_and_up_moves_answers_into_messages(session):
    user = await create_user(session)
    asked = await create_ticket(session, user, message="Where is my lesson?")
    answered = await create_ticket(
        session, user, admin_response="In My lessons", response_sent_at=utcnow(), status=TicketStatus.ANSWERED
    )
    refused = await create_ticket(
        session, user, admin_response="Hello?", response_undeliverable_at=utcnow(), status=TicketStatus.CLOSED
    )
    talked = await create_ticket(session, user, admin_response="First")
    await create_support_message(session, talked, author=SupportMessageAuthor.STUDENT, text="And?")
    await create_support_message(session, talked, author=SupportMessageAuthor.ADMIN, text="Second")
    await session.close()

    await _downgrade()
    async with database.get_engine().connect() as connection:
        columns = await connection.run_sync(_ticket_columns)
        tables = await connection.run_sync(lambda c: inspect(c).get_table_names())
        old = {
            row.id: (row.status, row.admin_response, row.response_sent_at is not None, row.undeliverable)
            for row in await connection.execute(
                text(
                    "SELECT id, status, admin_response, response_sent_at,"
                    " response_undeliverable_at IS NOT NULL AS undeliverable FROM support_tickets"
                )
            )
        }
    await database.migrate()
    async with database.get_engine().connect() as connection:
        messages = (
            await connection.execute(
                select(SupportMessage.ticket_id, SupportMessage.author, SupportMessage.text).order_by(
                    SupportMessage.id
                )
            )
        ).all()
        statuses = dict((await connection.execute(select(SupportTicket.id, SupportTicket.status))).all())
        delivered = dict(
            (
                await connection.execute(
                    select(SupportMessage.ticket_id, SupportMessage.delivered_at.is_not(None)).where(
                        SupportMessage.author == SupportMessageAuthor.ADMIN,
                        SupportMessage.undeliverable_at.is_(None),
                    )
                )
            ).all()
        )
        refused_marked = await connection.scalar(
            select(SupportMessage.undeliverable_at)
            .where(SupportMessage.ticket_id == refused.id)
            .where(SupportMessage.author == SupportMessageAuthor.ADMIN)
        )
        diff = await connection.run_sync(_schema_diff)

    assert "support_messages" not in tables
    assert {"admin_response", "response_sent_at", "response_undeliverable_at"} <= columns
    # The old schema keeps one answer per ticket, the latest; "answered" was "in_progress".
    assert {k: (v[0], v[1]) for k, v in old.items()} == {
        asked.id: ("open", None),
        answered.id: ("in_progress", "In My lessons"),
        refused.id: ("closed", "Hello?"),
        talked.id: ("open", "Second"),
    }
    assert (old[answered.id][2], old[refused.id][3]) == (True, True)
    student, admin = SupportMessageAuthor.STUDENT, SupportMessageAuthor.ADMIN
    assert sorted(messages, key=lambda m: (m[0], m[1] is admin)) == [
        (asked.id, student, "Where is my lesson?"),
        (answered.id, student, "It does not open"),
        (answered.id, admin, "In My lessons"),
        (refused.id, student, "It does not open"),
        (refused.id, admin, "Hello?"),
        (talked.id, student, "It does not open"),
        (talked.id, admin, "Second"),
    ]
    assert statuses == {
        asked.id: TicketStatus.OPEN,
        answered.id: TicketStatus.ANSWERED,
        refused.id: TicketStatus.CLOSED,
        talked.id: TicketStatus.OPEN,
    }
    assert delivered == {answered.id: True, talked.id: False}
    assert refused_marked is not None
    assert diff == []
