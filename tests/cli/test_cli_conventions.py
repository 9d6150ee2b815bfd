"""The command line's conventions (issue 18 item 6): --version, -h, shell completion, --json with
errors as JSON, exit statuses, --log-level and MAILER_LOG_FORMAT=json logs without personal data.

Real `mailer` processes: exit statuses, streams and signals are a process's behaviour.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from importlib import metadata
from pathlib import Path

import httpx
import pytest

from mailer.logs import redact
from mailer.store.db import make_engine, session_factory, upgrade_schema
from mailer.subscribers.service import add_subscriber
from mailer.tokens import click_token, make_token, unsubscribe_token
from mailer.workspace import Workspace
from tests.cli_runner import Mailer
from tests.delivery_helpers import (
    MAILER,
    SLUG,
    fill_list,
    mailer_env,
    send_environment,
    write_campaign,
)
from tests.fakes.sendgrid_server import FakeSendGrid
from tests.web_server import _free_port

SECRET = mailer_env()["MAILER_SECRET_KEY"]


def _json_lines(stderr: str) -> list[dict[str, str]]:
    """Every line of stderr as a JSON log record (fails on a line that is not one)."""
    records = [json.loads(line) for line in stderr.splitlines() if line.strip()]
    for record in records:
        assert {"time", "level", "logger", "message"} <= set(record), record
    return records


@pytest.mark.slow
def test_version_and_short_help(mailer: Mailer, workspace: Workspace) -> None:
    """Issue 18 item 6: `mailer --version` and `-h` as everywhere, on subcommands too."""
    version = mailer("--version", env=mailer_env(), process=True)
    assert version.exit_code == 0
    assert version.stdout == f"mailer {metadata.version('mailer')}\n"

    short, long = (
        mailer("-h", env=mailer_env(), process=True),
        mailer("--help", env=mailer_env(), process=True),
    )
    assert short.exit_code == long.exit_code == 0
    assert short.stdout == long.stdout and "subscribers" in short.stdout
    sub = mailer("subscribers", "import", "-h", env=mailer_env(), process=True)
    assert sub.exit_code == 0 and "--dry-run" in sub.stdout


@pytest.mark.slow
def test_shell_completion_completes_commands(workspace: Workspace) -> None:
    """Issue 18 item 6: `--show-completion bash` prints a script; the completion it drives
    answers with mailer's commands and options."""
    # Typer finds the shell by walking up the process tree (shellingham), so the command runs
    # under bash as a person's would: under `make quick` the nearest shell is otherwise make's
    # /bin/sh, which has no completion ("Shell sh not supported"). "; exit" keeps bash from
    # replacing itself with mailer.
    script = subprocess.run(
        ["bash", "-c", '"$0" "$@"; exit $?', MAILER, "--show-completion"],
        env=mailer_env(SHELL="/bin/bash"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert script.returncode == 0 and "_MAILER_COMPLETE" in script.stdout, script.stderr
    env = mailer_env(_MAILER_COMPLETE="complete_bash", COMP_WORDS="mailer subsc", COMP_CWORD="1")
    answer = subprocess.run([MAILER], env=env, capture_output=True, text=True, timeout=60)
    assert answer.stdout.split() == ["subscribers"]
    env.update(COMP_WORDS="mailer db ", COMP_CWORD="2")
    answer = subprocess.run([MAILER], env=env, capture_output=True, text=True, timeout=60)
    assert set(answer.stdout.split()) == {"upgrade", "status"}


@pytest.mark.parametrize(
    ("args", "kind", "code"),
    [
        (("subscribers", "list", "--json", "--no-such-option"), "NoSuchOption", 2),
        (("feed", "poll", "--json"), "ConfigError", 2),  # feed.url is empty
        (("draft", "no-such-article.txt", "--json"), "ArticleError", 1),
        (("db", "status", "--json"), "ConfigError", 2),  # MAILER_DATABASE__URL_FILE missing
    ],
)
@pytest.mark.slow
def test_errors_are_json_when_json_is_asked_for(
    mailer: Mailer, workspace: Workspace, args: tuple[str, ...], kind: str, code: int
) -> None:
    """Issue 18 item 6: with --json, a usage, configuration or input error is the one JSON
    document on stdout (type, message, hint, exit status), with the usual exit status."""
    extra = {"MAILER_DATABASE__URL_FILE": "/nonexistent/db-url"} if args[0] == "db" else {}
    result = mailer(*args, env=mailer_env(**extra), process=True)
    assert result.exit_code == code, result.stderr
    error = json.loads(result.stdout)["error"]
    assert error["type"] == kind and error["exit_code"] == code and error["message"]
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_draft_json(mailer: Mailer, workspace: Workspace) -> None:
    """Issue 18 item 6: `mailer draft --json`: the new campaign as one JSON document."""
    url = "https://www.summitspine.example/blog/headaches"
    result = mailer(
        "draft", "articles/headaches.txt", "--url", url, "--json", env=mailer_env(), process=True
    )
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert Path(document["path"]).is_file()
    assert document["slug"] in document["path"] and document["subject"]
    assert document["articles"] == [{"title": document["subject"], "url": url}]


@pytest.mark.slow
def test_ctrl_c_exits_130(unused_workspace: Workspace) -> None:
    """Issue 18 item 6: an interrupted command exits 130 (as shells report Ctrl-C), without a
    traceback."""
    process = subprocess.Popen(
        [MAILER, "--workspace", str(unused_workspace.root), "worker", "--poll", "30"],
        env=mailer_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while not (unused_workspace.root / "mailer.db").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.0)  # past the first look for work: asleep until the next poll
    process.send_signal(signal.SIGINT)
    _out, err = process.communicate(timeout=30)
    assert process.returncode == 130, err
    assert "Traceback" not in err


def test_redact_removes_addresses_tokens_and_keys() -> None:
    """Issue 18 item 6: what a log line may carry by accident (a provider's error quoting an
    address, a link, a header) is masked before it is written."""
    token = unsubscribe_token(SECRET, 7, "spring")
    line = (
        f"refused <Ana.B+news@mail.example.org>: see https://n.example/u/{token} and "
        f"/c/{click_token(SECRET, 7, 'spring', 2)} ?token=abc&x=1 Authorization: Bearer SG.k "
        f"{SECRET}"
    )
    cleaned = redact(line, [SECRET])
    for private in ("Ana.B+news@mail.example.org", token, "abc", "SG.k", SECRET):
        assert private not in cleaned
    assert "/u/<token>" in cleaned and "<address>" in cleaned and "x=1" in cleaned


@pytest.mark.slow
def test_json_logs_of_a_send_hold_no_address_token_or_key(
    mailer: Mailer, workspace: Workspace, tmp_path: Path
) -> None:
    """Issue 18 item 6: `mailer --log-level debug send` with MAILER_LOG_FORMAT=json through
    SendGrid (whose HTTP layer logs whole requests at debug): every stderr line is a JSON
    record, and none holds a subscriber's address, link token (unsubscribe, click) or the API
    key."""
    url = f"sqlite:///{tmp_path / 'mailer.db'}"
    engine = make_engine(url)
    upgrade_schema(engine)
    sessions = session_factory(engine)
    emails = fill_list(sessions, tmp_path, 5)
    write_campaign(workspace, sessions)
    engine.dispose()
    key = "SG.log-test-key-do-not-print"
    with FakeSendGrid(api_key=key, schema_validation="sample") as fake:
        fake.rate_limit_next(1, reset_in=0.2)  # so there is something worth logging
        env = send_environment(url, fake.url, key)
        env.update(MAILER_LOG_FORMAT="json", MAILER_SECRET_KEY=SECRET)
        result = mailer("--log-level", "debug", "send", SLUG, "--yes", env=env, process=True)
    assert result.exit_code == 0, result.stderr
    records = _json_lines(result.stderr)
    assert any("rate limit" in record["message"] for record in records)
    tokens = [make_token(SECRET, kind, n, SLUG) for n in range(1, 6) for kind in "uc"]
    for private in [*emails, *tokens, key, SECRET]:
        assert private not in result.stderr and private not in result.stdout


@pytest.mark.slow
def test_json_logs_of_web_requests_hold_no_address_or_token(
    workspace: Workspace, tmp_path: Path
) -> None:
    """Issue 18 item 6: `mailer serve` with MAILER_LOG_FORMAT=json at debug level: uvicorn's
    own lines are JSON records too, and the requests' tokens and addresses appear nowhere."""
    url = f"sqlite:///{tmp_path / 'web.db'}"
    engine = make_engine(url)
    upgrade_schema(engine)
    with session_factory(engine).begin() as session:
        person = add_subscriber(session, "ana.private@example.com").id
    engine.dispose()
    port = _free_port()
    env = mailer_env(MAILER_DATABASE__URL=url, MAILER_LOG_FORMAT="json")
    args = ["-w", str(workspace.root), "--log-level", "debug", "serve", "--port", str(port)]
    server = subprocess.Popen(
        [MAILER, *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    token = unsubscribe_token(SECRET, person, "spring")
    click = click_token(SECRET, person, "spring", 0)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{base}/healthz")
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline and server.poll() is None
                time.sleep(0.1)
        assert httpx.get(f"{base}/u/{token}").status_code == 200
        one_click = {"content-type": "application/x-www-form-urlencoded"}
        unsubscribed = httpx.post(
            f"{base}/u/{token}", content=b"List-Unsubscribe=One-Click", headers=one_click
        )
        assert unsubscribed.status_code == 200
        assert httpx.get(f"{base}/c/{click}").status_code == 404  # no such campaign run
        httpx.post(f"{base}/webhooks/sendgrid", content=b"[]")
    finally:
        server.send_signal(signal.SIGTERM)
        out, err = server.communicate(timeout=30)
    records = _json_lines(err)
    assert any(record["logger"].startswith("uvicorn") for record in records), err
    for private in ("ana.private@example.com", token, click.split(".")[0], SECRET):
        assert private not in err and private not in out
