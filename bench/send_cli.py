"""The whole `mailer send CAMPAIGN --yes` as a user runs it (issue 17), beside a bare POST loop.

    .venv/bin/python -m bench send_cli                        # 100,000 recipients, 3 rounds
    BENCH_SEND_RECIPIENTS=20000 BENCH_SEND_ROUNDS=1 .venv/bin/python -m bench send_cli
    BENCH_SEND_VS=/tmp/base/src .venv/bin/python -m bench send_cli   # before/after, same run

Set-up, not timed: a real workspace (`mailer init`), N subscribers imported with `mailer
subscribers import`, and per round one campaign approved with `mailer approve`, all through the
installed `mailer`. The fake SendGrid (tests/fakes/sendgrid_server.py, schema validated on a
sample of each body) runs in its own process.

Timed, per round, in turns so a load change on the shared machine hits each alike:

- ``send``: the whole `mailer send SLUG --yes` process (interpreter start, imports, settings,
  approval check, audience fixed, every batch claimed, built, POSTed and recorded, the campaign
  file marked sent), sendgrid provider, batch size 1,000, to the fake on loopback;
- ``bare``: this process POSTing one 1,000-recipient body, built beforehand from the same
  campaign (``SendGridProvider.build_body``: the JSON text the send posts), N / 1,000 times
  through the provider's ``post`` (the sendgrid client), to the same fake;
- ``bare_dicts``: the same body as dicts through ``client.mail.send.post(request_body=...)``,
  the bare loop as it was before the send posted JSON text (the package's ``post`` encodes
  the dicts with json.dumps and formats the body for a debug log, ~6 ms a request): the
  yardstick of the earlier figures;
- with BENCH_SEND_VS=<a src folder>, ``before``: the same `mailer send` run by that source
  tree (``python -m mailer`` with it first on PYTHONPATH), on its own campaign of the same list.

The ratio is bare seconds / send seconds (1.0: the send costs no more than its POSTs); "ratio
vs dicts" uses the ``bare_dicts`` loop instead. Each line
carries the load average at its end (2 cores shared with other work: read ranges, not points)
and the CPU seconds of each contender (the `mailer send` process's user + system time, all its
threads; the bare loop's own), which a loaded machine inflates far less than the wall time.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.providers import API_KEY, server_process

MAILER = str(Path(sys.executable).with_name("mailer"))
BATCH = 1000
SLUG = "speed-as-users-see-it"
# A campaign like the tests' (tests/delivery_helpers.py): the sample templates, one article.
CAMPAIGN = """---
subject: Sleep position and neck pain
preheader: Three small changes for a better night.
status: draft
articles:
- title: Sleep position and neck pain
  url: https://www.summitspine.example/blog/sleep
---
How you sleep shapes how your neck feels in the morning.

Most neck pain that starts at night comes from the pillow, not the mattress: too high and the
neck bends sideways for hours, too low and it tips back. Side sleepers need more height than
back sleepers; stomach sleeping twists the neck for the whole night.

[[cta]]

