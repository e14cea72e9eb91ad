"""serving_state: a per-ticker token changed by every write that changes a forecast

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema.

    No rows: a ticker without one reads as "never changed since the upgrade", and its first
    write creates the row, so caches filled before that write are invalidated by it.
    """
    op.create_table(
        "serving_state",
        sa.Column("ticker", sa.String(length=15), nullable=False),
        sa.Column("token", sa.BigInteger(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("ticker", name=op.f("pk_serving_state")),
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table("serving_state")
