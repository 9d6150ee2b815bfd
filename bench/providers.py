"""Provider figures: MIME build per recipient, SMTP to local smtp-sink and aiosmtpd, SendGrid
to the fake.

    .venv/bin/python -m bench providers
    .venv/bin/python -m bench smtp          # the SMTP figures alone (bench/smtp.py)

The fake servers run in a child process, so the figures are the sending process's own work
(on a shared 2-core machine, read them as orders of magnitude). Each function returns its
figures as a dict, for later benchmarks (the ledger) to reuse.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import smtplib
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.connection import Connection
from typing import Any

from tests.fakes import make_recipients, make_template

from mailer.delivery.mime import compile_template
from mailer.delivery.providers.sendgrid import SendGridProvider
from mailer.delivery.providers.smtp import SmtpProvider
from mailer.delivery.types import MessageTemplate

API_KEY = "SG.bench"


def _serve(kind: str, options: dict[str, Any], conn: Connection) -> None:
    """Child process: run one fake server and answer "count" and "stop" over the pipe."""
    from tests.fakes.sendgrid_server import FakeSendGrid
    from tests.fakes.smtp_server import FakeSmtp

    if kind == "sendgrid":
        sendgrid = FakeSendGrid(API_KEY, **options).start()
        conn.send(sendgrid.url)

        def count() -> int:
            return sendgrid.recipient_count()

        stop = sendgrid.stop
    else:
        smtp = FakeSmtp(**options).start()
        conn.send(smtp.port)

        def count() -> int:
            return len(smtp.messages)

        stop = smtp.stop
    while True:
        command = conn.recv()
        if command == "count":
            conn.send(count())
        elif command == "reset" and kind == "sendgrid":
            sendgrid.reset()  # what it recorded: a long benchmark's rounds need not add up
            conn.send("reset")
        elif command == "stop":
            stop()
            conn.send("stopped")
            return


class ServerProcess:
    def __init__(self, kind: str, **options: Any) -> None:
        context = multiprocessing.get_context("fork")
        self._conn, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(kind, options, child), daemon=True)
        self._process.start()
        self.address: Any = self._conn.recv()

    def count(self) -> int:
        self._conn.send("count")
        return int(self._conn.recv())

    def reset(self) -> None:
        self._conn.send("reset")
        self._conn.recv()

    def stop(self) -> None:
        self._conn.send("stop")
        self._conn.recv()
        self._process.join(10)


@contextmanager
def server_process(kind: str, **options: Any) -> Iterator[ServerProcess]:
    server = ServerProcess(kind, **options)
    try:
        yield server
    finally:
        server.stop()


def mime_build(builds: int = 10_000) -> dict[str, float]:
    """Median µs to build one recipient's message (campaign compiled once, as providers do)."""
    template = make_template()
    recipients = make_recipients(1000)
    compiled = compile_template(template)
    timings = []
    for index in range(builds):
        started = time.perf_counter()
        compiled.render(recipients[index % 1000])
        timings.append(time.perf_counter() - started)
    size = len(compiled.render(recipients[0]).data)
    started = time.perf_counter()
    compile_template(make_template())
    compile_ms = (time.perf_counter() - started) * 1e3
    return {
        "median_us": statistics.median(timings) * 1e6,
        "p95_us": sorted(timings)[int(len(timings) * 0.95)] * 1e6,
        "message_bytes": size,
        "compile_ms": compile_ms,
    }


