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
import time
from pathlib import Path

import httpx
import pytest

from tests.cli_runner import Mailer
from tests.web_server import _free_port

pytestmark = pytest.mark.slow  # the whole demo: real processes and a real server (30-90 s)

BARE_PATH = "/usr/local/bin:/usr/bin:/bin"


def _mailer(mailer: Mailer, root: Path, env: dict[str, str], *args: str) -> str:
    result = mailer(*args, workspace=root, env=env, process=True)
    assert result.exit_code == 0, result.stdout + result.stderr
    return result.stdout


def test_demo_runs_the_whole_flow(
    mailer: Mailer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
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
        # Without .venv/bin on the PATH, as after `make demo`.
        env={**os.environ, "COLUMNS": "200", "PATH": BARE_PATH},
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
    report = json.loads(_mailer(mailer, root, env, "report", slug, "--json"))
    assert report["sent"] == report["recipients"] == len(messages) > 0  # the second send: none
    assert report["clicked_unique"] == 1 and report["cta_clicks"] == 1
    assert report["unsubscribed"] == 1

    # Issue 16: `mailer init` drafted a three-step welcome series; the demo approved step 0,
    # signed a new person up on the web and confirmed: step 0 went to them, once, and not the
    # built-in welcome email too; the other steps stay drafts.
    steps = sorted(p.name for p in (root / "campaigns").glob("welcome-*.md"))
    assert steps == ["welcome-0-hello.md", "welcome-1-headaches.md", "welcome-2-sleep.md"]
    (step_0,) = (root / "outbox" / "welcome-0-hello").glob("*.eml")
    welcomed = email.message_from_bytes(step_0.read_bytes(), policy=email.policy.default)
    assert welcomed["To"].addresses[0].addr_spec == "new.patient@example.com"
    assert re.search(r"to .*new\.patient@example\.com>?: Welcome to Summit Upper", output)
    assert not (root / "outbox" / "welcome").exists()
    listed = json.loads(_mailer(mailer, root, env, "sequences", "list", "--json"))
    assert [(s["slug"], s["approved"], s["sent"]) for s in listed["series"][0]["steps"]] == [
        ("welcome-0-hello", True, 1),
        ("welcome-1-headaches", False, 0),
        ("welcome-2-sleep", False, 0),
    ]

    # The click went to the server named in the emails, and redirected to the booking page.
    port = re.search(r"answering on http://127\.0\.0\.1:(\d+)/healthz", output)
    assert port, output
    first = email.message_from_bytes(messages[0].read_bytes(), policy=email.policy.default)
    assert f"<http://127.0.0.1:{port[1]}/u/" in str(first["List-Unsubscribe"])
    assert "302 Found -> https://www.summitspine.example/book?utm_source=newsletter" in output

    # The person whose email was used is the one now unsubscribed.
    people = json.loads(_mailer(mailer, root, env, "subscribers", "list", "--json"))
    unsubscribed = [p["email"] for p in people if p["status"] == "unsubscribed"]
    assert unsubscribed == [first["To"].addresses[0].addr_spec]

    # The server was stopped at the end.
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port[1]}/healthz", timeout=2)

    # Issue 18 item 7: the closing hint's commands work as printed, from the folder the demo
    # was started in, with `mailer` not on the PATH (it is in .venv/bin after `make demo`).
    hint = output[output.index("To see it again") :]
    report_command = re.search(r"^  (\S+ -w \S+ report \S+)$", hint, re.M)
    serve_command = re.search(r"^  (\S+ -w \S+ serve) ", hint, re.M)
    activate = re.search(r"plain `mailer` in this shell: (\. \S+)$", hint, re.M)
    assert report_command and serve_command and activate, hint
    bare = {**env, "PATH": BARE_PATH}
    shown = subprocess.run(
        ["/bin/sh", "-c", report_command[1]], env=bare, capture_output=True, text=True, timeout=60
    )
    assert shown.returncode == 0, shown.stderr
    assert f"Report: {slug}" in shown.stdout
    activated = subprocess.run(
        ["/bin/bash", "-c", f"{activate[1]} && mailer --version"],
        env=bare,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert activated.returncode == 0 and activated.stdout.startswith("mailer "), activated.stderr
    free = _free_port()  # the hint's port 8000 may be taken on a test machine
    server = subprocess.Popen(
        ["/bin/sh", "-c", f"exec {serve_command[1]} --port {free}"],
        env=bare,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
    )
    try:
        for _ in range(300):
            try:
                archive = httpx.get(f"http://127.0.0.1:{free}/archive", timeout=2)
                break
            except httpx.HTTPError:
                assert server.poll() is None, "the hint's serve command stopped"
                time.sleep(0.1)
        assert archive.status_code == 200 and slug in archive.text
    finally:
        server.terminate()
        server.wait(timeout=30)
