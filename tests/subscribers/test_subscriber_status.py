"""Issue 11 (subscriber status): the status changes only through subscribers.status's table.

One table below lists, for every ``by``, every (from, to) pair and whether it is allowed; the
pure ``may_move`` and each writer (``move``, ``move_if_still``, ``move_many``, and adding a
subscriber) must agree with it (on both backends). A source check proves that no other module
assigns ``Subscriber.status`` or updates the status column.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from mailer.store.models import StatusChange, Subscriber, SubscriberStatus, utcnow
from mailer.subscribers.service import add_subscriber
from mailer.subscribers.status import (
    By,
    Consent,
    Move,
    StatusRefused,
    may_move,
    move,
    move_if_still,
    move_many,
)
from tests.test_layers import tree_sources

# Rows: from (``new``: a subscriber being added); columns: to. ``x`` allowed, ``.`` refused;
# the diagonal (no change) is never a move.
GRIDS = {
    By.SIGNUP: """
                  pending active unsubscribed bounced complained
        new          x      .        .           .        .
        pending      .      .        .           .        .
        active       .      .        .           .        .
        unsubscribed .      .        .           .        .
        bounced      .      .        .           .        .
        complained   .      .        .           .        .
    """,
    By.CONFIRM: """
                  pending active unsubscribed bounced complained
        new          .      .        .           .        .
        pending      .      x        .           .        .
        active       .      .        .           .        .
        unsubscribed .      x        .           .        .
        bounced      .      x        .           .        .
        complained   .      .        .           .        .
    """,
    By.STAFF: """
                  pending active unsubscribed bounced complained
        new          x      x        x           x        x
        pending      .      x        x           .        .
        active       .      .        x           .        .
        unsubscribed .      x        .           .        .
        bounced      .      x        x           .        .
        complained   .      x        x           .        .
    """,
    By.IMPORT: """
                  pending active unsubscribed bounced complained
        new          x      x        x           x        x
        pending      .      .        x           x        x
        active       .      .        x           x        x
        unsubscribed .      .        .           .        .
        bounced      .      .        .           .        .
        complained   .      .        .           .        .
    """,
    By.WEB_UNSUBSCRIBE: """
                  pending active unsubscribed bounced complained
        new          .      .        .           .        .
        pending      .      .        x           .        .
        active       .      .        x           .        .
        unsubscribed .      .        .           .        .
        bounced      .      .        .           .        .
        complained   .      .        .           .        .
    """,
    By.ONE_CLICK: """
                  pending active unsubscribed bounced complained
        new          .      .        .           .        .
        pending      .      .        x           .        .
        active       .      .        x           .        .
        unsubscribed .      .        .           .        .
        bounced      .      .        .           .        .
        complained   .      .        .           .        .
    """,
    By.UNDO: """
                  pending active unsubscribed bounced complained
        new          .      .        .           .        .
        pending      .      .        .           .        .
        active       .      .        .           .        .
        unsubscribed .      x        .           .        .
        bounced      .      .        .           .        .
        complained   .      .        .           .        .
    """,
    By.PROVIDER: """
                  pending active unsubscribed bounced complained
        new          .      .        .           .        .
        pending      .      .        x           x        x
        active       .      .        x           x        x
        unsubscribed .      .        .           x        x
        bounced      .      .        .           .        x
        complained   .      .        .           .        .
    """,
    By.SMTP_BOUNCE: """
                  pending active unsubscribed bounced complained
        new          .      .        .           .        .
        pending      .      .        .           x        .
        active       .      .        .           x        .
        unsubscribed .      .        .           x        .
        bounced      .      .        .           .        .
        complained   .      .        .           .        .
    """,
}


def _table(grids: Mapping[By, str]) -> list[tuple[str | None, str, By, bool]]:
    rows = []
    for by, grid in grids.items():
        header, *lines = [line.split() for line in grid.strip().splitlines()]
        assert header == list(SubscriberStatus.ALL)
        for old, *marks in lines:
            for new, mark in zip(header, marks, strict=True):
                rows.append((None if old == "new" else old, new, by, mark == "x"))
    return rows


TABLE = _table(GRIDS)


def test_the_table_covers_every_pair_and_actor() -> None:
    """Every ``By`` has a grid, and every grid every (from, to) pair: a new actor or status
    cannot slip in without being listed here."""
    assert set(GRIDS) == set(By)
    assert len(TABLE) == len(By) * (1 + len(SubscriberStatus.ALL)) * len(SubscriberStatus.ALL)
    assert len({(old, new, by) for old, new, by, _ in TABLE}) == len(TABLE)


@pytest.mark.parametrize(("old", "new", "by", "allowed"), TABLE)
def test_may_move_follows_the_table(old: str | None, new: str, by: By, allowed: bool) -> None:
    assert may_move(old, new, by) is allowed


def _consent(old: str | None, new: str) -> Consent | None:
    return Consent("test", "asked to come back") if new == SubscriberStatus.ACTIVE else None


def _person(session: Session, index: int, status: str) -> Subscriber:
    return add_subscriber(session, f"p{index}@example.com", status=status, by=By.STAFF)


def _history(session: Session, subscriber_id: int) -> list[tuple[str | None, str, str]]:
    return [
        (change.old_status, change.new_status, change.source)
        for change in session.scalars(
            select(StatusChange)
            .where(StatusChange.subscriber_id == subscriber_id)
            .order_by(StatusChange.id)
        )
    ]


def _write(writer: str, session: Session, person: Subscriber, old: str, new: str, by: By) -> bool:
    """One move through the named writer."""
    consent = _consent(old, new)
    if writer == "move":
        return move(session, person, new, by=by, reason="t", source="test", consent=consent)
    if writer == "move_if_still":
        return move_if_still(
            session, person, new, by=by, reason="t", source="test", consent=consent
        )
    rows = move_many(session, [Move(person.id, old, new, "t")], by=by, source="test", now=utcnow())
    for row in rows:
        session.add(StatusChange(**row, changed_at=utcnow()))
    session.expire(person)
    return bool(rows)


@pytest.mark.both_databases
def test_every_writer_follows_the_table(sessions: sessionmaker[Session]) -> None:
    """Issue 11: ``move``, ``move_if_still``, ``move_many`` and adding a subscriber do exactly
    what the table allows: an allowed move changes the status and writes its history row; a
    refused one raises StatusRefused and writes nothing; no change is no move."""
    index = 0
    for old, new, by, allowed in TABLE:
        if old is None:
            with sessions() as session:
                index += 1
                email = f"new{index}@example.com"
                if allowed:
                    person = add_subscriber(session, email, status=new, by=by)
                    assert _history(session, person.id) == [(None, new, "manual")]
                else:
                    with pytest.raises(StatusRefused):
                        add_subscriber(session, email, status=new, by=by)
                    assert session.scalar(select(func.count()).select_from(Subscriber)) == 0
                session.rollback()
            continue
        for writer in ("move", "move_if_still", "move_many"):
            index += 1
            with sessions() as session:
                person = _person(session, index, old)
                session.flush()
                before = _history(session, person.id)

                label = f"{writer} {old} -> {new} by {by}"
                if old == new:
                    if writer != "move_many":  # the bulk write is asked only for changes
                        assert _write(writer, session, person, old, new, by) is False, label
                        assert _history(session, person.id) == before, label
                elif allowed:
                    assert _write(writer, session, person, old, new, by) is True, label
                    session.flush()
                    assert person.status == new, label
                    assert _history(session, person.id) == [*before, (old, new, "test")], label
                else:
                    with pytest.raises(StatusRefused):
                        _write(writer, session, person, old, new, by)
                    session.flush()
                    session.expire(person)
                    assert person.status == old, label
                    assert _history(session, person.id) == before, label
                session.rollback()


def test_back_to_active_from_a_suppression_needs_consent(sessions: sessionmaker[Session]) -> None:
    """Issue 11: even a move the table allows (staff bringing back a bounce) is refused without
    the person's new consent, and writes nothing."""
    with sessions() as session:
        person = _person(session, 1, SubscriberStatus.BOUNCED)
        session.flush()
        with pytest.raises(StatusRefused, match="consent"):
            move(session, person, SubscriberStatus.ACTIVE, by=By.STAFF, reason="r", source="cli")
        assert person.status == SubscriberStatus.BOUNCED
        assert len(_history(session, person.id)) == 1


