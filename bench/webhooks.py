"""Webhook ingestion: signed SendGrid batches through the real endpoint.

    .venv/bin/python -m bench webhooks

`mailer serve`'s app runs under uvicorn in a child process on loopback, on a fresh SQLite
workspace; the client posts BENCH_BATCHES (20) batches of 1,000 events each, signed as SendGrid
signs them (ECDSA P-256 over timestamp + body), one after another on one keep-alive connection.
Timed: the requests only (the server verifies, parses, stores in one transaction, suppresses).
Then the same batches again: all duplicates, nothing stored.
"""

from __future__ import annotations

import base64
import json
import multiprocessing
import os
import socket
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from mailer.store.db import make_engine, session_factory, transaction, upgrade_schema
from mailer.store.models import CampaignRun
from mailer.subscribers.service import add_subscriber
from mailer.workspace import Workspace, init_workspace

BATCH = 1000
SUBSCRIBERS = 2000
# A realistic mix: most events are processed/delivered/open; a few suppress.
KINDS = ["processed", "delivered", "delivered", "open", "open", "click", "deferred"]


def _serve(root: str, port: int) -> None:
    import uvicorn

    from mailer.web.app import create_app

    app = create_app(Workspace(Path(root)), host="127.0.0.1")
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _prepare(folder: Path) -> tuple[Workspace, int, list[int]]:
    workspace = init_workspace(folder / "ws")
    engine = make_engine(workspace.database_url)
    upgrade_schema(engine)
    sessions = session_factory(engine)
    with transaction(sessions) as session:
        ids = [add_subscriber(session, f"r{n}@example.com").id for n in range(SUBSCRIBERS)]
        run = CampaignRun(slug="bench", subject="Bench", template={}, links=[])
        session.add(run)
        session.flush()
        campaign = run.id
    engine.dispose()
    return workspace, campaign, ids


def _batches(count: int, campaign: int, ids: list[int]) -> list[bytes]:
    bodies = []
    for b in range(count):
        events: list[dict[str, Any]] = []
        for n in range(BATCH):
            serial = b * BATCH + n
            kind = KINDS[serial % len(KINDS)]
            extra: dict[str, Any] = {}
            if serial % 500 == 7:
                kind, extra = "bounce", {"type": "bounce", "reason": "550 unknown user"}
            elif serial % 500 == 11:
                kind = "unsubscribe"
            elif kind == "click":
                extra = {"url": "https://www.example.com/book?utm_source=newsletter"}
            events.append(
                {
                    "email": f"r{serial % SUBSCRIBERS}@example.com",
                    "timestamp": 1_700_000_000 + serial,
                    "event": kind,
                    "sg_event_id": f"bench-{serial:08d}-{kind}",
                    "sg_message_id": f"m{serial}.filter0001",
                    "subscriber_id": str(ids[serial % len(ids)]),
                    "campaign_slug": "bench",
                    "campaign_id": str(campaign),
                    **extra,
                }
            )
        bodies.append(json.dumps(events).encode())
    return bodies


def _headers(key: ec.EllipticCurvePrivateKey, body: bytes) -> dict[str, str]:
    stamp = str(int(time.time()))
    signature = key.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return {
        "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
        "X-Twilio-Email-Event-Webhook-Timestamp": stamp,
        "Content-Type": "application/json",
    }


def _post_all(url: str, key: ec.EllipticCurvePrivateKey, bodies: list[bytes]) -> dict[str, Any]:
    signed = [(body, _headers(key, body)) for body in bodies]
    per_batch: list[float] = []
    totals = {"stored": 0, "duplicates": 0, "suppressed": 0}
    with httpx.Client(timeout=60) as client:
        started = time.perf_counter()
        for body, headers in signed:
            t0 = time.perf_counter()
            response = client.post(url, content=body, headers=headers)
            per_batch.append(time.perf_counter() - t0)
            response.raise_for_status()
            for name in totals:
                totals[name] += response.json()[name]
        elapsed = time.perf_counter() - started
    return {
        **totals,
        "events_per_second": len(bodies) * BATCH / elapsed,
        "median_ms": statistics.median(per_batch) * 1000,
        "max_ms": max(per_batch) * 1000,
    }


def webhook_rates(batches: int) -> dict[str, dict[str, Any]]:
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with tempfile.TemporaryDirectory() as folder:
        workspace, campaign, ids = _prepare(Path(folder))
        bodies = _batches(batches, campaign, ids)
        os.environ["MAILER_SENDGRID__WEBHOOK_PUBLIC_KEY"] = base64.b64encode(public).decode()
        os.environ.setdefault("MAILER_SECRET_KEY", "bench-secret-key-0123456789abcdef")
        port = _free_port()
        server = multiprocessing.get_context("spawn").Process(
            target=_serve, args=(str(workspace.root), port), daemon=True
        )
        server.start()
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 20
            while True:
                try:
                    httpx.get(f"{base}/healthz", timeout=1).raise_for_status()
                    break
                except httpx.HTTPError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
            first = _post_all(f"{base}/webhooks/sendgrid", key, bodies)
            again = _post_all(f"{base}/webhooks/sendgrid", key, bodies)
        finally:
            server.terminate()
            server.join(timeout=10)
    return {"new": first, "retried": again}


def main() -> None:
    batches = int(os.environ.get("BENCH_BATCHES", "20"))
    print(f"load average at start: {os.getloadavg()[0]:.2f} ({os.cpu_count()} CPUs)")
    rates = webhook_rates(batches)
    for name, figures in rates.items():
        print(
            f"SendGrid webhook, SQLite, {batches} x {BATCH:,} events ({name}): "
            f"{figures['events_per_second']:,.0f} events/s; per batch median "
            f"{figures['median_ms']:.0f} ms, max {figures['max_ms']:.0f} ms; "
            f"stored {figures['stored']:,}, duplicates {figures['duplicates']:,}, "
            f"suppressed {figures['suppressed']:,}"
        )
