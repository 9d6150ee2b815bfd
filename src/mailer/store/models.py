"""SQLAlchemy 2 models. Schema changes go through Alembic migrations in mailer/store/migrations."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# Integer on SQLite so the primary key is the rowid alias (autoincrementing), BIGINT elsewhere.
BigId = BigInteger().with_variant(Integer(), "sqlite")

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Always timezone-aware UTC in Python, whatever the backend stores (SQLite keeps naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use UTC-aware datetimes")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class SubscriberStatus:
    PENDING = "pending"
    ACTIVE = "active"
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"
    COMPLAINED = "complained"

    ALL = (PENDING, ACTIVE, UNSUBSCRIBED, BOUNCED, COMPLAINED)
    SUPPRESSED = (UNSUBSCRIBED, BOUNCED, COMPLAINED)


class Subscriber(Base):
    __tablename__ = "subscribers"
    # Ids are never reused (SQLite otherwise gives an erased newest subscriber's id to the next
    # person, and their old links would act on them); PostgreSQL's sequence never reuses.
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    email: Mapped[str] = mapped_column(String(320))
    # The address folded for case-insensitive uniqueness.
    email_key: Mapped[str] = mapped_column(String(320), unique=True)
    first_name: Mapped[str] = mapped_column(String(200), default="")
    last_name: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[str] = mapped_column(String(20), index=True, default=SubscriberStatus.ACTIVE)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    consent_source: Mapped[str] = mapped_column(String(100), default="")
    consent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    consent_ip: Mapped[str] = mapped_column(String(64), default="")
    consent_text: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    tags: Mapped[list[SubscriberTag]] = relationship(
        back_populates="subscriber", cascade="all, delete-orphan", lazy="selectin"
    )
    history: Mapped[list[StatusChange]] = relationship(
        back_populates="subscriber", cascade="all, delete-orphan", order_by="StatusChange.id"
    )

    @property
    def tag_names(self) -> list[str]:
        return sorted(tag.tag for tag in self.tags)


class SubscriberTag(Base):
    __tablename__ = "subscriber_tags"

    subscriber_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("subscribers.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(100), primary_key=True)

    subscriber: Mapped[Subscriber] = relationship(back_populates="tags")

    __table_args__ = (Index("ix_subscriber_tags_tag", "tag", "subscriber_id"),)


class StatusChange(Base):
    """Every change of a subscriber's status, with why and through what."""

    __tablename__ = "status_changes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    subscriber_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("subscribers.id", ondelete="CASCADE"), index=True
    )
    old_status: Mapped[str | None] = mapped_column(String(20), nullable=True)
    new_status: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(String(200), default="")
    source: Mapped[str] = mapped_column(String(100), default="")
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    subscriber: Mapped[Subscriber] = relationship(back_populates="history")


class Suppression(Base):
    """An address that must never be mailed again, kept only as a hash after deletion."""

    __tablename__ = "suppressions"

    email_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    reason: Mapped[str] = mapped_column(String(50))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SendState:
    """A campaign run's state in the delivery ledger."""

    SENDING = "sending"
    PAUSED = "paused"
    FINISHED = "finished"


class DeliveryState:
    """One recipient's delivery state. QUEUED rows, and CLAIMED or SENDING rows whose lease ran
    out or whose owner died, are claimable."""

    QUEUED = "queued"
    CLAIMED = "claimed"  # leased to a sender and being prepared; no request made yet
    SENDING = "sending"  # in the request now in flight: the only possible duplicates
    SENT = "sent"  # the provider accepted it: never sent again
    FAILED = "failed"  # the provider refused this one address
    SKIPPED = "skipped"  # unsubscribed, bounced or deleted after the audience was fixed

    ALL = (QUEUED, CLAIMED, SENDING, SENT, FAILED, SKIPPED)
    OPEN = (QUEUED, CLAIMED, SENDING)
    TOUCHED = (SENDING, SENT, FAILED)  # in a request, or answered: the run has begun to go out
    LEASED = (CLAIMED, SENDING)


