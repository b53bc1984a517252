"""broadcasts and their recipients (a row per student of each broadcast's audience)

Revision ID: 0012_broadcasts
Revises: 0011_sales_monthly
Create Date: 2026-12-07 09:10:15.153511
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0012_broadcasts"
down_revision: str | None = "0011_sales_monthly"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "broadcasts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("buttons", sa.JSON(), nullable=False),
        sa.Column("audience", sa.JSON(), nullable=False),
        sa.Column("paid", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column(
            "media_kind",
            sa.Enum(
                "photo",
                "video",
                name="broadcast_media_kind",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=True,
        ),
        sa.Column("media_path", sa.String(length=1000), nullable=True),
        sa.Column("media_file_id", sa.String(length=1000), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "draft",
                "scheduled",
                "sending",
                "paused",
                "done",
                "cancelled",
                "failed",
                name="broadcast_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("scheduled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("error", sa.String(length=255), nullable=True),
        sa.Column("audience_cursor", sa.Integer(), server_default="0", nullable=False),
        sa.Column("recipients_ready", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("total", sa.Integer(), server_default="0", nullable=False),
        sa.Column("sent", sa.Integer(), server_default="0", nullable=False),
        sa.Column("failed", sa.Integer(), server_default="0", nullable=False),
        sa.Column("blocked", sa.Integer(), server_default="0", nullable=False),
        sa.Column("sender_id", sa.String(length=64), nullable=True),
        sa.Column("sender_heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["admins.id"],
            name=op.f("fk_broadcasts_created_by_id_admins"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_broadcasts")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("broadcasts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_broadcasts_created_at"), ["created_at"], unique=False)
        batch_op.create_index("ix_broadcasts_status_scheduled_at", ["status", "scheduled_at"], unique=False)

    op.create_table(
        "broadcast_recipients",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("broadcast_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("telegram_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "sending",
                "sent",
                "failed",
                "blocked",
                name="recipient_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("message_id", sa.BigInteger(), nullable=True),
        sa.Column("error", sa.String(length=255), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["broadcast_id"],
            ["broadcasts.id"],
            name=op.f("fk_broadcast_recipients_broadcast_id_broadcasts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_broadcast_recipients_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_broadcast_recipients")),
        sa.UniqueConstraint("broadcast_id", "user_id", name="uq_broadcast_recipients_broadcast_id_user_id"),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("broadcast_recipients", schema=None) as batch_op:
        batch_op.create_index(
            "ix_broadcast_recipients_broadcast_id_status_id", ["broadcast_id", "status", "id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_broadcast_recipients_user_id"), ["user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("broadcast_recipients", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_broadcast_recipients_user_id"))
        batch_op.drop_index("ix_broadcast_recipients_broadcast_id_status_id")

    op.drop_table("broadcast_recipients")
    with op.batch_alter_table("broadcasts", schema=None) as batch_op:
        batch_op.drop_index("ix_broadcasts_status_scheduled_at")
        batch_op.drop_index(batch_op.f("ix_broadcasts_created_at"))

    op.drop_table("broadcasts")
