"""`mailer demo`: the whole flow on embedded defaults, in a fresh folder, explained as it goes.

Each step runs the real command, as a member of staff would type it, in the demo workspace.
`mailer serve` runs in the background on a free loopback port for the whole demo, and every
command gets MAILER_WEB__BASE_URL pointing at it, so the links in the emails lead to it: the
demo clicks one and unsubscribes through another, over HTTP, as a subscriber's mail program
would. MAILER_* variables and SENDGRID_API_KEY of the caller's environment are left out: the
demo always runs on the embedded defaults (outbox provider, SQLite) and never sends real email.
"""

from __future__ import annotations

import email
import email.policy
import html
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from html.parser import HTMLParser
from pathlib import Path
from types import FrameType
from urllib.parse import parse_qsl, urlsplit

import httpx
from rich.markup import escape

from mailer.cli.common import console, display_path
from mailer.cli.demo_series import welcome_series
from mailer.errors import MailerError
from mailer.workspace import Workspace, init_workspace

ARTICLE_URL = "https://www.summitspine.example/blog/headaches-and-the-upper-neck"
SERVER_START_TIMEOUT = 30.0
HTTP_TIMEOUT = httpx.Timeout(10.0)


def run_demo(directory: Path) -> None:
    started = time.monotonic()
    directory = directory.resolve()
    if directory.exists():
        if not (directory / "mailer.toml").exists():
            raise MailerError(
                f"{directory} exists and is not a demo workspace; nothing was changed",
                hint="pass --dir with a new folder",
            )
        shutil.rmtree(directory)

    _step(
        "1. A new newsletter workspace",
        "Everything for one newsletter lives in one folder: settings (mailer.toml), campaigns, "
        "templates, the subscriber list and, with the default outbox provider, the emails.",
        f"mailer init {directory.name}",
    )
    workspace = init_workspace(directory, sample_series=True)
    console.print(f"  [dim]created {workspace.root}[/dim]")

    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = _demo_environment(base_url)
    with _stop_on_sigterm():
        _step(
            "2. The web side: mailer serve",
            "Unsubscribe links, click-throughs to the booking page, the signup form and the "
            "public archive are served by `mailer serve`. A clinic runs it behind its https "
            f"address (web.base_url in mailer.toml); the demo runs it on {base_url} and points "
            "the links in the emails there. It keeps running in the background until the end.",
        )
        with _serving(directory, env, port, base_url):
            slug = _flow(directory, workspace, env, base_url)

    console.print(
        f"\n[bold green]Demo finished in {time.monotonic() - started:.1f} s.[/bold green] "
        f"Look around in {directory}:\n"
        f"  preview/               open the .html file in a browser\n"
        f"  outbox/                the messages as subscribers got them (.eml files)\n"
        f"  campaigns/             the campaign files staff edit\n"
        f"  serve.log              what `mailer serve` printed"
    )
    for line in closing_hint(directory, slug):
        console.print(escape(line), soft_wrap=True)


def closing_hint(directory: Path, slug: str) -> list[str]:
    """Commands that work as printed from the folder the demo was started in, whether or not
    `mailer` is on the PATH (after `make demo` it is not: it lives in .venv/bin)."""
    launcher = Path(sys.executable).with_name("mailer")
    on_path = shutil.which("mailer")
    if not launcher.exists() or (on_path and Path(on_path).resolve() == launcher.resolve()):
        command = "mailer"
    else:
        command = shlex.quote(display_path(launcher))
    where = shlex.quote(display_path(directory))
    lines = [
        "To see it again (from this folder):",
        f"  {command} -w {where} report {slug}",
        f"  {command} -w {where} serve        then open http://127.0.0.1:8000/archive",
    ]
    activate = launcher.with_name("activate")
    if command != "mailer" and activate.exists():
        source = shlex.quote(display_path(activate))
        lines.append(f"To type plain `mailer` in this shell: . {source}")
    return lines


