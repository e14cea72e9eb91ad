"""model_version.parent_ticker/parent_version: the version a warm start began from

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema: two nullable columns; versions trained from scratch keep NULL."""
    with op.batch_alter_table("model_version") as batch:
        batch.add_column(sa.Column("parent_ticker", sa.String(length=15), nullable=True))
        batch.add_column(sa.Column("parent_version", sa.Integer(), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("model_version") as batch:
        batch.drop_column("parent_version")
        batch.drop_column("parent_ticker")