class CampaignRun(Base):
    """A campaign's send: the message compiled once, the audience fixed, the progress saved."""

    __tablename__ = "campaign_runs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    slug: Mapped[str] = mapped_column(String(200), unique=True)
    subject: Mapped[str] = mapped_column(String(500))
    state: Mapped[str] = mapped_column(String(20), default=SendState.SENDING)
    pause_reason: Mapped[str] = mapped_column(Text, default="")
    # The MessageTemplate as sent (subject, html, text, headers...): a resume sends the same.
    template: Mapped[dict[str, Any]] = mapped_column(JSON)
    # The links as sent, by index: /c/<token>.<index> redirects only to these.
    links: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    recipients: Mapped[int] = mapped_column(Integer, default=0)
    # The approval's fingerprint of what this run sends (mailer.campaigns.approval): before its
    # first message a run is checked against a current approval in one indexed lookup.
    # Empty for runs started before approvals were recorded.
    fingerprint: Mapped[str] = mapped_column(String(64), default="", server_default="")
    possible_duplicates: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class CampaignApproval(Base):
    """Who approved which content of a campaign, when; revoked ones are kept (the history).

    At most one approval per slug is current (revoked_at NULL): a partial unique index.
    """

    __tablename__ = "campaign_approvals"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    slug: Mapped[str] = mapped_column(String(200))
    fingerprint: Mapped[str] = mapped_column(String(64))
    approved_by: Mapped[str] = mapped_column(String(320))  # cli:<os user>, feed:auto_approve...
    approved_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_reason: Mapped[str] = mapped_column(Text, default="")

    __table_args__ = (
        Index("ix_campaign_approvals_slug", "slug", "id"),
        Index(
            "ix_campaign_approvals_current",
            "slug",
            unique=True,
            sqlite_where=text("revoked_at IS NULL"),
            postgresql_where=text("revoked_at IS NULL"),
        ),
    )


class CampaignFileNotice(Base):
    """A campaign file that could not be read, as staff were told about it: once per content."""

    __tablename__ = "campaign_file_notices"

    file_name: Mapped[str] = mapped_column(String(255), primary_key=True)
    content_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    message: Mapped[str] = mapped_column(Text, default="")
    notified_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Delivery(Base):
    """The ledger: one row per recipient of a campaign run. "Who got issue 12" is one query."""

    __tablename__ = "deliveries"

    campaign_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("campaign_runs.id", ondelete="CASCADE"), primary_key=True
    )
    # Deleting a subscriber (erasure) removes their ledger rows too.
    subscriber_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("subscribers.id", ondelete="CASCADE"), primary_key=True
    )
    state: Mapped[str] = mapped_column(String(20), default=DeliveryState.QUEUED)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    provider_message_id: Mapped[str] = mapped_column(String(200), default="")
    error: Mapped[str] = mapped_column(Text, default="")
    lease_owner: Mapped[str] = mapped_column(String(200), default="")
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    __table_args__ = (Index("ix_deliveries_claim", "campaign_id", "state", "subscriber_id"),)


class EventKind:
    """The one event vocabulary every provider's events map to (the raw event is kept too)."""

    PROCESSED = "processed"
    DELIVERED = "delivered"
    DEFERRED = "deferred"
    BOUNCED = "bounced"
    DROPPED = "dropped"
    OPENED = "opened"
    CLICKED = "clicked"
    COMPLAINED = "complained"
    UNSUBSCRIBED = "unsubscribed"

    ALL = (
        PROCESSED,
        DELIVERED,
        DEFERRED,
        BOUNCED,
        DROPPED,
        OPENED,
        CLICKED,
        COMPLAINED,
        UNSUBSCRIBED,
    )
    # These suppress the subscriber at once.
    SUPPRESSING = (BOUNCED, COMPLAINED, UNSUBSCRIBED)


