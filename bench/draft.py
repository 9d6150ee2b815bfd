"""`mailer draft` on a page export, the whole process as staff run it (target: at most 1 s).

Wall time of `.venv/bin/mailer draft article.txt` in a fresh workspace, Python start-up
included, median of RUNS runs; the library part (import, compose, write) is measured apart.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUNS = 10
TARGET_SECONDS = 1.0

_PARAGRAPH = (
    "Many of the people we see at Summit Upper Cervical have lived with neck stiffness for "
    "years. They have stretched, rested and changed pillows. What they rarely hear about is "
    "the top of the neck, where two small bones hold up the head and protect the brainstem. "
    "A small shift there can change how the muscles of the whole neck behave."
)


def _page_export() -> str:
    """A page export of about 900 words, shaped like what staff copy from the clinic's blog."""
    parts = [
        "top of page",
        "",
        "What Your Morning Stiffness Is Telling You",
        "",
        "Updated: Nov 3",
        "",
    ]
    for heading in (None, "Where Stiffness Starts", "What We Look For", "Small Changes at Home"):
        if heading:
            parts += [heading, ""]
        parts += [_PARAGRAPH, "", _PARAGRAPH.replace("years", "months"), ""]
    parts += ["Book a free consultation today.", "", "bottom of page"]
    return "\n".join(parts) + "\n"


def _workspace(folder: Path) -> Path:
    from mailer.workspace import init_workspace

    root = init_workspace(folder / "ws").root
    (root / "article.txt").write_text(_page_export(), encoding="utf-8")
    return root


def _wall_times(command: list[str], root: Path) -> list[float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILER_")}
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        subprocess.run(command, cwd=root, env=env, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    mailer = str(Path(sys.executable).parent / "mailer")
    with tempfile.TemporaryDirectory() as tmp:
        root = _workspace(Path(tmp))
        floor = _wall_times([mailer, "--help"], root)
        times = _wall_times([mailer, "draft", "article.txt"], root)
        made = len(list((root / "campaigns").glob("*.md")))

        start = time.perf_counter()
        from mailer.articles import load_articles
        from mailer.campaigns.draft import CallToAction, write_draft

        imported = time.perf_counter() - start
        start = time.perf_counter()
        articles = load_articles(str(root / "article.txt"))
        write_draft(articles, root / "campaigns", CallToAction("Book", "https://x.example/book"))
        in_process = time.perf_counter() - start

    median = statistics.median(times)
    verdict = "ok" if median <= TARGET_SECONDS else "OVER TARGET"
    print(f"mailer draft article.txt (whole process, {RUNS} runs, {made} files written)")
    print(
        f"  median {median * 1000:.0f} ms, min {min(times) * 1000:.0f} ms, "
        f"max {max(times) * 1000:.0f} ms  [target <= {TARGET_SECONDS:.1f} s: {verdict}]"
    )
    print(f"  floor: mailer --help median {statistics.median(floor) * 1000:.0f} ms (start-up only)")
    print(
        f"  in process: import importer+composer {imported * 1000:.0f} ms, "
        f"load + compose + write {in_process * 1000:.1f} ms"
    )


if __name__ == "__main__":
    main()
