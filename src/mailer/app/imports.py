"""CSV imports started from the staff pages (issue 14 item 2): the CLI's import, run in a
thread of the server, followed through a row of ``import_jobs``.

The flow: the page streams the upload into its own folder, ``subscribers/web-imports/<id>/``
(``new_folder``); ``start_dry_run`` runs ``import_csv(dry_run=True)`` on it (what would
change, nothing written); ``start_import`` then runs the real ``import_csv`` on the same file,
once per dry run. Both are ``mailer subscribers import``'s own code, with its rules (suppressions
kept, Mailchimp exports understood, duplicate and invalid rows rejected with line and reason),
so the counts are the CLI's. After each committed chunk (5,000 rows) the row gets the lines
read and the counts so far; the page polls it. The rejected rows go, as with the CLI, to
``<name>.rejects.csv`` beside the file, for the page to offer as a download.

Invariants: one import at a time per server process (a second waits its turn, shown as
queued); an import runs at most once per dry run (``follow_up`` is claimed with a conditional
UPDATE, so a double click starts one); a job ends ``done`` or ``failed`` with the reason in
words, never with a traceback on the page; the uploaded file (personal data) is deleted when
the real import ends (a dry run's file after UPLOAD_KEPT without an import), and each folder
with its rejects after KEEP_FOR. ``updated_at`` is a
heartbeat: a job not updated for STALE_AFTER ran in a server that stopped (``JobView.stopped``);
importing the file again finishes it (the import is idempotent).
"""

from __future__ import annotations

import logging
import re
import secrets
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from mailer.errors import MailerError
from mailer.store.models import utcnow
from mailer.store.staff_models import ImportJob
from mailer.subscribers.csv_import import ImportReport, import_csv
from mailer.workspace import Workspace

log = logging.getLogger(__name__)

FOLDER = "web-imports"  # under the workspace's subscribers/
KEEP_FOR = timedelta(days=7)
UPLOAD_KEPT = timedelta(days=1)  # a dry run's file, when "Import now" was never pressed
# Longer than any chunk takes (a 5,000-row chunk: about 0.2 s, a few seconds on a busy server).
STALE_AFTER = timedelta(minutes=5)
DRY_RUN = "dry-run"
IMPORT = "import"
QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
_UNSAFE = re.compile(r"[^A-Za-z0-9._ -]+")
_COUNTS = ("rows", "imported", "updated", "unchanged", "kept_suppressed", "suppressed_by_file")


@dataclass(frozen=True)
class JobView:
    """An import job as the page shows it."""

    id: str
    kind: str
    file_name: str
    tags: list[str]
    state: str
    total_lines: int
    lines_done: int
    rows: int
    imported: int
    updated: int
    unchanged: int
    kept_suppressed: int
    suppressed_by_file: int
    rejected: int
    sample_rejects: list[dict[str, Any]]
    has_rejects_file: bool
    error: str
    follow_up: str
    started_by: str
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    stopped: bool  # queued or running, but its server stopped updating it

    @property
    def dry_run(self) -> bool:
        return self.kind == DRY_RUN

    @property
    def finished(self) -> bool:
        return self.state in (DONE, FAILED) or self.stopped

    @property
    def percent(self) -> int:
        if self.state == DONE:
            return 100
        if not self.total_lines:
            return 0
        return min(99, self.lines_done * 100 // self.total_lines)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "file": self.file_name,
            "state": "stopped" if self.stopped else self.state,
            "total_lines": self.total_lines,
            "lines_done": self.lines_done,
            "rows": self.rows,
            "imported": self.imported,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "kept_suppressed": self.kept_suppressed,
            "suppressed_by_file": self.suppressed_by_file,
            "rejected": self.rejected,
            "error": self.error,
        }


