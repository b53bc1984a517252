"""several senders per broadcast: a row per live sender, and who claimed each recipient in flight

Revision ID: 0015_broadcast_senders
Revises: 0014_admin_telegram
Create Date: 2026-12-07 12:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0015_broadcast_senders"
down_revision: str | None = "0014_admin_telegram"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "broadcast_senders",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("broadcast_id", sa.Integer(), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["broadcast_id"],
            ["broadcasts.id"],
            name=op.f("fk_broadcast_senders_broadcast_id_broadcasts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_broadcast_senders")),
    )
    with op.batch_alter_table("broadcast_senders", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_broadcast_senders_broadcast_id"), ["broadcast_id"], unique=False)
    with op.batch_alter_table(
        "broadcast_recipients", schema=None, table_kwargs={"sqlite_autoincrement": True}
    ) as batch_op:
        batch_op.add_column(sa.Column("sender_id", sa.String(length=32), nullable=True))
    # Recipients in flight now have no known sender (nothing sends during a migration): pending again.
    op.execute("UPDATE broadcast_recipients SET status = 'pending' WHERE status = 'sending'")
    with op.batch_alter_table(
        "broadcasts", schema=None, table_kwargs={"sqlite_autoincrement": True}
    ) as batch_op:
        batch_op.drop_column("sender_heartbeat_at")
        batch_op.drop_column("sender_id")


def downgrade() -> None:
    with op.batch_alter_table(
        "broadcasts", schema=None, table_kwargs={"sqlite_autoincrement": True}
    ) as batch_op:
        batch_op.add_column(sa.Column("sender_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("sender_heartbeat_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE broadcast_recipients SET status = 'pending' WHERE status = 'sending'")
    with op.batch_alter_table(
        "broadcast_recipients", schema=None, table_kwargs={"sqlite_autoincrement": True}
    ) as batch_op:
        batch_op.drop_column("sender_id")
    with op.batch_alter_table("broadcast_senders", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_broadcast_senders_broadcast_id"))
    op.drop_table("broadcast_senders")
