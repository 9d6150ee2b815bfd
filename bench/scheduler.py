"""Slot lateness: from the scheduled time to the first request at the provider, over 20 slots.

    .venv/bin/python -m bench scheduler        (BENCH_SLOTS=20, BENCH_SLOT_EVERY=3 seconds)

The real scheduler process parts (lease, APScheduler with the SQLAlchemy job store on SQLite,
the slot handler, SendJob, the SendGrid provider) send one approved campaign per slot to the
fake SendGrid server on loopback, which notes when each request arrives. Slots come every few
seconds: a seconds field crontab lacks, used here and in tests only.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.fakes.sendgrid_server import FakeSendGrid
from tests.scheduler_helpers import slot_rows, write_campaign

from mailer.crontab import CrontabTrigger
from mailer.schedule.service import SchedulerService
from mailer.store.db import open_database
from mailer.subscribers.csv_import import import_csv
from mailer.workspace import Workspace, init_workspace

API_KEY = "SG.bench-scheduler"


class _TimedSendGrid(FakeSendGrid):
    """Notes the wall-clock arrival of every request."""

    def __init__(self) -> None:
        super().__init__(API_KEY, schema_validation="sample")
        self.arrivals: list[float] = []

    def next_fault(self) -> Any:
        self.arrivals.append(time.time())
        return super().next_fault()


def main() -> None:
    slots = int(os.environ.get("BENCH_SLOTS", "20"))
    every = int(os.environ.get("BENCH_SLOT_EVERY", "3"))
    with tempfile.TemporaryDirectory() as folder, _TimedSendGrid() as fake:
        for name in [n for n in os.environ if n.startswith("MAILER_")]:
            del os.environ[name]
        os.environ.update(
            {
                "MAILER_SECRET_KEY": "bench-secret-key-0123456789abcdef",
                "SENDGRID_API_KEY": API_KEY,
                "MAILER_DELIVERY__PROVIDER": "sendgrid",
                "MAILER_SENDGRID__API_HOST": fake.url,
            }
        )
        workspace = init_workspace(Path(folder) / "ws")
        engine, sessions = open_database(workspace.database_url)
        csv = Path(folder) / "list.csv"
        csv.write_text(
            "Email,First Name\n" + "".join(f"p{n}@example.com,P{n}\n" for n in range(50)),
            encoding="utf-8",
        )
        import_csv(sessions, csv)
        for n in range(slots):
            write_campaign(
                workspace, sessions, f"issue-{n:02d}", approved_at=f"2026-11-01T00:{n:02d}:00Z"
            )
        service = SchedulerService(
            Workspace(workspace.root),
            engine,
            sessions,
            trigger=CrontabTrigger("* * * * *", "America/Denver", second=f"*/{every}"),
        )
        thread = threading.Thread(target=service.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + slots * every + 30
        while len([r for r in service.reports if r.outcome == "sent"]) < slots:
            if time.monotonic() > deadline:
                raise SystemExit("the slots did not all run in time")
            time.sleep(0.2)
        service.stop()
        thread.join(30)
        rows = [row for row in slot_rows(sessions) if row.outcome == "sent"]
        arrivals = sorted(fake.arrivals)
        lateness = []
        for row in rows:
            slot = row.slot_at.timestamp()
            first = next(t for t in arrivals if t >= slot)
            lateness.append((first - slot) * 1000)
        engine.dispose()
    lateness.sort()
    print(f"slots: {len(lateness)} every {every} s, 50 recipients each, SendGrid fake on loopback")
    print(
        "lateness, slot time -> first provider request (ms): "
        f"min {lateness[0]:.0f}, median {statistics.median(lateness):.0f}, "
        f"p95 {lateness[int(len(lateness) * 0.95) - 1]:.0f}, max {lateness[-1]:.0f} "
        f"(target: max 1000)"
    )
    print("all (ms): " + ", ".join(f"{v:.0f}" for v in lateness))
    print(f"measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")


if __name__ == "__main__":
    main()
