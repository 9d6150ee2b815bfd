"""`mailer serve` itself (a subprocess, at --log-level debug): refusals are logged with their
reason, and no key, address, body or reference ever reaches the log."""

from __future__ import annotations

import socket
import subprocess
import time

import httpx
import pytest

from mailer.workspace import Workspace
from tests.bookings import payloads
from tests.delivery_helpers import MAILER, mailer_env

pytestmark = pytest.mark.slow  # real `mailer` processes (1-5 s of imports each)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_the_server_log_holds_no_key_address_or_body(workspace: Workspace) -> None:
    port = _free_port()
    env = mailer_env(
        MAILER_CALENDLY_SIGNING_KEY=payloads.CALENDLY_KEY,
        MAILER_BOOKING_WEBHOOK_SECRET=payloads.BOOKING_KEY,
    )
    command = [MAILER, "--workspace", str(workspace.root), "--log-level", "debug", "serve"]
    server = subprocess.Popen(
        [*command, "--port", str(port)],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{base}/healthz", timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline and server.poll() is None
                time.sleep(0.1)
        document = payloads.calendly(
            email="private.person@example.net", tracking={"utm_term": "REFERENCE-VALUE-123"}
        )
        raw = payloads.body(document)
        answers = [
            httpx.post(f"{base}/webhooks/calendly", content=raw, headers=headers).status_code
            for headers in (
                payloads.calendly_headers(raw, key="wrong-key"),
                payloads.calendly_headers(raw),
            )
        ]
        broken = b'{"event": "booking.created", "external_id": 5, "email": "x@example.net"}'
        answers.append(
            httpx.post(
                f"{base}/webhooks/booking", content=broken, headers=payloads.generic_headers(broken)
            ).status_code
        )
        assert answers == [403, 200, 400]
    finally:
        server.terminate()
        _, stderr = server.communicate(timeout=30)
    assert "calendly booking webhook refused: signature does not match" in stderr
    assert "booking booking webhook: unusable body: external_id must be a string" in stderr
    for secret in (
        payloads.CALENDLY_KEY,
        payloads.BOOKING_KEY,
        "private.person",
        "x@example.net",
        "REFERENCE-VALUE-123",
        "Headaches every morning",
        raw.decode()[:40],
    ):
        assert secret not in stderr, secret
