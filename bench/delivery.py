"""Delivery end to end: ledger + send loop + sendgrid provider -> the fake SendGrid on loopback.

    .venv/bin/python -m bench delivery                 # all figures below
    BENCH_RECIPIENTS=20000 .venv/bin/python -m bench delivery   # smaller, quicker

1. 100,000 recipients, SQLite ledger: recipients/s end to end (audience fixed, claims, tokens,
   payloads, POSTs, ledger writes), beside a bare loop that only POSTs the same pre-built
   payloads with the same client, in the same run; and the ratio.
2. 1,000,000 recipients (BENCH_MILLION=0 skips it; BENCH_MILLION_RECIPIENTS=N for fewer): peak
   memory of a process that only opens the (already populated) database and sends.
3. 100,000 recipients on PostgreSQL with 1, 2 and 4 worker processes (BENCH_PG=0 skips it).
   The three runs share one database, so the later ones plan with the statistics the
   earlier ones left: compare with bench/workers.py (issue 17: a new database per count,
   beside the SQLite single process in the same run).
The fake server runs in its own process (bench.providers.server_process).
"""

from __future__ import annotations

import multiprocessing
import os
import resource
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, insert, text
from sqlalchemy.orm import Session, sessionmaker
from tests.fakes import make_template

from bench.providers import API_KEY, server_process
from mailer.campaigns.personalize import recipient_substitutions
from mailer.delivery.engine import Sender
from mailer.delivery.ledger import ClaimedRecipient, Ledger, template_from_json
from mailer.delivery.providers.sendgrid import SendGridProvider
from mailer.delivery.types import MessageTemplate, Recipient
from mailer.store.db import make_engine, session_factory, upgrade_schema
from mailer.store.models import Subscriber, utcnow
from mailer.subscribers.segments import Audience

