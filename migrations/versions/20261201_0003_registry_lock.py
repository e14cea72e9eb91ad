"""registry_lock: one row per ticker, locked while a version's champion decision is made

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "registry_lock",
        sa.Column("ticker", sa.String(length=15), nullable=False),
        sa.Column("locked_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("ticker", name=op.f("pk_registry_lock")),
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table("registry_lock")
