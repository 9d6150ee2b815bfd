"""Issue 17's SMTP figures alone: 3,000 x 26.5 KB messages from one process to Postfix's
smtp-sink and to aiosmtpd, with 1, 2 and 4 connections, in one run (see bench/providers.py);
then the same messages through the whole send loop (SQLite ledger, engine, provider) to
smtp-sink, with 1, 2 and 4 connections, as `mailer send` sends them.

    .venv/bin/python -m bench smtp

smtp-sink comes with the Debian package postfix (.ci/run installs it).
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from tests.fakes import make_template
from tests.fakes.smtp_sink import SmtpSink

from bench.delivery import populate, values
from bench.providers import print_smtp_rates, smtp_rates
from mailer.delivery.engine import Sender
from mailer.delivery.ledger import Ledger
from mailer.delivery.providers.smtp import SmtpProvider
from mailer.store.db import make_engine, session_factory, upgrade_schema
from mailer.subscribers.segments import Audience


def send_loop_rates(
    messages: int = 3000, connections: tuple[int, ...] = (1, 2, 4)
) -> dict[str, float]:
    """Messages/s through Sender + the SQLite ledger + the SMTP provider to smtp-sink: one
    campaign run per number of connections, over the same people, in one run of the bench."""
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as folder, SmtpSink(dump=False) as sink:
        engine = make_engine(f"sqlite:///{Path(folder) / 'bench.db'}")
        upgrade_schema(engine)
        sessions = session_factory(engine)
        populate(sessions, messages)
        for n in connections:
            template = make_template(campaign_slug=f"bench-smtp-{n}")
            provider = SmtpProvider("127.0.0.1", sink.port, security="none", connections=n)
            ledger = Ledger(sessions)
            run, _ = ledger.start(template.campaign_slug, template, Audience())
            started = time.perf_counter()
            outcome = Sender(ledger, provider, values, batch_size=500).run(run.id, template)
            elapsed = time.perf_counter() - started
            provider.close()
            assert outcome.finished and outcome.sent == messages, outcome
            figures[f"c{n}_per_second"] = messages / elapsed
        engine.dispose()
        deadline = time.monotonic() + 5
        while sink.count() < messages * len(connections) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert sink.count() == messages * len(connections), sink.count()
    return figures


def main() -> None:
    print(f"load average at start: {os.getloadavg()[0]:.2f} ({os.cpu_count()} CPUs)", flush=True)
    print_smtp_rates(smtp_rates())
    print(f"load average: {os.getloadavg()[0]:.2f}", flush=True)
    loop = send_loop_rates()
    print(
        "send loop (SQLite ledger, engine, provider) to smtp-sink, 3,000 x 26.5 KB: "
        + ", ".join(f"{key[1:-11]} connection(s) {value:,.0f}/s" for key, value in loop.items())
    )
    print(f"load average at end: {os.getloadavg()[0]:.2f}")
