"""login throttling by account and client address

Revision ID: 0006_login_throttle
Revises: 0005_drop_lesson_totals
Create Date: 2026-12-07 01:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0006_login_throttle"
down_revision: str | None = "0005_drop_lesson_totals"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The counts are short-lived by nature: both directions start them afresh instead of converting them (a
# per-username count says nothing about which client failed).


def upgrade() -> None:
    # Its indexes go with it.
    op.drop_table("login_throttles")
    op.create_table(
        "login_throttles",
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("client", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failures_reset_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("known_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("username", "client", name=op.f("pk_login_throttles")),
    )
    with op.batch_alter_table("login_throttles", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_login_throttles_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_login_throttles_expires_at"), ["expires_at"], unique=False)


def downgrade() -> None:
    op.drop_table("login_throttles")
    # As revision 0001 made it.
    op.create_table(
        "login_throttles",
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("username", name=op.f("pk_login_throttles")),
    )
    with op.batch_alter_table("login_throttles", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_login_throttles_created_at"), ["created_at"], unique=False)
