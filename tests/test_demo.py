"""`mailer demo` end to end: the real commands, a real `mailer serve`, a real click and a real
one-click unsubscribe, checked afterwards in the demo workspace's report and list."""

from __future__ import annotations

import email
import email.policy
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest


def _mailer(root: Path, env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "mailer", "--workspace", str(root), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_demo_runs_the_whole_flow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The demo must ignore the caller's configuration: a provider set here must not be used.
    monkeypatch.setenv("MAILER_DELIVERY__PROVIDER", "sendgrid")
    monkeypatch.setenv("SENDGRID_API_KEY", "SG.must-not-be-used")
    root = tmp_path / "demo-workspace"
    result = subprocess.run(
        [sys.executable, "-m", "mailer", "demo", "--dir", str(root)],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "COLUMNS": "200"},
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Demo finished" in output

    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILER_")}
    env.pop("SENDGRID_API_KEY", None)
    (campaign,) = [p for p in (root / "outbox").iterdir() if p.is_dir() and "-why-" in p.name]
    slug = campaign.name
    messages = sorted(campaign.glob("*.eml"))
    assert re.search(rf"Slot fired .*: sent {re.escape(slug)} \({len(messages)} messages\)", output)
    report = json.loads(_mailer(root, env, "report", slug, "--json"))
    assert report["sent"] == report["recipients"] == len(messages) > 0  # the second send: none
    assert report["clicked_unique"] == 1 and report["cta_clicks"] == 1
    assert report["unsubscribed"] == 1

    # The click went to the server named in the emails, and redirected to the booking page.
    port = re.search(r"answering on http://127\.0\.0\.1:(\d+)/healthz", output)
    assert port, output
    first = email.message_from_bytes(messages[0].read_bytes(), policy=email.policy.default)
    assert f"<http://127.0.0.1:{port[1]}/u/" in str(first["List-Unsubscribe"])
    assert "302 Found -> https://www.summitspine.example/book?utm_source=newsletter" in output

    # The person whose email was used is the one now unsubscribed.
    people = json.loads(_mailer(root, env, "subscribers", "list", "--json"))
    unsubscribed = [p["email"] for p in people if p["status"] == "unsubscribed"]
    assert unsubscribed == [first["To"].addresses[0].addr_spec]

    # The server was stopped at the end.
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port[1]}/healthz", timeout=2)