def smtp_rates(
    messages: int = 3000,
    batch: int = 500,
    template: MessageTemplate | None = None,
    receivers: tuple[str, ...] = ("smtp-sink", "aiosmtpd"),
    connections: tuple[int, ...] = (1, 2, 4),
) -> dict[str, float]:
    """Messages/s through the SMTP provider to each receiver on 127.0.0.1, with each number of
    ``connections``, beside a bare smtplib ``sendmail`` loop over one connection sending the same
    messages pre-built (issue 17: 3,000 x 26.5 KB, one sending process).

    Receivers: Postfix's smtp-sink (C, made to take mail at full speed; PIPELINING offered) and
    aiosmtpd in a child process (it reads DATA line by line in Python, so it bounds the rate of
    large messages). Batches of the contenders alternate, in a turning order, so a load change
    on the shared machine hits all of them; each contender sends all ``messages``. Also the
    sending process's CPU per message.
    """
    from tests.fakes.smtp_sink import SmtpSink

    template = template or make_template()
    recipients = make_recipients(messages)
    compiled = compile_template(template)
    figures: dict[str, float] = {"messages": messages}
    figures["message_bytes"] = len(compiled.render(recipients[0]).data)
    for receiver in receivers:
        server: Any
        with SmtpSink(dump=False) if receiver == "smtp-sink" else server_process("smtp") as server:
            port = server.port if receiver == "smtp-sink" else server.address
            bare = smtplib.SMTP("127.0.0.1", port, timeout=30)  # as the provider's connections
            providers = {
                n: SmtpProvider("127.0.0.1", port, security="none", connections=n)
                for n in connections
            }
            names = ["bare", *providers]
            elapsed = dict.fromkeys(names, 0.0)
            cpu = dict.fromkeys(names, 0.0)
            for index, start in enumerate(range(0, messages, batch)):
                chunk = recipients[start : start + batch]
                prebuilt = [(r.email, compiled.render(r).data) for r in chunk]
                turn = index % len(names)
                for name in names[turn:] + names[:turn]:
                    started, cpu_started = time.perf_counter(), time.process_time()
                    if name == "bare":
                        for address, data in prebuilt:
                            bare.sendmail(template.from_email, [address], data)
                    else:
                        result = providers[name].send_batch(template, chunk)
                        assert len(result.accepted) == len(chunk), result.failures
                    elapsed[name] += time.perf_counter() - started
                    cpu[name] += time.process_time() - cpu_started
            bare.quit()
            for provider in providers.values():
                provider.close()
            expected = messages * len(names)
            deadline = time.monotonic() + 5  # smtp-sink's counters trail its replies a little
            while server.count() < expected and time.monotonic() < deadline:
                time.sleep(0.05)
            received = server.count()
        assert received == expected, f"{receiver} got {received} of {expected}"
        for name in names:
            key = f"{receiver}_{'bare' if name == 'bare' else f'c{name}'}"
            figures[f"{key}_per_second"] = messages / elapsed[name]
            figures[f"{key}_cpu_us"] = cpu[name] / messages * 1e6
    return figures


def print_smtp_rates(figures: dict[str, float], receivers: tuple[str, ...] = ()) -> None:
    receivers = receivers or ("smtp-sink", "aiosmtpd")
    for receiver in receivers:
        parts = [
            f"{key[len(receiver) + 2 :]} connection(s) {figures[f'{key}_per_second']:,.0f}/s "
            f"({figures[f'{key}_cpu_us']:,.0f} µs CPU)"
            for key in sorted(k[: -len("_per_second")] for k in figures)
            if key.startswith(f"{receiver}_c") and f"{key}_per_second" in figures
        ]
        print(
            f"SMTP to local {receiver}, {figures['messages']:,.0f} x "
            f"{figures['message_bytes']:,.0f}-byte messages, one process: provider "
            + ", ".join(parts)
            + f"; bare smtplib sendmail loop {figures[f'{receiver}_bare_per_second']:,.0f}/s "
            f"({figures[f'{receiver}_bare_cpu_us']:,.0f} µs CPU)",
            flush=True,
        )


def sendgrid_rates(requests: int = 100, per_request: int = 1000) -> dict[str, float]:
    """Recipients/s: the provider (build + post + result) vs posting pre-built payloads.

    Rounds of 10 requests alternate between the two, with each round's payloads built
    (untimed) just before it: holding all 100 would leave ~600,000 live dicts for the
    garbage collector to rescan during the provider's run, which a real sender never has.
    The fake validates a sample of each body against the spec (full validation of 1,000
    personalizations costs the server ~50-100 ms and would hide the client's share).
    """
    template = make_template()
    batches = [make_recipients(per_request, start=i * per_request) for i in range(requests)]
    total = requests * per_request
    bare = full = build = 0.0
    with server_process("sendgrid", schema_validation="sample") as server:
        provider = SendGridProvider(API_KEY, api_host=server.address)
        post = provider.client.client.mail.send.post
        for first in range(0, requests, 10):
            rounds = batches[first : first + 10]
            started = time.perf_counter()
            payloads = [provider.build_payload(template, batch) for batch in rounds]
            build += time.perf_counter() - started
            started = time.perf_counter()
            for payload in payloads:
                response = post(request_body=payload)
                assert response.status_code == 202
            bare += time.perf_counter() - started
            del payloads
            gc.collect()

            started = time.perf_counter()
            for batch in rounds:
                provider.send_batch(template, batch)
            full += time.perf_counter() - started
        received = server.count()
    assert received == 2 * total, f"server got {received} of {2 * total}"
    return {
        "recipients": total,
        "bare_per_second": total / bare,
        "provider_per_second": total / full,
        "ratio": bare / full,
        "build_payload_ms": build / requests * 1e3,
    }


