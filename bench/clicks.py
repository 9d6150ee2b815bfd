"""Click redirects per second: `mailer serve` (one uvicorn worker, SQLite) under 50 clients.

A fresh workspace sends a campaign to the outbox (so the click tokens are real), then
`mailer serve` runs as a subprocess on a free loopback port. A small asyncio HTTP/1.1 client
(keep-alive, CONCURRENCY connections, cheap enough not to be the bottleneck) requests
/c/<token>.<index> for DURATION seconds after a short warm-up. Every answer must be a 302 to
the stored link; anything else counts as an error. Target: TARGET requests/s, no errors.
"""

from __future__ import annotations

import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CONCURRENCY = 50
DURATION = 10.0
WARMUP = 1.5
PEOPLE = 200
TARGET = 1500.0
CAMPAIGN = """---
subject: Sleep position and neck pain
status: approved
---
How you sleep shapes how your neck feels in the morning.

[[cta]]

[[button "Read the full article" https://www.summitspine.example/blog/sleep]]

[[cta]]
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _prepare(root: Path, port: int) -> tuple[list[str], int]:
    """A workspace with a sent campaign; the request paths of every recipient's links."""
    from mailer.app.sending import SendJob
    from mailer.campaigns.approval import approve
    from mailer.campaigns.campaign import load_campaign
    from mailer.store.db import open_database
    from mailer.subscribers.service import add_subscriber
    from mailer.tokens import SecretKey, click_token
    from mailer.workspace import init_workspace

    workspace = init_workspace(root)
    path = workspace.campaigns_dir / "bench.md"
    path.write_text(CAMPAIGN, encoding="utf-8")
    engine, sessions = open_database(workspace.database_url)
    approve(workspace, sessions, load_campaign(path), approved_by="bench")
    with sessions() as session, session.begin():
        ids = [add_subscriber(session, f"r{n}@example.com").id for n in range(PEOPLE)]
    job = SendJob.open(workspace, sessions, "bench")
    run, _ = job.start()
    job.run(run)
    links = len(run.links)
    engine.dispose()
    key = SecretKey.for_workspace(workspace)
    paths = [f"/c/{click_token(key, i, 'bench', n % links)}" for n, i in enumerate(ids)]
    return paths, links


async def _client(
    port: int, paths: list[str], offset: int, stop: float, start: float, out: dict[str, list]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    n = offset
    try:
        while (now := time.perf_counter()) < stop:
            path = paths[n % len(paths)]
            n += 1
            writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            if length:
                await reader.readexactly(length)
            done = time.perf_counter()
            if now >= start:
                out["latency"].append(done - now)
                (out["ok"] if status == 302 and b"\r\nlocation: " in head else out["bad"]).append(
                    status
                )
    except (OSError, asyncio.IncompleteReadError) as err:
        out["bad"].append(repr(err))
    finally:
        writer.close()


async def _load(port: int, paths: list[str], pid: int) -> dict[str, list]:
    out: dict[str, list] = {"ok": [], "bad": [], "latency": [], "cpu": []}
    start = time.perf_counter() + WARMUP
    stop = start + DURATION

    async def server_cpu() -> None:
        await asyncio.sleep(max(0.0, start - time.perf_counter()))
        before = _cpu_seconds(pid)
        await asyncio.sleep(max(0.0, stop - time.perf_counter()))
        out["cpu"].append(_cpu_seconds(pid) - before)

    await asyncio.gather(
        server_cpu(), *(_client(port, paths, k * 7, stop, start, out) for k in range(CONCURRENCY))
    )
    return out


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _wait_ready(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("mailer serve exited early")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                if sock.recv(64).startswith(b"HTTP/1.1 200"):
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("mailer serve did not start in 30 s")


def main() -> None:
    port = _free_port()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "ws"
        env = {k: v for k, v in os.environ.items() if not k.startswith("MAILER_")}
        env["MAILER_SECRET_KEY"] = "bench-secret-key-0123456789abcdef"
        env["MAILER_WEB__BASE_URL"] = f"http://127.0.0.1:{port}"
        os.environ.update(env)
        paths, links = _prepare(root, port)
        mailer = str(Path(sys.executable).with_name("mailer"))
        command = [mailer, "--workspace", str(root), "serve", "--port", str(port)]
        process = subprocess.Popen(
            command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            _wait_ready(port, process)
            out = asyncio.run(_load(port, paths, process.pid))
        finally:
            process.terminate()
            process.wait(timeout=10)
        clicks = _count_clicks(root)
    latency = sorted(out["latency"])
    rate = len(out["ok"]) / DURATION
    p50 = statistics.median(latency) * 1000 if latency else float("nan")
    p99 = latency[int(len(latency) * 0.99)] * 1000 if latency else float("nan")
    cpu = out["cpu"][0] if out["cpu"] else float("nan")
    per_request = cpu / max(1, len(out["ok"]) + len(out["bad"]))
    load = os.getloadavg()[0]
    print(
        f"click redirect, mailer serve (1 uvicorn worker, SQLite WAL), {CONCURRENCY} clients, "
        f"{DURATION:.0f} s: {rate:,.0f} requests/s, errors {len(out['bad'])}, "
        f"p50 {p50:.1f} ms, p99 {p99:.1f} ms, clicks stored {clicks:,} "
        f"({PEOPLE} recipients x {links} links); target >= {TARGET:,.0f}/s: "
        f"{'ok' if rate >= TARGET and not out['bad'] else 'MISSED'}"
    )
    print(
        f"  server CPU {cpu:.1f} s in {DURATION:.0f} s ({cpu / DURATION:.0%} of one core), "
        f"{per_request * 1e6:,.0f} us per request: one free core would serve about "
        f"{1 / per_request:,.0f}/s; load average during the run {load:.1f} on "
        f"{os.cpu_count()} cores (client and server share them)"
    )


def _count_clicks(root: Path) -> int:
    import sqlite3

    with sqlite3.connect(root / "mailer.db") as db:
        return int(db.execute("select count(*) from clicks").fetchone()[0])


if __name__ == "__main__":
    main()
