"""admins link their Telegram account and opt in to support notifications

Revision ID: 0014_admin_telegram
Revises: 0013_support_messages (branch i11-support, merged in; the lead relinks at merge if needed)
Create Date: 2026-12-07 09:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0014_admin_telegram"
down_revision: str | None = "0013_support_messages"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "support_notifications",
        sa.Column("support_message_id", sa.Integer(), nullable=False),
        sa.Column("admin_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["admin_id"],
            ["admins.id"],
            name=op.f("fk_support_notifications_admin_id_admins"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["support_message_id"],
            ["support_messages.id"],
            name=op.f("fk_support_notifications_support_message_id_support_messages"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("support_message_id", "admin_id", name=op.f("pk_support_notifications")),
    )
    with op.batch_alter_table("support_notifications", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_support_notifications_admin_id"), ["admin_id"], unique=False)
    with op.batch_alter_table("admins", schema=None, table_kwargs={"sqlite_autoincrement": True}) as batch_op:
        batch_op.add_column(sa.Column("telegram_id", sa.BigInteger(), nullable=True))
        batch_op.add_column(
            sa.Column("notify_support", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(sa.Column("telegram_link_token_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("telegram_link_expires_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_admins_telegram_id"), ["telegram_id"])
        batch_op.create_unique_constraint(
            batch_op.f("uq_admins_telegram_link_token_hash"), ["telegram_link_token_hash"]
        )


def downgrade() -> None:
    with op.batch_alter_table("admins", schema=None, table_kwargs={"sqlite_autoincrement": True}) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_admins_telegram_link_token_hash"), type_="unique")
        batch_op.drop_constraint(batch_op.f("uq_admins_telegram_id"), type_="unique")
        batch_op.drop_column("telegram_link_expires_at")
        batch_op.drop_column("telegram_link_token_hash")
        batch_op.drop_column("notify_support")
        batch_op.drop_column("telegram_id")

    with op.batch_alter_table("support_notifications", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_support_notifications_admin_id"))
    op.drop_table("support_notifications")
