"""Messages: `relative_offset_ms` as a 64-bit integer, so every offset a client may send
(up to 2^53 - 1, the largest a JavaScript number holds exactly) is stored.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.alter_column("relative_offset_ms", type_=sa.BigInteger(), existing_type=sa.Integer())


def downgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.alter_column("relative_offset_ms", type_=sa.Integer(), existing_type=sa.BigInteger())
