"""min_gap and one welcome email (issue 16): ix_deliveries_subscriber_sent, and
sequence_enrolments.welcomed_at

A step waits while its person had another email less than ``[sequences] min_gap`` ago; the
ledger's primary key starts with the run, so without the index that test read every row of the
ledger for each person due. ``welcomed_at``: the built-in welcome email went to the person
(signup, while the welcome series had no approved step 0), so a step 0 approved later is not
sent to them as a second welcome.

Revision ID: 0710
Revises: 0700
Create Date: 2026-12-01 20:30:00
"""

from alembic import op
import sqlalchemy as sa

import mailer.store.models


revision = "0710"
down_revision = "0700"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_deliveries_subscriber_sent", "deliveries", ["subscriber_id", "sent_at"])
    with op.batch_alter_table("sequence_enrolments") as batch:
        batch.add_column(
            sa.Column("welcomed_at", mailer.store.models.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("sequence_enrolments") as batch:
        batch.drop_column("welcomed_at")
    op.drop_index("ix_deliveries_subscriber_sent", table_name="deliveries")
