"""Sessions: `started_at`, set once when the interview starts; from then on the session's
status and URLs are the server's, and the interview never runs again. Sessions already
past `created` are marked started (at their last update), so their recordings are kept.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.add_column(sa.Column("started_at", sa.DateTime(timezone=True)))
    op.execute("UPDATE sessions SET started_at = updated_at WHERE status <> 'created'")


def downgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("started_at")
