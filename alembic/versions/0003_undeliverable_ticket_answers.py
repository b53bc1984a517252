"""ticket answers that Telegram refused for good

Revision ID: 0003_undeliverable_answers
Revises: 0002_payments_and_bot
Create Date: 2026-11-27 17:05:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0003_undeliverable_answers"
down_revision: str | None = "0002_payments_and_bot"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table(
        "support_tickets", schema=None, table_kwargs={"sqlite_autoincrement": True}
    ) as batch_op:
        batch_op.add_column(sa.Column("response_undeliverable_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table(
        "support_tickets", schema=None, table_kwargs={"sqlite_autoincrement": True}
    ) as batch_op:
        batch_op.drop_column("response_undeliverable_at")
