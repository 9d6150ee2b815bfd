"""Booking webhooks: signed Calendly deliveries through the real endpoint, with clicks beside.

    .venv/bin/python -m bench bookings

`mailer serve`'s app runs under uvicorn in a child process on loopback, on a fresh SQLite
workspace holding a sent campaign (a run with its links, BENCH_PEOPLE subscribers, a booking
click recorded for some of them). The client posts BENCH_BOOKINGS `invitee.created` deliveries,
each signed as Calendly signs them (HMAC-SHA256 over "<t>.<body>") when it is sent, over
CONCURRENCY keep-alive connections: a third carry a click reference, a third only the address
of a subscriber who clicked, a third only utm_campaign. Then the same deliveries again (Calendly's
retries: all duplicates), then a cancellation for every tenth. Timed: the requests. Meanwhile one
more connection follows /c/ links one after another: their latency during the burst, against
the same probe with no bookings arriving, says whether bookings hold up click redirects.
Target: >= 500 signed events/s (issue 15).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import multiprocessing
import os
import socket
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

CONCURRENCY = 8
TARGET = 500.0
KEY = "bench-calendly-signing-key"
SECRET = "bench-secret-key-0123456789abcdef"
SLUG = "bench-bookings"
BOOKING_URL = "https://calendly.com/summitspine/free-consultation"


def _serve(root: str, port: int) -> None:
    import uvicorn

    from mailer.web.app import create_app
    from mailer.workspace import Workspace

    app = create_app(Workspace(Path(root)), host="127.0.0.1")
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _prepare(root: Path, people: int) -> tuple[list[bytes], list[bytes], list[str]]:
    """The workspace and its database; (creations, cancellations, click paths)."""
    from mailer.bookings.refs import make_ref
    from mailer.campaigns.links import with_utm
    from mailer.store.db import make_engine, session_factory, transaction, upgrade_schema
    from mailer.store.models import CampaignRun, Event, EventKind
    from mailer.subscribers.service import add_subscriber
    from mailer.tokens import SecretKey, click_token
    from mailer.workspace import Workspace, init_workspace

    init_workspace(root)
    workspace = Workspace(root)
    engine = make_engine(workspace.database_url)
    upgrade_schema(engine)
    sessions = session_factory(engine)
    places = ["cta-top", "read-more", "cta-bottom"]
    targets = [BOOKING_URL, "https://www.summitspine.example/blog/sleep", BOOKING_URL]
    run_links = [
        {"index": n, "url": with_utm(url, SLUG, place), "place": place, "text": place}
        for n, (url, place) in enumerate(zip(targets, places, strict=True))
    ]
    now = datetime.now(UTC)
    with transaction(sessions) as session:
        ids = [add_subscriber(session, f"p{n}@example.com").id for n in range(people)]
        run = CampaignRun(slug=SLUG, subject="Bench", template={}, links=run_links)
        run.recipients = people
        session.add(run)
        session.flush()
        run_id = run.id
        for n, subscriber in enumerate(ids):  # every third person clicked a booking button
            if n % 3 == 1:
                session.add(
                    Event(
                        source="web",
                        kind=EventKind.CLICKED,
                        campaign_id=run_id,
                        subscriber_id=subscriber,
                        occurred_at=now,
                        raw={"link_index": 0, "place": "cta-top"},
                    )
                )
    engine.dispose()
    key = SecretKey(SECRET.encode())
    created, canceled = [], []
    for n in range(len(ids) * 3):
        person = ids[n % len(ids)]
        tracking: dict[str, Any] = {"utm_source": "newsletter", "utm_medium": "email"}
        email = f"p{n % len(ids)}@example.com"
        if n % 3 == 0:
            tracking.update(utm_campaign=SLUG, utm_content="cta-top")
            tracking["utm_term"] = make_ref(key, person, run_id, 0)
        elif n % 3 == 2:
            tracking.update(utm_campaign=SLUG, utm_content="cta-bottom")
            email = f"stranger{n}@example.org"
        for kind, out in (("invitee.created", created), ("invitee.canceled", canceled)):
            out.append(json.dumps(_invitee(kind, n, email, tracking)).encode())
    clicks = [f"/c/{click_token(key, i, SLUG, n % 3)}" for n, i in enumerate(ids)]
    return created, canceled[::10], clicks


def _invitee(kind: str, n: int, email: str, tracking: dict[str, Any]) -> dict[str, Any]:
    event = "https://api.calendly.com/scheduled_events/BENCH0000000001"
    stamp = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    return {
        "created_at": stamp,
        "created_by": "https://api.calendly.com/users/BENCHUSER0000001",
        "event": kind,
        "payload": {
            "uri": f"{event}/invitees/INV{n:012d}",
            "email": email,
            "name": "Bench Person",
            "created_at": stamp,
            "updated_at": stamp,
            "status": "canceled" if kind == "invitee.canceled" else "active",
            "rescheduled": False,
            "old_invitee": None,
            "new_invitee": None,
            "questions_and_answers": [{"question": "Why?", "answer": "Neck pain", "position": 0}],
            "scheduled_event": {"uri": event, "name": "Free consultation"},
            "timezone": "America/Denver",
            "tracking": {"utm_term": None, "salesforce_uuid": None, **tracking},
        },
    }


def _request(port: int, body: bytes) -> bytes:
    stamp = str(int(time.time()))
    mac = hmac.new(KEY.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return (
        f"POST /webhooks/calendly HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        f"Calendly-Webhook-Signature: t={stamp},v1={mac}\r\n\r\n"
    ).encode() + body


async def _read(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    return int(head[9:12]), await reader.readexactly(length) if length else b""


async def _post_all(port: int, bodies: list[bytes], outcomes: dict[str, int]) -> float:
    queue = list(reversed(bodies))

    async def worker() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while queue:
                writer.write(_request(port, queue.pop()))
                status, answer = await _read(reader)
                outcome = (
                    json.loads(answer).get("outcome", str(status)) if status == 200 else status
                )
                outcomes[str(outcome)] = outcomes.get(str(outcome), 0) + 1
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return time.perf_counter() - started


async def _probe_clicks(port: int, paths: list[str], stop: asyncio.Event) -> list[float]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    latencies: list[float] = []
    n = 0
    try:
        while not stop.is_set():
            t0 = time.perf_counter()
            writer.write(f"GET {paths[n % len(paths)]} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            status, _ = await _read(reader)
            assert status == 302, status
            latencies.append(time.perf_counter() - t0)
            n += 1
    finally:
        writer.close()
    return latencies


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _phase(port: int, pid: int, bodies: list[bytes], clicks: list[str]) -> dict[str, Any]:
    cpu = _cpu_seconds(pid)
    stop = asyncio.Event()
    probe = asyncio.create_task(_probe_clicks(port, clicks, stop))
    outcomes: dict[str, int] = {}
    if bodies:
        elapsed = await _post_all(port, bodies, outcomes)
    else:
        await asyncio.sleep(2.0)
        elapsed = 2.0
    stop.set()
    latencies = sorted(await probe)
    cpu = _cpu_seconds(pid) - cpu
    return {
        "cpu_per_request_ms": cpu / max(1, len(bodies) + len(latencies)) * 1000,
        "rate": len(bodies) / elapsed,
        "outcomes": outcomes,
        "click_p50_ms": statistics.median(latencies) * 1000,
        "click_p99_ms": latencies[int(len(latencies) * 0.99)] * 1000,
        "clicks": len(latencies),
    }


def booking_rates(people: int) -> dict[str, dict[str, Any]]:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "ws"
        os.environ.update(
            {
                "MAILER_SECRET_KEY": SECRET,
                "MAILER_CALENDLY_SIGNING_KEY": KEY,
                "MAILER_BOOKING__URL": BOOKING_URL,
            }
        )
        created, canceled, clicks = _prepare(root, people)
        port = _free_port()
        server = multiprocessing.get_context("spawn").Process(
            target=_serve, args=(str(root), port), daemon=True
        )
        server.start()
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                        break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)

            async def phases() -> dict[str, dict[str, Any]]:
                pid = server.pid
                assert pid is not None
                return {
                    "clicks alone": await _phase(port, pid, [], clicks),
                    "new bookings": await _phase(port, pid, created, clicks),
                    "retried": await _phase(port, pid, created, clicks),
                    "cancellations": await _phase(port, pid, canceled, clicks),
                }

            return asyncio.run(phases())
        finally:
            server.terminate()
            server.join(timeout=10)


def main() -> None:
    people = int(os.environ.get("BENCH_PEOPLE", "1000"))
    print(f"load average at start: {os.getloadavg()[0]:.2f} ({os.cpu_count()} CPUs)")
    for name, figures in booking_rates(people).items():
        line = f"Calendly webhook, SQLite, {CONCURRENCY} connections ({name}): "
        if figures["outcomes"]:
            verdict = "ok" if figures["rate"] >= TARGET else "MISSED"
            line += (
                f"{figures['rate']:,.0f} signed events/s (target >= {TARGET:,.0f}: {verdict}); "
                f"outcomes {figures['outcomes']}; "
                f"server CPU {figures['cpu_per_request_ms']:.2f} ms per request "
                f"(one free core: about {1000 / figures['cpu_per_request_ms']:,.0f}/s); "
            )
        line += (
            f"click redirects meanwhile: p50 {figures['click_p50_ms']:.1f} ms, "
            f"p99 {figures['click_p99_ms']:.1f} ms ({figures['clicks']:,} clicks)"
        )
        print(line)
    print(f"load average at end: {os.getloadavg()[0]:.2f}")
