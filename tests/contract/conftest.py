"""The storage contract: each rule whose code differs per database, stated once, run on each.

One fixture, ``backend``, runs a test on SQLite and on PostgreSQL, and also on the in-memory
ledger (tests/fakes/ledger.py) when the test is marked ``memory`` (the ledger's rules are the
same there: the engine's fast tests rely on it). Behaviour tests elsewhere can then run on
SQLite alone: what differs between the databases is pinned here.

SQLite: a copy of one database migrated once per session (migrating per test costs ~0.5 s).
PostgreSQL: the session's database (tests/conftest.py's ``postgres_database``), emptied before
each test.
"""

from __future__ import annotations

import shutil
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from mailer.delivery.ledger import DEFAULT_LEASE, Ledger
from mailer.delivery.ports import Claim, LedgerPort
from mailer.delivery.types import MessageTemplate
from mailer.store.db import make_engine, session_factory, upgrade_schema
from mailer.store.models import Base, CampaignRun, Delivery
from mailer.subscribers.segments import Audience
from mailer.subscribers.service import add_subscriber, unsubscribe
from tests.fakes.ledger import MemoryStore

SQL_BACKENDS = ("sqlite", "postgresql")
# A process of this machine that no longer exists: its leases are taken over at once.
DEAD_HERE = f"{socket.gethostname()}:999999999"
TEMPLATE = MessageTemplate(
    campaign_slug="contract",
    from_email="news@clinic.example",
    subject="Contract",
    html="<p>Hi</p>",
    text="Hi",
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "memory: also run on the in-memory ledger")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        names = list(SQL_BACKENDS)
        if metafunc.definition.get_closest_marker("memory"):
            names.append("memory")
        metafunc.parametrize("backend", names, indirect=True)


class LedgerWorld(Protocol):
    """What a ledger test arranges, on whichever backend: people, a run, status changes."""

    def add_people(self, count: int) -> list[int]: ...
    def start(self) -> int: ...
    def ledger(self, owner: str = "this-host:1") -> LedgerClaimer: ...
    def unsubscribe(self, subscriber_id: int) -> None: ...
    def states(self, run_id: int) -> dict[int, str]: ...
    def errors(self, run_id: int) -> dict[int, str]: ...
    def possible_duplicates(self, run_id: int) -> int: ...


class LedgerClaimer(LedgerPort, Protocol):
    """LedgerPort, with the lease length a claim may set (both ledgers take it)."""

    def claim(self, run_id: int, limit: int, lease: timedelta = DEFAULT_LEASE) -> Claim: ...


@dataclass
class SqlWorld:
    sessions: sessionmaker[Session]
    emails: dict[int, str] = field(default_factory=dict)

    def add_people(self, count: int) -> list[int]:
        with self.sessions() as session, session.begin():
            start = len(self.emails)
            people = [
                add_subscriber(session, f"reader{n}@example.com", first_name=f"R{n}")
                for n in range(start, start + count)
            ]
            session.flush()
            self.emails.update({p.id: p.email for p in people})
            return [p.id for p in people]

    def start(self) -> int:
        run, _ = Ledger(self.sessions).start(TEMPLATE.campaign_slug, TEMPLATE, Audience())
        return run.id

    def ledger(self, owner: str = "this-host:1") -> LedgerClaimer:
        return Ledger(self.sessions, owner=owner)

    def unsubscribe(self, subscriber_id: int) -> None:
        with self.sessions() as session, session.begin():
            unsubscribe(session, self.emails[subscriber_id], source="contract")

    def states(self, run_id: int) -> dict[int, str]:
        return {sid: state for sid, (state, _) in self._rows(run_id).items()}

    def errors(self, run_id: int) -> dict[int, str]:
        return {sid: error for sid, (_, error) in self._rows(run_id).items()}

    def _rows(self, run_id: int) -> dict[int, tuple[str, str]]:
        with self.sessions() as session:
            rows = session.execute(
                select(Delivery.subscriber_id, Delivery.state, Delivery.error)
                .where(Delivery.campaign_id == run_id)
                .order_by(Delivery.subscriber_id)
            )
            return {sid: (state, error) for sid, state, error in rows}

    def possible_duplicates(self, run_id: int) -> int:
        with self.sessions() as session:
            run = session.get(CampaignRun, run_id)
            assert run is not None
            return run.possible_duplicates


@dataclass
class MemoryWorld:
    store: MemoryStore = field(default_factory=MemoryStore)

    def add_people(self, count: int) -> list[int]:
        return self.store.add_people(count)

    def start(self) -> int:
        return self.store.start()

    def ledger(self, owner: str = "this-host:1") -> LedgerClaimer:
        return self.store.ledger(owner)

    def unsubscribe(self, subscriber_id: int) -> None:
        self.store.set_status(subscriber_id, "unsubscribed")

    def states(self, run_id: int) -> dict[int, str]:
        return self.store.states(run_id)

    def errors(self, run_id: int) -> dict[int, str]:
        return {sid: row.error for sid, row in self.store.runs[run_id].rows.items()}

    def possible_duplicates(self, run_id: int) -> int:
        return self.store.runs[run_id].possible_duplicates


@dataclass
class Backend:
    """One backend for one test: ``sessions`` on SQLite and PostgreSQL (None in memory), and
    ``world`` for the ledger's rules on any of the three."""

    name: str
    url: str = ""
    sessions: Any = None  # sessionmaker[Session] on SQL backends
    world: LedgerWorld = field(default_factory=MemoryWorld)

    def count(self, model: type[Base]) -> int:
        with self.sessions() as session:
            return int(session.scalar(select(func.count()).select_from(model)) or 0)


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("contract") / "migrated.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade_schema(engine)
    engine.dispose()
    return path


def empty_postgres(engine: Engine) -> None:
    """Every table of the session's PostgreSQL database emptied, ids restarted."""
    names = ", ".join(f'"{table.name}"' for table in Base.metadata.sorted_tables)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


@pytest.fixture
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "memory":
        yield Backend("memory")
        return
    if request.param == "sqlite":
        shutil.copy(request.getfixturevalue("migrated_sqlite"), tmp_path / "mailer.db")
        url = f"sqlite:///{tmp_path / 'mailer.db'}"
        engine = make_engine(url)
    else:
        url = request.getfixturevalue("postgres_database")
        engine = make_engine(url)
        empty_postgres(engine)
    sessions = session_factory(engine)
    yield Backend(request.param, url, sessions, SqlWorld(sessions))
    engine.dispose()