class Event(Base):
    """What happened to a message: from a provider's webhook or from our own web endpoints."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(20))  # sendgrid, smtp, web, ...
    # The provider's own id of the event (SendGrid's sg_event_id): a retry is recognized by it.
    source_event_id: Mapped[str | None] = mapped_column(String(200), unique=True, nullable=True)
    kind: Mapped[str] = mapped_column(String(20), index=True)
    campaign_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("campaign_runs.id", ondelete="CASCADE"), nullable=True
    )
    # No foreign key: events outlive an erased subscriber only as anonymous counts.
    subscriber_id: Mapped[int | None] = mapped_column(BigId, nullable=True, index=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    raw: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    __table_args__ = (Index("ix_events_campaign_kind", "campaign_id", "kind"),)


class Click(Base):
    """A click through /c/<token>: who, which campaign, which link (and call to action), when."""

    __tablename__ = "clicks"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    campaign_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("campaign_runs.id", ondelete="CASCADE")
    )
    subscriber_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    link_index: Mapped[int] = mapped_column(Integer)
    place: Mapped[str] = mapped_column(String(100), default="")  # cta-top, read-more, ...
    url: Mapped[str] = mapped_column(Text)
    clicked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        Index("ix_clicks_campaign", "campaign_id", "subscriber_id"),
        # The results page (migration 0660): clicks per link and per day from the index alone.
        Index("ix_clicks_campaign_link", "campaign_id", "link_index", "subscriber_id"),
        Index("ix_clicks_campaign_time", "campaign_id", "clicked_at"),
    )


class SchedulerLease(Base):
    """Who runs the scheduler: one row per role, renewed by its holder, taken over when it lapses.

    APScheduler must never share a job store between two schedulers, so only the holder of the
    "scheduler" lease starts one; the others wait as standbys.
    """

    __tablename__ = "scheduler_leases"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    owner: Mapped[str] = mapped_column(String(200))  # host:pid:random, unique per process
    host: Mapped[str] = mapped_column(String(200), default="")
    pid: Mapped[int] = mapped_column(Integer, default=0)
    acquired_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    renewed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SlotOutcome:
    CLAIMED = "claimed"  # being handled right now (or its handler died: see the campaign run)
    SENT = "sent"  # a campaign went out (or started: its run finishes it)
    NOTHING_APPROVED = "nothing-approved"  # staff were told
    MISSED = "missed"  # beyond misfire_grace when the scheduler saw it: reported, skipped
    FAILED = "failed"  # the send could not start (configuration, rendering): staff were told


class ScheduledSlot(Base):
    """Each slot handled once: the unique slot time is the guard against a double send."""

    __tablename__ = "scheduled_slots"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    slot_at: Mapped[datetime] = mapped_column(UTCDateTime, unique=True)
    outcome: Mapped[str] = mapped_column(String(30), default=SlotOutcome.CLAIMED)
    campaign_slug: Mapped[str] = mapped_column(String(200), default="")
    detail: Mapped[str] = mapped_column(Text, default="")
    owner: Mapped[str] = mapped_column(String(200), default="")
    handled_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Seconds from the slot time to the start of the send (lateness, for the record).
    started_after: Mapped[float | None] = mapped_column(nullable=True)


class FeedState(Base):
    """The feed's last poll: validators for a conditional GET, and what the poll found."""

    __tablename__ = "feed_state"

    url: Mapped[str] = mapped_column(String(2000), primary_key=True)
    etag: Mapped[str] = mapped_column(String(500), default="")
    last_modified: Mapped[str] = mapped_column(String(100), default="")
    polled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    status: Mapped[str] = mapped_column(String(30), default="")  # ok, not-modified, error
    found: Mapped[int] = mapped_column(Integer, default=0)  # new entries in the last poll
    detail: Mapped[str] = mapped_column(Text, default="")
    # When the first successful poll recorded the feed's existing entries as its baseline.
    connected_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Unused since issue 11: the poll takes store.leases.Lease("feed:<hash>"); a later
    # migration drops these two columns.
    lease_owner: Mapped[str] = mapped_column(String(200), default="", server_default="")
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class FeedEntry(Base):
    """Every entry ever seen in a feed: drafted once, whatever order or repeats the feed has."""

    __tablename__ = "feed_entries"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    feed_url: Mapped[str] = mapped_column(String(2000))
    # sha256 of the entry's id (guid, else link, else title): fixed length, any feed.
    entry_key: Mapped[str] = mapped_column(String(64))
    entry_id: Mapped[str] = mapped_column(Text, default="")
    title: Mapped[str] = mapped_column(Text, default="")
    url: Mapped[str] = mapped_column(Text, default="")
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The draft it went into; empty for entries present at the first poll (not drafted).
    campaign_slug: Mapped[str] = mapped_column(String(200), default="")
    # new: claimed by a poll, its draft not yet finished (a later poll finishes it); drafted;
    # baseline: already in the feed when it was connected, not drafted.
    state: Mapped[str] = mapped_column(String(20), default="new")
    # sha256 of the campaign file as the poll wrote it: a digest is rebuilt only while unedited.
    draft_sha256: Mapped[str] = mapped_column(String(64), default="", server_default="")

    __table_args__ = (Index("ix_feed_entries_key", "feed_url", "entry_key", unique=True),)


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


