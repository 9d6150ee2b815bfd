"""`mailer serve` basics: liveness and security headers on every response."""

from __future__ import annotations

import httpx

from tests.web_server import LiveServer


def test_healthz_and_security_headers(live_server: LiveServer) -> None:
    response = httpx.get(f"{live_server.url}/healthz")
    assert response.status_code == 200 and response.text == "ok"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    missing = httpx.get(f"{live_server.url}/nowhere")
    assert missing.status_code == 404
    assert missing.headers["x-frame-options"] == "DENY"
