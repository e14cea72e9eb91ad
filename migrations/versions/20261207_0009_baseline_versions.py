"""model_version.keras_model and onnx_model nullable: a baseline version (naive, drift) has no
weights and no graph; its forecast is the formula its metrics name

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema: both blob columns accept NULL; every stored network keeps its bytes."""
    with op.batch_alter_table("model_version") as batch:
        batch.alter_column("keras_model", existing_type=sa.LargeBinary(), nullable=True)
        batch.alter_column("onnx_model", existing_type=sa.LargeBinary(), nullable=True)


def downgrade() -> None:
    """Downgrade schema: NOT NULL again. A baseline version keeps its row with empty blobs,
    which the code before this revision cannot serve (it would answer 500 for it): move the
    champion alias off baselines before downgrading."""
    table = sa.table(
        "model_version",
        sa.column("keras_model", sa.LargeBinary()),
        sa.column("onnx_model", sa.LargeBinary()),
    )
    for column in ("keras_model", "onnx_model"):
        op.execute(table.update().where(table.c[column].is_(None)).values({column: b""}))
    with op.batch_alter_table("model_version") as batch:
        batch.alter_column("keras_model", existing_type=sa.LargeBinary(), nullable=False)
        batch.alter_column("onnx_model", existing_type=sa.LargeBinary(), nullable=False)
