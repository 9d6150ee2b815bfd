"""Issue 19 item 6: every command's help is rendered one way (mailer.cli.common.HelpCommand):
no `<bool>` after a flag nor a Python type after a value, and paragraphs that wrap at the
terminal's width, not at the docstring's line breaks as well."""

from __future__ import annotations

import os
import re

import pytest

from mailer.cli import COMMANDS
from tests.cli_runner import Mailer

EVERY_COMMAND = [
    [*([group] if group else []), info.name]
    for commands, group in COMMANDS
    for info in commands.registered_commands
    if info.name
]


def _env(columns: int) -> dict[str, str]:
    return {**os.environ, "COLUMNS": str(columns), "TERMINAL_WIDTH": str(columns)}


@pytest.mark.parametrize("words", EVERY_COMMAND, ids=" ".join)
def test_help_labels_no_flag_and_names_no_python_type(mailer: Mailer, words: list[str]) -> None:
    result = mailer(*words, "--help", env=_env(100))
    assert result.exit_code == 0, result.stderr
    assert not re.search(r"<(bool|str|int|float|path|list\[\w+\])>", result.stdout), result.stdout


def test_a_flag_shows_no_value_and_an_option_names_its_value(mailer: Mailer) -> None:
    help_text = mailer("subscribers", "import", "--help", env=_env(100)).stdout
    lines = {line.split()[1]: line for line in help_text.splitlines() if "│ --" in line}
    assert re.search(r"│ --dry-run\s+Report what would happen", lines["--dry-run"])
    assert re.search(r"│ --tag\s+-t\s+TAG\s+Add this tag", lines["--tag"])
    assert "│ *    CSV        The CSV file (UTF-8) to import." in help_text


def test_help_paragraphs_wrap_at_the_terminal_width_only(mailer: Mailer) -> None:
    """Wide terminal: a paragraph is one line, never broken where the docstring broke it."""
    help_text = mailer("subscribers", "import", "--help", env=_env(400), process=True).stdout
    assert any(
        line.strip().startswith("Recognized columns:")
        and "Rejected rows go to <name>.rejects.csv beside the file." in line
        for line in help_text.splitlines()
    ), help_text


def test_examples_stand_indented_under_their_label(mailer: Mailer) -> None:
    lines = [line.rstrip() for line in mailer("send", "--help", env=_env(100)).stdout.splitlines()]
    at = lines.index(" Examples:")
    assert lines[at + 1] == "   mailer send 2026-11-24-neck-and-headaches --dry-run"
