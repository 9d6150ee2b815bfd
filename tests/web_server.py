"""A real `mailer serve` app on loopback for web tests: uvicorn in a thread, port chosen free.

def test_x(live_server: LiveServer) -> None:
    response = httpx.get(live_server.url + "/healthz")
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import uvicorn

from mailer.web.app import create_app
from mailer.workspace import Workspace


@dataclass
class LiveServer:
    url: str
    workspace: Workspace


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class QuickStopServer(uvicorn.Server):
    """uvicorn's Server, stopped in milliseconds. uvicorn checks `should_exit` every 100 ms and
    sleeps another 100 ms in `shutdown` for connections to drain: 156 ms a stop (cProfile of
    tests/staff and tests/web, 158 stops, 24.6 s of joins), a server per test in make quick. A
    test is over when it stops its server, so nothing needs to drain: the connections are closed
    at once and the loop looks at `should_exit` every 5 ms."""

    async def main_loop(self) -> None:
        ticks = 0
        should_exit = await self.on_tick(0)
        while not should_exit:
            await asyncio.sleep(0.005)
            ticks += 1
            # on_tick(0) refreshes the Date header, as uvicorn does once a second.
            should_exit = await self.on_tick(0 if ticks % 200 == 0 else 1)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()
        for server in self.servers:
            await server.wait_closed()


def run_app(app: Any, port: int | None = None) -> Iterator[str]:
    """``app`` served by uvicorn on loopback (`port`, or a free one) while the generator is open;
    its base URL. No logging configuration (uvicorn's dictConfig on every start) and no lifespan."""
    port = port or _free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", log_config=None, lifespan="off"
    )
    server = QuickStopServer(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("mailer serve did not start")
        time.sleep(0.002)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def serve(workspace: Workspace, port: int | None = None) -> Iterator[LiveServer]:
    """The workspace's app on loopback (`port`, or a free one), with the settings it has now."""
    for url in run_app(create_app(workspace, host="127.0.0.1"), port):
        yield LiveServer(url, workspace)


@pytest.fixture
def live_server(
    workspace: Workspace, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[LiveServer]:
    """The workspace's app, on the test's database (`database_url`), base_url pointing
    at the server itself: MAILER_WEB__BASE_URL is set and the settings read afresh, so the links
    the server builds, and those of sends made in the test, lead back to it."""
    port = _free_port()
    monkeypatch.setenv("MAILER_DATABASE__URL", database_url)
    monkeypatch.setenv("MAILER_WEB__BASE_URL", f"http://127.0.0.1:{port}")
    yield from serve(Workspace(workspace.root), port)
