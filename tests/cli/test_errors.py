"""The one exception tree (mailer.errors) and the one error mapper (mailer.cli.main).

The tree in the errors module's docstring is the class tree, with each branch's exit status;
outcome errors (a check with errors, a paused send) leave the mapper with the command's own
output and --json document, and nothing outside the mapper ends a command with a status.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import mailer.delivery.errors
import mailer.errors
from mailer.store.db import open_database
from mailer.workspace import Workspace
from tests.cli_runner import Mailer
from tests.delivery_helpers import SLUG, fill_list, send_environment, write_campaign
from tests.fakes.sendgrid_server import FakeSendGrid

SRC = Path(mailer.errors.__file__).resolve().parent
TREE_LINE = re.compile(r"^(?P<indent>(?:│   |    )*)(?:├── |└── )(?P<name>[A-Z]\w+)")
CLEAN = """---
subject: Spring tune-up for your neck
preheader: Three habits that help
---
Stand up every half hour.

[[cta]]
"""


def _drawn_tree() -> dict[str, tuple[str | None, int | None]]:
    """{class name: (its parent as drawn, the exit status drawn on its line)}."""
    drawn: dict[str, tuple[str | None, int | None]] = {}
    parents: list[str] = []
    for line in (mailer.errors.__doc__ or "").splitlines():
        status = re.search(r"\(exit (\d+)\)\s*$", line)
        code = int(status[1]) if status else None
        if line.startswith("MailerError"):
            drawn["MailerError"], parents = (None, code), ["MailerError"]
        elif match := TREE_LINE.match(line):
            depth = len(match["indent"]) // 4 + 1
            parents = [*parents[:depth], match["name"]]
            drawn[match["name"]] = (parents[depth - 1], code)
    return drawn


def test_the_docstring_draws_the_class_tree_with_each_exit_status() -> None:
    drawn = _drawn_tree()
    defined = {
        name
        for name, value in vars(mailer.errors).items()
        if isinstance(value, type) and issubclass(value, mailer.errors.MailerError)
    }
    assert defined <= set(drawn), f"not drawn: {defined - set(drawn)}"
    for name, (parent, code) in drawn.items():
        cls = getattr(mailer.errors, name, None) or getattr(mailer.delivery.errors, name)
        if parent is not None:
            assert cls.__bases__[0].__name__ == parent, name
        if code is not None:
            assert cls.exit_code == code, name
    assert drawn["CheckFailed"] == ("OutcomeError", None)
    assert drawn["Interrupted"] == ("OutcomeError", 130)


def test_no_command_ends_with_a_status_of_its_own() -> None:
    """Only the one mapper sets exit statuses: no `typer.Exit(code)` anywhere (a bare
    typer.Exit() ends `mailer --version`, exit 0)."""
    found = []
    for path in sorted(SRC.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and ast.unparse(node.func) == "typer.Exit"
                and (node.args or node.keywords)
            ):
                found.append(f"{path.relative_to(SRC)}:{node.lineno}")
    assert found == []


def test_a_check_with_errors_exits_1_with_its_report_and_nothing_more(
    mailer: Mailer, workspace: Workspace
) -> None:
    (workspace.campaigns_dir / "spring.md").write_text(CLEAN + "\nHello {{ name }}\n")
    shown = mailer("check", "spring", "--no-spam")
    assert shown.exit_code == 1
    assert "1 error, 1 warning: fix the errors" in shown.stdout and shown.stderr == ""
    as_json = mailer("check", "spring", "--no-spam", "--json")
    assert as_json.exit_code == 1 and as_json.stderr == ""
    assert as_json.json()["ok"] is False  # the check's own document, not an error document
    assert type(as_json.error).__name__ == "CheckFailed"


def test_a_paused_send_says_why_on_stderr_and_json_is_the_send_report(
    mailer: Mailer, workspace: Workspace, tmp_path: Path
) -> None:
    _, sessions = open_database(workspace.database_url)
    fill_list(sessions, tmp_path, 3)
    write_campaign(workspace, sessions)
    with FakeSendGrid(api_key="SG.right", schema_validation="sample") as fake:
        env = send_environment(workspace.database_url, fake.url, "SG.wrong")
        paused = mailer("send", SLUG, "--yes", "--json", env=env)
    assert paused.exit_code == 1
    report = paused.json()  # the one document on stdout: the send's report
    assert report["outcome"] == "paused" and "401" in report["paused_reason"]
    assert re.search(r"^paused: .*401", paused.stderr, re.M), paused.stderr
    assert f"hint: fix the cause, then run `mailer send {SLUG}` to resume" in paused.stderr