def _flow(directory: Path, workspace: Workspace, env: dict[str, str], base_url: str) -> str:
    """The demo's steps after the server started; the slug of the campaign it sent."""
    _step(
        "3. The subscriber list",
        "Import the sample CSV. Addresses are checked, duplicates merged, and people who "
        "unsubscribed are never made active again. Running it twice changes nothing.",
    )
    _mailer(directory, env, "subscribers", "import", "subscribers/sample.csv")
    _mailer(directory, env, "subscribers", "import", "subscribers/sample.csv")

    _step(
        "4. A draft from a blog article",
        "`mailer draft` turns an article (a page export, Markdown, an HTML page or a feed) into "
        "campaigns/<slug>.md: subject, preheader, a teaser and the consultation call to action. "
        "Staff edit that file.",
    )
    draft = _mailer(directory, env, "draft", "articles/headaches.txt", "--url", ARTICLE_URL)
    slug = Path(draft.strip().splitlines()[-1]).stem

    _step(
        "5. Several articles make a digest",
        "One featured article and short entries for the others. (The demo leaves this one as "
        "a draft: it is not approved, so it is not sent.)",
    )
    _mailer(
        directory,
        env,
        "draft",
        "articles/desk-posture.txt",
        "articles/sleep-position.md",
        "articles/headaches.txt",
    )

    _step(
        "6. Preview and preflight",
        "The preview is exactly what a subscriber gets: HTML, plain text and the whole .eml. "
        "The check stops anything unlawful or broken before it can be sent. Its warnings about "
        "the development key and the local web address are expected in the demo; a clinic sets "
        "MAILER_SECRET_KEY and its public https address.",
    )
    _mailer(directory, env, "preview", slug, "--out", "preview")
    _mailer(directory, env, "check", slug, allow_failure=True)

    _step("7. Approval", "Only approved campaigns are sent. Approval runs the check first.")
    _mailer(directory, env, "approve", slug)

    _step(
        "8. The weekly slot",
        "A clinic keeps `mailer scheduler run` running; at each weekly slot (schedule.cron in "
        "mailer.toml) it sends the oldest approved campaign. The demo fires the slot at once "
        "with --now instead of waiting for it. Each subscriber gets the issue exactly once, "
        "recorded in the database; the outbox provider writes each message to outbox/<slug>/ "
        "instead of sending it.",
    )
    _mailer(directory, env, "scheduler", "run", "--now")
    messages = sorted((directory / "outbox" / slug).glob("*.eml"))
    console.print(f"  [dim]{len(messages)} messages in outbox/{slug}/[/dim]")
    if not messages:
        raise MailerError(f"the demo found no messages in outbox/{slug}/")
    console.print("  Sending the same campaign again, by hand or at a later slot, sends nothing:")
    _mailer(directory, env, "send", slug, "--yes")

    message = _read_eml(messages[0])
    person = str(message["To"])
    _step(
        "9. A subscriber clicks the call to action",
        f"The demo opens the email sent to {person} and follows its "
        f"'{workspace.settings.booking.cta_text}' button, as their browser would. The server "
        "records the click and sends the browser on to the booking page, with UTM parameters "
        "so the clinic's web statistics show the newsletter as the source.",
    )
    _click(message, workspace.settings.booking.cta_text)

    _step(
        "10. A subscriber unsubscribes with one click",
        "Gmail, Yahoo and Apple Mail show an 'Unsubscribe' button beside the sender, taken "
        "from the List-Unsubscribe header. Pressing it makes the mail provider POST "
        "'List-Unsubscribe=One-Click' to that address (RFC 8058); the person is unsubscribed "
        "at once and never mailed again.",
    )
    _one_click_unsubscribe(message)
    _mailer(directory, env, "subscribers", "list", "--status", "unsubscribed")

    _step(
        "11. The report",
        "What happened to the campaign: sent, clicks (the booking button's clicks count as "
        "CTA clicks) and unsubscribes. With SendGrid, deliveries, opens and bounces show too.",
    )
    _mailer(directory, env, "report", slug)

    welcome_series(directory, base_url, _step, lambda *args: _mailer(directory, env, *args))
    return slug


def _click(message: EmailMessage, cta_text: str) -> None:
    body = message.get_body(preferencelist=("html",))
    if body is None:
        raise MailerError("the demo email has no HTML part")
    links = [(href, text) for href, text in _links(str(body.get_content())) if "/c/" in href]
    if not links:
        raise MailerError("the demo email has no click-through (/c/) links")
    href = next((h for h, text in links if text == cta_text), links[0][0])
    console.print(f"  [bold]GET {escape(href)}[/bold]")
    response = _http("GET", href)
    location = response.headers.get("location", "")
    console.print(
        f"    {response.status_code} {escape(response.reason_phrase)} -> {escape(location)}"
    )
    if response.status_code != 302 or not location:
        raise MailerError(f"the click link answered {response.status_code}, not a redirect")
    utm = {k: v for k, v in parse_qsl(urlsplit(location).query) if k.startswith("utm_")}
    console.print(f"    [dim]{escape(', '.join(f'{k}={v}' for k, v in utm.items()))}[/dim]")


