"""The staff web app's tables: accounts, their sessions and sign-in failures (mailer.staff),
and the CSV imports started from the staff pages (mailer.app.imports).

Beside store/models.py (the newsletter's own tables) to keep each module readable; every table
registers with the same ``Base``, and mailer.store imports this module, so the metadata
(migrations' checks, the tests' truncation) always holds all of them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from mailer.store.models import Base, BigId, UTCDateTime, utcnow

# --- staff accounts of the web app (mailer.staff) ---------------------------------------------


class StaffAccount(Base):
    """A person who may sign in to the staff web app. ``password_hash`` is empty until they
    set a password from their one-time link; the link's secret is kept only as a hash."""

    __tablename__ = "staff_accounts"
    # Ids are never reused: a one-time link names the id, and must never reach a newer account.
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    email: Mapped[str] = mapped_column(String(320))
    email_key: Mapped[str] = mapped_column(String(320), unique=True)  # folded: case-insensitive
    name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[str] = mapped_column(String(20))  # mailer.staff.accounts.Role
    password_hash: Mapped[str] = mapped_column(String(200), default="")  # Argon2id, PHC string
    password_set_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # sha256 of the secret in the current one-time link; "" once used (or never issued).
    invite_hash: Mapped[str] = mapped_column(String(64), default="")
    invite_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(320), default="")


class StaffSession(Base):
    """A signed-in browser. The cookie holds a random secret; only its sha256 is stored, so a
    copy of the database signs nobody in. Deleting the row ends the session at once."""

    __tablename__ = "staff_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 hex of the secret
    account_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("staff_accounts.id", ondelete="CASCADE"), index=True
    )
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class StaffLoginFailure(Base):
    """A failed sign-in, for the per-address throttle. The address as typed (known or not) is
    kept only as a hash: the table never lists who tried which address."""

    __tablename__ = "staff_login_failures"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    address_hash: Mapped[str] = mapped_column(String(64))
    failed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_staff_login_failures_address", "address_hash", "failed_at"),)


# --- imports started from the staff pages (mailer.app.imports) --------------------------------


class ImportJob(Base):
    """A CSV import run from the staff pages, in a thread of the server: a dry run first, then
    the real import of the same uploaded file. The page follows it through this row (progress
    and counts, written after each committed chunk), so any server of the deployment can show
    it; ``updated_at`` is its heartbeat (a job whose server stopped shows as stopped)."""

    __tablename__ = "import_jobs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # random: it is in URLs
    kind: Mapped[str] = mapped_column(String(20))  # dry-run, import
    # The folder of the uploaded file under subscribers/web-imports/ (the dry run's id).
    folder: Mapped[str] = mapped_column(String(32))
    file_name: Mapped[str] = mapped_column(String(200))
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    state: Mapped[str] = mapped_column(String(20), default="queued")
    total_lines: Mapped[int] = mapped_column(Integer, default=0)
    lines_done: Mapped[int] = mapped_column(Integer, default=0)
    rows: Mapped[int] = mapped_column(Integer, default=0)
    imported: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    kept_suppressed: Mapped[int] = mapped_column(Integer, default=0)
    suppressed_by_file: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    sample_rejects: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    rejects_file: Mapped[str] = mapped_column(String(300), default="")  # name in the folder
    error: Mapped[str] = mapped_column(Text, default="")
    # On a dry run: the id of the import it led to ("" until "Import now" is pressed once).
    follow_up: Mapped[str] = mapped_column(String(32), default="")
    started_by: Mapped[str] = mapped_column(String(320), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    __table_args__ = (Index("ix_import_jobs_created_at", "created_at"),)