# --- no writer of the status outside subscribers/status.py ---------------------------------

OWNER = "mailer.subscribers.status"
# Other things called ``status`` that modules do assign: a campaign file's status, an error's.
OTHER_STATUS_OWNERS = {
    ("mailer.campaigns.campaign", "campaign"),
    ("mailer.campaigns.approval", "campaign"),
    ("mailer.delivery.errors", "self"),
}
# Tables (as the code names them) with a status column of their own, or opaque values.
OTHER_TABLES = {
    "FeedState",
    "CampaignRun",
    "Delivery",
    "_DELIVERIES",
    "_RUNS",
    "ScheduledSlot",
    "ImportJob",
}
RAW_SQL = re.compile(r"\bupdate\s+subscribers\s+set\b[^;]*\bstatus\b", re.IGNORECASE)


def _update_target(node: ast.expr) -> str | None:
    """The table of ``update(T)...`` or ``T.update()...`` at the root of a call chain."""
    while isinstance(node, (ast.Call, ast.Attribute)):
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name) and func.id == "update" and node.args:
                return ast.unparse(node.args[0])
            if (
                isinstance(func, ast.Attribute)
                and func.attr == "update"
                and not node.args
                and not node.keywords
            ):
                return ast.unparse(func.value)
            node = func
        else:
            node = node.value
    return None


