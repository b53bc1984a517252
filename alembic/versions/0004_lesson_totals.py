"""lesson totals kept by triggers: the public catalog's total without counting the lessons

Revision ID: 0004_lesson_totals
Revises: 0003_undeliverable_answers
Create Date: 2026-11-27 18:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0004_lesson_totals"
down_revision: str | None = "0003_undeliverable_answers"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A lesson counts as active when is_active is true, as active and free when is_free is true as well.
_SQLITE_TRIGGERS = [
    """CREATE TRIGGER lesson_totals_insert AFTER INSERT ON lessons BEGIN
        UPDATE lesson_totals
        SET active = active + (NEW.is_active != 0),
            active_free = active_free + (NEW.is_active != 0 AND NEW.is_free != 0)
        WHERE id = 1;
    END""",
    """CREATE TRIGGER lesson_totals_delete AFTER DELETE ON lessons BEGIN
        UPDATE lesson_totals
        SET active = active - (OLD.is_active != 0),
            active_free = active_free - (OLD.is_active != 0 AND OLD.is_free != 0)
        WHERE id = 1;
    END""",
    """CREATE TRIGGER lesson_totals_update AFTER UPDATE OF is_active, is_free ON lessons BEGIN
        UPDATE lesson_totals
        SET active = active - (OLD.is_active != 0) + (NEW.is_active != 0),
            active_free = active_free - (OLD.is_active != 0 AND OLD.is_free != 0)
                + (NEW.is_active != 0 AND NEW.is_free != 0)
        WHERE id = 1;
    END""",
]
_SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS lesson_totals_insert",
    "DROP TRIGGER IF EXISTS lesson_totals_delete",
    "DROP TRIGGER IF EXISTS lesson_totals_update",
]

_POSTGRESQL_TRIGGERS = [
    """CREATE FUNCTION lesson_totals_count() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP IN ('UPDATE', 'DELETE') THEN
            UPDATE lesson_totals
            SET active = active - OLD.is_active::int,
                active_free = active_free - (OLD.is_active AND OLD.is_free)::int
            WHERE id = 1;
        END IF;
        IF TG_OP IN ('INSERT', 'UPDATE') THEN
            UPDATE lesson_totals
            SET active = active + NEW.is_active::int,
                active_free = active_free + (NEW.is_active AND NEW.is_free)::int
            WHERE id = 1;
        END IF;
        RETURN NULL;
    END $$""",
    """CREATE TRIGGER lesson_totals_count AFTER INSERT OR DELETE OR UPDATE OF is_active, is_free ON lessons
    FOR EACH ROW EXECUTE FUNCTION lesson_totals_count()""",
    # TRUNCATE fires no row triggers.
    """CREATE FUNCTION lesson_totals_reset() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE lesson_totals SET active = 0, active_free = 0 WHERE id = 1;
        RETURN NULL;
    END $$""",
    """CREATE TRIGGER lesson_totals_reset AFTER TRUNCATE ON lessons
    FOR EACH STATEMENT EXECUTE FUNCTION lesson_totals_reset()""",
]
_POSTGRESQL_DROP = [
    "DROP TRIGGER IF EXISTS lesson_totals_reset ON lessons",
    "DROP TRIGGER IF EXISTS lesson_totals_count ON lessons",
    "DROP FUNCTION IF EXISTS lesson_totals_reset()",
    "DROP FUNCTION IF EXISTS lesson_totals_count()",
]


def lesson_totals_sql(dialect: str) -> list[str]:
    """The statements that create the triggers (a later migration that rebuilds `lessons` runs them again)."""
    return _POSTGRESQL_TRIGGERS if dialect == "postgresql" else _SQLITE_TRIGGERS


def upgrade() -> None:
    op.create_table(
        "lesson_totals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("active", sa.Integer(), nullable=False),
        sa.Column("active_free", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lesson_totals")),
    )
    # Counted once, here, in the same transaction as the triggers that keep it from now on.
    op.execute(
        "INSERT INTO lesson_totals (id, active, active_free) SELECT 1, "
        "COALESCE(SUM(CASE WHEN is_active THEN 1 ELSE 0 END), 0), "
        "COALESCE(SUM(CASE WHEN is_active AND is_free THEN 1 ELSE 0 END), 0) FROM lessons"
    )
    for statement in lesson_totals_sql(op.get_bind().dialect.name):
        op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for statement in _POSTGRESQL_DROP if dialect == "postgresql" else _SQLITE_DROP:
        op.execute(statement)
    op.drop_table("lesson_totals")
