"""campaign approvals bound to content, the fingerprint each run sends, bad-file notices

Revision ID: 0400
Revises: 0310
Create Date: 2026-11-23 09:00:00
"""

from alembic import op
import sqlalchemy as sa

import mailer.store.models


revision = "0400"
down_revision = "0310"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "campaign_approvals",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("slug", sa.String(length=200), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("approved_by", sa.String(length=320), nullable=False),
        sa.Column("approved_at", mailer.store.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", mailer.store.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_reason", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_approvals")),
    )
    with op.batch_alter_table("campaign_approvals", schema=None) as batch_op:
        batch_op.create_index("ix_campaign_approvals_slug", ["slug", "id"], unique=False)
        batch_op.create_index(
            "ix_campaign_approvals_current",
            ["slug"],
            unique=True,
            sqlite_where=sa.text("revoked_at IS NULL"),
            postgresql_where=sa.text("revoked_at IS NULL"),
        )
    op.create_table(
        "campaign_file_notices",
        sa.Column("file_name", sa.String(length=255), nullable=False),
        sa.Column("content_sha256", sa.String(length=64), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("notified_at", mailer.store.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint(
            "file_name", "content_sha256", name=op.f("pk_campaign_file_notices")
        ),
    )
    with op.batch_alter_table("campaign_runs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("fingerprint", sa.String(length=64), server_default="", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("campaign_runs", schema=None) as batch_op:
        batch_op.drop_column("fingerprint")
    op.drop_table("campaign_file_notices")
    with op.batch_alter_table("campaign_approvals", schema=None) as batch_op:
        batch_op.drop_index("ix_campaign_approvals_current")
        batch_op.drop_index("ix_campaign_approvals_slug")
    op.drop_table("campaign_approvals")
