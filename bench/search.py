"""The staff search over 1,000,000 subscribers, on SQLite and PostgreSQL (issue 14).

Fills a fresh database of each kind with SEARCH_PEOPLE subscribers (names and addresses drawn
from a few common first and last names, a third carrying a tag, a tenth bounced or
unsubscribed), then times typical searches as the staff page runs them: the start of an
address, a last name, a first name, a tag, and filters by status and tag, each with and without
a query. Each figure is the median of REPEAT runs after one warm-up, server time only (the
function the page calls). Target: at most 100 ms each.

    python -m bench search            # SEARCH_PEOPLE=100000 for a quick look
"""

from __future__ import annotations

import os
import random
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, insert, text
from sqlalchemy.orm import Session, sessionmaker

from mailer.store.db import make_engine, session_factory, upgrade_schema
from mailer.store.models import Subscriber, SubscriberTag
from mailer.subscribers.search import search

PEOPLE = int(os.environ.get("SEARCH_PEOPLE", "1000000"))
REPEAT = 7
TARGET_MS = 100.0
POSTGRES = os.environ.get(
    "MAILER_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
FIRST = ["maria", "ana", "lee", "john", "sarah", "david", "emma", "olivia", "liam", "noah"]
LAST = ["lee", "smith", "garcia", "lopez", "chen", "nguyen", "brown", "jones", "miller", "davis"]
DOMAINS = ["gmail.com", "yahoo.com", "hotmail.com", "outlook.com", "icloud.com", "example.org"]
SEARCHES: list[tuple[str, dict[str, str]]] = [
    ("maria.lopez12", {}),
    ("lee", {}),
    ("m", {}),
    ("garcia", {"status": "active"}),
    ("lead", {}),
    ("", {"status": "bounced"}),
    ("", {"tag": "lead"}),
    ("lee", {"tag": "patient"}),
    ("zzz", {"status": "bounced"}),
]


def populate(sessions: sessionmaker[Session], count: int) -> None:
    rng = random.Random(14)
    statuses = ["active"] * 9 + ["bounced"]
    with sessions.begin() as session:
        for start in range(0, count, 50_000):
            rows, tags = [], []
            for n in range(start, min(start + 50_000, count)):
                first, last = rng.choice(FIRST), rng.choice(LAST)
                email = f"{first}.{last}{n}@{rng.choice(DOMAINS)}"
                rows.append(
                    {
                        "id": n + 1,
                        "email": email,
                        "email_key": email,
                        "first_name": first.title(),
                        "last_name": last.title(),
                        "status": rng.choice(statuses),
                        "attributes": {},
                    }
                )
                if n % 3 == 0:
                    tags.append({"subscriber_id": n + 1, "tag": rng.choice(["patient", "lead"])})
            session.execute(insert(Subscriber), rows)
            session.execute(insert(SubscriberTag), tags)


def measure(sessions: sessionmaker[Session]) -> dict[str, float]:
    figures = {}
    for query, filters in SEARCHES:
        search(sessions, query, **filters)  # warm-up
        times = []
        for _ in range(REPEAT):
            started = time.perf_counter()
            search(sessions, query, **filters)
            times.append((time.perf_counter() - started) * 1000)
        label = f"{query!r} {' '.join(f'{k}={v}' for k, v in filters.items())}".strip()
        figures[label] = statistics.median(times)
    return figures


def report(backend: str, figures: dict[str, float], built: float) -> None:
    print(f"{backend}: {PEOPLE:,} subscribers (filled in {built:.0f} s)")
    for label, ms in figures.items():
        mark = "ok" if ms <= TARGET_MS else "OVER"
        print(f"  {label:<28} {ms:7.1f} ms  {mark}")


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        engine = make_engine(f"sqlite:///{Path(folder) / 'search.db'}")
        upgrade_schema(engine)
        started = time.perf_counter()
        populate(session_factory(engine), PEOPLE)
        built = time.perf_counter() - started
        with engine.connect() as connection:
            connection.execute(text("ANALYZE"))
        report("SQLite", measure(session_factory(engine)), built)
        engine.dispose()

    admin = create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    name = f"mailer_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        engine = make_engine(admin.url.set(database=name).render_as_string(hide_password=False))
        upgrade_schema(engine)
        started = time.perf_counter()
        populate(session_factory(engine), PEOPLE)
        built = time.perf_counter() - started
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("ANALYZE"))
        report("PostgreSQL", measure(session_factory(engine)), built)
        engine.dispose()
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
