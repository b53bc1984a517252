"""admin roles and audit log

Revision ID: 0008_admin_roles_audit_log
Revises: 0007_unmatched_payments
Create Date: 2026-12-07 04:03:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0008_admin_roles_audit_log"
down_revision: str | None = "0007_unmatched_payments"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("admin_id", sa.Integer(), nullable=True),
        sa.Column("admin_username", sa.String(length=64), nullable=False),
        sa.Column(
            "action",
            sa.Enum(
                "create",
                "update",
                "delete",
                name="audit_action",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("entity", sa.String(length=64), nullable=False),
        sa.Column("entity_id", sa.String(length=64), nullable=False),
        sa.Column("changes", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["admin_id"], ["admins.id"], name=op.f("fk_audit_log_admin_id_admins"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index("ix_audit_log_admin_id_created_at", ["admin_id", "created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_log_created_at"), ["created_at"], unique=False)
        batch_op.create_index("ix_audit_log_entity_entity_id", ["entity", "entity_id"], unique=False)

    # The admins there are so far had every right: they become owners.
    with op.batch_alter_table("admins", schema=None, table_kwargs={"sqlite_autoincrement": True}) as batch_op:
        batch_op.add_column(
            sa.Column(
                "role",
                sa.Enum(
                    "owner",
                    "manager",
                    "support",
                    name="admin_role",
                    native_enum=False,
                    create_constraint=True,
                    length=32,
                ),
                server_default="owner",
                nullable=False,
            )
        )
        batch_op.add_column(
            sa.Column(
                "language",
                sa.Enum(
                    "ru", "en", name="admin_language", native_enum=False, create_constraint=True, length=32
                ),
                nullable=True,
            )
        )
        batch_op.add_column(sa.Column("password_changed_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("admins", schema=None, table_kwargs={"sqlite_autoincrement": True}) as batch_op:
        # Before their columns: SQLite's copy of the table would otherwise keep checks on columns it lacks.
        batch_op.drop_constraint(op.f("ck_admins_admin_language"), type_="check")
        batch_op.drop_constraint(op.f("ck_admins_admin_role"), type_="check")
        batch_op.drop_column("password_changed_at")
        batch_op.drop_column("language")
        batch_op.drop_column("role")

    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_log_entity_entity_id")
        batch_op.drop_index(batch_op.f("ix_audit_log_created_at"))
        batch_op.drop_index("ix_audit_log_admin_id_created_at")

    op.drop_table("audit_log")