def _one_click_unsubscribe(message: EmailMessage) -> None:
    header = str(message["List-Unsubscribe"] or "")
    console.print(f"  [dim]List-Unsubscribe: {escape(header)}[/dim]")
    match = re.search(r"<(https?://[^>]+)>", header)
    if match is None:
        raise MailerError("the demo email has no https List-Unsubscribe address")
    url = match[1]
    console.print(f"  [bold]POST {escape(url)}[/bold]  body: List-Unsubscribe=One-Click")
    response = _http(
        "POST",
        url,
        content=b"List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    heading = re.search(r"<h1[^>]*>(.*?)</h1>", response.text, re.S)
    said = html.unescape(re.sub(r"<[^>]+>", "", heading[1])).strip() if heading else ""
    console.print(f"    {response.status_code} {escape(response.reason_phrase)}: {escape(said)}")
    if response.status_code != 200:
        raise MailerError(f"the one-click unsubscribe answered {response.status_code}")


def _http(
    method: str, url: str, content: bytes | None = None, headers: dict[str, str] | None = None
) -> httpx.Response:
    """One request, redirects not followed (the demo shows where they lead)."""
    try:
        with httpx.Client(timeout=HTTP_TIMEOUT, follow_redirects=False) as client:
            return client.request(method, url, content=content, headers=headers)
    except httpx.HTTPError as err:
        raise MailerError(
            f"the demo could not reach {url}: {err}",
            hint="did `mailer serve` stop? See serve.log in the demo folder",
        ) from err


class _LinkParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[str, str]] = []
        self._href: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._href = dict(attrs).get("href") or ""
            self._text = []

    def handle_data(self, data: str) -> None:
        if self._href is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._href is not None:
            self.links.append((self._href, " ".join("".join(self._text).split())))
            self._href = None


def _links(page: str) -> list[tuple[str, str]]:
    """Every link of an HTML page: (href, visible text)."""
    parser = _LinkParser()
    parser.feed(page)
    parser.close()
    return parser.links


def _read_eml(path: Path) -> EmailMessage:
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _demo_environment(base_url: str) -> dict[str, str]:
    """The caller's environment without MAILER_* and provider secrets (nor their _FILE forms),
    plus the demo's base_url and any hour for the welcome series."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("MAILER_", "SENDGRID_API_KEY"))  # and their _FILE forms
    }
    env["MAILER_WEB__BASE_URL"] = base_url
    env["MAILER_SEQUENCES__SEND_BETWEEN"] = ""  # the demo's welcome step goes at any hour
    return env


@contextmanager
def _serving(directory: Path, env: dict[str, str], port: int, base_url: str) -> Iterator[None]:
    """`mailer serve` in the background until the block ends, however it ends."""
    args = ("serve", "--host", "127.0.0.1", "--port", str(port))
    console.print(
        f"  [bold]$ mailer {escape(' '.join(args))}[/bold]  [dim](in the background)[/dim]"
    )
    log_path = directory / "serve.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "mailer", *args],
            cwd=directory,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_until_answering(server, base_url, log_path)
        console.print(f"    answering on {base_url}/healthz")
        yield
    finally:
        _stop(server)
        console.print("\n  [dim]mailer serve stopped.[/dim]")


def _wait_until_answering(server: subprocess.Popen[bytes], base_url: str, log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    with httpx.Client(timeout=httpx.Timeout(2.0)) as client:
        while True:
            if server.poll() is not None:
                tail = log.read_text(errors="replace").strip().splitlines()[-5:]
                raise MailerError(
                    f"mailer serve stopped at start (exit {server.returncode}): "
                    + " / ".join(tail),
                    hint=f"see {log}",
                )
            try:
                if client.get(f"{base_url}/healthz").status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise MailerError(
                    f"mailer serve did not answer on {base_url} within "
                    f"{SERVER_START_TIMEOUT:.0f} s",
                    hint=f"see {log}",
                )
            time.sleep(0.1)


def _stop(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is None:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@contextmanager
def _stop_on_sigterm() -> Iterator[None]:
    """SIGTERM ends the demo like Ctrl-C does: the `finally` blocks run, the server stops."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous: Callable[[int, FrameType | None], object] | int | None
    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _step(title: str, explanation: str, command: str | None = None) -> None:
    console.print(f"\n[bold cyan]{escape(title)}[/bold cyan]")
    console.print(f"  {escape(explanation)}")
    if command:
        console.print(f"  [bold]$ {escape(command)}[/bold]")


def _mailer(directory: Path, env: dict[str, str], *args: str, allow_failure: bool = False) -> str:
    """Run one real `mailer` command in the workspace, show what it printed, return stdout."""
    console.print(f"  [bold]$ mailer {escape(' '.join(args))}[/bold]")
    result = subprocess.run(
        [sys.executable, "-m", "mailer", *args],
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    for line in (result.stdout + result.stderr).rstrip().splitlines():
        console.print(f"    {escape(line)}")
    if result.returncode != 0 and not (allow_failure and result.returncode == 1):
        raise MailerError(
            f"the demo step `mailer {' '.join(args)}` failed (exit {result.returncode})"
        )
    return result.stdout
