"""bookings: consultations booked through Calendly, Cal.com or any tool's signed webhook

One row per booking the tool told us about, with the campaign, place and article that brought
it (mailer.bookings). No personal data beyond the subscriber id and the sha256 of the address,
both cleared when the person is erased.

Revision ID: 0600
Revises: 0500
Create Date: 2026-12-02 09:00:00
"""

from alembic import op
import sqlalchemy as sa

import mailer.store.models


revision = "0600"
down_revision = "0500"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "bookings",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("external_key", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("campaign_id", BIG_ID, nullable=True),
        sa.Column("place", sa.String(length=100), nullable=False),
        sa.Column("article", sa.Text(), nullable=False),
        sa.Column("matched_by", sa.String(length=20), nullable=False),
        sa.Column("subscriber_id", BIG_ID, nullable=True),
        sa.Column("email_hash", sa.String(length=64), nullable=True),
        sa.Column("event_name", sa.String(length=200), nullable=False),
        sa.Column("booked_at", mailer.store.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("received_at", mailer.store.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("changed_at", mailer.store.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("replaces_key", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaign_runs.id"],
            name=op.f("fk_bookings_campaign_id_campaign_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bookings")),
    )
    with op.batch_alter_table("bookings", schema=None) as batch_op:
        batch_op.create_index("ix_bookings_source_key", ["source", "external_key"], unique=True)
        batch_op.create_index("ix_bookings_source_replaces", ["source", "replaces_key"])
        batch_op.create_index("ix_bookings_campaign_state", ["campaign_id", "state"])
        batch_op.create_index(batch_op.f("ix_bookings_subscriber_id"), ["subscriber_id"])
        batch_op.create_index(batch_op.f("ix_bookings_email_hash"), ["email_hash"])


def downgrade() -> None:
    op.drop_table("bookings")
