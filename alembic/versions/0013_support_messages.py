"""support tickets become conversations: support_messages, statuses open/answered/closed

Revision ID: 0013_support_messages
Revises: 0011_sales_monthly (to be relinked to 0012 at merge)
Create Date: 2026-12-07 09:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0013_support_messages"
# Written beside 0012 (another branch): the lead relinks this to 0012's revision at merge.
down_revision: str | None = "0012_broadcasts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATUS_CHECK = "ck_support_tickets_ticket_status"
OLD_STATUSES = ("open", "in_progress", "closed")
NEW_STATUSES = ("open", "answered", "closed")
TICKETS = {"schema": None, "table_kwargs": {"sqlite_autoincrement": True}}


def _status_check(statuses: tuple[str, ...]) -> str:
    return "status IN ({})".format(", ".join(f"'{status}'" for status in statuses))


def upgrade() -> None:
    op.create_table(
        "support_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column(
            "author",
            sa.Enum(
                "student",
                "admin",
                name="support_message_author",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("admin_id", sa.Integer(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("attachments", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("undeliverable_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("telegram_message_id", sa.BigInteger(), nullable=True),
        sa.Column("sending_until", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["admin_id"], ["admins.id"], name=op.f("fk_support_messages_admin_id_admins"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["support_tickets.id"],
            name=op.f("fk_support_messages_ticket_id_support_tickets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_support_messages")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("support_messages", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_support_messages_admin_id"), ["admin_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_support_messages_ticket_id"), ["ticket_id"], unique=False)

    # Each ticket's opening message, then (after all of them, so a ticket's messages keep their order by id)
    # its answer, delivered or refused as the ticket recorded it.
    op.execute(
        "INSERT INTO support_messages (ticket_id, author, text, attachments, created_at)"
        " SELECT id, 'student', message, '[]', created_at FROM support_tickets ORDER BY id"
    )
    op.execute(
        "INSERT INTO support_messages"
        " (ticket_id, author, text, attachments, created_at, delivered_at, undeliverable_at)"
        " SELECT id, 'admin', admin_response, '[]', updated_at, response_sent_at, response_undeliverable_at"
        " FROM support_tickets WHERE admin_response IS NOT NULL AND admin_response != '' ORDER BY id"
    )

    with op.batch_alter_table("support_tickets", **TICKETS) as batch_op:  # type: ignore[arg-type]
        batch_op.drop_constraint(batch_op.f(STATUS_CHECK), type_="check")
    op.execute("UPDATE support_tickets SET status = 'answered' WHERE status = 'in_progress'")
    with op.batch_alter_table("support_tickets", **TICKETS) as batch_op:  # type: ignore[arg-type]
        batch_op.create_check_constraint(batch_op.f(STATUS_CHECK), _status_check(NEW_STATUSES))
        batch_op.drop_column("admin_response")
        batch_op.drop_column("response_sent_at")
        batch_op.drop_column("response_undeliverable_at")


def downgrade() -> None:
    with op.batch_alter_table("support_tickets", **TICKETS) as batch_op:  # type: ignore[arg-type]
        batch_op.add_column(sa.Column("response_undeliverable_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("response_sent_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("admin_response", sa.Text(), nullable=True))
        batch_op.drop_constraint(batch_op.f(STATUS_CHECK), type_="check")
    # The old schema holds one answer per ticket: the latest. Further student messages are lost.
    op.execute(
        "UPDATE support_tickets SET"
        " admin_response = m.text, response_sent_at = m.delivered_at, response_undeliverable_at = m.undeliverable_at"
        " FROM (SELECT ticket_id, text, delivered_at, undeliverable_at FROM support_messages"
        "  WHERE id IN (SELECT max(id) FROM support_messages WHERE author = 'admin' GROUP BY ticket_id)) AS m"
        " WHERE m.ticket_id = support_tickets.id"
    )
    op.execute("UPDATE support_tickets SET status = 'in_progress' WHERE status = 'answered'")
    with op.batch_alter_table("support_tickets", **TICKETS) as batch_op:  # type: ignore[arg-type]
        batch_op.create_check_constraint(batch_op.f(STATUS_CHECK), _status_check(OLD_STATUSES))
    with op.batch_alter_table("support_messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_support_messages_ticket_id"))
        batch_op.drop_index(batch_op.f("ix_support_messages_admin_id"))
    op.drop_table("support_messages")
