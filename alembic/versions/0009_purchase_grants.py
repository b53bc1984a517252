"""purchase grants (granted_by_id, status revoked) and users who blocked the bot

Revision ID: 0009_purchase_grants
Revises: 0008_admin_roles_audit_log
Create Date: 2026-12-08 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0009_purchase_grants"
down_revision: str | None = "0008_admin_roles_audit_log"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATUS_CHECK = "ck_purchases_purchase_status"
OLD_STATUSES = ("pending", "completed", "failed", "refunded")
NEW_STATUSES = (*OLD_STATUSES, "revoked")


def _status_check(statuses: tuple[str, ...]) -> str:
    return "status IN ({})".format(", ".join(f"'{status}'" for status in statuses))


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None, table_kwargs={"sqlite_autoincrement": True}) as batch_op:
        batch_op.add_column(sa.Column("bot_blocked_at", sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table(
        "purchases", schema=None, table_kwargs={"sqlite_autoincrement": True}
    ) as batch_op:
        batch_op.add_column(sa.Column("granted_by_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_purchases_granted_by_id"), ["granted_by_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_purchases_granted_by_id_admins"),
            "admins",
            ["granted_by_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.drop_constraint(batch_op.f(STATUS_CHECK), type_="check")
        batch_op.create_check_constraint(batch_op.f(STATUS_CHECK), _status_check(NEW_STATUSES))


def downgrade() -> None:
    # The old schema has no "revoked": a revoked grant no longer gives access, as a refunded purchase.
    op.execute("UPDATE purchases SET status = 'refunded' WHERE status = 'revoked'")
    with op.batch_alter_table(
        "purchases", schema=None, table_kwargs={"sqlite_autoincrement": True}
    ) as batch_op:
        batch_op.drop_constraint(batch_op.f(STATUS_CHECK), type_="check")
        batch_op.create_check_constraint(batch_op.f(STATUS_CHECK), _status_check(OLD_STATUSES))
        batch_op.drop_constraint(batch_op.f("fk_purchases_granted_by_id_admins"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_purchases_granted_by_id"))
        batch_op.drop_column("granted_by_id")

    with op.batch_alter_table("users", schema=None, table_kwargs={"sqlite_autoincrement": True}) as batch_op:
        batch_op.drop_column("bot_blocked_at")
