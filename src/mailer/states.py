"""Every state vocabulary of the code, one ``StrEnum`` each: the words stored and shown.

A member *is* its string (``SubscriberStatus.ACTIVE == "active"``), so the values go into the
existing ``String`` columns, campaign front matter and JSON output unchanged (no migration), and
a value read back from the database (a plain ``str``) compares equal to its member. Changing a
member's value changes stored data: that needs a migration, never just an edit here.

Groups of members that rules test against (``SubscriberStatus.SUPPRESSED``...) are tuples of
the members' values, kept out of the enum's members with :func:`enum.nonmember`.

This is the ground layer: it imports nothing from mailer, and every package may import it.
"""

from __future__ import annotations

from enum import StrEnum, nonmember


class SubscriberStatus(StrEnum):
    """A subscriber's place on the list (``subscribers.status``). Only active is mailed; the
    ladder unsubscribed < bounced < complained and every move between them is
    :mod:`mailer.subscribers.status`'s transition table."""

    PENDING = "pending"  # asked on the signup form, not confirmed yet
    ACTIVE = "active"
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"
    COMPLAINED = "complained"  # marked a newsletter as spam

    ALL = nonmember((PENDING, ACTIVE, UNSUBSCRIBED, BOUNCED, COMPLAINED))
    SUPPRESSED = nonmember((UNSUBSCRIBED, BOUNCED, COMPLAINED))


class CampaignStatus(StrEnum):
    """``status:`` in a campaign file's front matter. A send in progress is not a file status:
    it is the run's :class:`SendState` in the delivery ledger."""

    DRAFT = "draft"  # being written; `mailer approve` makes it approved
    APPROVED = "approved"  # waiting for its slot (with approved_at, approved_by)
    SENT = "sent"  # written when the send finishes; never sent or approved again


class SendState(StrEnum):
    """A campaign run's state in the delivery ledger (``campaign_runs.state``)."""

    SENDING = "sending"
    PAUSED = "paused"  # stopped with a reason (provider refusing, too many failures...)
    FINISHED = "finished"


class DeliveryState(StrEnum):
    """One recipient's delivery state (``deliveries.state``). QUEUED rows, and CLAIMED or SENDING
    rows whose lease ran out or whose owner died, are claimable."""

    QUEUED = "queued"
    CLAIMED = "claimed"  # leased to a sender and being prepared; no request made yet
    SENDING = "sending"  # in the request now in flight: the only possible duplicates
    SENT = "sent"  # the provider accepted it: never sent again
    FAILED = "failed"  # the provider refused this one address
    SKIPPED = "skipped"  # unsubscribed, bounced or deleted after the audience was fixed

    ALL = nonmember((QUEUED, CLAIMED, SENDING, SENT, FAILED, SKIPPED))
    OPEN = nonmember((QUEUED, CLAIMED, SENDING))
    # In a request, or answered: the run has begun to go out.
    TOUCHED = nonmember((SENDING, SENT, FAILED))
    LEASED = nonmember((CLAIMED, SENDING))


class EventKind(StrEnum):
    """The one event vocabulary every provider's events map to (``events.kind``; the raw event
    is kept too)."""

    PROCESSED = "processed"
    DELIVERED = "delivered"
    DEFERRED = "deferred"
    BOUNCED = "bounced"
    DROPPED = "dropped"
    OPENED = "opened"
    CLICKED = "clicked"
    COMPLAINED = "complained"
    UNSUBSCRIBED = "unsubscribed"

    ALL = nonmember(
        (
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
    )
    # These suppress the subscriber at once.
    SUPPRESSING = nonmember((BOUNCED, COMPLAINED, UNSUBSCRIBED))


class SlotOutcome(StrEnum):
    """What became of a weekly send slot (``scheduled_slots.outcome``)."""

    CLAIMED = "claimed"  # being handled right now (or its handler died: see the campaign run)
    SENT = "sent"  # a campaign went out (or started: its run finishes it)
    NOTHING_APPROVED = "nothing-approved"  # staff were told
    MISSED = "missed"  # beyond misfire_grace when the scheduler saw it: reported, skipped
    FAILED = "failed"  # the send could not start (configuration, rendering): staff were told


class FeedEntryState(StrEnum):
    """A feed entry's state (``feed_entries.state``)."""

    NEW = "new"  # claimed by a poll, its draft not finished yet (a later poll finishes it)
    DRAFTED = "drafted"  # in a campaign file
    BASELINE = "baseline"  # already in the feed when it was connected: never drafted


class PollStatus(StrEnum):
    """What a feed poll did (``FeedPollResult.status``). The first three are also recorded as
    the feed's last poll (``feed_state.status``, empty before the first poll)."""

    OK = "ok"
    NOT_MODIFIED = "not-modified"  # the server answered 304 to the poll's validators
    ERROR = "error"  # recorded and returned, never raised: the next poll tries again
    BUSY = "busy"  # another poll of the same feed holds its lease: nothing done
    OFF = "off"  # feed.url is not set: nothing polled, nothing recorded
