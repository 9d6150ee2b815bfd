"""A 100,000-row CSV imported in the browser's way against `mailer subscribers import`, side by
side in one run (issue 14): no slower than 1.2x, with progress shown.

Each pair, in turn (CLI, browser, CLI, browser...; a fresh workspace and SQLite database for
every run, so every run is a first import of the same file):

- CLI: `mailer --workspace A subscribers import big.csv`, the whole process, wall time (the
  database schema made beforehand, untimed, as the server has made its own).
- browser: a real `mailer serve` process on loopback, an owner signed in over HTTP; the file is
  uploaded as the page's form sends it (multipart, streamed), the dry run is followed to its end,
  then "Import now" and the import followed to its end, polling the progress fragment every
  0.25 s as the page does every second. Timed: the upload, the dry run, the import.

Compared: the browser's upload + import against the CLI's import (the dry run is the extra step
the page puts first; its time is printed too). Also printed: how many distinct progress values
the page showed during the import. Target: ratio <= 1.2. BENCH_WEB_IMPORT_ROWS, BENCH_PAIRS.

    python -m bench import_web
"""

from __future__ import annotations

import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.import_csv import write_csv

ROWS = int(os.environ.get("BENCH_WEB_IMPORT_ROWS", "100000"))
PAIRS = int(os.environ.get("BENCH_PAIRS", "3"))
TARGET = 1.2
MAILER = Path(sys.executable).with_name("mailer")
PASSWORD = "purple lantern orbit 7"
ENV = {**os.environ, "MAILER_SECRET_KEY": "bench-secret-key-0123456789abcdef"}
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def fresh_workspace(root: Path, name: str) -> Path:
    folder = root / name
    subprocess.run([str(MAILER), "init", str(folder)], check=True, capture_output=True, env=ENV)
    return folder


def cli_import(workspace: Path, csv_path: Path) -> float:
    # The database made first, untimed: the server has made its own before the upload.
    subprocess.run(
        [str(MAILER), "--workspace", str(workspace), "db", "upgrade"],
        check=True,
        capture_output=True,
        env=ENV,
    )
    started = time.perf_counter()
    subprocess.run(
        [str(MAILER), "--workspace", str(workspace), "subscribers", "import", str(csv_path)],
        check=True,
        capture_output=True,
        env=ENV,
    )
    return time.perf_counter() - started


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def follow(http: httpx.Client, url: str) -> set[str]:
    """Poll the job's progress fragment until it stops polling; the progress values seen."""
    seen: set[str] = set()
    while True:
        fragment = http.get(url + "/progress").text
        if "hx-trigger" not in fragment:
            if "Import finished." not in fragment and "Dry run finished" not in fragment:
                raise SystemExit(f"the job did not finish well:\n{fragment}")
            return seen
        found = re.search(r'<progress id="import-progress" max="100" value="(\d+)"', fragment)
        if found:
            seen.add(found.group(1))
        time.sleep(0.25)


def browser_import(workspace: Path, csv_path: Path) -> tuple[float, float, float, int]:
    """(upload s, dry run s, import s, distinct progress values shown during the import)."""
    subprocess.run(
        [str(MAILER), "--workspace", str(workspace), "staff", "add", "owner@clinic.example",
         "--role", "owner", "--password-stdin"],
        input=PASSWORD, text=True, check=True, capture_output=True, env=ENV,
    )  # fmt: skip
    port = free_port()
    server = subprocess.Popen(
        [str(MAILER), "--workspace", str(workspace), "serve", "--host", "127.0.0.1",
         "--port", str(port)],
        env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(base + "/healthz", timeout=1)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        with httpx.Client(base_url=base, timeout=600) as http:
            login = http.get("/staff/login")
            token = TOKEN.search(login.text).group(1)  # type: ignore[union-attr]
            http.post(
                "/staff/login",
                data={"csrf_token": token, "email": "owner@clinic.example", "password": PASSWORD},
            )
            token = TOKEN.search(http.get("/staff/subscribers").text).group(1)  # type: ignore[union-attr]
            started = time.perf_counter()
            with csv_path.open("rb") as stream:
                answer = http.post(
                    "/staff/subscribers/import",
                    data={"csrf_token": token},
                    files={"file": (csv_path.name, stream, "text/csv")},
                )
            uploaded = time.perf_counter()
            assert answer.status_code == 303, answer.text
            dry_url = answer.headers["location"]
            follow(http, dry_url)
            dry_done = time.perf_counter()
            answer = http.post(dry_url + "/run", data={"csrf_token": token})
            assert answer.status_code == 303, answer.text
            shown = follow(http, answer.headers["location"])
            done = time.perf_counter()
        return uploaded - started, dry_done - uploaded, done - dry_done, len(shown)
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="mailer-bench-") as tmp:
        root = Path(tmp)
        csv_path = root / "patients.csv"
        write_csv(csv_path, ROWS)
        size = csv_path.stat().st_size / 1e6
        print(f"{ROWS:,} rows, {size:.1f} MB; {PAIRS} pairs, each run on a fresh database")
        ratios, cli_times, web_times, dry_times = [], [], [], []
        for pair in range(PAIRS):
            cli = cli_import(fresh_workspace(root, f"cli{pair}"), csv_path)
            upload, dry, imported, shown = browser_import(
                fresh_workspace(root, f"web{pair}"), csv_path
            )
            web = upload + imported
            ratios.append(web / cli)
            cli_times.append(cli)
            web_times.append(web)
            dry_times.append(dry)
            print(
                f"  pair {pair + 1}: CLI {cli:5.1f} s | browser upload {upload:4.1f} s + import "
                f"{imported:5.1f} s = {web:5.1f} s (ratio {web / cli:.2f}); dry run before it "
                f"{dry:5.1f} s; progress values shown during the import: {shown}"
            )
        ratio = statistics.median(ratios)
        mark = "ok" if ratio <= TARGET else "OVER"
        print(
            f"median: CLI {statistics.median(cli_times):.1f} s, browser "
            f"{statistics.median(web_times):.1f} s, ratio {ratio:.2f} {mark} (target <= {TARGET}); "
            f"dry run {statistics.median(dry_times):.1f} s"
        )


if __name__ == "__main__":
    main()
