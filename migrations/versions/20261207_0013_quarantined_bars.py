"""price_bar.quarantined: bars kept (strict=false) although their prices are implausible, which
no forecast, training or live score reads

Revision ID: 0013
Revises: 0011
Create Date: 2026-12-07

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0013"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# app/prices/checks.py:MAX_PRICE when this was written: bars already stored above it (issue 19
# imported one at 1e308) are quarantined on the way up.
MAX_PRICE = 1e9


def upgrade() -> None:
    """Upgrade schema: the flag, false for every bar but those priced above MAX_PRICE."""
    with op.batch_alter_table("price_bar") as batch:
        batch.add_column(
            sa.Column("quarantined", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    price = sa.table(
        "price_bar",
        sa.column("open", sa.Float()),
        sa.column("high", sa.Float()),
        sa.column("low", sa.Float()),
        sa.column("close", sa.Float()),
        sa.column("quarantined", sa.Boolean()),
    )
    op.execute(
        price.update()
        .where(
            sa.or_(
                price.c.open > MAX_PRICE,
                price.c.high > MAX_PRICE,
                price.c.low > MAX_PRICE,
                price.c.close > MAX_PRICE,
            )
        )
        .values(quarantined=True)
    )


def downgrade() -> None:
    """Downgrade schema: the flag goes; quarantined bars become ordinary bars again."""
    with op.batch_alter_table("price_bar") as batch:
        batch.drop_column("quarantined")
