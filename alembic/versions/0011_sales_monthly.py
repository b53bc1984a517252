"""monthly sales rollup of lessons, courses and promo codes, filled from the existing purchases

Revision ID: 0011_sales_monthly
Revises: 0010_sales_rollup
Create Date: 2026-12-07 06:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0011_sales_monthly"
down_revision: str | None = "0010_sales_rollup"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FIGURES = ("sales", "grants", "revenue", "refunds", "refunded_stars", "revoked", "new_buyers")
# The statuses of a paid (or granted) purchase, as backend/services/stats_service.py counts them.
COUNTED = "('completed', 'refunded', 'revoked')"


def upgrade() -> None:
    op.create_table(
        "sales_monthly",
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
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("key_id", sa.Integer(), nullable=False),
        *(sa.Column(name, sa.Integer(), server_default="0", nullable=False) for name in FIGURES),
        sa.PrimaryKeyConstraint("dimension", "month", "key_id", name=op.f("pk_sales_monthly")),
    )
    _backfill()


def _backfill() -> None:
    """The month rows of the purchases there are, in set-based statements (as 0010 fills the day rows)."""
    if op.get_bind().dialect.name == "postgresql":
        month = "CAST(date_trunc('month', timezone('UTC', created_at)) AS DATE)"
    else:
        month = "date(created_at, 'start of month')"  # SQLite stores UTC text
    sums = (
        "SUM(CASE WHEN amount > 0 THEN 1 ELSE 0 END), SUM(CASE WHEN amount = 0 THEN 1 ELSE 0 END), SUM(amount),"
        " SUM(CASE WHEN status = 'refunded' THEN 1 ELSE 0 END),"
        " SUM(CASE WHEN status = 'refunded' THEN amount ELSE 0 END),"
        " SUM(CASE WHEN status = 'revoked' THEN 1 ELSE 0 END), 0"
    )
    columns = "dimension, month, key_id, " + ", ".join(FIGURES)
    for dimension, key in (("lesson", "lesson_id"), ("course", "course_id"), ("promo_code", "promo_code_id")):
        op.execute(
            f"INSERT INTO sales_monthly ({columns}) SELECT '{dimension}', {month}, {key}, {sums}"  # noqa: S608
            f" FROM purchases WHERE status IN {COUNTED} AND {key} IS NOT NULL GROUP BY {month}, {key}"
        )


def downgrade() -> None:
    op.drop_table("sales_monthly")
