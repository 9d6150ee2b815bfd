"""subscribers: indexes for the staff pages' search (a name's start, a status's newest)

``mailer.subscribers.search`` reads each match group as one index range in index order: the
address from the unique email_key index (PostgreSQL gets a text_pattern_ops twin, so a prefix
LIKE uses an index whatever the database's collation), last and first names from lower() of
each. PostgreSQL also gets (status, id), for "the newest bounced" without sorting every
bounced row; SQLite's status index already holds the rowid in order.

Revision ID: 0650
Revises: 0600
Create Date: 2026-12-01 17:30:00
"""

from alembic import op


revision = "0650"
down_revision = "0600"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            'CREATE INDEX ix_subscribers_email_prefix ON subscribers (email_key COLLATE "C")'
        )
        op.execute(
            "CREATE INDEX ix_subscribers_last_name ON subscribers "
            '(lower(last_name) COLLATE "C", lower(first_name) COLLATE "C")'
        )
        op.execute(
            "CREATE INDEX ix_subscribers_first_name ON subscribers "
            '(lower(first_name) COLLATE "C", lower(last_name) COLLATE "C")'
        )
        op.execute("CREATE INDEX ix_subscribers_status_id ON subscribers (status, id)")
        return
    op.execute(
        "CREATE INDEX ix_subscribers_last_name ON subscribers (lower(last_name), lower(first_name))"
    )
    op.execute(
        "CREATE INDEX ix_subscribers_first_name ON subscribers (lower(first_name), lower(last_name))"
    )


def downgrade() -> None:
    for name in ("ix_subscribers_last_name", "ix_subscribers_first_name"):
        op.execute(f"DROP INDEX IF EXISTS {name}")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_subscribers_email_prefix")
        op.execute("DROP INDEX IF EXISTS ix_subscribers_status_id")