class BookingState:
    """A booking as the booking tool last told us (mailer.bookings)."""

    BOOKED = "booked"  # counts for its campaign
    CANCELED = "canceled"  # counts as a cancellation
    RESCHEDULED = "rescheduled"  # replaced by a new booking, which counts instead

    ALL = (BOOKED, CANCELED, RESCHEDULED)


class Booking(Base):
    """A consultation booked through a booking tool's webhook, and what brought it.

    Only what attribution needs is kept: never the booker's name, address or answers. The
    booking tool's id is kept as a sha256 (``external_key``): enough to recognize a retry, a
    cancellation or a reschedule of the same booking. Erasing a person clears
    ``subscriber_id``, ``email_hash`` and ``params``; the anonymous count stays.
    """

    __tablename__ = "bookings"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(20))  # calendly, calcom, booking
    external_key: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(20), default=BookingState.BOOKED)
    campaign_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("campaign_runs.id", ondelete="CASCADE"), nullable=True
    )
    place: Mapped[str] = mapped_column(String(100), default="")  # cta-top, ..., unmatched
    article: Mapped[str] = mapped_column(Text, default="")  # the article's address, no utm_*
    # How the campaign was found: ref (the signed click reference), address (a subscriber who
    # clicked a booking link lately), utm (utm_campaign alone), or "" (not from a campaign).
    matched_by: Mapped[str] = mapped_column(String(20), default="")
    # No foreign key, as for clicks: the row outlives an erased subscriber, anonymous.
    subscriber_id: Mapped[int | None] = mapped_column(BigId, nullable=True, index=True)
    email_hash: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    event_name: Mapped[str] = mapped_column(String(200), default="")
    booked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The utm_* parameters the booking tool passed back (a click reference only as "ref").
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The external_key of the booking this one replaced (a reschedule), or "".
    replaces_key: Mapped[str] = mapped_column(String(64), default="")

    __table_args__ = (
        Index("ix_bookings_source_key", "source", "external_key", unique=True),
        Index("ix_bookings_source_replaces", "source", "replaces_key"),
        Index("ix_bookings_campaign_state", "campaign_id", "state"),
    )


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


class SequenceEnrolment(Base):
    """A person in an automated series (issue 16): once per (person, series), never restarted.

    ``joined_at`` is when their clock started (a step is due at joined_at + its ``after``);
    ``left_at`` is set when a pass finds they left (unsubscribed, bounced, complained) after
    joining: no step goes to them again, even if they come back. Erasure deletes the row.
    """

    __tablename__ = "sequence_enrolments"

    subscriber_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("subscribers.id", ondelete="CASCADE"), primary_key=True
    )
    sequence: Mapped[str] = mapped_column(String(50), primary_key=True)
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    left_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    source: Mapped[str] = mapped_column(String(50), default="")  # signup, cli-add, import...

    # A pass looks only at people whose step falls due within the catch-up window: a range
    # on joined_at per series, so an idle pass reads an index range, never the whole table.
    __table_args__ = (Index("ix_sequence_enrolments_due", "sequence", "joined_at"),)
