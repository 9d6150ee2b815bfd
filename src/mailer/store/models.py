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

# The state vocabularies live in mailer.states; they are imported here for the columns'
# defaults, and stay importable from here for the modules that still do so.
from mailer.states import DeliveryState as DeliveryState
from mailer.states import EventKind as EventKind
from mailer.states import FeedEntryState
from mailer.states import SendState as SendState
from mailer.states import SlotOutcome as SlotOutcome
from mailer.states import SubscriberStatus as SubscriberStatus

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

    __table_args__ = (
        Index("ix_deliveries_claim", "campaign_id", "state", "subscriber_id"),
        # A person's recent emails: a series step waits [sequences] min_gap after one.
        Index("ix_deliveries_subscriber_sent", "subscriber_id", "sent_at"),
    )


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
    # The last poll's PollStatus (ok, not-modified, error); empty before the first poll.
    status: Mapped[str] = mapped_column(String(30), default="")
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
    state: Mapped[str] = mapped_column(String(20), default=FeedEntryState.NEW)
    # sha256 of the campaign file as the poll wrote it: a digest is rebuilt only while unedited.
    draft_sha256: Mapped[str] = mapped_column(String(64), default="", server_default="")

    __table_args__ = (Index("ix_feed_entries_key", "feed_url", "entry_key", unique=True),)


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
    # The built-in welcome email went to them (signup, while the series had no approved step
    # 0): a step due at once (after: 0s) is not sent to them too; the later steps are.
    welcomed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    # A pass looks only at people whose step falls due within the catch-up window: a range
    # on joined_at per series, so an idle pass reads an index range, never the whole table.
    __table_args__ = (Index("ix_sequence_enrolments_due", "sequence", "joined_at"),)
