"""Postfix's ``smtp-sink`` on 127.0.0.1: a C receiver made to take mail at full speed.

    with SmtpSink() as sink:                       # every message kept in a folder
        provider = SmtpProvider("127.0.0.1", sink.port, security="none", connections=4)
        ...
        sink.recipients()                          # Counter of RCPT addresses, one per message
    with SmtpSink(dump=False) as sink: ...         # nothing written: a benchmark's receiver
        sink.count()                               # messages received (its -c counters)
    SmtpSink(extra=["-f", "RCPT", "-B", "550 5.1.1 <x>: User unknown"])   # refuse every RCPT

It offers PIPELINING (unless an option such as -f or -r turns it off), no SIZE and no SMTPUTF8.
``smtp_sink_path()`` finds it (Debian package ``postfix``; .ci/run installs it). Tests call
``require_smtp_sink()``: a skip on a developer's machine without it, a failure under CI=true,
where it must be there.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections import Counter
from pathlib import Path
from types import TracebackType

import pytest

_COUNTERS = re.compile(rb"sess=(\d+) quit=\d+ mesg=(\d+)")


def smtp_sink_path() -> str | None:
    found = shutil.which("smtp-sink")
    if found is None and os.access("/usr/sbin/smtp-sink", os.X_OK):
        found = "/usr/sbin/smtp-sink"  # /usr/sbin is not on every user's PATH
    return found


def require_smtp_sink() -> str:
    path = smtp_sink_path()
    if path is None:
        message = "smtp-sink not installed (apt-get install postfix)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}: .ci/run installs it, so CI must have it")
        pytest.skip(message)
    return path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class SmtpSink:
    def __init__(self, *, dump: bool = True, extra: list[str] | None = None) -> None:
        self.executable = require_smtp_sink()
        self.dump = dump
        self.extra = list(extra or [])
        self.port = 0
        self._folder = tempfile.TemporaryDirectory(prefix="smtp-sink-")
        self._output = Path(self._folder.name) / "counters"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def folder(self) -> Path:
        return Path(self._folder.name) / "messages"

    def start(self) -> SmtpSink:
        self.folder.mkdir()
        command = [self.executable, "-c", *self.extra]
        if os.geteuid() == 0:  # it refuses to run as root without dropping privileges
            command += ["-u", "nobody"]
            os.chmod(self._folder.name, 0o755)
            os.chmod(self.folder, 0o777)
        if self.dump:
            command += ["-d", f"{self.folder}/%H%M%S."]  # one file per message
        for _ in range(5):  # the free port may be taken in between: try another
            self.port = free_port()
            with self._output.open("wb") as output:
                process = subprocess.Popen(
                    [*command, f"127.0.0.1:{self.port}", "256"],
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                )
            if self._wait_until_listening(process):
                self._process = process
                return self
        raise RuntimeError(f"smtp-sink did not start: {self._output.read_text()}")

    def _wait_until_listening(self, process: subprocess.Popen[bytes]) -> bool:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and process.poll() is None:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return True
            except OSError:
                time.sleep(0.02)
        process.kill()
        process.wait()
        return False

    def count(self) -> int:
        """Messages received so far ("." accepted), from smtp-sink's running counters."""
        found = _COUNTERS.findall(self._output.read_bytes())
        return int(found[-1][1]) if found else 0

    def sessions(self) -> int:
        """Connections that have ended so far, from the same counters (less the readiness probe)."""
        found = _COUNTERS.findall(self._output.read_bytes())
        return int(found[-1][0]) - 1 if found else 0

    def recipients(self) -> Counter[str]:
        """How many messages each address got (dump=True), from the dumped X-Rcpt-Args."""
        got: Counter[str] = Counter()
        for path in self.folder.iterdir():
            for line in path.read_bytes().split(b"\n"):
                if line.startswith(b"X-Rcpt-Args: <"):
                    got[line[14:].split(b">")[0].decode()] += 1
        return got

    def messages(self) -> list[bytes]:
        return [path.read_bytes() for path in sorted(self.folder.iterdir())]

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(10)
            self._process = None
        self._folder.cleanup()

    def __enter__(self) -> SmtpSink:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