[[button "Read the full article" https://www.summitspine.example/blog/sleep]]
"""


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"load {one:.2f}/{five:.2f}"


def environment(workspace: Path, url: str) -> dict[str, str]:
    """The send's environment: this one without MAILER_*/SendGrid variables, plus the fake."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAILER_", "SENDGRID_"))}
    env.update(
        {
            "MAILER_WORKSPACE": str(workspace),
            "MAILER_DELIVERY__PROVIDER": "sendgrid",
            "MAILER_DELIVERY__BATCH_SIZE": str(BATCH),
            "MAILER_SENDGRID__API_HOST": url,
            "SENDGRID_API_KEY": API_KEY,
            "MAILER_SECRET_KEY": "bench-send-cli-secret-0123456789abcdef",
        }
    )
    return env


def _mailer(env: dict[str, str], *args: str, command: list[str] | None = None) -> None:
    done = subprocess.run(
        [*(command or [MAILER]), *args],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"mailer {' '.join(args)}: exit {done.returncode}\n{done.stderr}")


def set_up(folder: Path, count: int, env: dict[str, str]) -> Path:
    """A workspace with ``count`` active subscribers, through the real commands."""
    workspace = folder / "workspace"
    _mailer(env, "init", str(workspace))
    people = folder / "people.csv"
    with people.open("w", encoding="utf-8") as out:
        out.write("Email,First Name\n")
        out.writelines(f"reader{n:07d}@example.com,Reader{n}\n" for n in range(count))
    _mailer(env, "subscribers", "import", str(people))
    return workspace


def new_campaign(workspace: Path, env: dict[str, str], slug: str) -> str:
    (workspace / "campaigns" / f"{slug}.md").write_text(CAMPAIGN, encoding="utf-8")
    _mailer(env, "approve", slug)
    return slug


def bare_payload(workspace: Path, env: dict[str, str]) -> bytes:
    """One 1,000-recipient body, as the provider builds it for this campaign's first batch."""
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        from mailer.app.sending import SendJob, substitutions_for
        from mailer.delivery.ports import ClaimedRecipient
        from mailer.delivery.providers.sendgrid import SendGridProvider
        from mailer.delivery.types import Recipient
        from mailer.store.db import make_engine, session_factory
        from mailer.tokens import signing_key
        from mailer.workspace import Workspace

        space = Workspace(workspace)
        engine = make_engine(space.settings.database.url)
        job = SendJob.open(space, session_factory(engine), SLUG)
        values = substitutions_for(space, SLUG, signing_key(space, "send"))
        people = [
            ClaimedRecipient(n + 1, f"reader{n:07d}@example.com", f"Reader{n}", "")
            for n in range(BATCH)
        ]
        recipients = [
            Recipient(
                email=p.email,
                name=p.first_name,
                subscriber_id=p.subscriber_id,
                substitutions=values(p),
            )
            for p in people
        ]
        payload = SendGridProvider(API_KEY).build_body(job.template(), recipients)
        engine.dispose()
        return payload
    finally:
        os.environ.clear()
        os.environ.update(saved)


def bare_loop(url: str, payload: bytes | dict[str, Any], requests: int) -> float:
    """Seconds to POST ``payload`` ``requests`` times as the provider does (its ``post``):
    JSON text as it is, dicts through the sendgrid client's ``post``."""
    from mailer.delivery.providers.sendgrid import SendGridProvider

    post = SendGridProvider(API_KEY, api_host=url).post
    started = time.perf_counter()
    for _ in range(requests):
        assert post(payload), "no X-Message-Id: not a 202"
    return time.perf_counter() - started


def timed_send(
    env: dict[str, str], slug: str, command: list[str] | None = None
) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the process: user + system, all its threads)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    _mailer(env, "send", slug, "--yes", command=command)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def run(count: int, rounds: int, vs: str | None) -> list[dict[str, Any]]:
    """Per round, the seconds of each contender and the load average after it."""
    results: list[dict[str, Any]] = []
    with (
        tempfile.TemporaryDirectory() as tmp,
        server_process("sendgrid", schema_validation="sample") as server,
    ):
        folder = Path(tmp)
        env = environment(folder / "workspace", str(server.address))
        started = time.perf_counter()
        workspace = set_up(folder, count, env)
        print(f"set-up: {count:,} subscribers imported in {time.perf_counter() - started:.1f} s")
        new_campaign(workspace, env, SLUG)
        payload = bare_payload(workspace, env)
        requests = -(-count // BATCH)
        before_env = dict(env)
        if vs:
            before_env["PYTHONPATH"] = os.pathsep.join(
                p for p in (vs, env.get("PYTHONPATH", "")) if p
            )
        contenders: dict[str, Callable[[str], tuple[float, float]]] = {
            "send": lambda slug: timed_send(env, slug),
            "bare": lambda _slug: _bare_timed(str(server.address), payload, requests),
            "bare_dicts": lambda _slug: _bare_timed(
                str(server.address), json.loads(payload), requests
            ),
        }
        if vs:
            contenders["before"] = lambda slug: timed_send(
                before_env, slug, [sys.executable, "-m", "mailer"]
            )
        for index in range(rounds):
            order = list(contenders)
            if index % 2:
                order.reverse()
            figures: dict[str, Any] = {}
            for name in order:
                slug = SLUG if (index == 0 and name == "send") else f"{SLUG}-{index}-{name}"
                if not name.startswith("bare") and slug != SLUG:
                    new_campaign(workspace, env, slug)
                figures[name], figures[f"{name}_cpu"] = contenders[name](slug)
                figures[f"{name}_load"] = _load()
            results.append(figures)
            _report(index, count, figures)
            received = server.count()
            bares = sum(1 for name in contenders if name.startswith("bare"))
            expected = (len(contenders) - bares) * count + bares * requests * BATCH
            assert received == expected, f"the fake got {received:,} recipients, not {expected:,}"
            server.reset()
    return results


def _bare_timed(url: str, payload: bytes | dict[str, Any], requests: int) -> tuple[float, float]:
    started = time.process_time()
    wall = bare_loop(url, payload, requests)
    return wall, time.process_time() - started


def _report(index: int, count: int, figures: dict[str, Any]) -> None:
    send, bare = figures["send"], figures["bare"]
    line = (
        f"round {index + 1}: `mailer send` {count:,} recipients {send:.2f} s "
        f"({count / send:,.0f}/s; CPU {figures['send_cpu']:.2f} s; {figures['send_load']}); "
        f"bare POST loop {bare:.2f} s ({count / bare:,.0f}/s; CPU {figures['bare_cpu']:.2f} s; "
        f"{figures['bare_load']}); ratio {bare / send:.2f}"
    )
    dicts = figures["bare_dicts"]
    line += (
        f"; bare loop of dicts {dicts:.2f} s ({count / dicts:,.0f}/s; CPU "
        f"{figures['bare_dicts_cpu']:.2f} s; {figures['bare_dicts_load']}); "
        f"ratio vs dicts {dicts / send:.2f}"
    )
    if "before" in figures:
        before = figures["before"]
        line += (
            f"; before: {before:.2f} s ({count / before:,.0f}/s; CPU "
            f"{figures['before_cpu']:.2f} s; {figures['before_load']}; ratio {bare / before:.2f}, "
            f"vs dicts {dicts / before:.2f})"
        )
    print(line, flush=True)


def main() -> None:
    count = _env_int("BENCH_SEND_RECIPIENTS", 100_000)
    rounds = _env_int("BENCH_SEND_ROUNDS", 3)
    run(count, rounds, os.environ.get("BENCH_SEND_VS") or None)
