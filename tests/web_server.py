"""A real `mailer serve` app on loopback for web tests: uvicorn in a thread, port chosen free.

def test_x(live_server: LiveServer) -> None:
    response = httpx.get(live_server.url + "/healthz")
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

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


def serve(workspace: Workspace, port: int | None = None) -> Iterator[LiveServer]:
    """The workspace's app on loopback (`port`, or a free one), with the settings it has now."""
    port = port or _free_port()
    config = uvicorn.Config(
        create_app(workspace, host="127.0.0.1"),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="off",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("mailer serve did not start")
        time.sleep(0.02)
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", workspace)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


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
