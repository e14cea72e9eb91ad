"""mark the figures of versions scored against the old dollar drift

Versions registered before the log-space drift keep their figures, computed against the last
close plus the training data's average daily change; their metrics now say so
(`test.drift_method = "dollar"`), so nobody reads them as beating the log-space drift.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01

"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

versions = sa.table("model_version", sa.column("id", sa.Integer), sa.column("metrics", sa.JSON))


def _rewrite(mark: bool) -> None:
    bind = op.get_bind()
    for row_id, metrics in bind.execute(sa.select(versions.c.id, versions.c.metrics)).all():
        test: dict[str, Any] = dict((metrics or {}).get("test") or {})
        if mark and "drift_method" not in test and test.get("drift_per_day") is not None:
            test["drift_method"] = "dollar"
        elif not mark and test.get("drift_method") == "dollar":
            del test["drift_method"]
        else:
            continue
        bind.execute(
            versions.update()
            .where(versions.c.id == row_id)
            .values(metrics={**metrics, "test": test})
        )


def upgrade() -> None:
    """Mark old figures as scored against the dollar drift."""
    _rewrite(mark=True)


def downgrade() -> None:
    """Remove the marks (the figures themselves were never changed)."""
    _rewrite(mark=False)
