"""sequence_enrolments: who is in which automated series since when (issue 16, welcome series)

Revision ID: 0700
Revises: 0660
Create Date: 2026-12-01 18:30:00
"""

from alembic import op
import sqlalchemy as sa

import mailer.store.models


revision = "0700"
down_revision = "0660"
branch_labels = None
depends_on = None

_WHEN = mailer.store.models.UTCDateTime(timezone=True)
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "sequence_enrolments",
        sa.Column("subscriber_id", _ID, nullable=False),
        sa.Column("sequence", sa.String(length=50), nullable=False),
        sa.Column("joined_at", _WHEN, nullable=False),
        sa.Column("left_at", _WHEN, nullable=True),
        sa.Column("source", sa.String(length=50), nullable=False),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscribers.id"],
            name=op.f("fk_sequence_enrolments_subscriber_id_subscribers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("subscriber_id", "sequence", name=op.f("pk_sequence_enrolments")),
    )
    op.create_index("ix_sequence_enrolments_due", "sequence_enrolments", ["sequence", "joined_at"])


def downgrade() -> None:
    op.drop_index("ix_sequence_enrolments_due", table_name="sequence_enrolments")
    op.drop_table("sequence_enrolments")
