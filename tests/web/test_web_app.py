"""`mailer serve` basics: liveness and security headers on every response."""

from __future__ import annotations

import asyncio

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


def test_security_headers_keep_a_routes_own_value() -> None:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    from mailer.web.app import SECURITY_HEADERS, SecurityHeaders

    def framed(request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok", headers={"X-Frame-Options": "SAMEORIGIN"})

    app = Starlette(routes=[Route("/framed", framed)])
    app.add_middleware(SecurityHeaders)

    async def get() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.get("/framed")

    response = asyncio.run(get())
    assert response.headers.get_list("x-frame-options") == ["SAMEORIGIN"]
    for name, value in SECURITY_HEADERS.items():
        if name != "X-Frame-Options":
            assert response.headers[name] == value