def _sets_status(call: ast.Call) -> bool:
    """``.values(...)`` with a status keyword, ``**`` or a positional (a dict or a name)."""
    if any(k.arg in ("status", None) for k in call.keywords):
        return True
    for arg in call.args:
        if not isinstance(arg, ast.Dict):
            return True
        if any(isinstance(k, ast.Constant) and k.value == "status" for k in arg.keys):
            return True
    return False


# Every check below reads the same ~110 sources: each is parsed and walked once (parsing and
# walking them again for each check took 2.5 s of make quick on this machine).
_NODES: dict[str, list[ast.AST]] = {}


def _nodes(source: str) -> list[ast.AST]:
    if source not in _NODES:
        _NODES[source] = list(ast.walk(ast.parse(source)))
    return _NODES[source]


def status_writers(sources: Mapping[str, str]) -> list[str]:
    """'module:line what' for every write of a subscriber's status outside subscribers.status."""
    found = []
    for module, source in sorted(sources.items()):
        if module == OWNER:
            continue
        for node in _nodes(source):
            where = f"{module}:{getattr(node, 'lineno', 0)}"
            targets: list[ast.expr] = []
            if isinstance(node, ast.Assign):
                targets = node.targets
            elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
                targets = [node.target]
            for target in targets:
                if (
                    isinstance(target, ast.Attribute)
                    and target.attr == "status"
                    and (module, ast.unparse(target.value)) not in OTHER_STATUS_OWNERS
                ):
                    found.append(f"{where} assigns {ast.unparse(target)}")
            if isinstance(node, ast.Call):
                func = node.func
                if isinstance(func, ast.Name) and func.id == "setattr" and len(node.args) > 1:
                    name = node.args[1]
                    if not isinstance(name, ast.Constant) or name.value == "status":
                        found.append(f"{where} setattr {ast.unparse(name)}")
                if isinstance(func, ast.Attribute) and func.attr == "values":
                    table = _update_target(func.value)
                    if table is not None and table not in OTHER_TABLES and _sets_status(node):
                        found.append(f"{where} updates the status of {table}")
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and RAW_SQL.search(node.value)
            ):
                found.append(f"{where} SQL updates subscribers.status")
    return found


def test_no_other_module_writes_the_status() -> None:
    """Issue 11: subscribers/status.py is the only writer of a subscriber's status."""
    assert status_writers(tree_sources()) == []


@pytest.mark.parametrize(
    "added",
    [
        "\ndef revive(person):\n    person.status = 'active'\n",
        "\ndef revive(person):\n    setattr(person, 'status', 'active')\n",
        "\ndef revive(s):\n    s.execute(update(Subscriber).values(status='active'))\n",
        "\ndef revive(s, t):\n    s.execute(update(t).values({'status': 'x'}))\n",
        "\ndef revive(s):\n    s.execute(Subscriber.__table__.update().values(**{'a': 1}))\n",
        "\nSQL = 'UPDATE subscribers SET status = :s WHERE id = :i'\n",
    ],
)
def test_the_check_fails_on_a_new_writer(added: str) -> None:
    """The check above can fail: each way of writing the status, added to a copy of
    events/ingest.py, is reported."""
    sources = tree_sources()
    sources["mailer.events.ingest"] += added
    writers = status_writers(sources)
    assert len(writers) == 1 and writers[0].startswith("mailer.events.ingest:"), writers
