"""The `mailer` fixture: the command line as a test runs it, one way for every test.

    def test_x(mailer: Mailer, workspace: Workspace) -> None:
        result = mailer("check", "2026-03-10-spring", "--json")
        assert result.exit_code == 1 and result.json()["ok"] is False

``mailer(*args, workspace=..., env=None, input=None, cwd=None, process=False, timeout=120)``
gives a Result: exit_code, stdout, stderr (apart), json() (stdout as one JSON document) and,
in-process, ``error``: the exception the error mapper turned into the message and exit status.

- ``workspace``: ``--workspace`` is given first, for the test's own ``workspace`` fixture when it
  uses one, for the Workspace or folder passed, or not at all with ``None`` (then the current
  folder, ``cwd``, or MAILER_WORKSPACE decides, as for a person).
- ``env``: the command's whole environment (default: the test's own, as the ``workspace``
  fixture left it); ``input``: what it reads on stdin (default: nothing, and never a terminal);
  ``cwd``: the folder it runs in.
- In-process by default: the real entry point, ``mailer.cli.main``, so the error mapper, exit
  statuses and --json errors are the real ones, in milliseconds. ``process=True`` runs a real
  `mailer` process instead, for what only a process shows: signals, a fresh interpreter, the
  installed script.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mailer.cli import main
from mailer.cli.common import state
from mailer.workspace import Workspace

MAILER = str(Path(sys.executable).with_name("mailer"))
_THE_TESTS_OWN = object()  # ``workspace`` not given: the test's `workspace` fixture, if it has one


@dataclass(frozen=True)
class Result:
    exit_code: int
    stdout: str
    stderr: str
    error: BaseException | None = None  # in-process only: what the error mapper reported

    def json(self) -> Any:
        """stdout as the one JSON document a --json command prints (fails if it is not)."""
        return json.loads(self.stdout)


class Mailer:
    """Runs `mailer` for one test; see the module docstring."""

    def __init__(self, request: pytest.FixtureRequest) -> None:
        self._request = request

    def __call__(
        self,
        *args: str,
        workspace: object = _THE_TESTS_OWN,  # a Workspace, a folder, or None
        env: dict[str, str] | None = None,
        input: str | None = None,
        cwd: Path | str | None = None,
        process: bool = False,
        timeout: float = 120,
    ) -> Result:
        argv = [*self._workspace_option(workspace), *args]
        if process:
            return _in_a_process(argv, env, input, cwd, timeout)
        return in_this_process(argv, env, input, cwd)

    def _workspace_option(self, workspace: object) -> list[str]:
        if workspace is _THE_TESTS_OWN:
            if "workspace" not in self._request.fixturenames:
                return []
            workspace = self._request.getfixturevalue("workspace")
        if workspace is None:
            return []
        root = workspace.root if isinstance(workspace, Workspace) else workspace
        return ["--workspace", str(root)]


def _in_a_process(
    argv: list[str],
    env: dict[str, str] | None,
    input: str | None,
    cwd: Path | str | None,
    timeout: float,
) -> Result:
    done = subprocess.run(
        [MAILER, *argv],
        env=env if env is not None else dict(os.environ),
        cwd=cwd,
        input=input,
        stdin=subprocess.DEVNULL if input is None else None,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return Result(done.returncode, done.stdout, done.stderr)


def in_this_process(
    argv: list[str],
    env: dict[str, str] | None,
    input: str | None = None,
    cwd: Path | str | None = None,
) -> Result:
    """mailer.cli.main with its own argv, streams, environment and folder, all put back after
    (and the signal handlers a send installs, and the database it opened)."""
    out, err = io.StringIO(), io.StringIO()
    saved_environ, saved_cwd, saved_argv, saved_stdin = (
        dict(os.environ),
        os.getcwd(),
        sys.argv,
        sys.stdin,
    )
    saved_signals = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        if env is not None:
            os.environ.clear()
            os.environ.update(env)
        if cwd is not None:
            os.chdir(cwd)
        sys.argv = ["mailer", *argv]
        sys.stdin = io.StringIO(input or "")
        with redirect_stdout(out), redirect_stderr(err):
            try:
                main()
                code, error = 0, None
            except SystemExit as exit_:
                code = exit_.code if isinstance(exit_.code, int) else int(exit_.code is not None)
                error = exit_.__context__  # main exits while handling the error it reports
    finally:
        state.choose(None)  # closes the database this command line opened
        os.environ.clear()
        os.environ.update(saved_environ)
        os.chdir(saved_cwd)
        sys.argv, sys.stdin = saved_argv, saved_stdin
        for number, handler in saved_signals.items():
            signal.signal(number, handler)
    return Result(code, out.getvalue(), err.getvalue(), error)


@pytest.fixture
def mailer(request: pytest.FixtureRequest) -> Mailer:
    """The `mailer` command line for this test (see tests.cli_runner)."""
    return Mailer(request)
