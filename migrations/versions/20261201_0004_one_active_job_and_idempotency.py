"""one active job per request, enforced by a unique partial index; idempotency keys

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ACTIVE = sa.text("status IN ('queued', 'running')")


def upgrade() -> None:
    """Upgrade schema."""
    # Duplicates made before the index (a check-then-insert race) would block it: keep the
    # oldest active job of each request, cancel the later copies and say why.
    op.execute(
        """
        UPDATE training_job SET status = 'cancelled', cancel_requested = true,
               message = 'Cancelled: a duplicate of an identical active job (migration 0004).'
        WHERE status = 'queued' AND EXISTS (
            SELECT 1 FROM training_job AS older
            WHERE older.ticker = training_job.ticker
              AND older.config_hash = training_job.config_hash
              AND older.status IN ('queued', 'running')
              AND (older.created_at < training_job.created_at
                   OR (older.created_at = training_job.created_at AND older.id < training_job.id))
        )
        """
    )
    op.create_index(
        "uq_training_job_active",
        "training_job",
        ["ticker", "config_hash"],
        unique=True,
        postgresql_where=ACTIVE,
        sqlite_where=ACTIVE,
    )
    op.create_table(
        "idempotency_key",
        sa.Column("caller", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("request_sha256", sa.String(length=64), nullable=False),
        sa.Column("job_id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["training_job.id"],
            name=op.f("fk_idempotency_key_job_id_training_job"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("caller", "key", name=op.f("pk_idempotency_key")),
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table("idempotency_key")
    op.drop_index("uq_training_job_active", table_name="training_job")
