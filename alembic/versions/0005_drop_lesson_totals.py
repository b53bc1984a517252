"""drop the lesson totals that triggers kept: the catalog counts its lessons again

Revision ID: 0005_drop_lesson_totals
Revises: 0004_lesson_totals
Create Date: 2026-12-07 01:00:00
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from alembic import op

revision: str = "0005_drop_lesson_totals"
down_revision: str | None = "0004_lesson_totals"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS lesson_totals_insert",
    "DROP TRIGGER IF EXISTS lesson_totals_delete",
    "DROP TRIGGER IF EXISTS lesson_totals_update",
]
_POSTGRESQL_DROP = [
    "DROP TRIGGER IF EXISTS lesson_totals_reset ON lessons",
    "DROP TRIGGER IF EXISTS lesson_totals_count ON lessons",
    "DROP FUNCTION IF EXISTS lesson_totals_reset()",
    "DROP FUNCTION IF EXISTS lesson_totals_count()",
]


def _revision_0004() -> ModuleType:
    path = Path(__file__).with_name("0004_lesson_totals.py")
    spec = importlib.util.spec_from_file_location("revision_0004", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    for statement in _POSTGRESQL_DROP if dialect == "postgresql" else _SQLITE_DROP:
        op.execute(statement)
    op.drop_table("lesson_totals")


def downgrade() -> None:
    # The table, counted afresh, and its triggers, exactly as revision 0004 made them.
    _revision_0004().upgrade()