@contextmanager
def _ledger_database(backend: str) -> Iterator[Any]:
    """Sessions on a fresh SQLite file or a throwaway PostgreSQL database, schema current."""
    import tempfile
    import uuid
    from pathlib import Path

    from sqlalchemy import create_engine, text

    from bench.delivery import POSTGRES
    from mailer.store.db import make_engine, session_factory, upgrade_schema

    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            engine = make_engine(f"sqlite:///{Path(folder) / 'bench.db'}")
            upgrade_schema(engine)
            yield session_factory(engine)
            engine.dispose()
        return
    admin = create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    name = f"mailer_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        engine = make_engine(admin.url.set(database=name).render_as_string(hide_password=False))
        upgrade_schema(engine)
        yield session_factory(engine)
        engine.dispose()
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def send_loop_rates(
    messages: int = 2000, backends: tuple[str, ...] = ("sqlite", "postgresql")
) -> dict[str, float]:
    """Messages/s through the whole send loop (ledger, engine, provider) with the per-message
    providers, beside the provider alone on the same messages in the same run.

    SMTP goes to aiosmtpd in a child process with a 1 KB message (so the server is less of a
    bound and the ledger's share shows); the outbox writes the 26.5 KB newsletter to a
    temporary folder. The difference between the two figures of a row is what the ledger and
    the engine cost per message (claims, state changes, commits).
    """
    import tempfile
    from pathlib import Path

    from bench.delivery import populate, values
    from mailer.delivery.engine import Sender
    from mailer.delivery.ledger import Ledger
    from mailer.delivery.providers.base import Provider
    from mailer.delivery.providers.outbox import OutboxProvider
    from mailer.subscribers.segments import Audience

    small = make_template(
        campaign_slug="bench-smtp",
        html="<p>Hello %%first_name%%</p><p>short news</p>\n<a href='%%unsubscribe_url%%'>u</a>",
        text="Hello %%first_name%%\nshort news\nUnsubscribe: %%unsubscribe_url%%\n",
    )
    newsletter = make_template(campaign_slug="bench-outbox")
    figures: dict[str, float] = {}
    with server_process("smtp") as server, tempfile.TemporaryDirectory() as folder:
        for backend in backends:
            with _ledger_database(backend) as sessions:
                populate(sessions, messages)
                for kind, template in (("smtp", small), ("outbox", newsletter)):
                    provider: Provider
                    if kind == "smtp":
                        provider = SmtpProvider("127.0.0.1", server.address, security="none")
                    else:
                        provider = OutboxProvider(Path(folder) / backend)
                    recipients = make_recipients(messages)
                    started = time.perf_counter()
                    for start in range(0, messages, 500):
                        provider.send_batch(template, recipients[start : start + 500])
                    alone = time.perf_counter() - started
                    ledger = Ledger(sessions)
                    slug = template.campaign_slug
                    run, _ = ledger.start(slug, template, Audience())
                    started = time.perf_counter()
                    outcome = Sender(ledger, provider, values, batch_size=500).run(run.id, template)
                    loop = time.perf_counter() - started
                    provider.close()
                    assert outcome.finished and outcome.sent == messages, outcome
                    figures[f"{kind}_{backend}_loop_per_second"] = messages / loop
                    figures[f"{kind}_{backend}_alone_per_second"] = messages / alone
                    figures[f"{kind}_{backend}_ledger_us"] = (loop - alone) / messages * 1e6
    return figures


def main() -> None:
    print(f"load average at start: {os.getloadavg()[0]:.2f} ({os.cpu_count()} CPUs)")
    mime = mime_build()
    print(
        f"MIME build per recipient: median {mime['median_us']:.1f} µs, "
        f"p95 {mime['p95_us']:.1f} µs ({mime['message_bytes']:,} bytes; "
        f"compile once {mime['compile_ms']:.2f} ms; 10,000 builds)"
    )
    small = make_template(
        html="<p>Hello %%first_name%%</p><p>short news</p>\n<a href='%%unsubscribe_url%%'>u</a>",
        text="Hello %%first_name%%\nshort news\nUnsubscribe: %%unsubscribe_url%%\n",
    )
    print_smtp_rates(smtp_rates())
    print_smtp_rates(smtp_rates(template=small, connections=(1,)))
    loop = send_loop_rates()
    for backend in ("sqlite", "postgresql"):
        for kind in ("smtp", "outbox"):
            print(
                f"send loop, {kind}, {backend} ledger, 2,000 messages: "
                f"{loop[f'{kind}_{backend}_loop_per_second']:,.0f}/s "
                f"(provider alone {loop[f'{kind}_{backend}_alone_per_second']:,.0f}/s; "
                f"ledger and engine {loop[f'{kind}_{backend}_ledger_us']:,.0f} µs per message)"
            )
    sendgrid = sendgrid_rates()
    print(
        f"SendGrid to local fake, {sendgrid['recipients']:,.0f} recipients "
        f"(100 requests x 1,000): provider {sendgrid['provider_per_second']:,.0f}/s, "
        f"bare POST loop {sendgrid['bare_per_second']:,.0f}/s, "
        f"ratio provider/bare {sendgrid['ratio']:.2f} "
        f"(build_payload {sendgrid['build_payload_ms']:.1f} ms per 1,000)"
    )
