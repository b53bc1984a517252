"""payments that could not be matched to a purchase

Revision ID: 0007_unmatched_payments
Revises: 0006_login_throttle
Create Date: 2026-12-07 01:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0007_unmatched_payments"
down_revision: str | None = "0006_login_throttle"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "unmatched_payments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("telegram_payment_charge_id", sa.String(length=255), nullable=False),
        sa.Column("telegram_user_id", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=16), nullable=False),
        sa.Column("payload", sa.String(length=256), nullable=False),
        sa.Column(
            "reason",
            sa.Enum(
                "unknown_item",
                "unreadable_payload",
                "wrong_currency",
                "not_recorded",
                name="unmatched_payment_reason",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolution", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount >= 0", name=op.f("ck_unmatched_payments_amount_not_negative")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_unmatched_payments")),
        sa.UniqueConstraint(
            "telegram_payment_charge_id", name=op.f("uq_unmatched_payments_telegram_payment_charge_id")
        ),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("unmatched_payments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_unmatched_payments_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_unmatched_payments_reason"), ["reason"], unique=False)
        batch_op.create_index(batch_op.f("ix_unmatched_payments_resolved_at"), ["resolved_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_unmatched_payments_telegram_user_id"), ["telegram_user_id"], unique=False
        )

    with op.batch_alter_table(
        "purchases", schema=None, table_kwargs={"sqlite_autoincrement": True}
    ) as batch_op:
        batch_op.add_column(sa.Column("refund_reason", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("refund_claimed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("refund_error", sa.String(length=255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table(
        "purchases", schema=None, table_kwargs={"sqlite_autoincrement": True}
    ) as batch_op:
        batch_op.drop_column("refund_error")
        batch_op.drop_column("refund_claimed_at")
        batch_op.drop_column("refund_reason")

    with op.batch_alter_table("unmatched_payments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_unmatched_payments_telegram_user_id"))
        batch_op.drop_index(batch_op.f("ix_unmatched_payments_resolved_at"))
        batch_op.drop_index(batch_op.f("ix_unmatched_payments_reason"))
        batch_op.drop_index(batch_op.f("ix_unmatched_payments_created_at"))

    op.drop_table("unmatched_payments")