SECRET = b"bench-secret-key"
BASE_URL = "https://news.summitspine.example"
POSTGRES = os.environ.get(
    "MAILER_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def populate(sessions: sessionmaker[Session], count: int) -> None:
    """Active subscribers, inserted in chunks (the import has its own benchmark)."""
    now = utcnow()
    with sessions() as session, session.begin():
        for start in range(0, count, 20_000):
            rows = [
                {
                    "email": f"reader{n:07d}@example.com",
                    "email_key": f"reader{n:07d}@example.com",
                    "first_name": f"Reader{n}",
                    "last_name": "",
                    "status": "active",
                    "attributes": {},
                    "consent_source": "bench",
                    "consent_ip": "",
                    "consent_text": "",
                    "created_at": now,
                    "updated_at": now,
                }
                for n in range(start, min(start + 20_000, count))
            ]
            session.execute(insert(Subscriber), rows)


def values(person: ClaimedRecipient) -> dict[str, str]:
    return recipient_substitutions(
        SECRET,
        campaign_slug="bench",
        base_url=BASE_URL,
        subscriber_id=person.subscriber_id,
        first_name=person.first_name,
    )


def template() -> MessageTemplate:
    return make_template(campaign_slug="bench")


def send_everyone(url: str, sessions: sessionmaker[Session], slug: str = "bench") -> float:
    """Fix the audience and send it all; seconds taken."""
    started = time.perf_counter()
    ledger = Ledger(sessions)
    run, _ = ledger.start(slug, template(), Audience())
    provider = SendGridProvider(API_KEY, api_host=url)
    outcome = Sender(ledger, provider, values, batch_size=1000).run(
        run.id, template_from_json(run.template)
    )
    assert outcome.finished, outcome.paused_reason
    return time.perf_counter() - started


def bare_posts(url: str, sessions: sessionmaker[Session], count: int) -> float:
    """Seconds to POST the same payloads, built beforehand, with the same client."""
    provider = SendGridProvider(API_KEY, api_host=url)
    people: list[Any] = []
    with sessions() as session:
        people = list(session.execute(text("select id, email, first_name from subscribers")))
    batches = [people[i : i + 1000] for i in range(0, len(people), 1000)]
    payloads = [
        provider.build_payload(
            template(),
            [
                Recipient(
                    email=p.email,
                    subscriber_id=p.id,
                    substitutions=values(ClaimedRecipient(p.id, p.email, p.first_name, "")),
                )
                for p in batch
            ],
        )
        for batch in batches
    ]
    post = provider.client.client.mail.send.post
    started = time.perf_counter()
    for payload in payloads:
        post(request_body=payload)
    return time.perf_counter() - started


def sqlite_throughput(count: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder:
        engine = make_engine(f"sqlite:///{Path(folder) / 'bench.db'}")
        upgrade_schema(engine)
        sessions = session_factory(engine)
        populate(sessions, count)
        with server_process("sendgrid", schema_validation="sample") as server:
            url = str(server.address)
            bare = bare_posts(url, sessions, count)
            full = send_everyone(url, sessions)
            received = server.count()
        engine.dispose()
    assert received == 2 * count, received
    return {
        "recipients": count,
        "end_to_end_per_second": count / full,
        "bare_posts_per_second": count / bare,
        "ratio": bare / full,
    }


def _million_child(database: str, queue: Any) -> None:
    """Send to everyone in an already populated database: this process only opens and sends."""
    engine = make_engine(database)
    sessions = session_factory(engine)
    before = _peak_rss_mb()
    with server_process("sendgrid", schema_validation="sample") as server:
        seconds = send_everyone(server.address, sessions)
        received = server.count()
    peak = _peak_rss_mb()
    engine.dispose()
    queue.put(
        {
            "seconds": seconds,
            "received": received,
            "peak_mb": peak,
            "peak_before_send_mb": before,
        }
    )


def _peak_rss_mb() -> float:
    """This process's peak RSS in MB.

    VmHWM where Linux has it: ru_maxrss survives execve, so a spawned child would report at
    least the RSS its parent had when it started it (here, after populating the database).
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def million_memory(count: int = 1_000_000) -> dict[str, float]:
    """Peak RSS of a process that sends to ``count`` people.

    The database is populated here, in this process, beforehand; a fresh child (spawned, so
    it inherits none of this process's memory) opens it and sends, and its ru_maxrss is the
    figure: the send itself, not the populate step.
    """
    with tempfile.TemporaryDirectory() as folder:
        database = f"sqlite:///{Path(folder) / 'million.db'}"
        engine = make_engine(database)
        upgrade_schema(engine)
        populate(session_factory(engine), count)
        engine.dispose()
        context = multiprocessing.get_context("spawn")
        queue = context.Queue()
        process = context.Process(target=_million_child, args=(database, queue))
        process.start()
        result: dict[str, float] = queue.get(timeout=3600)
        process.join()
    assert result["received"] == count, result
    result["recipients"] = count
    return result


def _worker(url: str, database_url: str, slug: str, run_id: int) -> None:
    engine = make_engine(database_url)
    sessions = session_factory(engine)
    ledger = Ledger(sessions)
    provider = SendGridProvider(API_KEY, api_host=url)
    Sender(ledger, provider, values, batch_size=1000).run(run_id, template())
    engine.dispose()


def postgres_workers(count: int, worker_counts: tuple[int, ...] = (1, 2, 4)) -> dict[str, float]:
    admin = create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    name = f"mailer_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = admin.url.set(database=name).render_as_string(hide_password=False)
    figures: dict[str, float] = {}
    try:
        engine = make_engine(url)
        upgrade_schema(engine)
        sessions = session_factory(engine)
        populate(sessions, count)
        context = multiprocessing.get_context("fork")
        with server_process("sendgrid", schema_validation="sample") as server:
            for workers in worker_counts:
                slug = f"bench-{workers}"
                ledger = Ledger(sessions)
                run, _ = ledger.start(slug, template(), Audience())
                engine.dispose()
                started = time.perf_counter()
                processes = [
                    context.Process(target=_worker, args=(server.address, url, slug, run.id))
                    for _ in range(workers)
                ]
                for process in processes:
                    process.start()
                for process in processes:
                    process.join()
                seconds = time.perf_counter() - started
                assert ledger.finish_if_done(run.id)
                figures[f"workers_{workers}_per_second"] = count / seconds
        engine.dispose()
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    return figures


def main() -> None:
    count = _env_int("BENCH_RECIPIENTS", 100_000)
    result = sqlite_throughput(count)
    print(
        f"sendgrid, SQLite ledger, {count:,} recipients: "
        f"end to end {result['end_to_end_per_second']:,.0f}/s; "
        f"bare POST loop {result['bare_posts_per_second']:,.0f}/s; "
        f"ratio {result['ratio']:.2f}"
    )
    if os.environ.get("BENCH_MILLION", "1") != "0":
        million = million_memory(_env_int("BENCH_MILLION_RECIPIENTS", 1_000_000))
        print(
            f"{million['recipients']:,.0f} recipients: peak RSS of the sending process "
            f"{million['peak_mb']:.0f} MB "
            f"(before sending {million['peak_before_send_mb']:.0f} MB), "
            f"{million['seconds']:.0f} s"
        )
    if os.environ.get("BENCH_PG", "1") != "0":
        for key, value in postgres_workers(count).items():
            print(f"PostgreSQL {key.replace('_', ' ')}: {value:,.0f}")