def _view(row: ImportJob, now: datetime) -> JobView:
    return JobView(
        id=row.id,
        kind=row.kind,
        file_name=row.file_name,
        tags=list(row.tags or []),
        state=row.state,
        total_lines=row.total_lines,
        lines_done=row.lines_done,
        rows=row.rows,
        imported=row.imported,
        updated=row.updated,
        unchanged=row.unchanged,
        kept_suppressed=row.kept_suppressed,
        suppressed_by_file=row.suppressed_by_file,
        rejected=row.rejected,
        sample_rejects=list(row.sample_rejects or []),
        has_rejects_file=bool(row.rejects_file),
        error=row.error,
        follow_up=row.follow_up,
        started_by=row.started_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
        finished_at=row.finished_at,
        stopped=row.state in (QUEUED, RUNNING) and now - row.updated_at > STALE_AFTER,
    )


def jobs_root(workspace: Workspace) -> Path:
    return workspace.subscribers_dir / FOLDER


def safe_file_name(name: str) -> str:
    """The uploaded file's name as stored and shown: its last part, plain characters only,
    ending in .csv (the history names it: "import:<name>")."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    stem = _UNSAFE.sub("-", base.removesuffix(".csv").removesuffix(".CSV")).strip(" .-")[:80]
    return f"{stem or 'upload'}.csv"


def new_folder(workspace: Workspace) -> tuple[str, Path]:
    """A new, empty folder for one upload, and its id (random: it names the job in URLs)."""
    job_id = secrets.token_hex(16)
    folder = jobs_root(workspace) / job_id
    folder.mkdir(parents=True)
    return job_id, folder


def discard_folder(workspace: Workspace, job_id: str) -> None:
    """Remove an upload's folder (an upload refused half way, or an old job)."""
    if re.fullmatch(r"[0-9a-f]{32}", job_id):
        shutil.rmtree(jobs_root(workspace) / job_id, ignore_errors=True)


def read_job(sessions: sessionmaker[Session], job_id: str, now: datetime) -> JobView | None:
    if not re.fullmatch(r"[0-9a-f]{32}", job_id):
        return None
    with sessions() as session:
        row = session.get(ImportJob, job_id)
        return _view(row, now) if row is not None else None


def rejects_file(workspace: Workspace, sessions: sessionmaker[Session], job_id: str) -> Path | None:
    """The rejects report of a finished import, while it is kept."""
    with sessions() as session:
        row = session.get(ImportJob, job_id) if re.fullmatch(r"[0-9a-f]{32}", job_id) else None
        if row is None or not row.rejects_file:
            return None
        path = jobs_root(workspace) / row.folder / row.rejects_file
    return path if path.is_file() else None


