"""payments and bot

Revision ID: 0002_payments_and_bot
Revises: 0001_initial_schema
Create Date: 2026-11-27 09:28:56.154785
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0002_payments_and_bot"
down_revision: str | None = "0001_initial_schema"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table(
        "lessons", schema=None, table_kwargs={"sqlite_autoincrement": True}
    ) as batch_op:
        batch_op.add_column(sa.Column("video_file_id", sa.String(length=1000), nullable=True))

    with op.batch_alter_table(
        "purchases", schema=None, table_kwargs={"sqlite_autoincrement": True}
    ) as batch_op:
        batch_op.add_column(sa.Column("delivery_claimed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table(
        "support_tickets", schema=None, table_kwargs={"sqlite_autoincrement": True}
    ) as batch_op:
        batch_op.add_column(sa.Column("purchase_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("response_sent_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f("ix_support_tickets_purchase_id"), ["purchase_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_support_tickets_purchase_id_purchases"),
            "purchases",
            ["purchase_id"],
            ["id"],
            ondelete="SET NULL",
        )

    # Purchases paid before this migration were delivered already: the delivery job must not send them again.
    op.execute("UPDATE purchases SET delivered_at = updated_at WHERE status IN ('completed', 'refunded')")


def downgrade() -> None:
    with op.batch_alter_table(
        "support_tickets", schema=None, table_kwargs={"sqlite_autoincrement": True}
    ) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_support_tickets_purchase_id_purchases"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_support_tickets_purchase_id"))
        batch_op.drop_column("response_sent_at")
        batch_op.drop_column("purchase_id")

    with op.batch_alter_table(
        "purchases", schema=None, table_kwargs={"sqlite_autoincrement": True}
    ) as batch_op:
        batch_op.drop_column("delivered_at")
        batch_op.drop_column("delivery_claimed_at")

    with op.batch_alter_table(
        "lessons", schema=None, table_kwargs={"sqlite_autoincrement": True}
    ) as batch_op:
        batch_op.drop_column("video_file_id")
