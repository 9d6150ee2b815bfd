"""Issue 17's SMTP figure alone: 3,000 x 26.5 KB messages from one process to Postfix's
smtp-sink and to aiosmtpd, with 1, 2 and 4 connections, in one run (see bench/providers.py).

    .venv/bin/python -m bench smtp

smtp-sink comes with the Debian package postfix (.ci/run installs it).
"""

from __future__ import annotations

import os

from bench.providers import print_smtp_rates, smtp_rates


def main() -> None:
    print(f"load average at start: {os.getloadavg()[0]:.2f} ({os.cpu_count()} CPUs)", flush=True)
    print_smtp_rates(smtp_rates())
    print(f"load average at end: {os.getloadavg()[0]:.2f}")
