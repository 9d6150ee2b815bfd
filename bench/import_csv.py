"""Import a generated 1,000,000-row CSV into SQLite with `mailer subscribers import`, twice.

Prints the wall time of the first import and of the re-import (all rows unchanged), their ratio,
their CPU time (wall time on a shared two-core machine varies by tens of percent),
and the peak RSS of the largest process (ru_maxrss of the waited-for children: the mailer
process or one of its validation workers, whichever is bigger). Targets: first import <= 60 s,
re-import <= half of it, peak RSS <= 200 MB. BENCH_IMPORT_ROWS changes the row count.
"""

from __future__ import annotations

import csv
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROWS = int(os.environ.get("BENCH_IMPORT_ROWS", "1000000"))
MAILER = Path(sys.executable).with_name("mailer")
FIRST = ["Maria", "James", "Priya", "Tom", "Aiko", "Lena", "Omar", "Grace", "Ivan", "Sofia"]
LAST = ["Lopez", "Whitfield", "Natarajan", "Becker", "Tanaka", "Novak", "Haddad", "Kim", "Moreau"]
DOMAINS = ["example.com", "example.org", "example.net", "mail.example.com", "clinic.example"]
TAGS = ["patients", "workshop", "patients;workshop", "", "", "newsletter"]


def write_csv(path: Path, rows: int) -> None:
    rng = random.Random(42)
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["Email", "First Name", "Last Name", "Tags", "City", "Signed Up"])
        for i in range(rows):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            writer.writerow(
                [
                    f"{first.lower()}.{last.lower()}{i}@{rng.choice(DOMAINS)}",
                    first,
                    last,
                    rng.choice(TAGS),
                    rng.choice(["Boulder", "Denver", "Longmont", "Louisville"]),
                    f"2026-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}",
                ]
            )


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_import(workspace: Path, csv_path: Path) -> tuple[float, float, str]:
    """Wall seconds, CPU seconds (the mailer process and its workers), and its summary."""
    cpu = _cpu()
    started = time.perf_counter()
    done = subprocess.run(
        [str(MAILER), "--workspace", str(workspace), "subscribers", "import", str(csv_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"import failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return elapsed, _cpu() - cpu, done.stdout


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="mailer-bench-") as tmp:
        root = Path(tmp)
        workspace = root / "ws"
        subprocess.run([str(MAILER), "init", str(workspace)], check=True, capture_output=True)
        csv_path = root / "big.csv"
        started = time.perf_counter()
        write_csv(csv_path, ROWS)
        size_mb = csv_path.stat().st_size / 1e6
        print(
            f"generated {ROWS:,} rows ({size_mb:.0f} MB) in {time.perf_counter() - started:.1f} s"
        )
        first, first_cpu, report = run_import(workspace, csv_path)
        print(report.rstrip())
        second, second_cpu, report = run_import(workspace, csv_path)
        print(report.rstrip())
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(
            f"first import:  {first:.1f} s wall ({ROWS / first:,.0f} rows/s), {first_cpu:.1f} s CPU"
        )
        print(
            f"re-import:     {second:.1f} s wall (ratio {second / first:.2f}), "
            f"{second_cpu:.1f} s CPU"
        )
        print(f"peak RSS:      {peak_mb:.0f} MB (largest single process)")


if __name__ == "__main__":
    main()
