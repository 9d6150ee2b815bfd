"""import_jobs: CSV imports run from the staff pages, with their progress (issue 14 item 2);
clicks indexed for the results page (item 3: per link and per day from the index alone, 100,000
recipients and 20,000 clicks within the page's 200 ms)

Revision ID: 0660
Revises: 0650
Create Date: 2026-12-01 19:00:00
"""

from alembic import op
import sqlalchemy as sa

import mailer.store.models


revision = "0660"
down_revision = "0650"
branch_labels = None
depends_on = None

_WHEN = mailer.store.models.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "import_jobs",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("folder", sa.String(length=32), nullable=False),
        sa.Column("file_name", sa.String(length=200), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("total_lines", sa.Integer(), nullable=False),
        sa.Column("lines_done", sa.Integer(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("imported", sa.Integer(), nullable=False),
        sa.Column("updated", sa.Integer(), nullable=False),
        sa.Column("unchanged", sa.Integer(), nullable=False),
        sa.Column("kept_suppressed", sa.Integer(), nullable=False),
        sa.Column("suppressed_by_file", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.Column("sample_rejects", sa.JSON(), nullable=False),
        sa.Column("rejects_file", sa.String(length=300), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("follow_up", sa.String(length=32), nullable=False),
        sa.Column("started_by", sa.String(length=320), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("updated_at", _WHEN, nullable=False),
        sa.Column("finished_at", _WHEN, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_jobs")),
    )
    op.create_index("ix_import_jobs_created_at", "import_jobs", ["created_at"], unique=False)
    op.create_index(
        "ix_clicks_campaign_link", "clicks", ["campaign_id", "link_index", "subscriber_id"]
    )
    op.create_index("ix_clicks_campaign_time", "clicks", ["campaign_id", "clicked_at"])


def downgrade() -> None:
    op.drop_index("ix_clicks_campaign_time", table_name="clicks")
    op.drop_index("ix_clicks_campaign_link", table_name="clicks")
    op.drop_index("ix_import_jobs_created_at", table_name="import_jobs")
    op.drop_table("import_jobs")