class ImportRunner:
    """Runs the import jobs of one server process, one at a time, each in its own thread."""

    def __init__(
        self,
        workspace: Workspace,
        sessions: sessionmaker[Session],
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.workspace = workspace
        self.sessions = sessions
        self.clock = clock
        self._one_at_a_time = threading.Lock()

    def start_dry_run(self, folder_id: str, file_name: str, tags: list[str], by: str) -> str:
        """The dry run of the file uploaded into ``folder_id`` (its id is the job's)."""
        self.remove_old()
        self._create(folder_id, DRY_RUN, folder_id, file_name, tags, by)
        return folder_id

    def start_import(self, dry_run_id: str, by: str) -> str | None:
        """The real import of a finished dry run's file; the id of the import job (the one
        already started, when it was; None when the dry run cannot lead to an import)."""
        job_id = secrets.token_hex(16)
        with self.sessions.begin() as session:
            dry = session.get(ImportJob, dry_run_id)
            if dry is None or dry.kind != DRY_RUN or dry.state != DONE:
                return None
            if dry.follow_up:
                return dry.follow_up
            claimed = session.execute(
                update(ImportJob)
                .where(ImportJob.id == dry_run_id, ImportJob.follow_up == "")
                .values(follow_up=job_id)
            )
            folder, name, tags = dry.folder, dry.file_name, list(dry.tags or [])
        if not claimed.rowcount:  # type: ignore[attr-defined]
            # Another press won the claim between our read and our write: its import.
            with self.sessions() as session:
                winner = session.get(ImportJob, dry_run_id)
                return winner.follow_up if winner is not None and winner.follow_up else None
        if not (jobs_root(self.workspace) / folder / name).is_file():
            return None
        self._create(job_id, IMPORT, folder, name, tags, by)
        return job_id

    def _create(
        self, job_id: str, kind: str, folder: str, file_name: str, tags: list[str], by: str
    ) -> None:
        now = self.clock()
        with self.sessions.begin() as session:
            session.add(
                ImportJob(
                    id=job_id,
                    kind=kind,
                    folder=folder,
                    file_name=file_name,
                    tags=tags,
                    state=QUEUED,
                    total_lines=0,
                    lines_done=0,
                    rows=0,
                    imported=0,
                    updated=0,
                    unchanged=0,
                    kept_suppressed=0,
                    suppressed_by_file=0,
                    rejected=0,
                    sample_rejects=[],
                    rejects_file="",
                    error="",
                    follow_up="",
                    started_by=by[:320],
                    created_at=now,
                    updated_at=now,
                )
            )
        thread = threading.Thread(target=self._run, args=(job_id,), name=f"import-{job_id[:8]}")
        thread.daemon = True  # a stopped server leaves the job to show as stopped
        thread.start()

    def _update(self, job_id: str, **values: Any) -> None:
        with self.sessions.begin() as session:
            session.execute(
                update(ImportJob)
                .where(ImportJob.id == job_id)
                .values(updated_at=self.clock(), **values)
            )

    def _run(self, job_id: str) -> None:
        with self._one_at_a_time:
            with self.sessions() as session:
                row = session.get(ImportJob, job_id)
                assert row is not None
                kind, folder, name, tags = row.kind, row.folder, row.file_name, list(row.tags)
            path = jobs_root(self.workspace) / folder / name
            self._update(job_id, state=RUNNING)

            def on_chunk(report: ImportReport, lines: int) -> None:
                self._update(
                    job_id, total_lines=report.total_lines, lines_done=lines, **_counts(report)
                )

            try:
                report = import_csv(
                    self.sessions, path, tags=tags, dry_run=kind == DRY_RUN, on_chunk=on_chunk
                )
            except MailerError as err:
                shown = str(err).replace(str(path), name).replace("\n  hint:", " What to do:")
                self._finish(job_id, kind, path, state=FAILED, error=shown)
            except Exception:  # a bug, not the file: logged for us, told in words on the page
                log.exception("import job %s failed", job_id)
                self._finish(
                    job_id,
                    kind,
                    path,
                    state=FAILED,
                    error="The import stopped on an unexpected error (it is in the server's "
                    "log). The rows imported before it are kept; importing the file again "
                    "finishes the job.",
                )
            else:
                self._finish(
                    job_id,
                    kind,
                    path,
                    state=DONE,
                    total_lines=report.total_lines,
                    lines_done=report.total_lines,
                    **_counts(report),
                    sample_rejects=[
                        {"line": r.line, "reason": r.reason} for r in report.sample_rejects
                    ],
                    rejects_file=report.rejects_path.name if report.rejects_path else "",
                )

    def _finish(self, job_id: str, kind: str, path: Path, **values: Any) -> None:
        self._update(job_id, finished_at=self.clock(), **values)
        if kind == IMPORT or values.get("state") == FAILED:
            path.unlink(missing_ok=True)  # the list holds what it had to; keep no copy

    def remove_old(self) -> None:
        """Forget jobs older than KEEP_FOR, with their folders (uploads and rejects), and
        delete the file of a dry run left without an import for UPLOAD_KEPT (personal data
        kept no longer than the page needs it)."""
        now = self.clock()
        with self.sessions.begin() as session:
            old = list(
                session.scalars(select(ImportJob).where(ImportJob.created_at < now - KEEP_FOR))
            )
            for row in old:
                discard_folder(self.workspace, row.folder)
                session.delete(row)
            for row in session.scalars(
                select(ImportJob).where(
                    ImportJob.kind == DRY_RUN,
                    ImportJob.follow_up == "",
                    ImportJob.created_at < now - UPLOAD_KEPT,
                )
            ):
                (jobs_root(self.workspace) / row.folder / row.file_name).unlink(missing_ok=True)


def _counts(report: ImportReport) -> dict[str, int]:
    return {name: getattr(report, name) for name in (*_COUNTS, "rejected")}
