"""feed polling: baseline time, poll lease, sha256 of each feed draft as written

Revision ID: 0310
Revises: 0300
Create Date: 2026-11-22 10:00:00
"""

from alembic import op
import sqlalchemy as sa

import mailer.store.models


revision = "0310"
down_revision = "0300"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("feed_state", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("connected_at", mailer.store.models.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("lease_owner", sa.String(length=200), server_default="", nullable=False)
        )
        batch_op.add_column(
            sa.Column("lease_until", mailer.store.models.UTCDateTime(timezone=True), nullable=True)
        )
    with op.batch_alter_table("feed_entries", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("draft_sha256", sa.String(length=64), server_default="", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("feed_entries", schema=None) as batch_op:
        batch_op.drop_column("draft_sha256")
    with op.batch_alter_table("feed_state", schema=None) as batch_op:
        batch_op.drop_column("lease_until")
        batch_op.drop_column("lease_owner")
        batch_op.drop_column("connected_at")
