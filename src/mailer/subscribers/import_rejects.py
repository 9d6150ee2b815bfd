"""The rejects file of an import: ``<name>.rejects.csv``, each refused row with its line and why.

It is opened on the first reject, so an import without rejects writes none (and removes a stale
one from an earlier run); the rows of each chunk are appended sorted and flushed, so a crash
leaves the report of the chunks done. Cells that look like a formula are written as text, as
csv_export writes them.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import IO, Any

from mailer.errors import InputError
from mailer.subscribers.csv_export import safe_row
from mailer.subscribers.csv_source import RowError


class RejectsFile:
    """The rejects report, opened on the first reject; the sorted rows of each chunk appended."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._stream: IO[str] | None = None
        self._writer: Any = None

    def write(self, rejects: list[RowError]) -> None:
        if self.path is None or not rejects:
            return
        if self._writer is None:
            try:
                self._stream = self.path.open("w", encoding="utf-8-sig", newline="")
            except OSError as err:
                raise InputError(
                    f"cannot write the rejects file {self.path}: {err.strerror}",
                    hint="make its folder writable; the rows before this point were imported "
                    "and running the import again finishes the job",
                ) from err
            self._writer = csv.writer(self._stream, lineterminator="\r\n")
            self._writer.writerow(["line", "reason", "email"])
        for reject in rejects:
            self._writer.writerow(safe_row([str(reject.line), reject.reason, reject.email]))
        assert self._stream is not None
        self._stream.flush()

    def close(self) -> Path | None:
        """The file written, if any; a stale report from an earlier run is removed."""
        if self._stream is not None:
            self._stream.close()
            return self.path
        if self.path is not None:
            self.path.unlink(missing_ok=True)
        return None


def rejects_path_for(path: Path, fallback_dir: Path | None = None) -> Path:
    """<name>.rejects.csv beside the CSV, or in ``fallback_dir`` if that folder is read-only."""
    beside = path.with_name(f"{path.stem}.rejects.csv")
    if fallback_dir is not None and not os.access(path.parent, os.W_OK):
        fallback_dir.mkdir(parents=True, exist_ok=True)
        return fallback_dir / beside.name
    return beside
