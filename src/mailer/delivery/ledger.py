"""The delivery ledger: who gets a campaign, who got it, and what is in flight.

When a campaign starts, its audience is fixed in one INSERT ... SELECT (never loaded in memory).
Workers claim batches by subscriber id; on PostgreSQL with ``FOR UPDATE SKIP LOCKED`` so several
workers share a campaign. A claim is a lease: a worker that dies leaves its batch to the others
once the lease runs out, or at once when the dead owner is a process on this same machine.
A claimed batch is CLAIMED while it is prepared and SENDING from just before its request (with
a per-message provider, one row at a time: from just before its own message, see MessageLog).
Rows taken over in SENDING are the only ones that can be duplicated (the one request or message
in flight at the crash); they are counted in ``CampaignRun.possible_duplicates``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Integer,
    Table,
    and_,
    bindparam,
    case,
    delete,
    func,
    literal,
    literal_column,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from mailer.delivery.types import MessageTemplate
from mailer.errors import SendConflictError
from mailer.store.leases import owner_is_dead_here, this_process
from mailer.store.models import (
    CampaignRun,
    Delivery,
    DeliveryState,
    SendState,
    Subscriber,
    SubscriberStatus,
    utcnow,
)
from mailer.subscribers.segments import Audience, audience_query

DEFAULT_LEASE = timedelta(minutes=2)
# A recipient claimed this many times without being accepted (temporary refusals) is given up.
MAX_CLAIMS = 8


@dataclass(frozen=True)
class ClaimedRecipient:
    subscriber_id: int
    email: str
    first_name: str
    last_name: str


@dataclass(frozen=True)
class Claim:
    recipients: list[ClaimedRecipient]
    reclaimed: int  # rows taken over from a dead owner: they may have been sent already


def template_to_json(template: MessageTemplate) -> dict[str, Any]:
    data = asdict(template)
    data["categories"] = list(template.categories)
    return data


def template_from_json(data: dict[str, Any]) -> MessageTemplate:
    values = dict(data)
    values["categories"] = tuple(values.get("categories", ()))
    return MessageTemplate(**values)


class Ledger:
    """The store the send loop depends on; all of its SQL lives here."""

    def __init__(self, sessions: sessionmaker[Session], owner: str | None = None) -> None:
        self.sessions = sessions
        self.owner = owner or this_process()

    # -- runs ---------------------------------------------------------------------------------

    def find_run(self, slug: str) -> CampaignRun | None:
        with self.sessions() as session:
            return session.scalars(select(CampaignRun).where(CampaignRun.slug == slug)).first()

    def get_run(self, run_id: int) -> CampaignRun:
        with self.sessions() as session:
            run = session.get(CampaignRun, run_id)
            assert run is not None
            return run

    def start(
        self,
        slug: str,
        template: MessageTemplate,
        audience: Audience | None,
        links: Sequence[dict[str, Any]] = (),
        fingerprint: str = "",
    ) -> tuple[CampaignRun, bool]:
        """The campaign's run, created with its audience fixed if new. Returns (run, created).

        Two processes starting the same new campaign at once both find no run; the unique slug
        lets one insert it, and the other gets SendConflictError (never a second audience).
        """
        with self.sessions() as session, session.begin():
            existing = session.scalars(select(CampaignRun).where(CampaignRun.slug == slug)).first()
            if existing is not None:
                return existing, False
            run = CampaignRun(
                slug=slug,
                subject=template.subject,
                state=SendState.SENDING,
                template=template_to_json(template),
                links=[dict(link) for link in links],
                fingerprint=fingerprint,
            )
            session.add(run)
            try:
                session.flush()
            except IntegrityError as err:
                raise SendConflictError(
                    f"{slug!r} is already being sent by another process (it started the send "
                    "at the same moment); nothing was sent from here",
                    hint=f"`mailer report {slug}` shows its progress; `mailer send {slug}` "
                    "later resumes it if that process stops",
                ) from err
            members = audience_query(audience).with_only_columns(
                literal(run.id), Subscriber.id, literal(DeliveryState.QUEUED)
            )
            session.execute(
                Delivery.__table__.insert().from_select(  # type: ignore[attr-defined]
                    ["campaign_id", "subscriber_id", "state"], members
                )
            )
            run.recipients = int(
                session.scalar(select(func.count()).where(Delivery.campaign_id == run.id)) or 0
            )
            return run, True

    def nothing_sent(self, run_id: int) -> bool:
        """True while no recipient of the run is in a request, sent or refused."""
        with self.sessions() as session:
            touched = session.scalar(
                select(Delivery.subscriber_id)
                .where(
                    Delivery.campaign_id == run_id,
                    Delivery.state.in_(DeliveryState.TOUCHED),
                )
                .limit(1)
            )
            return touched is None

    def withdraw(self, run_id: int) -> bool:
        """Delete a run (and its queue) that has sent nothing; False if anything went out."""
        with self.sessions() as session, session.begin():
            touched = (
                select(Delivery.subscriber_id)
                .where(
                    Delivery.campaign_id == run_id,
                    Delivery.state.in_(DeliveryState.TOUCHED),
                )
                .exists()
            )
            result = session.execute(
                delete(CampaignRun)
                .where(CampaignRun.id == run_id, ~touched)
                .execution_options(synchronize_session=False)
            )
            withdrawn = bool(result.rowcount)  # type: ignore[attr-defined]
            if withdrawn:  # the cascade does this where foreign keys are enforced; be sure
                session.execute(delete(Delivery).where(Delivery.campaign_id == run_id))
            return withdrawn

    def set_state(self, run_id: int, state: str, reason: str = "") -> None:
        with self.sessions() as session, session.begin():
            values: dict[str, Any] = {"state": state, "pause_reason": reason}
            if state == SendState.FINISHED:
                values["finished_at"] = utcnow()
            session.execute(update(CampaignRun).where(CampaignRun.id == run_id).values(**values))

    def finish_if_done(self, run_id: int) -> bool:
        """Mark the run finished when no recipient is queued or in flight."""
        with self.sessions() as session, session.begin():
            open_rows = session.scalar(
                select(func.count()).where(
                    Delivery.campaign_id == run_id,
                    Delivery.state.in_(DeliveryState.OPEN),
                )
            )
            if open_rows:
                return False
            session.execute(
                update(CampaignRun)
                .where(CampaignRun.id == run_id, CampaignRun.state != SendState.FINISHED)
                .values(state=SendState.FINISHED, pause_reason="", finished_at=utcnow())
            )
            return True

    # -- batches ------------------------------------------------------------------------------

    def claim(self, run_id: int, limit: int, lease: timedelta = DEFAULT_LEASE) -> Claim:
        """Take up to ``limit`` recipients in subscriber-id order and lease them to this owner.

        Recipients who stopped being active since the audience was fixed are marked skipped
        here, so nobody who unsubscribed, bounced or complained during a send is mailed after.
        An empty claim means nothing is left to claim (now).
        """
        while True:
            claim = self._claim_once(run_id, limit, lease)
            if claim is None:
                return Claim([], 0)
            if claim.recipients:
                return claim

    def _claim_once(self, run_id: int, limit: int, lease: timedelta) -> Claim | None:
        """One claim; None when no row was claimable, an empty Claim when all were skipped.

        Candidates are read first (on PostgreSQL locked with SKIP LOCKED), then every write is
        guarded by the condition that made them claimable, and the lease is taken with
        UPDATE ... RETURNING: on SQLite two claimers can read the same candidates, but only one
        of them gets each row back from the UPDATE.

        The statements are Core, built once (``_Statements``) and run on the session's
        connection: the ORM's bulk UPDATE and row loading cost more than the SQL here.
        """
        now = utcnow()
        with self.sessions() as session, session.begin():
            connection = session.connection()
            sql = _statements(connection.dialect.name)
            # Three simple guards in turn rather than one OR, so each query walks the
            # (campaign_id, state, subscriber_id) index instead of scanning the campaign.
            guard = "expired"
            params: dict[str, Any] = {"run_id": run_id, "limit": limit, "now": now}
            rows = connection.execute(sql.candidates[guard], params).all()
            if not rows:
                guard = "queued"
                rows = connection.execute(sql.candidates[guard], params).all()
            if not rows:
                dead = self._dead_owners(session, run_id)
                if dead:
                    guard = "dead"
                    params["dead"] = dead
                    rows = connection.execute(sql.candidates[guard], params).all()
            if not rows:
                return None

            exhausted = [row.subscriber_id for row in rows if row.attempts >= MAX_CLAIMS]
            if exhausted:
                connection.execute(
                    sql.give_up[guard],
                    {**params, "ids": exhausted, "error": f"gave up after {MAX_CLAIMS} attempts"},
                )
            candidates = [row.subscriber_id for row in rows if row.attempts < MAX_CLAIMS]
            active = {
                row.subscriber_id: row
                for row in rows
                if row.attempts < MAX_CLAIMS and row.status == SubscriberStatus.ACTIVE
            }
            inactive = [sid for sid in candidates if sid not in active]
            if inactive:
                connection.execute(sql.skip[guard], {**params, "ids": inactive})
            claimed: set[int] = set()
            if active:
                claimed = set(
                    connection.execute(
                        sql.take[guard],
                        {
                            **params,
                            "ids": list(active),
                            "owner": self.owner,
                            "lease_until": now + lease,
                        },
                    ).scalars()
                )
            reclaimed = sum(
                1
                for row in rows
                if row.state == DeliveryState.SENDING and row.subscriber_id in claimed
            )
            if reclaimed:
                connection.execute(sql.count_duplicates, {"run_id": run_id, "n": reclaimed})
            recipients = []
            for sid in candidates:
                if sid in claimed:
                    row = active[sid]
                    recipients.append(
                        ClaimedRecipient(sid, row.email, row.first_name, row.last_name)
                    )
            return Claim(recipients, reclaimed)

    def _dead_owners(self, session: Session, run_id: int) -> list[str]:
        """Owners of in-flight rows that were processes on this machine and no longer exist."""
        owners = session.scalars(
            select(Delivery.lease_owner)
            .where(Delivery.campaign_id == run_id, Delivery.state.in_(DeliveryState.LEASED))
            .distinct()
        ).all()
        return [owner for owner in owners if owner != self.owner and owner_is_dead_here(owner)]

    def mark_in_flight(self, run_id: int, subscriber_ids: Iterable[int]) -> set[int]:
        """Just before the request: rows still active become SENDING (from here on they may
        have been sent); anyone who stopped being active since the claim is skipped. Returns
        the ids to send.

        One UPDATE takes this owner's CLAIMED rows of the batch whose subscriber is still
        active to SENDING; only when it returns fewer than the batch does a second one mark
        this owner's rows of the batch still CLAIMED (the inactive) skipped.
        """
        ids = list(subscriber_ids)
        if not ids:
            return set()
        with self.sessions() as session, session.begin():
            connection = session.connection()
            sql = _statements(connection.dialect.name)
            params = {"run_id": run_id, "owner": self.owner, "ids": ids}
            started = set(connection.execute(sql.start_sending, params).scalars())
            if len(started) < len(ids):
                connection.execute(sql.skip_gone, params)
            return started

    def mark_sent(self, run_id: int, subscriber_ids: Iterable[int], message_id: str) -> None:
        ids = list(subscriber_ids)
        if not ids:
            return
        with self.sessions() as session, session.begin():
            connection = session.connection()
            connection.execute(
                _statements(connection.dialect.name).mark_sent,
                {"run_id": run_id, "ids": ids, "message_id": message_id, "now": utcnow()},
            )

    def mark_failed(self, run_id: int, failures: dict[int, str]) -> None:
        """Addresses the provider refused one by one (not retried)."""
        if not failures:
            return
        with self.sessions() as session, session.begin():
            _mark_failed(session, run_id, failures)

    @contextmanager
    def messages(self, run_id: int) -> Iterator[MessageLog]:
        """Where a per-message send records its batch as it goes: one connection, held for the
        batch, in autocommit mode (see MessageLog)."""
        with self.sessions() as session:
            bind = session.get_bind()
            assert isinstance(bind, Engine)
            with bind.connect() as connection:
                connection = connection.execution_options(isolation_level="AUTOCOMMIT")
                postgresql = connection.dialect.name == "postgresql"
                if postgresql:
                    connection.exec_driver_sql("SET synchronous_commit TO OFF")
                try:
                    yield MessageLog(connection, run_id, self.owner)
                finally:
                    if postgresql and not connection.invalidated:
                        connection.exec_driver_sql("RESET synchronous_commit")

    def release(self, run_id: int, subscriber_ids: Iterable[int], error: str = "") -> None:
        """Give a batch back to the queue: the provider did not accept it."""
        ids = list(subscriber_ids)
        if not ids:
            return
        with self.sessions() as session, session.begin():
            connection = session.connection()
            connection.execute(
                _statements(connection.dialect.name).release,
                {"run_id": run_id, "ids": ids, "error": error[:2000]},
            )

    def counts(self, run_id: int) -> dict[str, int]:
        with self.sessions() as session:
            rows = session.execute(
                select(Delivery.state, func.count())
                .where(Delivery.campaign_id == run_id)
                .group_by(Delivery.state)
            ).all()
        counts = dict.fromkeys(DeliveryState.ALL, 0)
        counts.update({state: int(n) for state, n in rows})
        return counts

    def active_runs(self) -> list[CampaignRun]:
        with self.sessions() as session:
            return list(
                session.scalars(
                    select(CampaignRun)
                    .where(CampaignRun.state == SendState.SENDING)
                    .order_by(CampaignRun.id)
                )
            )


class MessageLog:
    """A per-message provider's record, one write per message (``advance``).

    Each write is one statement in autocommit mode: on PostgreSQL one round trip, no BEGIN or
    COMMIT of its own, with no connection checkout (and ping) per message. Statements that
    change different rows need no common transaction: each leaves the ledger correct on its
    own if the process dies right after it.

    On PostgreSQL these commits do not wait for the WAL flush (``synchronous_commit`` off, on
    this connection only), as SQLite's ``synchronous=NORMAL`` does not fsync each commit: a
    crash of mailer loses none of them (the server has them); only a crash of the database
    server or its machine can lose the last fraction of a second of them (the WAL writer
    flushes every 200 ms), whose messages then go again: still far fewer than the batch a crash
    used to re-send. Waiting for the flush cost 1-3 ms per message here (docs/benchmarks.md).
    """

    def __init__(self, connection: Connection, run_id: int, owner: str) -> None:
        self.connection = connection
        self.run_id = run_id
        self.owner = owner
        self.sql = _statements(connection.dialect.name)

    def advance(
        self,
        *,
        sent: Sequence[int] = (),
        failed: dict[int, str] | None = None,
        later: Sequence[int] = (),
        start: int | None = None,
    ) -> bool:
        """Record what became of the messages since the last call (``sent``; ``failed`` for
        good, with why; ``later``: refused for now, back to the queue), and move ``start``, the
        next recipient, to SENDING just before its own message, or skip it when no longer
        active. True when ``start`` is to be sent. Sent rows and ``start`` go in one UPDATE.

        So at any moment at most one row is SENDING and every message accepted before it is
        SENT: a crash leaves at most the one message in flight to be sent again (and counted).
        """
        run_id, execute, sql = self.run_id, self.connection.execute, self.sql
        if failed:
            execute(
                sql.fail_one,
                [
                    {"run_id": run_id, "sid": sid, "error": why[:2000]}
                    for sid, why in failed.items()
                ],
            )
        if later:
            error = "temporarily refused; will retry"
            execute(sql.release, {"run_id": run_id, "ids": list(later), "error": error})
        now = utcnow()
        if len(sent) > 1 or (sent and start is None):
            execute(
                sql.mark_sent, {"run_id": run_id, "ids": list(sent), "message_id": "", "now": now}
            )
            sent = ()
        if start is None:
            return False
        params = {"run_id": run_id, "owner": self.owner, "now": now}
        prev = sent[0] if sent else None
        changed = execute(sql.advance, {**params, "prev": prev, "start": start})
        if (start, DeliveryState.SENDING) in {(row[0], row[1]) for row in changed}:
            return True
        execute(sql.skip_gone, {**params, "ids": [start]})
        return False


def _mark_failed(session: Session, run_id: int, failures: dict[int, str]) -> None:
    for subscriber_id, reason in failures.items():
        session.execute(
            update(Delivery)
            .where(Delivery.campaign_id == run_id, Delivery.subscriber_id == subscriber_id)
            .values(state=DeliveryState.FAILED, error=reason[:2000], lease_until=None)
        )


_DELIVERIES = cast(Table, Delivery.__table__)
_SUBSCRIBERS = cast(Table, Subscriber.__table__)
_RUNS = cast(Table, CampaignRun.__table__)


class _Statements:
    """The ledger's hot statements, built once per dialect (Core, bound by name).

    Ids go in one expanding parameter per statement; every statement touches exactly the rows
    the ORM versions did (a batch's rows are named by id, never by an id range).
    """

    def __init__(self, dialect: str) -> None:
        d, s = _DELIVERIES.c, _SUBSCRIBERS.c
        run = d.campaign_id == bindparam("run_id")
        ids = d.subscriber_id.in_(bindparam("ids", expanding=True))
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
                .join(_SUBSCRIBERS, s.id == d.subscriber_id)
                .where(run, guard)
                .order_by(order)
                .limit(bindparam("limit", type_=Integer()))
            )
            if dialect == "postgresql":
                query = query.with_for_update(of=_DELIVERIES, skip_locked=True)
            self.candidates[name] = query
            rows = update(_DELIVERIES).where(run, ids, guard)
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
            update(_RUNS)
            .where(_RUNS.c.id == bindparam("run_id"))
            .values(possible_duplicates=_RUNS.c.possible_duplicates + bindparam("n"))
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
            update(_DELIVERIES)
            .where(mine, still_active)
            .values(state=DeliveryState.SENDING)
            .returning(d.subscriber_id)
        )
        self.skip_gone = (
            update(_DELIVERIES)
            .where(mine)
            .values(state=DeliveryState.SKIPPED, error="no longer active")
        )
        self.mark_sent = (
            update(_DELIVERIES)
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
            update(_DELIVERIES)
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
            update(_DELIVERIES)
            .where(run, d.subscriber_id == bindparam("sid"))
            .values(state=DeliveryState.FAILED, error=bindparam("error"), lease_until=None)
        )
        self.release = (
            update(_DELIVERIES)
            .where(run, ids, leased)
            .values(
                state=DeliveryState.QUEUED,
                lease_owner="",
                lease_until=None,
                error=bindparam("error"),
            )
        )


_BUILT: dict[str, _Statements] = {}


def _statements(dialect: str) -> _Statements:
    built = _BUILT.get(dialect)
    if built is None:
        built = _BUILT[dialect] = _Statements(dialect)
    return built
