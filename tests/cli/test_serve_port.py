"""Issue 19 item 11: `mailer serve` without --port listens where web.base_url says, when that
is a loopback address, so the links in sent emails work as printed. A real subprocess."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from mailer.cli.serve import DEFAULT_PORT, default_port
from mailer.workspace import Workspace
from tests.delivery_helpers import MAILER


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize(
    ("base_url", "port"),
    [
        ("http://127.0.0.1:8123", 8123),
        ("http://localhost:9000/newsletter", 9000),
        ("http://[::1]:8124", 8124),
        ("http://127.0.0.1", DEFAULT_PORT),
        ("https://news.summitspine.example", DEFAULT_PORT),
        ("https://news.summitspine.example:8443", DEFAULT_PORT),  # the proxy's port, not ours
    ],
)
def test_the_default_port_is_a_loopback_base_urls_port(base_url: str, port: int) -> None:
    assert default_port(base_url) == port


@pytest.mark.slow  # a real `mailer serve` process
def test_serve_listens_on_the_base_url_port_without_port_option(
    workspace: Workspace, tmp_path: Path
) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILER_")}
    env["MAILER_DATABASE__URL"] = f"sqlite:///{tmp_path / 'serve.db'}"
    env["MAILER_WEB__BASE_URL"] = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [MAILER, "--workspace", str(workspace.root), "serve"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline, answer = time.monotonic() + 60, None
        while time.monotonic() < deadline and server.poll() is None:
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert answer is not None, server.stderr.read() if server.stderr else ""
        assert answer.status_code == 200
    finally:
        server.terminate()
        server.wait(timeout=30)
