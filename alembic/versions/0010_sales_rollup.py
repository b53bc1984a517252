"""daily sales rollup for the dashboard, filled from the existing purchases

Revision ID: 0010_sales_rollup
Revises: 0009_purchase_grants
Create Date: 2026-12-07 05:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0010_sales_rollup"
down_revision: str | None = "0009_purchase_grants"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FIGURES = ("sales", "grants", "revenue", "refunds", "refunded_stars", "revoked", "new_buyers")
# The statuses of a paid (or granted) purchase, as backend/services/stats_service.py counts them.
COUNTED = "('completed', 'refunded', 'revoked')"


def upgrade() -> None:
    op.create_table(
        "sales_daily",
        sa.Column(
            "dimension",
            sa.Enum(
                "all",
                "lesson",
                "course",
                "promo_code",
                name="sales_dimension",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("key_id", sa.Integer(), nullable=False),
        *(sa.Column(name, sa.Integer(), server_default="0", nullable=False) for name in FIGURES),
        sa.PrimaryKeyConstraint("dimension", "day", "key_id", name=op.f("pk_sales_daily")),
    )
    _backfill()


def _backfill() -> None:
    """The rollup of the purchases there are, in set-based statements (seconds for a million rows)."""
    postgresql = op.get_bind().dialect.name == "postgresql"

    def day(column: str) -> str:
        return f"CAST(timezone('UTC', {column}) AS DATE)" if postgresql else f"date({column})"

    sums = (
        "SUM(CASE WHEN amount > 0 THEN 1 ELSE 0 END), SUM(CASE WHEN amount = 0 THEN 1 ELSE 0 END), SUM(amount),"
        " SUM(CASE WHEN status = 'refunded' THEN 1 ELSE 0 END),"
        " SUM(CASE WHEN status = 'refunded' THEN amount ELSE 0 END),"
        " SUM(CASE WHEN status = 'revoked' THEN 1 ELSE 0 END), 0"
    )
    columns = "dimension, day, key_id, " + ", ".join(FIGURES)
    for dimension, key in (
        ("all", None),
        ("lesson", "lesson_id"),
        ("course", "course_id"),
        ("promo_code", "promo_code_id"),
    ):
        key_sql = key or "0"
        where = f"status IN {COUNTED}" + (f" AND {key} IS NOT NULL" if key else "")
        group = f"{day('created_at')}" + (f", {key}" if key else "")
        op.execute(
            f"INSERT INTO sales_daily ({columns}) SELECT '{dimension}', {day('created_at')}, {key_sql}, {sums}"  # noqa: S608
            f" FROM purchases WHERE {where} GROUP BY {group}"
        )
    # Students by the day of their first paid purchase (that day has an "all" row: the purchase's own).
    op.execute(
        "INSERT INTO sales_daily (dimension, day, key_id, new_buyers)"  # noqa: S608
        f" SELECT 'all', {day('first')}, 0, COUNT(*) FROM (SELECT MIN(created_at) AS first FROM purchases"
        f" WHERE status IN {COUNTED} AND amount > 0 GROUP BY user_id) AS firsts WHERE 1 = 1"
        f" GROUP BY {day('first')}"
        " ON CONFLICT (dimension, day, key_id) DO UPDATE SET new_buyers = excluded.new_buyers"
    )


def downgrade() -> None:
    op.drop_table("sales_daily")
