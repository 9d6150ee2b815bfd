"""The delivery ledger: who gets a campaign, who got it, and what is in flight.

When a campaign starts, its audience is fixed in one INSERT ... SELECT (never loaded in memory).
Workers claim batches by subscriber id; on PostgreSQL with ``FOR UPDATE SKIP LOCKED`` so several
workers share a campaign. A claim is a lease: a worker that dies leaves its batch to the others
once the lease runs out, or at once when the dead owner is a process on this same machine.
A claimed batch is CLAIMED while it is prepared and SENDING from just before its request (with
a per-message provider, one row at a time: from just before its own message, see MessageLog).
Rows taken over in SENDING are the only ones that can be duplicated (the one request or message
in flight at the crash); they are counted in ``CampaignRun.possible_duplicates``.

``Ledger`` (sql.py) implements the engine's ``LedgerPort`` (delivery/ports.py), one job per
module: enqueue.py (start a run, fix its audience; withdraw), claims.py (claims and leases),
records.py (what became of each recipient; the run's state), messages.py (the per-message
record), queries.py (reads), statements.py (the SQL of the hot paths, per dialect), pg.py (the
hot paths on PostgreSQL: one statement, one round trip, per step of a batch), wakeup.py
(idle workers woken by LISTEN/NOTIFY on PostgreSQL, polling as the fallback).
"""

from mailer.delivery.ledger.claims import DEFAULT_LEASE
from mailer.delivery.ledger.enqueue import template_from_json, template_to_json
from mailer.delivery.ledger.messages import MessageLog
from mailer.delivery.ledger.sql import Ledger
from mailer.delivery.ports import MAX_CLAIMS, Claim, ClaimedRecipient

__all__ = [
    "DEFAULT_LEASE",
    "MAX_CLAIMS",
    "Claim",
    "ClaimedRecipient",
    "Ledger",
    "MessageLog",
    "template_from_json",
    "template_to_json",
]
