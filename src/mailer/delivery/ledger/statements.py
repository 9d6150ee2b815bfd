"""The ledger's hot statements, built once per dialect (SQLAlchemy Core, bound by name).

A batch's ids go in one parameter per statement, whatever their number: a JSON array read with
``json_each`` on SQLite, an array compared with ``= ANY`` on PostgreSQL. (An expanding ``IN``
is rendered anew at every execution, one placeholder per id: for 1,000 ids that cost SQLAlchemy
more than the database's own work, about a third of a whole send's CPU; issue 17.) Every
statement touches exactly the rows
the ORM versions did (a batch's rows are named by id, never by an id range). Each guard of a
claim (``expired``, ``queued``, ``dead``) has its own statements, so every write of a claim
repeats the condition that made its rows claimable.
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    ColumnElement,
    Integer,
    Select,
    Table,
    and_,
    any_,
    bindparam,
    case,
    func,
    literal_column,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY

from mailer.store.models import CampaignRun, Delivery, DeliveryState, Subscriber, SubscriberStatus

DELIVERIES = cast(Table, Delivery.__table__)
SUBSCRIBERS = cast(Table, Subscriber.__table__)
RUNS = cast(Table, CampaignRun.__table__)


class Statements:
    """Every statement of the ledger's claims and records, for one SQL dialect."""

    def __init__(self, dialect: str) -> None:
        d, s = DELIVERIES.c, SUBSCRIBERS.c
        run = d.campaign_id == bindparam("run_id")
        ids = _one_of(dialect, d.subscriber_id, "ids")
        leased = d.state.in_(DeliveryState.LEASED)
        guards: dict[str, ColumnElement[bool]] = {
            "expired": and_(leased, d.lease_until < bindparam("now", type_=d.lease_until.type)),
            "queued": d.state == DeliveryState.QUEUED,
            "dead": and_(leased, d.lease_owner.in_(bindparam("dead", expanding=True))),
        }
        self.candidates: dict[str, Any] = {}
        self.give_up: dict[str, Any] = {}
        self.skip: dict[str, Any] = {}
        self.take: dict[str, Any] = {}
        for name, guard in guards.items():
            order: ColumnElement[Any] = d.subscriber_id
            if dialect == "sqlite" and name != "queued":
                # With state IN (claimed, sending), SQLite would walk the primary key to honour
                # ORDER BY: every row of the campaign, per claim (~100 ms at 1,000,000).
                # "+ 0" (same order) lets it take the leased rows from ix_deliveries_claim
                # and sort those few instead.
                order = d.subscriber_id + literal_column("0")
            query = (
                select(
                    d.subscriber_id,
                    d.state,
                    d.attempts,
                    s.email,
                    s.first_name,
                    s.last_name,
                    s.status,
                )
                .join(SUBSCRIBERS, s.id == d.subscriber_id)
                .where(run, guard)
                .order_by(order)
                .limit(bindparam("limit", type_=Integer()))
            )
            if dialect == "postgresql":
                query = query.with_for_update(of=DELIVERIES, skip_locked=True)
            self.candidates[name] = query
            rows = update(DELIVERIES).where(run, ids, guard)
            self.give_up[name] = rows.values(
                state=DeliveryState.FAILED, error=bindparam("error"), lease_until=None
            )
            self.skip[name] = rows.values(state=DeliveryState.SKIPPED, error="no longer active")
            self.take[name] = rows.values(
                state=DeliveryState.CLAIMED,
                lease_owner=bindparam("owner"),
                lease_until=bindparam("lease_until", type_=d.lease_until.type),
                attempts=d.attempts + 1,
            ).returning(d.subscriber_id)
        self.count_duplicates = (
            update(RUNS)
            .where(RUNS.c.id == bindparam("run_id"))
            .values(possible_duplicates=RUNS.c.possible_duplicates + bindparam("n"))
        )
        mine = and_(
            run,
            ids,
            d.state == DeliveryState.CLAIMED,
            d.lease_owner == bindparam("owner"),
        )
        still_active = (
            select(s.id)
            .where(s.id == d.subscriber_id, s.status == SubscriberStatus.ACTIVE)
            .exists()
        )
        self.start_sending = (
            update(DELIVERIES)
            .where(mine, still_active)
            .values(state=DeliveryState.SENDING)
            .returning(d.subscriber_id)
        )
        self.skip_gone = (
            update(DELIVERIES)
            .where(mine)
            .values(state=DeliveryState.SKIPPED, error="no longer active")
        )
        self.mark_sent = (
            update(DELIVERIES)
            .where(run, ids)
            .values(
                state=DeliveryState.SENT,
                provider_message_id=bindparam("message_id"),
                sent_at=bindparam("now", type_=d.sent_at.type),
                lease_owner="",
                lease_until=None,
                error="",
            )
        )
        # A per-message send's one write per message: the previous message's row becomes SENT
        # and the next recipient's SENDING if still active (MessageLog). Two plain parameters,
        # no expanding list: the statement is compiled once and reused as is.
        is_start = d.subscriber_id == bindparam("start")
        self.advance = (
            update(DELIVERIES)
            .where(
                run,
                d.subscriber_id.in_([bindparam("prev"), bindparam("start")]),
                or_(
                    ~is_start,
                    and_(
                        d.state == DeliveryState.CLAIMED,
                        d.lease_owner == bindparam("owner"),
                        still_active,
                    ),
                ),
            )
            .values(
                state=case((is_start, DeliveryState.SENDING), else_=DeliveryState.SENT),
                provider_message_id=case((is_start, d.provider_message_id), else_=""),
                sent_at=case((is_start, d.sent_at), else_=bindparam("now", type_=d.sent_at.type)),
                lease_owner=case((is_start, d.lease_owner), else_=""),
                lease_until=case((is_start, d.lease_until), else_=None),
                error=case((is_start, d.error), else_=""),
            )
            .returning(d.subscriber_id, d.state)
        )
        self.fail_one = (
            update(DELIVERIES)
            .where(run, d.subscriber_id == bindparam("sid"))
            .values(state=DeliveryState.FAILED, error=bindparam("error"), lease_until=None)
        )
        self.release = (
            update(DELIVERIES)
            .where(run, ids, leased)
            .values(
                state=DeliveryState.QUEUED,
                lease_owner="",
                lease_until=None,
                error=bindparam("error"),
            )
        )


def _one_of(dialect: str, column: ColumnElement[int], name: str) -> ColumnElement[bool]:
    """``column`` is one of the ids of the list parameter ``name``, bound as one value."""
    if dialect == "postgresql":
        return column == any_(bindparam(name, type_=ARRAY(BigInteger())))
    listed: Select[Any] = select(literal_column("value")).select_from(
        func.json_each(bindparam(name, type_=JSON()))
    )
    return column.in_(listed.scalar_subquery())


_BUILT: dict[str, Statements] = {}


def statements(dialect: str) -> Statements:
    """The dialect's statements, built on first use."""
    built = _BUILT.get(dialect)
    if built is None:
        built = _BUILT[dialect] = Statements(dialect)
    return built
