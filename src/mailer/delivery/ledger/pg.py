"""The ledger's hot paths on PostgreSQL: one statement, one round trip, per step of a batch.

Why not the portable statements (statements.py): measured 2026-12-01 on this 2-core machine,
one worker at 100,000 recipients spent 56 % of its time in the claim and 23 % in
``mark_in_flight``, mostly waiting on the server. Two causes:

- The audience is fixed by one INSERT ... SELECT and not analyzed until autovacuum comes by,
  so the planner believes a campaign has one queued row and runs the claim's UPDATE ... WHERE
  subscriber_id IN (1,000 ids) AND state = 'queued' as a walk of every queued row, comparing
  each with the 1,000 ids (74,000 rows removed by filter, 64 ms, halfway through): quadratic
  in the campaign's size. Here rows are taken by the ``ctid`` of the row the same statement
  locked (a TID scan, whatever the statistics say), and ids go in one array parameter with
  the state test kept off the index (``state || ''``), so the primary key is the way in.
- A claim was 3-5 statements in a transaction (BEGIN, expired, queued, take, COMMIT) and
  each step its own transaction; each round trip is a wake-up of the server process, which
  on a busy machine is the cost. Each statement here runs alone in autocommit mode.

A batch costs the send loop two round trips (tests/delivery/test_delivery_round_trips.py): the
claim, and SENT_AND_START (the last batch SENT, this one SENDING, its lease renewed) between
two requests. The id ranges only steer the planner in a plan made for their values: psycopg
prepares a statement from its fifth run and PostgreSQL may then keep a generic plan, so
every connection asks for custom plans (``plan_cache_mode``, store/db.py).

Exactly-once does not change: the candidates are locked with FOR UPDATE SKIP LOCKED by the
statement that updates them, so no other transaction can change them in between (a row
changed since the statement's snapshot is re-checked against the guard when it is locked),
and everything the SQL ledger did in several statements happens here in one, atomically:
giving up (MAX_CLAIMS), skipping whoever is no longer active, the lease, and the count of
possible duplicates taken over in SENDING.

A worker is woken by NOTIFY on ``CHANNEL`` when a run is queued (see ``notify``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, String, TextClause, bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY

from mailer.delivery.ports import MAX_CLAIMS
from mailer.store.models import Delivery, DeliveryState, SubscriberStatus

CHANNEL = "mailer_delivery"  # LISTEN/NOTIFY: a run has work to claim

_S = DeliveryState
_ACTIVE = SubscriberStatus.ACTIVE
_LEASED = ", ".join(f"'{state}'" for state in DeliveryState.LEASED)
_LEASE_TYPE = Delivery.lease_until.type
_IDS = bindparam("ids", type_=ARRAY(BigInteger()))
# A batch's rows, named by id; the range around them (:low, :high: its smallest and largest
# id) changes no row but is the planner's way in: a narrow range of the primary key, whatever
# the statistics (none yet for a campaign just queued: it then scanned the whole campaign).
_BATCH = (
    "{table}.subscriber_id = ANY(CAST(:ids AS bigint[])) "
    "AND {table}.subscriber_id BETWEEN :low AND :high"
)
# The batch just sent, beside the next one in SENT_AND_START: the same test, its own parameters.
_SENT_BATCH = (
    "{table}.subscriber_id = ANY(CAST(:sent_ids AS bigint[])) "
    "AND {table}.subscriber_id BETWEEN :sent_low AND :sent_high"
)


def _candidates(name: str, guard: str) -> str:
    # The queue is read from ix_deliveries_claim (campaign_id, state, subscriber_id) in order.
    # With statistics the planner preferred walking the primary key and filtering on state:
    # every row already sent, again per claim (27,000 rows at 28 % of 100,000). "state BETWEEN
    # 'queued' AND 'queued'" with ORDER BY state, subscriber_id (the same rows, the same
    # order) is an order only that index gives: "state =" would make state a constant and
    # the order the primary key's too.
    return f"""{name} AS (
        SELECT ctid AS row_id, subscriber_id, state AS was, attempts FROM deliveries
        WHERE campaign_id = :run_id AND {guard}
        ORDER BY {"state, " if name == "queued" else ""}subscriber_id
        LIMIT :limit FOR UPDATE SKIP LOCKED)"""


def _claim(parts: dict[str, str]) -> TextClause:
    """Lock up to :limit candidates of the first guard that has any (a later guard's part is
    read only when the earlier ones found none), then write what becomes of each and count
    the takeovers, in one statement."""
    names = list(parts)
    # A later guard's rows only when every earlier one found none: a claim is of one kind.
    picked = " UNION ALL ".join(
        f"SELECT * FROM {name}"
        + "".join(
            f"{' AND' if i else ' WHERE'} NOT EXISTS (SELECT 1 FROM {before})"
            for i, before in enumerate(names[:n])
        )
        for n, name in enumerate(names)
    )
    exhausted = f"p.attempts >= {MAX_CLAIMS}"
    gone = f"s.status <> '{_ACTIVE}'"
    sql = f"""
    WITH {", ".join(_candidates(name, guard) for name, guard in parts.items())},
    picked AS ({picked}),
    done AS (
        UPDATE deliveries AS d SET
            state = CASE WHEN {exhausted} THEN '{_S.FAILED}' WHEN {gone} THEN '{_S.SKIPPED}'
                         ELSE '{_S.CLAIMED}' END,
            error = CASE WHEN {exhausted} THEN :give_up WHEN {gone} THEN 'no longer active'
                         ELSE d.error END,
            lease_until = CASE WHEN {exhausted} THEN NULL WHEN {gone} THEN d.lease_until
                               ELSE :lease_until END,
            lease_owner = CASE WHEN {exhausted} OR {gone} THEN d.lease_owner ELSE :owner END,
            attempts = CASE WHEN {exhausted} OR {gone} THEN d.attempts ELSE d.attempts + 1 END
        FROM picked AS p JOIN subscribers AS s ON s.id = p.subscriber_id
        WHERE d.ctid = p.row_id AND d.ctid = ANY(ARRAY(SELECT row_id FROM picked))
        RETURNING d.subscriber_id, p.was, d.state, s.email, s.first_name, s.last_name),
    counted AS (
        UPDATE campaign_runs SET possible_duplicates = possible_duplicates + (
            SELECT count(*) FROM done WHERE was = '{_S.SENDING}' AND state = '{_S.CLAIMED}')
        WHERE id = :run_id AND EXISTS (
            SELECT 1 FROM done WHERE was = '{_S.SENDING}' AND state = '{_S.CLAIMED}'))
    SELECT * FROM done ORDER BY subscriber_id"""
    return text(sql).bindparams(bindparam("lease_until", type_=_LEASE_TYPE))


# Expired leases first, then the queue (one statement); the dead owners' rows only when both
# are empty (claims.py), since finding dead owners is a query of its own.
CLAIM = _claim(
    {
        "expired": f"state IN ({_LEASED}) AND lease_until < :now",
        "queued": f"state BETWEEN '{_S.QUEUED}' AND '{_S.QUEUED}'",
    }
).bindparams(bindparam("now", type_=_LEASE_TYPE))
CLAIM_DEAD = _claim({"dead": f"state IN ({_LEASED}) AND lease_owner = ANY(:dead)"}).bindparams(
    bindparam("dead", type_=ARRAY(String()))
)

# This owner's CLAIMED rows of a batch: "state || ''" keeps the planner on the primary key
# (campaign_id, subscriber_id = ANY) rather than walking ix_deliveries_claim's claimed entries,
# dead ones included, that stale statistics make look cheaper.
_MINE = (
    f"d.campaign_id = :run_id AND {_BATCH.format(table='d')} "
    f"AND d.state || '' = '{_S.CLAIMED}' AND d.lease_owner = :owner"
)

# The subscriber's status, looked up by primary key for each row of the batch: as a join,
# the planner (no statistics on a new list) read every active subscriber per batch.
_STATUS = "(SELECT s.status FROM subscribers AS s WHERE s.id = d.subscriber_id)"

# Just before the request: still active -> SENDING, the lease renewed; no longer active ->
# SKIPPED (the two parts see the same snapshot, so they never meet). Returns the ids to send.
_START = f"""started AS (
        UPDATE deliveries AS d SET state = '{_S.SENDING}', lease_until = :lease_until
        WHERE {_MINE} AND {_STATUS} = '{_ACTIVE}'
        RETURNING d.subscriber_id),
    gone AS (
        UPDATE deliveries AS d SET state = '{_S.SKIPPED}', error = 'no longer active'
        WHERE {_MINE} AND {_STATUS} IS DISTINCT FROM '{_ACTIVE}')
    SELECT subscriber_id FROM started"""
START_SENDING = text(f"WITH {_START}").bindparams(_IDS, bindparam("lease_until", type_=_LEASE_TYPE))

_SENT = f"""state = '{_S.SENT}', provider_message_id = :message_id,
        sent_at = :now, lease_owner = '', lease_until = NULL, error = ''"""

# One batch SENT and the next one SENDING, as START_SENDING: one statement, one round trip, one
# commit between two requests (it was BEGIN, two or three statements and COMMIT: 4-5 round
# trips). The two batches are different rows, so no row is written twice by the statement.
SENT_AND_START = text(
    f"""
    WITH sent AS (
        UPDATE deliveries AS d SET {_SENT}
        WHERE d.campaign_id = :run_id AND {_SENT_BATCH.format(table="d")}),
    {_START}"""
).bindparams(
    _IDS,
    bindparam("sent_ids", type_=ARRAY(BigInteger())),
    bindparam("lease_until", type_=_LEASE_TYPE),
    bindparam("now", type_=_LEASE_TYPE),
)

MARK_SENT = text(
    f"""
    UPDATE deliveries SET {_SENT}
    WHERE campaign_id = :run_id AND {_BATCH.format(table="deliveries")}"""
).bindparams(_IDS, bindparam("now", type_=_LEASE_TYPE))

RELEASE = text(
    f"""
    UPDATE deliveries SET state = '{_S.QUEUED}', lease_owner = '', lease_until = NULL,
        error = :error
    WHERE campaign_id = :run_id AND {_BATCH.format(table="deliveries")}
        AND state IN ({_LEASED})"""
).bindparams(_IDS)


def batch(ids: list[int], name: str = "ids") -> dict[str, Any]:
    """The parameters naming a batch's rows (``_BATCH``; ``_SENT_BATCH`` with "sent_ids")."""
    prefix = name.removesuffix("ids")
    return {name: ids, f"{prefix}low": min(ids), f"{prefix}high": max(ids)}


NOTIFY = text(f"SELECT pg_notify('{CHANNEL}', :payload)")
