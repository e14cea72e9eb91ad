"""model_version.keras_sha256 and onnx_sha256: the SHA-256 of each blob, recorded at
registration and checked whenever a blob is loaded, so that a damaged blob is an error that
names its version instead of a forecast with wrong numbers

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07

"""

import hashlib
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _sha256(blob: bytes | None) -> str | None:
    return None if blob is None else hashlib.sha256(blob).hexdigest()


def upgrade() -> None:
    """Upgrade schema: two nullable columns (a baseline version has no blobs, so no hashes),
    filled for every stored network from the bytes as they are now, one row at a time so
    that memory holds one version's blobs, never the table's."""
    with op.batch_alter_table("model_version") as batch:
        batch.add_column(sa.Column("keras_sha256", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("onnx_sha256", sa.String(length=64), nullable=True))
    table = sa.table(
        "model_version",
        sa.column("id", sa.Integer()),
        sa.column("keras_model", sa.LargeBinary()),
        sa.column("onnx_model", sa.LargeBinary()),
        sa.column("keras_sha256", sa.String()),
        sa.column("onnx_sha256", sa.String()),
    )
    bind = op.get_bind()
    ids = bind.execute(sa.select(table.c.id).order_by(table.c.id)).scalars().all()
    for row_id in ids:
        keras, onnx = bind.execute(
            sa.select(table.c.keras_model, table.c.onnx_model).where(table.c.id == row_id)
        ).one()
        if keras is None and onnx is None:
            continue
        bind.execute(
            table.update()
            .where(table.c.id == row_id)
            .values(keras_sha256=_sha256(keras), onnx_sha256=_sha256(onnx))
        )


def downgrade() -> None:
    """Downgrade schema: the hashes go; the blobs stay as they are."""
    with op.batch_alter_table("model_version") as batch:
        batch.drop_column("onnx_sha256")
        batch.drop_column("keras_sha256")
