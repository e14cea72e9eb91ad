"""staying current: price-refresh backoff per ticker, served forecasts, the scheduler's lease

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("ticker", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("refresh_failures", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("next_refresh_at", sa.DateTime(timezone=True)))
        batch_op.add_column(sa.Column("refresh_error", sa.Text()))
    op.create_table(
        "forecast_record",
        sa.Column("model_version_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite")),
        sa.Column("origin", sa.Date(), nullable=False),
        sa.Column("ticker", sa.String(length=15), nullable=False),
        sa.Column("dates", sa.JSON(), nullable=False),
        sa.Column("values", sa.JSON(), nullable=False),
        sa.Column("last_close", sa.Float(), nullable=False),
        sa.Column("intervals", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_version_id"],
            ["model_version.id"],
            name=op.f("fk_forecast_record_model_version_id_model_version"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("model_version_id", "origin", name=op.f("pk_forecast_record")),
    )
    op.create_index(
        op.f("ix_forecast_record_ticker_origin"), "forecast_record", ["ticker", "origin"]
    )
    op.create_table(
        "scheduler_lease",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("holder", sa.String(length=255), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_scheduler_lease")),
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table("scheduler_lease")
    op.drop_index(op.f("ix_forecast_record_ticker_origin"), table_name="forecast_record")
    op.drop_table("forecast_record")
    with op.batch_alter_table("ticker", schema=None) as batch_op:
        batch_op.drop_column("refresh_error")
        batch_op.drop_column("next_refresh_at")
        batch_op.drop_column("refresh_failures")
