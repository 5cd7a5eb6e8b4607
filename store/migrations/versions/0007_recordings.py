"""Recordings: each session's manifest and finished files, readable from every node.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "recordings",
        sa.Column("session_id", sa.Uuid(), nullable=False),
        sa.Column("node_id", sa.String(128), nullable=False),
        sa.Column("manifest", JSON_DOCUMENT, nullable=False),
        sa.Column("files", JSON_DOCUMENT, nullable=False),
        sa.Column("mirrored", JSON_DOCUMENT, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sessions.id"],
            name="fk_recordings_session_id_sessions",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("session_id", name="pk_recordings"),
    )


def downgrade() -> None:
    op.drop_table("recordings")
