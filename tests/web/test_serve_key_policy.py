"""Issue 10 item 9: one key policy. `mailer serve` without MAILER_SECRET_KEY starts only to
serve the outbox on loopback; anywhere else, or with a real provider, it refuses (exit 2) and
says why, before it listens. Real `mailer serve` subprocesses."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from mailer.errors import ConfigError
from mailer.tokens import DEVELOPMENT_KEY, is_loopback, signing_key
from mailer.workspace import Workspace
from tests.delivery_helpers import MAILER


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("MAILER_") and k != "SENDGRID_API_KEY"
    }
    env["MAILER_DATABASE__URL"] = f"sqlite:///{tmp_path / 'serve.db'}"
    env.update(extra)
    return env


def _serve(
    workspace: Workspace, env: dict[str, str], host: str, port: int
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [MAILER, "--workspace", str(workspace.root), "serve", "--host", host, "--port", str(port)],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _refused(workspace: Workspace, env: dict[str, str], host: str) -> str:
    """Runs `mailer serve`, expects it to exit 2 without listening; its stderr."""
    port = _free_port()
    server = _serve(workspace, env, host, port)
    try:
        _, stderr = server.communicate(timeout=60)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    assert server.returncode == 2, stderr
    with pytest.raises(httpx.ConnectError):  # it never listened
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
    assert "MAILER_SECRET_KEY is not set" in stderr
    assert "secrets.token_urlsafe(32)" in stderr  # says how to make one
    assert "Traceback" not in stderr
    return stderr


def _starts(workspace: Workspace, env: dict[str, str]) -> None:
    port = _free_port()
    server = _serve(workspace, env, "127.0.0.1", port)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, server.communicate()[1]
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).text == "ok":
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "mailer serve did not start"
            time.sleep(0.1)
    finally:
        server.terminate()
        server.communicate(timeout=30)


@pytest.mark.slow
def test_serve_on_all_interfaces_without_the_key_refuses(
    workspace: Workspace, tmp_path: Path
) -> None:
    """Issue 10 item 9: `mailer serve --host 0.0.0.0` without MAILER_SECRET_KEY would accept
    links signed with the published development key from anyone: it refuses to start."""
    stderr = _refused(workspace, _environment(tmp_path), "0.0.0.0")
    assert "--host 0.0.0.0" in stderr and "127.0.0.1" in stderr


@pytest.mark.parametrize(
    "provider",
    [
        {"MAILER_DELIVERY__PROVIDER": "smtp", "MAILER_SMTP__HOST": "127.0.0.1"},
        {"MAILER_DELIVERY__PROVIDER": "sendgrid", "SENDGRID_API_KEY": "SG.not-used"},
    ],
    ids=["smtp", "sendgrid"],
)
@pytest.mark.slow
def test_serve_with_a_real_provider_without_the_key_refuses_even_on_loopback(
    workspace: Workspace, tmp_path: Path, provider: dict[str, str]
) -> None:
    """Issue 10 item 9: with sendgrid or smtp, `mailer serve` would email signup links signed
    with the development key to real people: it refuses, on 127.0.0.1 too."""
    stderr = _refused(workspace, _environment(tmp_path, **provider), "127.0.0.1")
    assert provider["MAILER_DELIVERY__PROVIDER"] in stderr


@pytest.mark.slow
def test_serve_starts_on_loopback_with_the_outbox_or_with_a_key(
    workspace: Workspace, tmp_path: Path
) -> None:
    """Issue 10 item 9: what stays allowed: the outbox on loopback without a key (`mailer
    demo`), and any provider once MAILER_SECRET_KEY is set."""
    _starts(workspace, _environment(tmp_path))
    _starts(
        workspace,
        _environment(
            tmp_path,
            MAILER_DELIVERY__PROVIDER="smtp",
            MAILER_SMTP__HOST="127.0.0.1",
            MAILER_SECRET_KEY="a-real-secret-key-for-this-test-0123",
        ),
    )


def test_one_policy_for_every_purpose(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 10 item 9: send, serve and preview ask the same function; the development key
    only where nothing leaves this computer."""
    assert not signing_key(workspace, "serve", host="0.0.0.0").development  # the key is set
    monkeypatch.delenv("MAILER_SECRET_KEY")
    outbox = Workspace(workspace.root)
    assert signing_key(outbox, "send").value == DEVELOPMENT_KEY.encode()
    assert signing_key(outbox, "serve", host="127.0.0.1").development
    assert signing_key(outbox, "serve", host="localhost").development
    assert signing_key(outbox, "serve", host="::1").development
    for host in ("0.0.0.0", "::", "", "192.168.1.20", "news.example.com"):
        with pytest.raises(ConfigError):
            signing_key(outbox, "serve", host=host)
    monkeypatch.setenv("MAILER_DELIVERY__PROVIDER", "sendgrid")
    real = Workspace(workspace.root)
    assert signing_key(real, "preview").development  # previews may: they say so
    for purpose in ("send", "serve"):
        with pytest.raises(ConfigError, match="MAILER_SECRET_KEY"):
            signing_key(real, purpose, host="127.0.0.1")  # type: ignore[arg-type]


def test_loopback_addresses() -> None:
    """Issue 10 item 9: 127.0.0.0/8, ::1 and localhost are loopback; nothing else is."""
    assert all(map(is_loopback, ["127.0.0.1", "127.8.9.10", "::1", "[::1]", "localhost"]))
    assert not any(map(is_loopback, ["0.0.0.0", "::", "", "10.0.0.1", "localhost.example"]))
