"""subscribers: ids are never reused on SQLite (AUTOINCREMENT)

Without AUTOINCREMENT SQLite gives a new row the highest id + 1, so erasing the newest
subscriber handed their id to the next person: the erased person's unsubscribe and click links,
and SendGrid events naming their id, would then act on someone else. The table is rebuilt (batch
mode keeps every column, index, constraint and row; mailer.store.db.upgrade_schema runs migrations
with foreign keys off, as SQLite's table rebuild requires, so the rebuild cascades to nothing)
and its sequence starts above every id ever used, including erased ones still named by events
and clicks. PostgreSQL's identity sequence never hands out an id twice: nothing to do there.

Revision ID: 0410
Revises: 0400
Create Date: 2026-11-23 10:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = "0410"
down_revision = "0400"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    with op.batch_alter_table(
        "subscribers", recreate="always", table_kwargs={"sqlite_autoincrement": True}
    ):
        pass
    highest = bind.execute(
        sa.text(
            "SELECT max(n) FROM ("
            " SELECT max(id) AS n FROM subscribers"
            " UNION ALL SELECT max(subscriber_id) FROM events"
            " UNION ALL SELECT max(subscriber_id) FROM clicks)"
        )
    ).scalar()
    if highest:
        # sqlite_sequence holds a row once the copy inserted any; it has no unique key.
        bind.execute(sa.text("DELETE FROM sqlite_sequence WHERE name = 'subscribers'"))
        bind.execute(
            sa.text("INSERT INTO sqlite_sequence (name, seq) VALUES ('subscribers', :n)"),
            {"n": int(highest)},
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    with op.batch_alter_table(
        "subscribers", recreate="always", table_kwargs={"sqlite_autoincrement": False}
    ):
        pass
