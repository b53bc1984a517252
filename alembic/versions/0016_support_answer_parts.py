"""support answers remember how many of their parts reached the student, so a retry sends only the rest

Revision ID: 0016_support_answer_parts
Revises: 0015_broadcast_senders
Create Date: 2026-12-07 17:05:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0016_support_answer_parts"
down_revision: str | None = "0015_broadcast_senders"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("support_messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("parts_sent", sa.Integer(), server_default="0", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("support_messages", schema=None) as batch_op:
        batch_op.drop_column("parts_sent")
